//! iptables apply: sets through `ipset restore` (changed sets are filled under a
//! temporary name and swapped in after the rules commit), chains through
//! `iptables-restore --noflush` / `ip6tables-restore --noflush`, tested first with
//! `--test`. One jump each from FORWARD, INPUT and OUTPUT into tern's base chains.
//!
//! All or nothing across the two families: each family's commit is one kernel
//! transaction, but the two are separate, so before committing, tern's chains of each
//! family are saved; when the IPv6 commit fails (a lock held too long, a chain the kernel
//! will not delete, anything `--test` cannot see) the IPv4 commit is undone from that
//! copy, and only then are the new sets removed. Sets are swapped in last, once both
//! families committed.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{ApplyError, ApplyMode, Exec};
use crate::render::iptables::{Chains, IptRuleset, BASE_CHAINS, PREFIX};

const TMP: &str = "-t";

/// The two families' tools.
const TOOLS: [(&str, &str); 2] = [
    ("iptables-restore", "iptables"),
    ("ip6tables-restore", "ip6tables"),
];

fn kernel_sets(ex: &Exec) -> Result<BTreeSet<String>, ApplyError> {
    let out = ex.run("ipset", &["list", "-n"], None)?;
    Ok(out
        .lines()
        .filter(|l| l.starts_with(PREFIX))
        .map(str::to_string)
        .collect())
}

fn kernel_chains(ex: &Exec, tool: &str) -> Result<BTreeSet<String>, ApplyError> {
    let out = ex.run(&format!("{tool}-save"), &["-t", "filter"], None)?;
    Ok(out
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_string)
        .collect())
}

/// Restore text for one family: changed chains flushed and refilled, removed chains
/// flushed then deleted, missing jumps inserted.
fn family_text(
    prev: Option<&Chains>,
    next: &Chains,
    stale: &BTreeSet<String>,
    add_jumps: &[(&str, &str)],
) -> Option<String> {
    let changed: Vec<&String> = next
        .iter()
        .filter(|(n, r)| prev.and_then(|p| p.get(*n)) != Some(*r))
        .map(|(n, _)| n)
        .collect();
    let mut gone: BTreeSet<&String> = stale.iter().filter(|n| !next.contains_key(*n)).collect();
    if let Some(p) = prev {
        gone.extend(p.keys().filter(|n| !next.contains_key(*n)));
    }
    if changed.is_empty() && gone.is_empty() && add_jumps.is_empty() {
        return None;
    }
    let mut out = String::from("*filter\n");
    for n in changed.iter().copied().chain(gone.iter().copied()) {
        let _ = writeln!(out, ":{n} - [0:0]");
    }
    for n in &changed {
        for r in next.get(*n).into_iter().flatten() {
            let _ = writeln!(out, "-A {n} {r}");
        }
    }
    for (builtin, chain) in add_jumps {
        let _ = writeln!(out, "-I {builtin} 1 -j {chain}");
    }
    for n in &gone {
        let _ = writeln!(out, "-X {n}");
    }
    out.push_str("COMMIT\n");
    Some(out)
}

pub(super) fn apply(
    ex: &Exec,
    prev: Option<&IptRuleset>,
    next: &IptRuleset,
    check: bool,
) -> Result<ApplyMode, ApplyError> {
    if prev == Some(next) {
        return Ok(ApplyMode::Unchanged);
    }
    let full = prev.is_none();
    // Sets that exist in the kernel now.
    let existing: BTreeSet<String> = match prev {
        Some(p) => p.ipsets.keys().cloned().collect(),
        None => kernel_sets(ex)?,
    };
    // 1. Sets: new ones created and filled; changed ones filled under a temporary name.
    let mut script = String::new();
    let mut swaps = Vec::new();
    let mut created = Vec::new();
    for (name, s) in &next.ipsets {
        let same = prev.and_then(|p| p.ipsets.get(name)) == Some(s);
        if same {
            continue;
        }
        let target = if existing.contains(name) {
            let tmp = format!("{name}{TMP}");
            swaps.push((tmp.clone(), name.clone()));
            tmp
        } else {
            created.push(name.clone());
            name.clone()
        };
        let _ = writeln!(script, "create {target} {} -exist", s.kind);
        let _ = writeln!(script, "flush {target}");
        for e in &s.elements {
            let _ = writeln!(script, "add {target} {e}");
        }
    }
    let cleanup = |swaps: &[(String, String)], created: &[String]| {
        for name in swaps.iter().map(|(t, _)| t).chain(created) {
            let _ = ex.run("ipset", &["destroy", name], None);
        }
    };
    if !script.is_empty() {
        if let Err(e) = ex.run("ipset", &["restore"], Some(&script)) {
            cleanup(&swaps, &created);
            return Err(e);
        }
    }
    // 2. Rules: test both families, then commit both.
    let mut texts = Vec::new();
    for (i, (restore, tool)) in TOOLS.iter().enumerate() {
        let (p, n) = match i {
            0 => (prev.map(|p| &p.v4), &next.v4),
            _ => (prev.map(|p| &p.v6), &next.v6),
        };
        let (stale, jumps) = if full {
            let stale = kernel_chains(ex, tool)?;
            let jumps: Vec<(&str, &str)> = BASE_CHAINS
                .iter()
                .copied()
                .filter(|(b, c)| ex.run(tool, &["-w", "5", "-C", b, "-j", c], None).is_err())
                .collect();
            (stale, jumps)
        } else {
            (BTreeSet::new(), Vec::new())
        };
        if let Some(t) = family_text(p, n, &stale, &jumps) {
            texts.push((*restore, t));
        }
    }
    for (restore, t) in texts.iter().filter(|_| check) {
        if let Err(e) = ex.run(restore, &["-w", "5", "--noflush", "--test"], Some(t)) {
            cleanup(&swaps, &created);
            return Err(e);
        }
    }
    // Saved before any commit: what to put back if a later family's commit fails. The
    // last family to commit needs no copy (its own failure changes nothing: one kernel
    // transaction), so a change to one family reads none: `*-save` of the whole filter
    // table was most of an incremental apply (~850 ms of ~920 at 1,000 endpoints).
    let mut saved = Vec::new();
    for (restore, _) in texts.iter().take(texts.len().saturating_sub(1)) {
        saved.push(Saved::read(ex, restore)?);
    }
    for (k, (restore, t)) in texts.iter().enumerate() {
        if let Err(e) = ex.run(restore, &["-w", "5", "--noflush"], Some(t)) {
            let mut err = e;
            for ((restore, _), before) in texts.iter().zip(&saved).take(k) {
                if let Err(undo) = before.restore(ex, restore) {
                    err = ApplyError::Rejected {
                        cmd: restore.to_string(),
                        stderr: format!("{err}; undoing the {restore} commit also failed: {undo}"),
                    };
                }
            }
            cleanup(&swaps, &created);
            return Err(err);
        }
    }
    // 3. Swap refilled sets in, drop temporaries and sets no longer used.
    let mut post = String::new();
    for (tmp, name) in &swaps {
        let _ = writeln!(post, "swap {tmp} {name}");
        let _ = writeln!(post, "destroy {tmp}");
    }
    for name in existing.iter().filter(|n| !next.ipsets.contains_key(*n)) {
        let _ = writeln!(post, "destroy {name}");
    }
    if !post.is_empty() {
        ex.run("ipset", &["restore"], Some(&post))?;
    }
    Ok(if full {
        ApplyMode::Full
    } else {
        ApplyMode::Incremental
    })
}

/// One family's `tern-` chains and the jumps into them, as `*-save` printed them.
struct Saved {
    chains: BTreeSet<String>,
    /// `-A CHAIN …` lines of `tern-` chains, in order.
    rules: Vec<String>,
    /// (built-in chain, tern chain) jumps.
    jumps: BTreeSet<(String, String)>,
}

impl Saved {
    fn read(ex: &Exec, restore: &str) -> Result<Saved, ApplyError> {
        let tool = restore.trim_end_matches("-restore");
        let text = ex.run(&format!("{tool}-save"), &["-t", "filter"], None)?;
        Ok(Saved::parse(&text))
    }

    fn parse(text: &str) -> Saved {
        let mut s = Saved {
            chains: BTreeSet::new(),
            rules: Vec::new(),
            jumps: BTreeSet::new(),
        };
        for l in text.lines() {
            if let Some(c) = l.strip_prefix(':') {
                if let Some(n) = c
                    .split_whitespace()
                    .next()
                    .filter(|n| n.starts_with(PREFIX))
                {
                    s.chains.insert(n.to_string());
                }
            } else if let Some(rest) = l.strip_prefix("-A ") {
                let mut w = rest.split_whitespace();
                let chain = w.next().unwrap_or_default();
                if chain.starts_with(PREFIX) {
                    s.rules.push(l.to_string());
                } else if let (Some("-j"), Some(target), None) = (w.next(), w.next(), w.next()) {
                    if target.starts_with(PREFIX) {
                        s.jumps.insert((chain.to_string(), target.to_string()));
                    }
                }
            }
        }
        s
    }

    /// Restore text that makes the family's `tern-` chains and jumps what `self` saved,
    /// whatever they are in `now`.
    fn undo_text(&self, now: &Saved) -> String {
        let mut out = String::from("*filter\n");
        for n in self.chains.union(&now.chains) {
            let _ = writeln!(out, ":{n} - [0:0]");
        }
        for (builtin, chain) in now.jumps.difference(&self.jumps) {
            let _ = writeln!(out, "-D {builtin} -j {chain}");
        }
        for r in &self.rules {
            let _ = writeln!(out, "{r}");
        }
        for (builtin, chain) in self.jumps.difference(&now.jumps) {
            let _ = writeln!(out, "-I {builtin} 1 -j {chain}");
        }
        for n in now.chains.difference(&self.chains) {
            let _ = writeln!(out, "-X {n}");
        }
        out.push_str("COMMIT\n");
        out
    }

    /// Puts the family back as saved (one transaction).
    fn restore(&self, ex: &Exec, restore: &str) -> Result<(), ApplyError> {
        let now = Saved::read(ex, restore)?;
        ex.run(
            restore,
            &["-w", "5", "--noflush"],
            Some(&self.undo_text(&now)),
        )?;
        Ok(())
    }
}

/// Removes the jumps, every `tern-` chain in both families and every `tern-` ipset.
pub(super) fn flush(ex: &Exec) -> Result<(), ApplyError> {
    for (restore, tool) in TOOLS {
        for (builtin, chain) in BASE_CHAINS {
            // Bounded: at most a few duplicate jumps could exist.
            for _ in 0..8 {
                if ex
                    .run(tool, &["-w", "5", "-D", builtin, "-j", chain], None)
                    .is_err()
                {
                    break;
                }
            }
        }
        let chains = kernel_chains(ex, tool)?;
        if chains.is_empty() {
            continue;
        }
        let mut t = String::from("*filter\n");
        for c in &chains {
            let _ = writeln!(t, ":{c} - [0:0]");
        }
        for c in &chains {
            let _ = writeln!(t, "-X {c}");
        }
        t.push_str("COMMIT\n");
        ex.run(restore, &["-w", "5", "--noflush"], Some(&t))?;
    }
    let sets = kernel_sets(ex)?;
    if !sets.is_empty() {
        let script: String = sets.iter().map(|s| format!("destroy {s}\n")).collect();
        ex.run("ipset", &["restore"], Some(&script))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_text_puts_chains_rules_and_jumps_back() {
        let before = Saved::parse(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:tern-fwd - [0:0]\n:tern-pol-a - [0:0]\n\
             -A FORWARD -j tern-fwd\n-A tern-fwd -j tern-pol-a\n-A tern-pol-a -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n",
        );
        let now = Saved::parse(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:tern-fwd - [0:0]\n:tern-pol-b - [0:0]\n:tern-in - [0:0]\n\
             -A INPUT -j tern-in\n-A FORWARD -j tern-fwd\n-A tern-fwd -j tern-pol-b\n-A tern-pol-b -j DROP\nCOMMIT\n",
        );
        assert_eq!(before.chains.len(), 2);
        assert_eq!(before.jumps.len(), 1);
        assert_eq!(
            before.undo_text(&now),
            "*filter\n:tern-fwd - [0:0]\n:tern-in - [0:0]\n:tern-pol-a - [0:0]\n:tern-pol-b - [0:0]\n\
             -D INPUT -j tern-in\n\
             -A tern-fwd -j tern-pol-a\n-A tern-pol-a -p tcp -m tcp --dport 80 -j ACCEPT\n\
             -X tern-in\n-X tern-pol-b\nCOMMIT\n"
        );
    }
}
