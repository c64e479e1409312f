//! nftables apply: check, then one atomic transaction. Full replacements go through
//! `nft -c -f -` and `nft -f -`; incremental changes through two long-lived `nft -i`
//! children (see [`super::session`]), falling back to `nft -f -` when those cannot run.

use super::session::Session;
use super::{ApplyError, ApplyMode, Exec};
use crate::render::nft::{diff_transaction, full_transaction, NftRuleset, TABLE};

/// The `nft -i` children of one applier, started on first use.
#[derive(Debug)]
pub(super) struct Sessions {
    check: Option<Session>,
    commit: Option<Session>,
    /// Off after a child failed to start (no `-i` support): use `nft -f -` only.
    enabled: bool,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            check: None,
            commit: None,
            enabled: true,
        }
    }
}

impl Sessions {
    /// Runs `script` in the check or commit child. None when no child is available
    /// (the caller uses `nft -f -`).
    fn run(&mut self, ex: &Exec, script: &str, check: bool) -> Option<Result<(), ApplyError>> {
        if !self.enabled {
            return None;
        }
        let slot = if check {
            &mut self.check
        } else {
            &mut self.commit
        };
        if slot.is_none() {
            match Session::start(ex, check) {
                Ok(s) => *slot = Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot keep an `nft -i` child; using `nft -f -`");
                    self.enabled = false;
                    return None;
                }
            }
        }
        let s = slot.as_mut()?;
        let res = s.run(script);
        if s.is_broken() {
            *slot = None;
        }
        Some(res)
    }
}

/// Check (optional) and commit through the CLI: each a fresh `nft` process.
fn transact_cli(ex: &Exec, script: &str, check: bool) -> Result<(), ApplyError> {
    if check {
        ex.run("nft", &["-c", "-f", "-"], Some(script))?;
    }
    ex.run("nft", &["-f", "-"], Some(script))?;
    Ok(())
}

/// Above this size a transaction goes through `nft -f -`: `nft -i` reads its input one
/// byte per system call (~0.4 µs a byte here), which outweighs the start-up and socket
/// close it saves (~15 ms) for large changes.
const SESSION_MAX_BYTES: usize = 16 * 1024;

/// Check (optional) and commit through the `nft -i` children when available.
fn transact_session(
    ex: &Exec,
    sessions: &mut Sessions,
    script: &str,
    check: bool,
) -> Result<(), ApplyError> {
    if script.len() > SESSION_MAX_BYTES {
        return transact_cli(ex, script, check);
    }
    if check {
        match sessions.run(ex, script, true) {
            Some(r) => r?,
            None => return transact_cli(ex, script, check),
        }
    }
    match sessions.run(ex, script, false) {
        Some(r) => r,
        None => transact_cli(ex, script, false),
    }
}

/// Turns the kernel's tern table from `prev` (what this process applied last) into
/// `next`. When the incremental transaction is refused (the table was changed or removed
/// behind tern's back), falls back to a full replacement.
pub(super) fn apply(
    ex: &Exec,
    sessions: &mut Sessions,
    prev: Option<&NftRuleset>,
    next: &NftRuleset,
    check: bool,
) -> Result<ApplyMode, ApplyError> {
    if let Some(p) = prev {
        if p == next {
            return Ok(ApplyMode::Unchanged);
        }
        if let Some(script) = diff_transaction(p, next) {
            match transact_session(ex, sessions, &script, check) {
                Ok(()) => return Ok(ApplyMode::Incremental),
                Err(e) => {
                    tracing::warn!(error = %e, "incremental nft transaction refused; replacing the table")
                }
            }
        }
    }
    transact_cli(ex, &full_transaction(next), check)?;
    Ok(ApplyMode::Full)
}

/// Deletes `table inet tern` if it exists.
pub(super) fn flush(ex: &Exec) -> Result<(), ApplyError> {
    ex.run(
        "nft",
        &["-f", "-"],
        Some(&format!("table {TABLE}\ndelete table {TABLE}\n")),
    )?;
    Ok(())
}
