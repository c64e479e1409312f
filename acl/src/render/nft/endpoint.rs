//! Endpoint chains (named after their policy lists, shared by the endpoints with equal
//! lists) and the dispatch maps' elements that jump to them; their bodies (failsafe
//! ports, staged policies, enforced policies with or without tiers, default deny); and
//! the base chains of the hooks before the filter hooks (preDNAT at mangle priority,
//! doNotTrack at raw priority).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    policy_chain, proto, quote, reuse, staged_chain, staged_suffix, NftChain, NftRuleset, NftSet,
};
use crate::ir::{Direction, EndpointKind, Ir};
use crate::model::Protocol;

/// The dispatch maps, indexed by [`map_slot`].
const MAP_NAMES: [&str; 9] = [
    "from-wl",
    "to-wl",
    "host-in",
    "host-out",
    "host-fwd-in",
    "host-fwd-out",
    "host-prednat-in",
    "host-raw-in",
    "host-raw-out",
];

/// Index in [`MAP_NAMES`] of the dispatch map of an endpoint kind and direction.
fn map_slot(kind: EndpointKind, dir: Direction) -> usize {
    match (kind, dir) {
        (EndpointKind::Workload, Direction::Egress) => 0,
        (EndpointKind::Workload, Direction::Ingress) => 1,
        (EndpointKind::Host, Direction::Ingress) => 2,
        (EndpointKind::Host, Direction::Egress) => 3,
        (EndpointKind::HostForward, Direction::Ingress) => 4,
        (EndpointKind::HostForward, Direction::Egress) => 5,
        (EndpointKind::HostPreDnat, _) => 6,
        (EndpointKind::HostUntracked, Direction::Ingress) => 7,
        (EndpointKind::HostUntracked, Direction::Egress) => 8,
    }
}

/// Dispatch map (and endpoint-chain prefix) of an endpoint kind and direction.
fn map_name(kind: EndpointKind, dir: Direction) -> &'static str {
    MAP_NAMES[map_slot(kind, dir)]
}

/// Endpoints with the same policy list share one chain, named after the list.
fn endpoint_chain(
    ir: &Ir,
    kind: EndpointKind,
    dir: Direction,
    list: &[crate::ir::PolicyKey],
    staged: &[crate::ir::PolicyKey],
) -> String {
    format!(
        "{}/{}{}{}",
        map_name(kind, dir),
        crate::ir::list_hash(list),
        crate::render::tier_suffix(ir, list),
        staged_suffix(staged)
    )
}

/// An endpoint chain's body with tiers: a Pass (the mark bit) skips the rest of its
/// tier; a tier whose policies did not decide ends with its default action.
fn tiered_rules(ir: &Ir, list: &[crate::ir::PolicyKey], rules: &mut Vec<String>) {
    let pass = ir.marks.pass;
    let clear = format!("meta mark set meta mark and {:#x}", !pass);
    rules.push(clear.clone());
    for (tier, group) in ir.tier_groups(list) {
        for (i, (policy, d)) in group.iter().enumerate() {
            let guard = if i == 0 {
                String::new()
            } else {
                format!("meta mark and {pass:#x} == 0x0 ")
            };
            rules.push(format!("{guard}jump {}", policy_chain(policy, *d)));
        }
        if tier.default_action == crate::tier::TierAction::Deny {
            rules.push(format!(
                "meta mark and {pass:#x} == 0x0 drop comment {}",
                quote(&format!("end of tier {}", tier.name))
            ));
        }
        rules.push(clear.clone());
    }
}

fn failsafe_rules(ports: &[crate::ir::FailsafePort]) -> Vec<String> {
    let mut by_proto: BTreeMap<Protocol, Vec<u16>> = BTreeMap::new();
    for p in ports {
        by_proto.entry(p.protocol).or_default().push(p.port);
    }
    by_proto
        .into_iter()
        .map(|(pr, ports)| {
            let list: Vec<String> = ports.iter().map(ToString::to_string).collect();
            format!(
                "meta l4proto {} th dport {{ {} }} return comment \"failsafe\"",
                proto(pr),
                list.join(", ")
            )
        })
        .collect()
}

/// Puts the dispatch map `m` (interface → `jump` its endpoint chain) into `rs`, with the
/// elements collected in `maps` (the previous ruleset's map when unchanged).
pub(super) fn dispatch_map(
    m: &str,
    prev: Option<(&Ir, &NftRuleset)>,
    maps: &mut BTreeMap<&str, Vec<String>>,
    rs: &mut NftRuleset,
) {
    let map = NftSet {
        keyword: "map",
        decl: "type ifname : verdict;".to_string(),
        elements: maps.remove(m).unwrap_or_default(),
    };
    rs.sets.insert(
        m.to_string(),
        reuse(prev.and_then(|(_, p)| p.sets.get(m)), map),
    );
}

/// The base chains and maps of host endpoints' preDNAT policies (prerouting, mangle
/// priority: after conntrack, before DNAT) and doNotTrack policies (prerouting and
/// output, raw priority: before conntrack), made only when some host endpoint has them.
pub(super) fn hook_chains(
    ir: &Ir,
    prev: Option<(&Ir, &NftRuleset)>,
    maps: &mut BTreeMap<&str, Vec<String>>,
    rs: &mut NftRuleset,
) {
    let has = |k| ir.endpoints.iter().any(|e| e.kind == k);
    let mut hooks: Vec<(&str, &str, &str, &str, bool)> = Vec::new();
    if has(EndpointKind::HostPreDnat) {
        hooks.push((
            "host-prednat-in",
            "prerouting-host",
            "iifname",
            "prerouting priority mangle",
            true,
        ));
    }
    if has(EndpointKind::HostUntracked) {
        hooks.push((
            "host-raw-in",
            "raw-prerouting-host",
            "iifname",
            "prerouting priority raw",
            false,
        ));
        hooks.push((
            "host-raw-out",
            "raw-output-host",
            "oifname",
            "output priority raw",
            false,
        ));
    }
    for (m, chain, flag, hook, tracked) in hooks {
        dispatch_map(m, prev, maps, rs);
        let mut rules = Vec::new();
        if tracked {
            rules.push("ct state established,related accept".to_string());
        }
        rules.push(format!("{flag} vmap @{m}"));
        let c = NftChain {
            hook: Some(format!("type filter hook {hook}; policy accept;")),
            rules,
        };
        rs.chains.insert(
            chain.to_string(),
            reuse(prev.and_then(|(_, p)| p.chains.get(chain)), c),
        );
    }
}

/// Renders the endpoint chains into `chains` and returns the dispatch maps' elements
/// (`"IFACE" : jump CHAIN`) by map name, in endpoint order.
///
/// An endpoint whose interface, kind and lists are those of an endpoint of `prev` (found
/// by walking both sorted lists) gets the previous element (and so chain name) again
/// without hashing its lists; the chain is then the previous one too, as below.
pub(super) fn endpoint_chains<'a>(
    ir: &Ir,
    prev: Option<(&Ir, &'a NftRuleset)>,
    chains: &mut Vec<(String, Arc<NftChain>)>,
) -> BTreeMap<&'static str, Vec<String>> {
    let mut maps: [Vec<String>; MAP_NAMES.len()] = Default::default();
    let mut ep_chains: BTreeMap<String, Arc<NftChain>> = BTreeMap::new();
    // The previous endpoints and, per map, the previous elements and how many of them
    // the endpoints walked past so far made.
    let mut old = prev
        .filter(|(p, _)| p.policy_tiers == ir.policy_tiers)
        .map(|(p, prs)| {
            let elements: [&'a [String]; MAP_NAMES.len()] = std::array::from_fn(|i| {
                prs.sets
                    .get(MAP_NAMES[i])
                    .map_or(&[][..], |m| m.elements.as_slice())
            });
            (
                p.endpoints.iter().peekable(),
                elements,
                [0usize; MAP_NAMES.len()],
            )
        });
    let same_failsafe = prev
        .is_some_and(|(p, _)| p.failsafe_in == ir.failsafe_in && p.failsafe_out == ir.failsafe_out);
    for ep in &ir.endpoints {
        // The previous endpoint with this interface and kind, if any.
        let mut was = None;
        if let Some((eps, elements, used)) = old.as_mut() {
            let at = (&ep.interface, ep.kind);
            while let Some(pe) = eps.next_if(|pe| (&pe.interface, pe.kind) <= at) {
                // Where this one's elements are in the previous maps.
                let mut mine = [None; 2];
                for (i, dir) in [Direction::Ingress, Direction::Egress]
                    .into_iter()
                    .enumerate()
                {
                    let (list, staged) = pe.lists(dir);
                    if list.is_some() || !staged.is_empty() {
                        let slot = map_slot(pe.kind, dir);
                        mine[i] = elements[slot].get(used[slot]).map(String::as_str);
                        used[slot] += 1;
                    }
                }
                if (&pe.interface, pe.kind) == at {
                    was = Some((pe, mine));
                    break;
                }
            }
        }
        for (i, dir) in [Direction::Ingress, Direction::Egress]
            .into_iter()
            .enumerate()
        {
            let (list, staged) = ep.lists(dir);
            if list.is_none() && staged.is_empty() {
                continue;
            }
            let slot = map_slot(ep.kind, dir);
            // The previous element when its list was this one (and it reads as this
            // code writes it: `"IFACE" : jump NAME`).
            let reused = was.and_then(|(pe, mine)| {
                let text = mine[i]?;
                if pe.lists(dir) != (list, staged)
                    || !crate::render::is_plain_interface(&ep.interface)
                {
                    return None;
                }
                let name = text
                    .strip_prefix('"')?
                    .strip_prefix(ep.interface.as_str())?
                    .strip_prefix("\" : jump ")?;
                Some((text, name))
            });
            let made;
            let name = match reused {
                Some((text, name)) => {
                    maps[slot].push(text.to_string());
                    name
                }
                None => {
                    let list = list.map(Vec::as_slice).unwrap_or_default();
                    made = endpoint_chain(ir, ep.kind, dir, list, staged);
                    maps[slot].push(format!("{} : jump {made}", quote(&ep.interface)));
                    made.as_str()
                }
            };
            // Endpoints with the same list share the chain: build it once, and not at
            // all when the previous one is still right (the name is the list).
            if ep_chains.contains_key(name) {
                continue;
            }
            let kept = prev.and_then(|(_, prs)| {
                let old = prs.chains.get(name)?;
                let same = ep.kind == EndpointKind::Workload || same_failsafe;
                same.then(|| old.clone())
            });
            let chain = kept.unwrap_or_else(|| {
                let rules = endpoint_rules(ir, ep.kind, dir, list.map(Vec::as_slice), staged);
                Arc::new(NftChain { hook: None, rules })
            });
            ep_chains.insert(name.to_string(), chain);
        }
    }
    chains.extend(ep_chains);
    MAP_NAMES
        .iter()
        .zip(maps)
        .filter(|(_, m)| !m.is_empty())
        .map(|(n, m)| (*n, m))
        .collect()
}

/// The rules of an endpoint chain: failsafe ports (host endpoints), the staged
/// policies (count and log, never decide), then the enforced ones. In the filter hooks
/// a packet no policy allowed is dropped; in the preDNAT and doNotTrack hooks it goes
/// on to the filter hooks (as Calico), and without enforced policies it goes on too.
fn endpoint_rules(
    ir: &Ir,
    kind: EndpointKind,
    dir: Direction,
    list: Option<&[crate::ir::PolicyKey]>,
    staged: &[crate::ir::PolicyKey],
) -> Vec<String> {
    let mut rules = Vec::new();
    if kind != EndpointKind::Workload && kind != EndpointKind::HostForward {
        let fs = if dir == Direction::Ingress {
            &ir.failsafe_in
        } else {
            &ir.failsafe_out
        };
        rules.extend(failsafe_rules(fs));
    }
    for (policy, d) in staged {
        rules.push(format!("jump {}", staged_chain(policy, *d)));
    }
    let Some(list) = list else {
        return rules;
    };
    if matches!(
        kind,
        EndpointKind::HostPreDnat | EndpointKind::HostUntracked
    ) {
        for (policy, d) in list {
            rules.push(format!("jump {}", policy_chain(policy, *d)));
        }
        return rules;
    }
    // A policy accepts or drops; when none of its rules matches it returns and the
    // next one is tried.
    if ir.policy_tiers.is_empty() {
        for (policy, d) in list {
            rules.push(format!("jump {}", policy_chain(policy, *d)));
        }
    } else {
        tiered_rules(ir, list, &mut rules);
    }
    rules.push(format!(
        "drop comment {}",
        quote(&format!("default deny {dir}"))
    ));
    rules
}
