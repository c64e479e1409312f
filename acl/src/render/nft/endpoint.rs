//! The bodies of endpoint chains (failsafe ports, staged policies, enforced policies
//! with or without tiers, default deny) and the base chains of the hooks before the
//! filter hooks (preDNAT at mangle priority, doNotTrack at raw priority).

use std::collections::BTreeMap;

use super::{policy_chain, proto, quote, reuse, staged_chain, NftChain, NftRuleset, NftSet};
use crate::ir::{Direction, EndpointKind, Ir};
use crate::model::Protocol;

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
        let map = NftSet {
            keyword: "map",
            decl: "type ifname : verdict;".to_string(),
            elements: maps.remove(m).unwrap_or_default(),
        };
        rs.sets.insert(
            m.to_string(),
            reuse(prev.and_then(|(_, p)| p.sets.get(m)), map),
        );
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

/// The rules of an endpoint chain: failsafe ports (host endpoints), the staged
/// policies (count and log, never decide), then the enforced ones. In the filter hooks
/// a packet no policy allowed is dropped; in the preDNAT and doNotTrack hooks it goes
/// on to the filter hooks (as Calico), and without enforced policies it goes on too.
pub(super) fn endpoint_rules(
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
