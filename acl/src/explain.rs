//! `explain`: evaluates the compiled IR for one new connection and says which policy and
//! rule decided it, at each endpoint the packet crosses (the source's egress, the
//! destination's ingress). It walks the same IR the renderers print, so its answer is
//! what the kernel does (established/related traffic is accepted before any of this).

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::ir::{
    Direction, EndpointKind, EndpointPolicy, Family, Ir, IrRule, Match, PolicyKey, PortRef, Side,
};
use crate::loader::Bundle;
use crate::model::{Action, Protocol};

/// A packet opening a connection.
#[derive(Debug, Clone, Copy)]
pub struct Packet {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Protocol (ICMP is taken as ICMPv6 for IPv6 addresses).
    pub protocol: Protocol,
    /// Source port (for port-carrying protocols).
    pub sport: u16,
    /// Destination port (for port-carrying protocols).
    pub dport: u16,
    /// ICMP type (echo request by default).
    pub icmp_type: u8,
    /// ICMP code.
    pub icmp_code: u8,
}

/// How one endpoint's chain treated the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No policy selects the endpoint for this direction: allowed.
    NoPolicy,
    /// A host endpoint's failsafe port: allowed.
    Failsafe,
    /// A rule decided.
    Rule {
        /// Policy id.
        policy: String,
        /// Rule index in the policy's list for this direction.
        index: usize,
        /// Allow or Deny.
        action: Action,
    },
    /// A Pass rule ended policy evaluation; the default (deny) applied.
    Pass {
        /// Policy id.
        policy: String,
        /// Rule index.
        index: usize,
    },
    /// Policies select the endpoint and none allowed or denied: default deny.
    DefaultDeny,
    /// No policy of this tier decided and the tier's default action is Deny.
    EndOfTier {
        /// The tier.
        tier: String,
    },
}

impl Outcome {
    /// True when the packet passes this step.
    pub fn allowed(&self) -> bool {
        matches!(
            self,
            Outcome::NoPolicy
                | Outcome::Failsafe
                | Outcome::Rule {
                    action: Action::Allow,
                    ..
                }
        )
    }
}

/// One endpoint the packet crosses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Endpoint (`ns/name` or host endpoint name).
    pub endpoint: String,
    /// Its interface.
    pub interface: String,
    /// Workload or host.
    pub kind: EndpointKind,
    /// Egress (packet leaves the endpoint) or ingress.
    pub direction: Direction,
    /// Log rules that matched on the way: (policy, rule index).
    pub logged: Vec<(String, usize)>,
    /// With tiers: what each tier crossed did (`tier security: Pass at …`).
    pub tiers: Vec<String>,
    /// The decision.
    pub outcome: Outcome,
}

/// The verdict and its reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The packet evaluated.
    pub src: IpAddr,
    /// Destination.
    pub dst: IpAddr,
    /// Allowed end to end.
    pub allowed: bool,
    /// Steps in order.
    pub steps: Vec<Step>,
}

/// A `--from` / `--to` that names nothing known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// Not an IP and no endpoint has that name.
    #[error("`{0}` is neither an IP address nor a known endpoint (ns/name or host endpoint name)")]
    Unknown(String),
    /// The two ends have no address family in common.
    #[error("`{0}` and `{1}` have no IP family in common")]
    NoCommonFamily(String, String),
}

/// An end of the connection as resolved from the command line.
#[derive(Debug, Clone)]
struct End {
    ips: Vec<IpAddr>,
}

fn resolve(bundle: &Bundle, what: &str) -> Result<End, ExplainError> {
    if let Ok(ip) = what.parse::<IpAddr>() {
        return Ok(End { ips: vec![ip] });
    }
    let key = if what.contains('/') {
        what.to_string()
    } else {
        format!("default/{what}")
    };
    if let Some(w) = bundle.workloads.iter().find(|w| w.key() == key) {
        return Ok(End {
            ips: w.ips.iter().map(IpNet::addr).collect(),
        });
    }
    if let Some(h) = bundle.hosts.iter().find(|h| h.name == what) {
        return Ok(End {
            ips: h.expected_ips.clone(),
        });
    }
    Err(ExplainError::Unknown(what.to_string()))
}

/// Resolves `from` and `to` (endpoint names or IPs) to one address pair of a common family.
pub fn addresses(bundle: &Bundle, from: &str, to: &str) -> Result<(IpAddr, IpAddr), ExplainError> {
    let a = resolve(bundle, from)?;
    let b = resolve(bundle, to)?;
    for v4 in [true, false] {
        let pick = |e: &End| e.ips.iter().copied().find(|ip| ip.is_ipv4() == v4);
        if let (Some(x), Some(y)) = (pick(&a), pick(&b)) {
            return Ok((x, y));
        }
    }
    Err(ExplainError::NoCommonFamily(
        from.to_string(),
        to.to_string(),
    ))
}

fn owner<'a>(
    bundle: &Bundle,
    ir: &'a Ir,
    ip: IpAddr,
    kind: EndpointKind,
) -> Option<(String, String, Option<&'a EndpointPolicy>)> {
    let (name, iface) = match kind {
        EndpointKind::Workload => bundle
            .workloads
            .iter()
            .find(|w| w.ips.iter().any(|n| n.contains(&ip)))
            .map(|w| (w.key(), w.interface.clone()))?,
        EndpointKind::Host => bundle
            .hosts
            .iter()
            .find(|h| h.expected_ips.contains(&ip))
            .map(|h| (h.name.clone(), h.interface.clone()))?,
        // Forwarded traffic is told by interfaces, which a packet's addresses do not
        // give: explain models host-bound traffic only.
        EndpointKind::HostForward => return None,
        // preDNAT and doNotTrack policies run in the prerouting / raw hooks, which
        // explain does not model.
        EndpointKind::HostPreDnat | EndpointKind::HostUntracked => return None,
    };
    let ep = ir
        .endpoints
        .iter()
        .find(|e| e.interface == iface && e.kind == kind);
    Some((name, iface, ep))
}

/// Evaluates the packet.
pub fn explain(bundle: &Bundle, ir: &Ir, pkt: &Packet) -> Explanation {
    let mut pkt = *pkt;
    if pkt.dst.is_ipv6() && pkt.protocol == Protocol::Icmp {
        pkt.protocol = Protocol::Icmpv6;
        if pkt.icmp_type == 8 {
            pkt.icmp_type = 128;
        }
    }
    let src_wl = owner(bundle, ir, pkt.src, EndpointKind::Workload);
    let dst_wl = owner(bundle, ir, pkt.dst, EndpointKind::Workload);
    let mut hops = Vec::new();
    match (&src_wl, owner(bundle, ir, pkt.src, EndpointKind::Host)) {
        (Some(w), _) => hops.push((w.clone(), EndpointKind::Workload, Direction::Egress)),
        (None, Some(h)) if dst_wl.is_none() => {
            hops.push((h, EndpointKind::Host, Direction::Egress))
        }
        _ => {}
    }
    match (&dst_wl, owner(bundle, ir, pkt.dst, EndpointKind::Host)) {
        (Some(w), _) => hops.push((w.clone(), EndpointKind::Workload, Direction::Ingress)),
        (None, Some(h)) if src_wl.is_none() => {
            hops.push((h, EndpointKind::Host, Direction::Ingress))
        }
        _ => {}
    }
    let mut steps = Vec::new();
    for ((endpoint, interface, ep), kind, direction) in hops {
        let list = ep.and_then(|e| {
            if direction == Direction::Ingress {
                e.ingress.as_ref()
            } else {
                e.egress.as_ref()
            }
        });
        let mut logged = Vec::new();
        let mut tiers = Vec::new();
        let outcome = match list {
            None => Outcome::NoPolicy,
            Some(list) => evaluate(ir, kind, direction, list, &pkt, &mut logged, &mut tiers),
        };
        steps.push(Step {
            endpoint,
            interface,
            kind,
            direction,
            logged,
            tiers,
            outcome,
        });
    }
    Explanation {
        src: pkt.src,
        dst: pkt.dst,
        allowed: steps.iter().all(|s| s.outcome.allowed()),
        steps,
    }
}

fn evaluate(
    ir: &Ir,
    kind: EndpointKind,
    dir: Direction,
    list: &[PolicyKey],
    pkt: &Packet,
    logged: &mut Vec<(String, usize)>,
    walk: &mut Vec<String>,
) -> Outcome {
    if kind == EndpointKind::Host {
        let fs = if dir == Direction::Ingress {
            &ir.failsafe_in
        } else {
            &ir.failsafe_out
        };
        if fs
            .iter()
            .any(|f| f.protocol == pkt.protocol && f.port == pkt.dport)
        {
            return Outcome::Failsafe;
        }
    }
    let tiered = !ir.policy_tiers.is_empty();
    let mut passed: Option<(String, usize)> = None;
    for (tier, group) in ir.tier_groups(list) {
        let decided = walk_tier(ir, group, pkt, logged);
        let t = &tier.name;
        match decided {
            Walk::Decided(outcome) => {
                if tiered {
                    if let Outcome::Rule {
                        policy,
                        index,
                        action,
                    } = &outcome
                    {
                        walk.push(format!(
                            "tier {t}: {action} by policy {policy} {dir}[{index}]"
                        ));
                    }
                }
                return outcome;
            }
            Walk::Pass(policy, index) => {
                if tiered {
                    walk.push(format!(
                        "tier {t}: Pass at policy {policy} {dir}[{index}], to the next tier"
                    ));
                }
                passed = Some((policy, index));
            }
            Walk::NoMatch if tier.default_action == crate::tier::TierAction::Pass => {
                walk.push(format!(
                    "tier {t}: no rule matched, default action Pass, to the next tier"
                ));
                passed = None;
            }
            Walk::NoMatch if tiered => {
                walk.push(format!("tier {t}: no rule matched, default action Deny"));
                return Outcome::EndOfTier { tier: t.clone() };
            }
            Walk::NoMatch => return Outcome::DefaultDeny,
        }
    }
    if tiered {
        walk.push("past the last tier: default deny (tern has no profiles)".to_string());
    }
    match passed {
        Some((policy, index)) => Outcome::Pass { policy, index },
        None => Outcome::DefaultDeny,
    }
}

/// What the policies of one tier did.
enum Walk {
    Decided(Outcome),
    Pass(String, usize),
    NoMatch,
}

fn walk_tier(
    ir: &Ir,
    group: &[PolicyKey],
    pkt: &Packet,
    logged: &mut Vec<(String, usize)>,
) -> Walk {
    for key in group {
        let Some(chain) = ir.chains.get(key) else {
            continue;
        };
        for r in &chain.rules {
            if !rule_matches(ir, r, pkt) {
                continue;
            }
            match r.action {
                Action::Log => logged.push((chain.policy.clone(), r.index)),
                Action::Pass => return Walk::Pass(chain.policy.clone(), r.index),
                action => {
                    return Walk::Decided(Outcome::Rule {
                        policy: chain.policy.clone(),
                        index: r.index,
                        action,
                    })
                }
            }
        }
    }
    Walk::NoMatch
}

fn rule_matches(ir: &Ir, r: &IrRule, pkt: &Packet) -> bool {
    let fam = if pkt.src.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    };
    r.matches.iter().all(|m| match m {
        Match::Family(f) => *f == fam,
        Match::Protocol { protocol, negate } => {
            (pkt.protocol.number() == protocol.number()) != *negate
        }
        Match::Icmp {
            family,
            icmp,
            negate,
        } => {
            let is_icmp = *family == fam
                && pkt.protocol
                    == if fam == Family::V4 {
                        Protocol::Icmp
                    } else {
                        Protocol::Icmpv6
                    };
            let hit = icmp.r#type == pkt.icmp_type && icmp.code.is_none_or(|c| c == pkt.icmp_code);
            is_icmp && (hit != *negate)
        }
        Match::AddrPort { side, set } => {
            let (ip, port) = if *side == Side::Source {
                (pkt.src, pkt.sport)
            } else {
                (pkt.dst, pkt.dport)
            };
            pkt.protocol.has_ports()
                && ir
                    .addr_port_sets
                    .get(set)
                    .is_some_and(|s| s.protocol == pkt.protocol && s.members.contains(&(ip, port)))
        }
        Match::Addr { side, set, negate } => {
            let ip = if *side == Side::Source {
                pkt.src
            } else {
                pkt.dst
            };
            let Some(s) = ir.addr_sets.get(set) else {
                return false;
            };
            if s.family != fam {
                return false;
            }
            s.nets.iter().any(|n| n.contains(&ip)) != *negate
        }
        Match::Port {
            side,
            ports,
            negate,
            ..
        } => {
            if !pkt.protocol.has_ports() {
                return false;
            }
            let port = if *side == Side::Source {
                pkt.sport
            } else {
                pkt.dport
            };
            let hit = match ports {
                PortRef::Inline(r) => r.contains(port),
                PortRef::Set(s) => ir
                    .port_sets
                    .get(s)
                    .is_some_and(|l| l.iter().any(|r| r.contains(port))),
            };
            hit != *negate
        }
    })
}

impl fmt::Display for Explanation {
    /// `verdict: allow|deny`, then one line per step.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "verdict: {}",
            if self.allowed { "allow" } else { "deny" }
        )?;
        writeln!(f, "packet: {} -> {}", self.src, self.dst)?;
        if self.steps.is_empty() {
            writeln!(f, "no endpoint under policy on the path: allowed")?;
        }
        for s in &self.steps {
            let kind = if s.kind == EndpointKind::Workload {
                "workload"
            } else {
                "host endpoint"
            };
            write!(
                f,
                "{} of {kind} {} ({}): ",
                s.direction, s.endpoint, s.interface
            )?;
            match &s.outcome {
                Outcome::NoPolicy => write!(f, "allow (no policy selects it for {})", s.direction)?,
                Outcome::Failsafe => write!(f, "allow (failsafe port)")?,
                Outcome::Rule {
                    policy,
                    index,
                    action,
                } => {
                    let v = if *action == Action::Allow {
                        "allow"
                    } else {
                        "deny"
                    };
                    write!(
                        f,
                        "{v} by policy {policy} {}[{index}] ({action})",
                        s.direction
                    )?
                }
                Outcome::Pass { policy, index } => write!(
                    f,
                    "deny (Pass at policy {policy} {}[{index}], then default deny)",
                    s.direction
                )?,
                Outcome::DefaultDeny => write!(
                    f,
                    "deny (default deny: selected by policy, no rule allowed it)"
                )?,
                Outcome::EndOfTier { tier } => write!(
                    f,
                    "deny (end of tier {tier}: no policy of the tier decided, default action Deny)"
                )?,
            }
            for (p, i) in &s.logged {
                write!(f, "; logged by {p} {}[{i}]", s.direction)?;
            }
            writeln!(f)?;
            for t in &s.tiers {
                writeln!(f, "  {t}")?;
            }
        }
        Ok(())
    }
}

/// The bundle as it would be with its staged policies enforced (Calico's staged
/// semantics: `Set` adds the policy or replaces the enforced one of the same id, `Delete`
/// removes it); None without staged policies. Compile and explain it to report what the
/// staged policies would do.
pub fn with_staged(bundle: &Bundle) -> Option<Bundle> {
    if bundle.staged.is_empty() {
        return None;
    }
    let mut b = bundle.clone();
    for s in &bundle.staged {
        b.policies.retain(|p| p.id != s.policy.id);
        if s.action == crate::model::StagedAction::Set {
            b.policies.push(std::sync::Arc::new(s.policy.clone()));
        }
    }
    b.staged.clear();
    Some(b)
}
