//! iptables rendering: the IR as `ipset restore` input (address and port sets) plus
//! `iptables-restore` / `ip6tables-restore` input for the filter table. Every chain is
//! prefixed `tern-` and at most 28 characters; FORWARD, INPUT and OUTPUT each get one
//! jump into tern's base chain (managed by `apply`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::ir::{short_hash, Direction, EndpointKind, Family, Ir, IrRule, Match, PortRef, Side};
use crate::model::{Action, Protocol};

/// Prefix of every chain and ipset tern owns.
pub const PREFIX: &str = "tern-";
/// tern's base chains and the built-in chain that jumps to each.
pub const BASE_CHAINS: [(&str, &str); 3] = [
    ("FORWARD", "tern-forward"),
    ("INPUT", "tern-input"),
    ("OUTPUT", "tern-output"),
];

/// One ipset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipset {
    /// Type and options: `hash:net family inet`.
    pub kind: String,
    /// Members.
    pub elements: Vec<String>,
}

/// Chains of one family's filter table: name → rule specs (after `-A NAME`).
pub type Chains = BTreeMap<String, Vec<String>>;

/// The rendered iptables state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IptRuleset {
    /// ipsets by name.
    pub ipsets: BTreeMap<String, Ipset>,
    /// IPv4 filter chains.
    pub v4: Chains,
    /// IPv6 filter chains.
    pub v6: Chains,
}

/// The ipset name of an IR set.
pub fn ipset_name(set: &str) -> String {
    format!("{PREFIX}{set}")
}

/// The chain name of a policy chain (hashed: policy names are long).
pub fn policy_chain(policy: &str, dir: Direction) -> String {
    let d = if dir == Direction::Ingress {
        "pi"
    } else {
        "pe"
    };
    format!("{PREFIX}{d}-{}", short_hash(policy))
}

/// Endpoints with the same policy list share one chain, named after the list.
/// With staged policies, the name is one hash of the list, tiers and staged list
/// (`tern-KINDs-HASH`, at most 22 characters).
fn endpoint_chain(
    ir: &Ir,
    kind: EndpointKind,
    dir: Direction,
    list: &[crate::ir::PolicyKey],
    staged: &[crate::ir::PolicyKey],
) -> String {
    let k = match (kind, dir) {
        (EndpointKind::Workload, Direction::Egress) => "fw",
        (EndpointKind::Workload, Direction::Ingress) => "tw",
        (EndpointKind::Host, Direction::Ingress) => "fh",
        (EndpointKind::Host, Direction::Egress) => "th",
        (EndpointKind::HostForward, Direction::Ingress) => "fhf",
        (EndpointKind::HostForward, Direction::Egress) => "thf",
        // Never rendered (see `unsupported`).
        (EndpointKind::HostPreDnat | EndpointKind::HostUntracked, _) => "x",
    };
    let name = format!(
        "{PREFIX}{k}-{}{}",
        crate::ir::list_hash(list),
        super::tier_suffix(ir, list)
    );
    if staged.is_empty() {
        return name;
    }
    let key = format!("{name}|{}", crate::ir::list_hash(staged));
    format!("{PREFIX}{k}s-{}", short_hash(&key))
}

/// The chain name of a staged policy's chain.
pub fn staged_chain(policy: &str, dir: Direction) -> String {
    let d = if dir == Direction::Ingress {
        "si"
    } else {
        "se"
    };
    format!("{PREFIX}{d}-{}", short_hash(policy))
}

/// Why the IR cannot be rendered for iptables, if it cannot: preDNAT and doNotTrack
/// policies need the mangle and raw tables, and tern's iptables backend manages the
/// filter table only.
pub fn unsupported(ir: &Ir) -> Option<String> {
    let mut ids: Vec<&str> = ir
        .endpoints
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EndpointKind::HostPreDnat | EndpointKind::HostUntracked
            )
        })
        .flat_map(|e| e.ingress.iter().chain(e.egress.iter()).flatten())
        .map(|(p, _)| p.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    (!ids.is_empty()).then(|| {
        format!(
            "the iptables backend does not support preDNAT / doNotTrack policies ({}): they need the mangle and raw tables, and tern's iptables backend manages the filter table only; use the nftables backend",
            ids.join(", ")
        )
    })
}

fn comment(text: &str) -> String {
    format!("-m comment --comment \"{}\"", super::quoted_text(text, 200))
}

/// An interface name as an iptables-restore word: bare when it is a plain name, else
/// quoted and escaped (iptables then refuses it; it cannot add a token or a line).
fn interface(name: &str) -> String {
    if super::is_plain_interface(name) {
        name.to_string()
    } else {
        format!("\"{}\"", super::quoted_text(name, 15))
    }
}

fn proto(p: Protocol, fam: Family) -> String {
    match (p, fam) {
        (Protocol::Icmpv6, _) => "ipv6-icmp".into(),
        (p, _) => p.keyword(),
    }
}

/// The rule specs of one IR rule in one family (empty when it can never match).
fn rule_specs(
    ir: &Ir,
    chain: &str,
    policy: &str,
    dir: Direction,
    r: &IrRule,
    fam: Family,
    staged: bool,
) -> Vec<String> {
    let mut m: Vec<String> = Vec::new();
    let protocol = r.matches.iter().find_map(|x| match x {
        Match::Protocol {
            protocol,
            negate: false,
        } => Some(*protocol),
        _ => None,
    });
    for x in &r.matches {
        match x {
            Match::Family(f) if *f != fam => return Vec::new(),
            Match::Family(_) => {}
            Match::Protocol {
                protocol: p,
                negate: false,
            } => m.push(format!("-p {}", proto(*p, fam))),
            Match::Protocol {
                protocol: p,
                negate: true,
            } => match protocol {
                Some(q) if q == *p => return Vec::new(),
                Some(_) => {}
                None => m.push(format!("! -p {}", proto(*p, fam))),
            },
            Match::Icmp {
                family,
                icmp,
                negate,
            } => {
                if *family != fam {
                    return Vec::new();
                }
                let (module, opt) = if fam == Family::V4 {
                    ("icmp", "--icmp-type")
                } else {
                    ("icmp6", "--icmpv6-type")
                };
                let v = match icmp.code {
                    Some(c) => format!("{}/{c}", icmp.r#type),
                    None => icmp.r#type.to_string(),
                };
                m.push(format!(
                    "-m {module} {}{opt} {v}",
                    if *negate { "! " } else { "" }
                ));
            }
            Match::AddrPort { side, set } => {
                if ir.addr_port_sets.get(set).is_some_and(|s| s.family != fam) {
                    return Vec::new();
                }
                let d = if *side == Side::Source {
                    "src,src"
                } else {
                    "dst,dst"
                };
                m.push(format!("-m set --match-set {} {d}", ipset_name(set)));
            }
            Match::Addr { side, set, negate } => {
                if ir.addr_sets.get(set).is_some_and(|s| s.family != fam) {
                    return Vec::new();
                }
                let d = if *side == Side::Source { "src" } else { "dst" };
                m.push(format!(
                    "-m set {}--match-set {} {d}",
                    if *negate { "! " } else { "" },
                    ipset_name(set)
                ));
            }
            Match::Port {
                side,
                ports,
                negate,
                ..
            } => {
                let neg = if *negate { "! " } else { "" };
                match ports {
                    PortRef::Inline(pr) => {
                        let d = if *side == Side::Source {
                            "--sports"
                        } else {
                            "--dports"
                        };
                        let v = if pr.first == pr.last {
                            pr.first.to_string()
                        } else {
                            format!("{}:{}", pr.first, pr.last)
                        };
                        m.push(format!("-m multiport {neg}{d} {v}"));
                    }
                    PortRef::Set(s) => {
                        let d = if *side == Side::Source { "src" } else { "dst" };
                        m.push(format!("-m set {neg}--match-set {} {d}", ipset_name(s)));
                    }
                }
            }
        }
    }
    let base = m.join(" ");
    let sp = if base.is_empty() {
        String::new()
    } else {
        format!("{base} ")
    };
    let c = comment(&format!("{policy} {dir} rule {}", r.index));
    let marks = ir.marks;
    if staged {
        // Counted (the rule's packet counter) and logged; the packet goes on.
        let a = r.action.to_string().to_ascii_lowercase();
        let mut prefix = format!("tern-staged {a} {}/{}: ", &short_hash(policy)[..6], r.index);
        while prefix.len() > 29 {
            prefix.remove(prefix.len() - 3);
        }
        let log = format!("{sp}{c} -j LOG --log-prefix \"{prefix}\"");
        if r.action == Action::Log {
            return vec![log];
        }
        return vec![log, format!("{sp}-j RETURN")];
    }
    match r.action {
        Action::Deny => vec![format!("{sp}{c} -j DROP")],
        Action::Log => {
            let mut prefix = format!("tern {} {} {}: ", &chain[PREFIX.len()..], dir, r.index);
            while prefix.len() > 29 {
                prefix.remove(prefix.len() - 3);
            }
            vec![format!("{sp}{c} -j LOG --log-prefix \"{prefix}\"")]
        }
        Action::Allow | Action::Pass => {
            let bit = if r.action == Action::Allow {
                marks.accept
            } else {
                marks.pass
            };
            vec![
                format!("{sp}{c} -j MARK --set-xmark {bit:#x}/{bit:#x}"),
                format!("-m mark --mark {bit:#x}/{bit:#x} -j RETURN"),
            ]
        }
    }
}

/// An endpoint chain's body with tiers: a Pass (the mark bit) skips the rest of its
/// tier; a tier whose policies did not decide ends with its default action.
fn tiered_specs(ir: &Ir, list: &[crate::ir::PolicyKey], rules: &mut Vec<String>) {
    let pass = ir.marks.pass;
    for (tier, group) in ir.tier_groups(list) {
        for (i, key @ (policy, d)) in group.iter().enumerate() {
            let guard = if i == 0 {
                String::new()
            } else {
                format!("-m mark --mark 0x0/{pass:#x} ")
            };
            rules.push(format!("{guard}-j {}", policy_chain(policy, *d)));
            if crate::render::nft::verdicts(ir, key).0 {
                rules.push(format!(
                    "-m mark --mark {0:#x}/{0:#x} -j RETURN",
                    ir.marks.accept
                ));
            }
        }
        if tier.default_action == crate::tier::TierAction::Deny {
            rules.push(format!(
                "-m mark --mark 0x0/{pass:#x} {} -j DROP",
                comment(&format!("end of tier {}", tier.name))
            ));
        }
        rules.push(format!("-j MARK --set-xmark 0x0/{pass:#x}"));
    }
}

fn failsafe_specs(ports: &[crate::ir::FailsafePort]) -> Vec<String> {
    let mut by_proto: BTreeMap<Protocol, Vec<String>> = BTreeMap::new();
    for p in ports {
        by_proto
            .entry(p.protocol)
            .or_default()
            .push(p.port.to_string());
    }
    by_proto
        .into_iter()
        .map(|(p, list)| {
            format!(
                "-p {} -m multiport --dports {} {} -j RETURN",
                p.keyword(),
                list.join(","),
                comment("failsafe")
            )
        })
        .collect()
}

/// Renders the IR.
pub fn render(ir: &Ir) -> IptRuleset {
    let mut rs = IptRuleset::default();
    for (name, s) in &ir.addr_sets {
        let fam = if s.family == Family::V4 {
            "inet"
        } else {
            "inet6"
        };
        rs.ipsets.insert(
            ipset_name(name),
            Ipset {
                kind: format!("hash:net family {fam}"),
                elements: s.nets.iter().map(ToString::to_string).collect(),
            },
        );
    }
    for (name, s) in &ir.addr_port_sets {
        let fam = if s.family == Family::V4 {
            "inet"
        } else {
            "inet6"
        };
        let proto = s.protocol.keyword();
        rs.ipsets.insert(
            ipset_name(name),
            Ipset {
                kind: format!("hash:ip,port family {fam}"),
                elements: s
                    .members
                    .iter()
                    .map(|(ip, port)| format!("{ip},{proto}:{port}"))
                    .collect(),
            },
        );
    }
    for (name, ports) in &ir.port_sets {
        rs.ipsets.insert(
            ipset_name(name),
            Ipset {
                kind: "bitmap:port range 0-65535".into(),
                elements: ports
                    .iter()
                    .map(|p| {
                        if p.first == p.last {
                            p.first.to_string()
                        } else {
                            format!("{}-{}", p.first, p.last)
                        }
                    })
                    .collect(),
            },
        );
    }
    for fam in [Family::V4, Family::V6] {
        let mut chains = Chains::new();
        for (staged, list) in [(false, &ir.chains), (true, &ir.staged_chains)] {
            for ((policy, dir), chain) in list {
                let name = if staged {
                    staged_chain(policy, *dir)
                } else {
                    policy_chain(policy, *dir)
                };
                let mut rules: Vec<String> = chain
                    .rules
                    .iter()
                    .flat_map(|r| rule_specs(ir, &name, policy, *dir, r, fam, staged))
                    .collect();
                if staged {
                    // Counts the packets none of the staged policy's rules decided.
                    rules.push(comment(&format!("{policy} {dir}: no rule matched")));
                }
                chains.insert(name, rules);
            }
        }
        let clear = format!(
            "-j MARK --set-xmark 0x0/{:#x}",
            ir.marks.accept | ir.marks.pass
        );
        let ct = vec![
            "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT".to_string(),
            "-m conntrack --ctstate INVALID -j DROP".to_string(),
        ];
        let (mut fwd, mut inp, mut out) = (ct.clone(), ct.clone(), ct);
        if fam == Family::V6 {
            // IPv6 neighbour and router discovery is never policed (as Calico).
            for t in [
                "router-solicitation",
                "router-advertisement",
                "neighbour-solicitation",
                "neighbour-advertisement",
            ] {
                let r = format!("-p ipv6-icmp -m icmp6 --icmpv6-type {t} -j ACCEPT");
                inp.push(r.clone());
                out.push(r);
            }
        }
        let mut dispatch: BTreeMap<(u8, &str), Vec<String>> = BTreeMap::new();
        for ep in &ir.endpoints {
            if matches!(
                ep.kind,
                EndpointKind::HostPreDnat | EndpointKind::HostUntracked
            ) {
                continue;
            }
            for dir in [Direction::Ingress, Direction::Egress] {
                let (list, staged) = ep.lists(dir);
                if list.is_none() && staged.is_empty() {
                    continue;
                }
                let name = endpoint_chain(
                    ir,
                    ep.kind,
                    dir,
                    list.map(Vec::as_slice).unwrap_or_default(),
                    staged,
                );
                // Endpoints with the same list share the chain: build it once.
                if !chains.contains_key(&name) {
                    let mut rules = vec![clear.clone()];
                    if ep.kind == EndpointKind::Host {
                        rules.extend(failsafe_specs(if dir == Direction::Ingress {
                            &ir.failsafe_in
                        } else {
                            &ir.failsafe_out
                        }));
                    }
                    // Staged policies count and log, and return.
                    for (policy, d) in staged {
                        rules.push(format!("-j {}", staged_chain(policy, *d)));
                    }
                    let Some(list) = list else {
                        chains.insert(name.clone(), rules);
                        dispatch_to(&mut dispatch, ep.kind, dir, &ep.interface, &name);
                        continue;
                    };
                    if !ir.policy_tiers.is_empty() {
                        tiered_specs(ir, list, &mut rules);
                    }
                    for key @ (policy, d) in list.iter().filter(|_| ir.policy_tiers.is_empty()) {
                        let (allows, passes) = crate::render::nft::verdicts(ir, key);
                        rules.push(format!("-j {}", policy_chain(policy, *d)));
                        if allows {
                            rules.push(format!(
                                "-m mark --mark {0:#x}/{0:#x} -j RETURN",
                                ir.marks.accept
                            ));
                        }
                        if passes {
                            rules.push(format!(
                                "-m mark --mark {0:#x}/{0:#x} {1} -j DROP",
                                ir.marks.pass,
                                comment("pass: default deny")
                            ));
                        }
                    }
                    rules.push(format!(
                        "{} -j DROP",
                        comment(&format!("default deny {dir}"))
                    ));
                    chains.insert(name.clone(), rules);
                }
                dispatch_to(&mut dispatch, ep.kind, dir, &ep.interface, &name);
            }
        }
        for ((order, _), rules) in dispatch {
            match order {
                0 => {
                    fwd.extend(rules.iter().cloned());
                    inp.extend(rules);
                }
                1 => {
                    fwd.extend(rules.iter().cloned());
                    out.extend(rules);
                }
                2 => inp.extend(rules),
                3 => out.extend(rules),
                // Host endpoints' applyOnForward policies, after the workloads'.
                _ => fwd.extend(rules),
            }
        }
        chains.insert("tern-forward".into(), fwd);
        chains.insert("tern-input".into(), inp);
        chains.insert("tern-output".into(), out);
        match fam {
            Family::V4 => rs.v4 = chains,
            Family::V6 => rs.v6 = chains,
        }
    }
    rs
}

/// Adds the jump of an endpoint's interface to its chain to the dispatch list of its
/// kind and direction.
fn dispatch_to(
    dispatch: &mut BTreeMap<(u8, &str), Vec<String>>,
    kind: EndpointKind,
    dir: Direction,
    iface: &str,
    name: &str,
) {
    let (order, flag) = match (kind, dir) {
        (EndpointKind::Workload, Direction::Egress) => (0, "-i"),
        (EndpointKind::Workload, Direction::Ingress) => (1, "-o"),
        (EndpointKind::Host, Direction::Ingress) => (2, "-i"),
        (EndpointKind::Host, Direction::Egress) => (3, "-o"),
        (EndpointKind::HostForward, Direction::Ingress) => (4, "-i"),
        (EndpointKind::HostForward, Direction::Egress) => (5, "-o"),
        (EndpointKind::HostPreDnat | EndpointKind::HostUntracked, _) => return,
    };
    dispatch
        .entry((order, ""))
        .or_default()
        .push(format!("{flag} {} -j {name}", interface(iface)));
}

/// `ipset restore` text creating and filling every set (for display and full apply).
pub fn ipset_text(rs: &IptRuleset) -> String {
    let mut out = String::new();
    for (name, s) in &rs.ipsets {
        let _ = writeln!(out, "create {name} {} -exist", s.kind);
        let _ = writeln!(out, "flush {name}");
        for e in &s.elements {
            let _ = writeln!(out, "add {name} {e}");
        }
    }
    out
}

/// `iptables-restore --noflush` text declaring (flushing) and filling the given chains.
pub fn restore_text(chains: &Chains) -> String {
    let mut out = String::from("*filter\n");
    for name in chains.keys() {
        let _ = writeln!(out, ":{name} - [0:0]");
    }
    for (name, rules) in chains {
        for r in rules {
            let _ = writeln!(out, "-A {name} {r}");
        }
    }
    out.push_str("COMMIT\n");
    out
}

/// Everything, as `tern policy render --backend iptables` prints it.
pub fn display_text(rs: &IptRuleset) -> String {
    let mut out = String::from("# ipset restore\n");
    out.push_str(&ipset_text(rs));
    out.push_str("# iptables-restore --noflush\n");
    out.push_str(&restore_text(&rs.v4));
    out.push_str("# ip6tables-restore --noflush\n");
    out.push_str(&restore_text(&rs.v6));
    out.push_str("# jumps (one each, managed by tern):");
    for (builtin, chain) in BASE_CHAINS {
        let _ = write!(out, " -I {builtin} 1 -j {chain};");
    }
    out.push('\n');
    out
}

/// Counts for metrics: (rules, sets).
pub fn counts(rs: &IptRuleset) -> (usize, usize) {
    let rules = rs.v4.values().chain(rs.v6.values()).map(Vec::len).sum();
    (rules, rs.ipsets.len())
}
