//! nftables apply: one atomic transaction, dry-run first (`nft -c`) only when the
//! applier asks for it (by default its first apply). Full replacements go through
//! `nft -f -`; incremental changes through a long-lived `nft -i` child (a second one in
//! check mode when every change is dry-run; see [`super::session`]), falling back to
//! `nft -f -` when those cannot run. A refused transaction changes nothing, so without
//! the dry run a bad ruleset still leaves the one in force, with nft's error.

use std::time::{Duration, Instant};

use super::session::Session;
use super::{ApplyError, ApplyMode, Exec};
use crate::render::nft::{diff, full_transaction, NftRuleset, TABLE};

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

    /// Sends `script` to a running, idle commit child without waiting for its verdict
    /// (the cleanup after a change, see [`apply`]; read by [`Sessions::settle`]). False
    /// when no child took it (the caller runs it itself).
    fn defer(&mut self, script: &str) -> bool {
        let Some(s) = self.commit.as_mut().filter(|s| !s.in_flight()) else {
            return false;
        };
        if s.begin(script).is_err() {
            self.commit = None;
            return false;
        }
        true
    }

    /// Waits for the transaction [`Sessions::defer`] sent, if any: its verdict.
    pub(super) fn settle(&mut self) -> Option<Result<(), ApplyError>> {
        let s = self.commit.as_mut().filter(|s| s.in_flight())?;
        let res = s.finish();
        if s.is_broken() {
            self.commit = None;
        }
        Some(res)
    }
}

impl Drop for Sessions {
    /// A removal still in flight is waited for (ending the child could cut it off and
    /// leave unused chains and sets behind).
    fn drop(&mut self) {
        let _ = self.settle();
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
///
/// An incremental change is committed first, and the removal of the chains and sets it
/// left unused (a `delete`, for which `nft` lists every chain and set: ~16 ms among
/// 4,000 chains) follows as a second transaction that the commit child runs after this
/// returns: the change is in force when this returns, the leftovers cannot be reached.
/// The next apply (or [`Sessions::settle`]) reads that transaction's verdict first; if
/// it failed, the table is replaced.
pub(super) fn apply(
    ex: &Exec,
    sessions: &mut Sessions,
    prev: Option<&NftRuleset>,
    next: &NftRuleset,
    check: bool,
    tools: &mut Duration,
) -> Result<ApplyMode, ApplyError> {
    let mut prev = prev;
    let t = Instant::now();
    let settled = sessions.settle();
    *tools += t.elapsed();
    if let Some(Err(e)) = settled {
        tracing::warn!(error = %e, "removing unused nft chains and sets failed; replacing the table");
        prev = None;
    }
    if let Some(p) = prev {
        if p == next {
            return Ok(ApplyMode::Unchanged);
        }
        if let Some(d) = diff(p, next) {
            let t = Instant::now();
            let res = if check || d.cleanup.is_empty() {
                transact_session(ex, sessions, &(d.change + &d.cleanup), check)
            } else {
                transact_session(ex, sessions, &d.change, false).and_then(|()| {
                    if sessions.defer(&d.cleanup) {
                        Ok(())
                    } else {
                        transact_session(ex, sessions, &d.cleanup, false)
                    }
                })
            };
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

    /// A throwaway namespace (needs root) holding `first`, applied in full, and the
    /// sessions that applied it.
    fn applied(lab: &str, first: &NftRuleset) -> (testlab::Lab, testlab::Netns, Exec, Sessions) {
        let mut lab = testlab::Lab::new(lab);
        let ns = lab.netns("n");
        let ex = Exec {
            netns: Some(ns.name().to_string()),
        };
        let mut sessions = Sessions::default();
        let mut tools = Duration::ZERO;
        let mode = apply(&ex, &mut sessions, None, first, false, &mut tools).unwrap();
        assert_eq!(mode, ApplyMode::Full);
        assert!(tools > Duration::ZERO);
        (lab, ns, ex, sessions)
    }

    /// Needs root: runs in a throwaway namespace. A change that removes a chain and a
    /// set is in force when `apply` returns; the removal follows as a second transaction,
    /// whose verdict the next apply reads first: a refused one (here a made-up one) makes
    /// that apply a full replacement.
    #[test]
    fn removals_run_after_the_change_and_a_failed_one_forces_a_full_apply() {
        let a = ruleset(&["ip saddr @src counter accept"], &["10.0.0.0/8"]);
        let (_lab, ns, ex, mut sessions) = applied("acl-nft-cleanup", &a);
        let listed = || ns.ok(&["nft", "list", "table", "inet", "tern"]);
        let mut tools = Duration::ZERO;
        // a2: a and a chain c2; b: nothing looks up `src` any more, and no c2.
        let mut b = ruleset(&["counter drop"], &[]);
        b.sets.clear();
        b.chains.insert(
            "forward".to_string(),
            Arc::new(NftChain {
                hook: Some("type filter hook forward priority filter; policy accept;".into()),
                rules: vec!["jump c1".into()],
            }),
        );
        let mut a2 = a.clone();
        a2.chains.insert(
            "c2".to_string(),
            Arc::new(NftChain {
                hook: None,
                rules: vec!["ip saddr @src drop".into()],
            }),
        );
        let mode = apply(&ex, &mut sessions, Some(&a), &a2, false, &mut tools).unwrap();
        assert_eq!(mode, ApplyMode::Incremental);
        assert!(listed().contains("chain c2"));
        let mode = apply(&ex, &mut sessions, Some(&a2), &b, false, &mut tools).unwrap();
        assert_eq!(mode, ApplyMode::Incremental);
        assert!(
            sessions.commit.as_ref().is_some_and(Session::in_flight),
            "the removals were not left to run after the change"
        );
        let settled = sessions.settle();
        assert!(matches!(settled, Some(Ok(()))), "{settled:?}");
        let now = listed();
        assert!(
            now.contains("counter") && now.contains("drop") && !now.contains("chain c2"),
            "{now}"
        );
        assert!(!now.contains("set src"), "{now}");
        // A removal the kernel refuses (nothing of that name): the next apply replaces
        // the table and reports it.
        assert!(sessions.defer(&format!("delete set {TABLE} nosuchset\n")));
        let mode = apply(&ex, &mut sessions, Some(&b), &a, false, &mut tools).unwrap();
        assert_eq!(mode, ApplyMode::Full);
        assert!(listed().contains("10.0.0.0/8"));
    }

    /// Needs root: runs in a throwaway namespace. Without the dry run, a transaction the
    /// kernel refuses (incremental, then the full replacement it falls back to) changes
    /// nothing and says why; the next good change applies incrementally.
    #[test]
    fn refused_commit_without_dry_run_changes_nothing() {
        let a = ruleset(&["counter accept"], &["10.0.0.0/8"]);
        let (_lab, ns, ex, mut sessions) = applied("acl-nft-nocheck", &a);
        let listed = || ns.ok(&["nft", "list", "table", "inet", "tern"]);
        let mut tools = Duration::ZERO;
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
