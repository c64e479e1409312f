//! nftables apply: one atomic transaction, dry-run first (`nft -c`) only when the
//! applier asks for it (by default its first apply). Full replacements go through
//! `nft -f -`; incremental changes through a long-lived `nft -i` child (a second one in
//! check mode when every change is dry-run; see [`super::session`]), falling back to
//! `nft -f -` when those cannot run. A refused transaction changes nothing, so without
//! the dry run a bad ruleset still leaves the one in force, with nft's error.

use std::time::{Duration, Instant};

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
    tools: &mut Duration,
) -> Result<ApplyMode, ApplyError> {
    if let Some(p) = prev {
        if p == next {
            return Ok(ApplyMode::Unchanged);
        }
        if let Some(script) = diff_transaction(p, next) {
            let t = Instant::now();
            let res = transact_session(ex, sessions, &script, check);
            *tools += t.elapsed();
            match res {
                Ok(()) => return Ok(ApplyMode::Incremental),
                Err(e) => {
                    tracing::warn!(error = %e, "incremental nft transaction refused; replacing the table")
                }
            }
        }
    }
    let script = full_transaction(next);
    let t = Instant::now();
    let res = transact_cli(ex, &script, check);
    *tools += t.elapsed();
    res?;
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::render::nft::{NftChain, NftSet};

    fn ruleset(chain_rules: &[&str], elements: &[&str]) -> NftRuleset {
        let set = NftSet {
            keyword: "set",
            decl: "type ipv4_addr; flags interval;".into(),
            elements: elements.iter().map(|e| e.to_string()).collect(),
        };
        let base = NftChain {
            hook: Some("type filter hook forward priority filter; policy accept;".into()),
            rules: vec!["ip saddr @src jump c1".into()],
        };
        let c1 = NftChain {
            hook: None,
            rules: chain_rules.iter().map(|r| r.to_string()).collect(),
        };
        NftRuleset {
            sets: BTreeMap::from([("src".to_string(), Arc::new(set))]),
            chains: BTreeMap::from([
                ("forward".to_string(), Arc::new(base)),
                ("c1".to_string(), Arc::new(c1)),
            ]),
        }
    }

    /// Needs root: runs in a throwaway namespace. Without the dry run, a transaction the
    /// kernel refuses (incremental, then the full replacement it falls back to) changes
    /// nothing and says why; the next good change applies incrementally.
    #[test]
    fn refused_commit_without_dry_run_changes_nothing() {
        let mut lab = testlab::Lab::new("acl-nft-nocheck");
        let ns = lab.netns("n");
        let ex = Exec {
            netns: Some(ns.name().to_string()),
        };
        let listed = || ns.ok(&["nft", "list", "table", "inet", "tern"]);
        let mut sessions = Sessions::default();
        let mut tools = Duration::ZERO;
        let a = ruleset(&["counter accept"], &["10.0.0.0/8"]);
        let mode = apply(&ex, &mut sessions, None, &a, false, &mut tools).unwrap();
        assert_eq!(mode, ApplyMode::Full);
        assert!(tools > Duration::ZERO);
        let before = listed();
        assert!(before.contains("10.0.0.0/8"), "{before}");
        // A changed set and a chain jumping nowhere: the whole batch is refused.
        let bad = ruleset(&["jump nowhere"], &["10.0.0.0/8", "192.0.2.0/24"]);
        let err = apply(&ex, &mut sessions, Some(&a), &bad, false, &mut tools)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nowhere"), "{err}");
        assert_eq!(listed(), before);
        let good = ruleset(&["counter drop"], &["10.0.0.0/8", "192.0.2.0/24"]);
        let mode = apply(&ex, &mut sessions, Some(&a), &good, false, &mut tools).unwrap();
        assert_eq!(mode, ApplyMode::Incremental);
        let after = listed();
        assert!(
            after.contains("192.0.2.0/24") && after.contains("drop"),
            "{after}"
        );
    }
}
