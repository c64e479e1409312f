//! nftables transaction texts: the full replacement of tern's table and the incremental
//! diff between two rendered rulesets.
//!
//! The diff is written for the cost model of `nft` 1.0.x, which fetches a cache from the
//! kernel before it evaluates a batch, and whose size depends on the command forms:
//!
//! - `add rule` makes it list every chain of every table (4,000+ for a large cluster);
//!   `add chain NAME { rules }` needs only the table list, so changed chains are
//!   rewritten as `flush chain` + `add chain` with the rules in a block.
//! - `add element` makes it fetch the elements of every interval set in the table
//!   (hundreds of dumps); `add set NAME { …; elements = { … } }` needs only the table
//!   list, so new and changed sets are (flushed and) declared with their elements.
//! - A rule that names a set needs that set in the cache: sets the diff does not rewrite
//!   are declared again, unchanged (`add set` on an existing, identical set is a no-op
//!   in the kernel), instead of making `nft` list all sets.
//! - `delete` still makes it list every chain and set (~16 ms for one removed set among
//!   4,000 chains here); only removed chains and sets use it, and they are written as a
//!   second part, [`Diff::cleanup`], which an applier may run after the change: once
//!   the change is committed nothing refers to them any more (everything the next
//!   ruleset holds refers only to what it holds).
//!
//! [`diff_transaction`] is both parts as one batch, i.e. one atomic kernel transaction.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{table_text, NftChain, NftRuleset, NftSet, TABLE};

/// A transaction that replaces whatever tern table exists with `rs`.
pub fn full_transaction(rs: &NftRuleset) -> String {
    format!("table {TABLE}\ndelete table {TABLE}\n{}", table_text(rs))
}

/// The names of the sets a rule looks up (`@name` outside quoted strings).
fn set_refs(rule: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    rule.char_indices().filter_map(move |(i, c)| {
        match c {
            '"' => quoted = !quoted,
            '@' if !quoted => {
                let rest = rule.get(i + 1..)?;
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "-_/.".contains(c)))
                    .unwrap_or(rest.len());
                return rest.get(..end).filter(|n| !n.is_empty());
            }
            _ => {}
        }
        None
    })
}

/// `add set|map inet tern NAME { DECL [elements = { … };] }`.
fn write_set(out: &mut String, name: &str, s: &NftSet, with_elements: bool) {
    let _ = write!(out, "add {} {TABLE} {name} {{ {}", s.keyword, s.decl);
    if with_elements && !s.elements.is_empty() {
        let _ = write!(out, " elements = {{ {} }};", s.elements.join(", "));
    }
    out.push_str(" }\n");
}

/// `add chain inet tern NAME { [HOOK] rules }`, one rule per line.
fn write_chain(out: &mut String, name: &str, c: &NftChain) {
    let _ = writeln!(out, "add chain {TABLE} {name} {{");
    if let Some(h) = &c.hook {
        let _ = writeln!(out, "\t{h}");
    }
    for r in &c.rules {
        let _ = writeln!(out, "\t{r}");
    }
    out.push_str("}\n");
}

/// The incremental change from one table to another, in two parts that are each one
/// batch: run `change`, then `cleanup` (or both as one, [`diff_transaction`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    /// New and changed sets and chains: after it the table decides as `next` does.
    pub change: String,
    /// Removed chains (emptied, then deleted) and sets, which nothing refers to once
    /// `change` is committed. Empty when nothing was removed.
    pub cleanup: String,
}

/// A transaction that turns the table `prev` into `next`, touching only what changed.
/// None when a set's declaration or a chain's hook changed (the caller does a full
/// replacement).
pub fn diff_transaction(prev: &NftRuleset, next: &NftRuleset) -> Option<String> {
    diff(prev, next).map(|d| d.change + &d.cleanup)
}

/// [`diff_transaction`] in its two parts.
pub fn diff(prev: &NftRuleset, next: &NftRuleset) -> Option<Diff> {
    // Both maps are walked side by side (they are sorted by name) rather than looked up
    // name by name.
    let mut sets: Vec<(&String, &NftSet, bool)> = Vec::new();
    let mut gone_sets: Vec<(&String, &NftSet)> = Vec::new();
    for (name, p, n) in merge(&prev.sets, &next.sets) {
        match (p, n) {
            (Some(p), Some(s)) => {
                if p.decl != s.decl || p.keyword != s.keyword {
                    return None;
                }
                // Shared (unchanged) sets compare by pointer.
                if p != s {
                    sets.push((name, &**s, true));
                }
            }
            (None, Some(s)) => sets.push((name, &**s, false)),
            (Some(p), None) => gone_sets.push((name, &**p)),
            (None, None) => {}
        }
    }
    let mut chains: Vec<(&String, &NftChain, bool)> = Vec::new();
    let mut gone: Vec<&String> = Vec::new();
    for (name, p, n) in merge(&prev.chains, &next.chains) {
        match (p, n) {
            (Some(p), Some(c)) => {
                if p.hook != c.hook {
                    return None;
                }
                if p != c {
                    chains.push((name, &**c, true));
                }
            }
            (None, Some(c)) => chains.push((name, &**c, false)),
            (Some(_), None) => gone.push(name),
            (None, None) => {}
        }
    }
    let mut out = String::new();
    // 1. Sets the written rules look up and this transaction does not declare.
    let written: BTreeSet<&str> = sets.iter().map(|(n, _, _)| n.as_str()).collect();
    let referenced: BTreeSet<&str> = chains
        .iter()
        .flat_map(|(_, c, _)| c.rules.iter())
        .flat_map(|r| set_refs(r))
        .filter(|n| !written.contains(n))
        .collect();
    for name in referenced {
        if let Some(s) = next.sets.get(name) {
            write_set(&mut out, name, s, false);
        }
    }
    // 2. New chains, empty, so that jumps to them from any rule or map resolve.
    for (name, c, existed) in &chains {
        if !existed {
            match &c.hook {
                Some(h) => {
                    let _ = writeln!(out, "add chain {TABLE} {name} {{ {h} }}");
                }
                None => {
                    let _ = writeln!(out, "add chain {TABLE} {name}");
                }
            }
        }
    }
    // 3. New and changed sets and maps, with their elements.
    for (name, s, existed) in &sets {
        if *existed {
            let _ = writeln!(out, "flush {} {TABLE} {name}", s.keyword);
        }
        write_set(&mut out, name, s, true);
    }
    // 4. New and changed chains, flushed and refilled.
    for (name, c, existed) in &chains {
        if *existed {
            let _ = writeln!(out, "flush chain {TABLE} {name}");
        }
        write_chain(&mut out, name, c);
    }
    // 5. Removed chains emptied (they may jump to each other and look up removed sets),
    // then removed sets and maps (a map's elements jump to removed chains), then the
    // chains: the kernel refuses to delete anything still referred to.
    let mut cleanup = String::new();
    for name in &gone {
        let _ = writeln!(cleanup, "flush chain {TABLE} {name}");
    }
    for (name, s) in gone_sets {
        let _ = writeln!(cleanup, "delete {} {TABLE} {name}", s.keyword);
    }
    for name in &gone {
        let _ = writeln!(cleanup, "delete chain {TABLE} {name}");
    }
    Some(Diff {
        change: out,
        cleanup,
    })
}

/// The names of two maps in order, each with its value in `a` and in `b`.
fn merge<'a, V>(
    a: &'a BTreeMap<String, V>,
    b: &'a BTreeMap<String, V>,
) -> impl Iterator<Item = (&'a String, Option<&'a V>, Option<&'a V>)> {
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    std::iter::from_fn(move || {
        let order = match (a.peek(), b.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((x, _)), Some((y, _))) => x.cmp(y),
        };
        Some(match order {
            Ordering::Less => a.next().map(|(k, v)| (k, Some(v), None))?,
            Ordering::Greater => b.next().map(|(k, v)| (k, None, Some(v)))?,
            Ordering::Equal => {
                let (k, v) = a.next()?;
                (k, Some(v), b.next().map(|(_, w)| w))
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(chain_rules: &[(&str, &[&str])], sets: &[(&str, &[&str])]) -> NftRuleset {
        let mut r = NftRuleset::default();
        for (n, rules) in chain_rules {
            r.chains.insert(
                n.to_string(),
                std::sync::Arc::new(NftChain {
                    hook: None,
                    rules: rules.iter().map(|s| s.to_string()).collect(),
                }),
            );
        }
        for (n, el) in sets {
            r.sets.insert(
                n.to_string(),
                std::sync::Arc::new(NftSet {
                    keyword: "set",
                    decl: "type ipv4_addr; flags interval;".into(),
                    elements: el.iter().map(|s| s.to_string()).collect(),
                }),
            );
        }
        r
    }

    #[test]
    fn set_references_outside_quotes() {
        let refs: Vec<&str> =
            set_refs("ip saddr @s4-ab th dport != @p-1 drop comment \"not @this\"").collect();
        assert_eq!(refs, ["s4-ab", "p-1"]);
        assert_eq!(
            set_refs("iifname vmap @from-wl").collect::<Vec<_>>(),
            ["from-wl"]
        );
        assert_eq!(set_refs("drop @").count(), 0);
    }

    #[test]
    fn diff_touches_only_changes() {
        let a = rs(
            &[
                ("x", &["drop"]),
                ("y", &["accept"]),
                ("old", &["drop"]),
                ("z", &["ip saddr @s drop"]),
            ],
            &[
                ("s", &["10.0.0.0/8"]),
                ("u", &["10.1.0.0/16"]),
                ("gone", &[]),
            ],
        );
        let b = rs(
            &[
                ("x", &["drop"]),
                ("y", &["ip saddr @s ip daddr @t return"]),
                ("new", &["drop"]),
                ("z", &["ip saddr @s drop"]),
            ],
            &[
                ("s", &["10.0.0.0/8"]),
                ("t", &["1.2.3.4/32"]),
                ("u", &["10.2.0.0/16"]),
            ],
        );
        let d = diff_transaction(&a, &b).unwrap();
        assert_eq!(
            d,
            "add set inet tern s { type ipv4_addr; flags interval; }\n\
             add chain inet tern new\n\
             add set inet tern t { type ipv4_addr; flags interval; elements = { 1.2.3.4/32 }; }\n\
             flush set inet tern u\n\
             add set inet tern u { type ipv4_addr; flags interval; elements = { 10.2.0.0/16 }; }\n\
             add chain inet tern new {\n\tdrop\n}\n\
             flush chain inet tern y\n\
             add chain inet tern y {\n\tip saddr @s ip daddr @t return\n}\n\
             flush chain inet tern old\n\
             delete set inet tern gone\n\
             delete chain inet tern old\n"
        );
        // The removals are the cleanup part; the change part is the rest, in order.
        let parts = diff(&a, &b).unwrap();
        assert_eq!(
            parts.cleanup,
            "flush chain inet tern old\ndelete set inet tern gone\ndelete chain inet tern old\n"
        );
        assert_eq!(parts.change + &parts.cleanup, d);
        assert_eq!(diff(&a, &a).unwrap(), Diff::default());
        assert_eq!(diff_transaction(&b, &b).unwrap(), "");
    }

    #[test]
    fn changed_declaration_or_hook_needs_a_full_replacement() {
        let a = rs(&[("x", &["drop"])], &[("s", &[])]);
        let mut b = a.clone();
        if let Some(s) = b.sets.get_mut("s") {
            std::sync::Arc::make_mut(s).decl = "type ipv6_addr; flags interval;".into();
        }
        assert_eq!(diff_transaction(&a, &b), None);
        let mut c = a.clone();
        if let Some(x) = c.chains.get_mut("x") {
            std::sync::Arc::make_mut(x).hook =
                Some("type filter hook input priority filter; policy accept;".into());
        }
        assert_eq!(diff_transaction(&a, &c), None);
    }
}
