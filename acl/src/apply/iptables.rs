//! iptables apply: sets through `ipset restore` (changed sets are filled under a
//! temporary name and swapped in after the rules commit), chains through
//! `iptables-restore --noflush` / `ip6tables-restore --noflush`, tested first with
//! `--test`. One jump each from FORWARD, INPUT and OUTPUT into tern's base chains.

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
    for (restore, t) in &texts {
        if let Err(e) = ex.run(restore, &["-w", "5", "--noflush"], Some(t)) {
            cleanup(&swaps, &created);
            return Err(e);
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
