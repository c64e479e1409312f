//! nftables rendering: the IR as one `table inet tern` — interval sets for addresses,
//! port sets, `iifname`/`oifname` verdict maps dispatching to per-endpoint chains, and one
//! chain per (policy, direction). The transaction texts (full replacement, incremental
//! diff) are in [`transaction`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Bound;
use std::sync::Arc;

use crate::ir::{Direction, EndpointKind, Family, Ir, IrRule, Match, PortRef, Side};
use crate::model::{Action, Protocol};

mod endpoint;
mod transaction;

use endpoint::{dispatch_map, endpoint_chains, hook_chains};

pub use transaction::{diff, diff_transaction, full_transaction, Diff};

/// The table tern owns.
pub const TABLE: &str = "inet tern";

/// A named set or map of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftSet {
    /// `set` or `map`.
    pub keyword: &'static str,
    /// Declaration body: `type ipv4_addr; flags interval;`.
    pub decl: String,
    /// Elements as nft text.
    pub elements: Vec<String>,
}

/// A chain of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftChain {
    /// Base-chain declaration (`type filter hook forward priority filter; policy accept;`).
    pub hook: Option<String>,
    /// Rules as nft text.
    pub rules: Vec<String>,
}

/// The rendered table, by name, ready to diff. Sets and chains are shared: a re-render
/// reuses the unchanged ones of the previous ruleset (no copy), and comparing two shared
/// ones is a pointer comparison.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NftRuleset {
    /// Sets and maps.
    pub sets: BTreeMap<String, Arc<NftSet>>,
    /// Chains.
    pub chains: BTreeMap<String, Arc<NftChain>>,
}

/// nft chain name of a policy chain: `DIR/POLICY` for the names the loader accepts,
/// `DIR/_HASH` for anything else (a name can never become nft syntax).
pub fn policy_chain(policy: &str, dir: Direction) -> String {
    let mut name = String::new();
    push_policy_chain(&mut name, policy, dir);
    name
}

/// Appends [`policy_chain`] to `out` (without a `format!` per chain).
fn push_policy_chain(out: &mut String, policy: &str, dir: Direction) {
    out.push_str(match dir {
        Direction::Ingress => "ingress/",
        Direction::Egress => "egress/",
    });
    if super::is_plain_identifier(policy) {
        out.push_str(policy);
    } else {
        out.push('_');
        out.push_str(&crate::ir::short_hash(policy));
    }
}

/// nft chain name of a staged policy's chain: `staged-DIR/POLICY` (or hashed as
/// [`policy_chain`]).
pub fn staged_chain(policy: &str, dir: Direction) -> String {
    format!("staged-{}", policy_chain(policy, dir))
}

/// The part of an endpoint chain's name that tells its staged policies apart (empty
/// without them).
pub(crate) fn staged_suffix(staged: &[crate::ir::PolicyKey]) -> String {
    if staged.is_empty() {
        String::new()
    } else {
        format!("-s{}", &crate::ir::list_hash(staged)[..6])
    }
}

fn proto(p: Protocol) -> String {
    match p {
        Protocol::Icmpv6 => "ipv6-icmp".into(),
        p => p.keyword(),
    }
}

/// A quoted nft string (comments and log prefixes are limited to 127 bytes).
fn quote(s: &str) -> String {
    format!("\"{}\"", super::quoted_text(s, 120))
}

/// How a policy chain's verdicts are rendered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// An enforced policy of the filter or prerouting hooks.
    Enforced,
    /// A `doNotTrack` policy (raw priority): Allow also skips conntrack and marks the
    /// packet for the filter hooks to accept.
    Untracked,
    /// A staged policy: every verdict is counted and logged, and the chain returns.
    Staged,
}

fn rule_text(ir: &Ir, chain: &str, r: &IrRule, mode: Mode) -> String {
    let mut parts: Vec<String> = Vec::new();
    let has_addr = r.matches.iter().any(|m| {
        matches!(
            m,
            Match::Addr { .. } | Match::AddrPort { .. } | Match::Icmp { .. }
        )
    });
    for m in &r.matches {
        match m {
            Match::Family(f) => {
                if !has_addr {
                    parts.push(format!(
                        "meta nfproto {}",
                        if *f == Family::V4 { "ipv4" } else { "ipv6" }
                    ));
                }
            }
            Match::Protocol { protocol, negate } => {
                parts.push(format!(
                    "meta l4proto {}{}",
                    if *negate { "!= " } else { "" },
                    proto(*protocol)
                ));
            }
            Match::Icmp {
                family,
                icmp,
                negate,
            } => {
                let (k, neg) = (
                    if *family == Family::V4 {
                        "icmp"
                    } else {
                        "icmpv6"
                    },
                    if *negate { "!= " } else { "" },
                );
                match icmp.code {
                    // Negating a (type, code) pair needs one expression: compare both bytes.
                    Some(code) if *negate => {
                        parts.push(format!("{k} type . {k} code != {} . {}", icmp.r#type, code))
                    }
                    Some(code) => parts.push(format!("{k} type {} {k} code {}", icmp.r#type, code)),
                    None => parts.push(format!("{k} type {neg}{}", icmp.r#type)),
                }
            }
            Match::AddrPort { side, set } => {
                let fam = ir.addr_port_sets.get(set).map_or(Family::V4, |s| s.family);
                let k = if fam == Family::V4 { "ip" } else { "ip6" };
                let (a, p) = if *side == Side::Source {
                    ("saddr", "sport")
                } else {
                    ("daddr", "dport")
                };
                parts.push(format!("{k} {a} . th {p} @{set}"));
            }
            Match::Addr { side, set, negate } => {
                let fam = ir.addr_sets.get(set).map_or(Family::V4, |s| s.family);
                let k = if fam == Family::V4 { "ip" } else { "ip6" };
                let d = if *side == Side::Source {
                    "saddr"
                } else {
                    "daddr"
                };
                parts.push(format!(
                    "{k} {d} {}@{set}",
                    if *negate { "!= " } else { "" }
                ));
            }
            Match::Port {
                side,
                ports,
                negate,
                ..
            } => {
                let d = if *side == Side::Source {
                    "sport"
                } else {
                    "dport"
                };
                let v = match ports {
                    PortRef::Inline(r) => r.to_string(),
                    PortRef::Set(s) => format!("@{s}"),
                };
                parts.push(format!("th {d} {}{v}", if *negate { "!= " } else { "" }));
            }
        }
    }
    // Allow ends this base chain's evaluation (egress and ingress are checked in
    // separate base chains, so an egress Allow cannot skip the receiver's ingress);
    // Pass ends policy evaluation and the endpoint's default (deny) applies.
    let staged_log = |what: &str| {
        format!(
            "counter log prefix {}",
            quote(&format!(
                "tern-staged {what} {} {}: ",
                chain.trim_start_matches("staged-"),
                r.index
            ))
        )
    };
    let verdict = match (mode, r.action) {
        // A staged policy never decides: its verdict is counted and logged, and the
        // packet goes back to the endpoint chain (a staged Log logs and goes on).
        (Mode::Staged, Action::Log) => staged_log("log"),
        (Mode::Staged, a) => format!("{} return", staged_log(&a.to_string().to_ascii_lowercase())),
        (Mode::Untracked, Action::Allow) => format!(
            "meta mark set meta mark or {:#x} notrack accept",
            ir.marks.accept
        ),
        (_, a) => verdict(ir, chain, r, a),
    };
    parts.push(format!(
        "comment {}",
        quote(&format!("{} rule {}", chain, r.index))
    ));
    let comment = parts.pop().unwrap_or_default();
    parts.push(verdict);
    parts.push(comment);
    parts.join(" ")
}

/// The verdict of an enforced rule.
fn verdict(ir: &Ir, chain: &str, r: &IrRule, action: Action) -> String {
    match action {
        Action::Allow => "accept".to_string(),
        // With tiers, Pass marks the packet and returns: the endpoint chain skips the
        // rest of the tier and goes on with the next one.
        Action::Pass if !ir.policy_tiers.is_empty() => {
            format!("meta mark set meta mark or {:#x} return", ir.marks.pass)
        }
        Action::Pass | Action::Deny => "drop".to_string(),
        Action::Log => format!(
            "log prefix {}",
            quote(&format!("tern {chain} {}: ", r.index))
        ),
    }
}

/// Whether a policy chain has Allow rules and Pass rules (the endpoint chain tests the
/// matching mark bit only when it can be set).
pub(crate) fn verdicts(ir: &Ir, key: &crate::ir::PolicyKey) -> (bool, bool) {
    let rules = ir
        .chains
        .get(key)
        .map(|c| c.rules.as_slice())
        .unwrap_or_default();
    (
        rules.iter().any(|r| r.action == Action::Allow),
        rules.iter().any(|r| r.action == Action::Pass),
    )
}

/// Renders the IR into a diffable ruleset.
pub fn render(ir: &Ir) -> NftRuleset {
    render_with(ir, None)
}

/// Renders the IR, reusing the text of sets and policy chains that are unchanged since
/// `prev` (the IR rendered last time and its result): after a small change only the
/// changed parts are formatted again.
pub fn render_with(ir: &Ir, prev: Option<(&Ir, &NftRuleset)>) -> NftRuleset {
    // The endpoint chains and their dispatch maps need nothing the sets and policy
    // chains give: for a large table they are rendered on a second thread meanwhile
    // (each half walks its part of the new and the previous IR).
    let endpoints = || {
        let mut chains = Vec::new();
        let maps = endpoint_chains(ir, prev, &mut chains);
        (chains, maps)
    };
    let ((mut rs, mut chains), (ep_chains, mut maps)) = if ir.endpoints.len() >= PARALLEL_ENDPOINTS
    {
        std::thread::scope(|s| {
            match std::thread::Builder::new().spawn_scoped(s, endpoints) {
                Ok(h) => {
                    let mine = sets_and_policy_chains(ir, prev);
                    match h.join() {
                        Ok(theirs) => (mine, theirs),
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                // No thread to be had: both here.
                Err(_) => (sets_and_policy_chains(ir, prev), endpoints()),
            }
        })
    } else {
        (sets_and_policy_chains(ir, prev), endpoints())
    };
    chains.extend(ep_chains);
    rs.chains = chains.into_iter().collect();
    for m in ["from-wl", "to-wl", "host-in", "host-out"] {
        dispatch_map(m, prev, &mut maps, &mut rs);
    }
    let mut ct = vec![
        "ct state established,related accept".to_string(),
        "ct state invalid drop".to_string(),
    ];
    // Packets a doNotTrack policy allowed (untracked, with the mark) are accepted by
    // the filter hooks too, as Calico does.
    if !ir.untracked.is_empty() {
        ct.push(format!(
            "ct state untracked meta mark and {0:#x} == {0:#x} accept",
            ir.marks.accept
        ));
    }
    // Workloads are policed in the hooks every packet from or to them passes once:
    // a workload's egress in prerouting (to the host or forwarded alike), its ingress
    // in postrouting (from the host or forwarded alike); host endpoints in input and
    // output. Each endpoint and policy chain is then reachable from one hook only,
    // which is what the kernel re-validates on every commit that adds a rule (once per
    // hook a chain is reachable from: the forward, input and output hooks walked every
    // workload chain twice). Each base chain ends only itself: an Allow (`accept`) in
    // the sender's egress never skips the receiver's ingress check.
    // A filter base chain at `hook` (with its priority), the conntrack rules first; kept
    // shared with the previous ruleset's when unchanged.
    let base = |rs: &mut NftRuleset, name: &str, hook: &str, rules: &[&str]| {
        let chain = NftChain {
            hook: Some(format!("type filter hook {hook}; policy accept;")),
            rules: ct
                .iter()
                .cloned()
                .chain(rules.iter().map(|s| s.to_string()))
                .collect(),
        };
        let chain = reuse(prev.and_then(|(_, p)| p.chains.get(name)), chain);
        rs.chains.insert(name.to_string(), chain);
    };
    for (name, hook, rules) in [
        (
            "prerouting",
            "prerouting priority filter",
            [NDP, "iifname vmap @from-wl"],
        ),
        (
            "postrouting",
            "postrouting priority filter",
            [NDP, "oifname vmap @to-wl"],
        ),
        (
            "input-host",
            "input priority filter",
            [NDP, "iifname vmap @host-in"],
        ),
        (
            "output-host",
            "output priority filter",
            [NDP, "oifname vmap @host-out"],
        ),
    ] {
        base(&mut rs, name, hook, &rules);
    }
    // Host endpoints with applyOnForward policies: forwarded traffic in through the
    // interface, then out through it, each in a base chain of its own in the forward
    // hook (made only when some host endpoint has such policies).
    if ir
        .endpoints
        .iter()
        .any(|e| e.kind == EndpointKind::HostForward)
    {
        for (m, name, hook, rule) in [
            (
                "host-fwd-in",
                "forward-host-in",
                "forward priority filter",
                "iifname vmap @host-fwd-in",
            ),
            (
                "host-fwd-out",
                "forward-host-out",
                "forward priority filter + 1",
                "oifname vmap @host-fwd-out",
            ),
        ] {
            dispatch_map(m, prev, &mut maps, &mut rs);
            base(&mut rs, name, hook, &[rule]);
        }
    }
    hook_chains(ir, prev, &mut maps, &mut rs);
    rs
}

/// Above this many endpoints [`render_with`] renders the endpoint chains on a second
/// thread (below, a thread costs more than it saves).
const PARALLEL_ENDPOINTS: usize = 256;

/// The sets, and the policy chains in name order: the part of [`render_with`] besides
/// the endpoint chains.
fn sets_and_policy_chains(
    ir: &Ir,
    prev: Option<(&Ir, &NftRuleset)>,
) -> (NftRuleset, Vec<(String, Arc<NftChain>)>) {
    let mut rs = NftRuleset::default();
    for (name, s) in &ir.addr_sets {
        if let Some((p, prs)) = prev {
            if let (Some(ps), Some(rendered)) = (p.addr_sets.get(name), prs.sets.get(name)) {
                if ps == s {
                    rs.sets.insert(name.clone(), rendered.clone());
                    continue;
                }
            }
        }
        let ty = if s.family == Family::V4 {
            "ipv4_addr"
        } else {
            "ipv6_addr"
        };
        rs.sets.insert(
            name.clone(),
            Arc::new(NftSet {
                keyword: "set",
                decl: format!("type {ty}; flags interval; comment {};", quote(&s.origin)),
                elements: s.nets.iter().map(ToString::to_string).collect(),
            }),
        );
    }
    for (name, s) in &ir.addr_port_sets {
        let ty = if s.family == Family::V4 {
            "ipv4_addr"
        } else {
            "ipv6_addr"
        };
        let set = NftSet {
            keyword: "set",
            decl: format!("type {ty} . inet_service; comment {};", quote(&s.origin)),
            elements: s
                .members
                .iter()
                .map(|(ip, port)| format!("{ip} . {port}"))
                .collect(),
        };
        rs.sets.insert(
            name.clone(),
            reuse(prev.and_then(|(_, p)| p.sets.get(name)), set),
        );
    }
    for (name, ports) in &ir.port_sets {
        let set = NftSet {
            keyword: "set",
            decl: "type inet_service; flags interval;".to_string(),
            elements: ports.iter().map(ToString::to_string).collect(),
        };
        rs.sets.insert(
            name.clone(),
            reuse(prev.and_then(|(_, p)| p.sets.get(name)), set),
        );
    }
    // Chains are collected in vectors and the map is built once (cheaper than thousands
    // of inserts): one vector per direction and kind of policy chain, each in name order
    // (as the policy ids), so that building the map finds them sorted.
    let mut runs: [Vec<(String, Arc<NftChain>)>; 4] = Default::default();
    let mut name = String::new();
    for staged in [false, true] {
        fn pick(
            ir: &Ir,
            staged: bool,
        ) -> &BTreeMap<crate::ir::PolicyKey, Arc<crate::ir::PolicyChain>> {
            if staged {
                &ir.staged_chains
            } else {
                &ir.chains
            }
        }
        // The previous IR's chains, walked beside these (both are sorted by key), and the
        // previous rendered chains of each direction, walked beside the names.
        let mut prev_chains = prev.map(|(p, prs)| {
            let from = |prefix: &str| {
                prs.chains
                    .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
                    .peekable()
            };
            let prefixes = if staged {
                ["staged-ingress/", "staged-egress/"]
            } else {
                ["ingress/", "egress/"]
            };
            (pick(p, staged).iter().peekable(), prefixes.map(from), prs)
        });
        for (key @ (policy, dir), chain) in pick(ir, staged) {
            let untracked = !staged && ir.untracked.contains(policy);
            let mode = if staged {
                Mode::Staged
            } else if untracked {
                Mode::Untracked
            } else {
                Mode::Enforced
            };
            name.clear();
            if staged {
                name.push_str("staged-");
            }
            push_policy_chain(&mut name, policy, *dir);
            let run = &mut runs[usize::from(staged) * 2 + usize::from(*dir == Direction::Egress)];
            if let Some((pcs, rendered, prs)) = prev_chains.as_mut() {
                while pcs.next_if(|(k, _)| *k < key).is_some() {}
                if let Some((_, pc)) = pcs.next_if(|(k, _)| *k == key) {
                    let same_mode = staged
                        || prev.is_none_or(|(p, _)| p.untracked.contains(policy) == untracked);
                    if pc == chain && same_mode {
                        let cursor = &mut rendered[usize::from(*dir == Direction::Egress)];
                        while cursor
                            .next_if(|(k, _)| k.as_str() < name.as_str())
                            .is_some()
                        {}
                        let found = match cursor.next_if(|(k, _)| k.as_str() == name.as_str()) {
                            Some(kv) => Some(kv),
                            // Out of order (a hashed name): look it up.
                            None => prs.chains.get_key_value(name.as_str()),
                        };
                        if let Some((k, c)) = found {
                            run.push((k.clone(), c.clone()));
                            continue;
                        }
                    }
                }
            }
            let mut rules: Vec<String> = chain
                .rules
                .iter()
                .map(|r| rule_text(ir, &name, r, mode))
                .collect();
            if staged {
                // Packets none of the staged policy's rules decided (the next policy,
                // or the end of the tier, would).
                rules.push(format!(
                    "counter comment {}",
                    quote(&format!("{name}: no rule matched"))
                ));
            }
            run.push((name.clone(), Arc::new(NftChain { hook: None, rules })));
        }
    }
    let mut chains: Vec<(String, Arc<NftChain>)> =
        Vec::with_capacity(runs.iter().map(Vec::len).sum());
    for run in runs {
        chains.extend(run);
    }
    (rs, chains)
}

/// The previous shared value when it equals the new one (so that later comparisons are
/// pointer comparisons), else the new one.
fn reuse<T: PartialEq>(old: Option<&Arc<T>>, new: T) -> Arc<T> {
    match old {
        Some(o) if **o == new => o.clone(),
        _ => Arc::new(new),
    }
}

/// IPv6 neighbour and router discovery between workloads and the host is never
/// policed (as Calico): without it no IPv6 packet would reach the workload.
const NDP: &str = "icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept";

/// The whole table as `nft -f` text (what `tern policy render` prints).
pub fn table_text(rs: &NftRuleset) -> String {
    let mut out = format!("table {TABLE} {{\n");
    for (name, s) in &rs.sets {
        let _ = writeln!(out, "\t{} {name} {{", s.keyword);
        for part in s.decl.split_inclusive(';') {
            let _ = writeln!(out, "\t\t{}", part.trim());
        }
        if !s.elements.is_empty() {
            let _ = writeln!(
                out,
                "\t\telements = {{ {} }}",
                s.elements.join(",\n\t\t\t     ")
            );
        }
        let _ = writeln!(out, "\t}}");
    }
    for (name, c) in &rs.chains {
        let _ = writeln!(out, "\tchain {name} {{");
        if let Some(h) = &c.hook {
            let _ = writeln!(out, "\t\t{h}");
        }
        for r in &c.rules {
            let _ = writeln!(out, "\t\t{r}");
        }
        let _ = writeln!(out, "\t}}");
    }
    out.push_str("}\n");
    out
}

/// Counts for metrics: (rules, sets) in the rendered table.
pub fn counts(rs: &NftRuleset) -> (usize, usize) {
    (
        rs.chains.values().map(|c| c.rules.len()).sum(),
        rs.sets.len(),
    )
}
