//! The compiled, backend-neutral form of the policy: named address and port sets,
//! one chain per (policy, direction), and per-endpoint dispatch lists. Everything is
//! sorted so that the same input always gives the same IR (and the same rendered text).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use ipnet::IpNet;

use crate::model::{Action, Icmp, PortRange, Protocol};

/// IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of a prefix.
    pub fn of(n: &IpNet) -> Family {
        match n {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }
}

/// Direction of a policy relative to the endpoint it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Traffic to the endpoint.
    Ingress,
    /// Traffic from the endpoint.
    Egress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        })
    }
}

/// Which address or port of the packet a match looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Source address / port.
    Source,
    /// Destination address / port.
    Destination,
}

/// A named set of prefixes of one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSet {
    /// Family of every member.
    pub family: Family,
    /// Members, aggregated (no overlaps) and sorted.
    pub nets: Vec<IpNet>,
    /// What the set stands for (a selector or a CIDR list), for comments.
    pub origin: String,
}

/// A named set of (address, port) pairs of one family and protocol: where named ports
/// resolve (each endpoint's address with its own number for the name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrPortSet {
    /// Family of every address.
    pub family: Family,
    /// Protocol of every port (the rule's).
    pub protocol: Protocol,
    /// Members, sorted.
    pub members: Vec<(std::net::IpAddr, u16)>,
    /// What the set stands for, for comments.
    pub origin: String,
}

/// Ports given to a port match: a single range inline, or a named set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortRef {
    /// One port or range.
    Inline(PortRange),
    /// A named port set.
    Set(String),
}

/// One condition of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The packet's family (only when no address match implies it).
    Family(Family),
    /// Layer-4 protocol is (or, negated, is not) this.
    Protocol {
        /// Protocol.
        protocol: Protocol,
        /// Negated.
        negate: bool,
    },
    /// ICMP / ICMPv6 type and code.
    Icmp {
        /// ICMP (V4) or ICMPv6 (V6).
        family: Family,
        /// Type and code.
        icmp: Icmp,
        /// Negated.
        negate: bool,
    },
    /// Address in a named set.
    Addr {
        /// Source or destination.
        side: Side,
        /// Set name (a key of [`Ir::addr_sets`]).
        set: String,
        /// Negated.
        negate: bool,
    },
    /// Address and port together in a named (address, port) set: named ports.
    AddrPort {
        /// Source or destination (address and port of the same side).
        side: Side,
        /// Set name (a key of [`Ir::addr_port_sets`]).
        set: String,
    },
    /// Port in an inline range or named port set (the rule also matches the protocol).
    Port {
        /// Source or destination port.
        side: Side,
        /// Protocol the port belongs to.
        protocol: Protocol,
        /// The ports.
        ports: PortRef,
        /// Negated.
        negate: bool,
    },
}

/// One compiled rule of a policy chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrRule {
    /// Index of the rule in the policy's ingress or egress list.
    pub index: usize,
    /// Conditions, all of which must hold.
    pub matches: Vec<Match>,
    /// Verdict.
    pub action: Action,
}

/// The compiled rules of one policy in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChain {
    /// Policy id (`ns/name`, `knp.ns/name`, `name`).
    pub policy: String,
    /// Direction.
    pub direction: Direction,
    /// Rules in order.
    pub rules: Vec<IrRule>,
}

/// Key of a policy chain: (policy id, direction).
pub type PolicyKey = (String, Direction);

/// Kind of endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndpointKind {
    /// A container's veth.
    Workload,
    /// A host interface.
    Host,
    /// A host interface, for traffic forwarded through it (the host endpoint's
    /// `applyOnForward` policies).
    HostForward,
    /// A host interface, for traffic arriving through it, in the prerouting hook before
    /// DNAT (the host endpoint's `preDNAT` policies; ingress only).
    HostPreDnat,
    /// A host interface, before conntrack (the host endpoint's `doNotTrack` policies:
    /// ingress in prerouting, egress in output, both at raw priority).
    HostUntracked,
}

/// What applies to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPolicy {
    /// Interface name (unique).
    pub interface: String,
    /// `ns/name` for workloads, the name for host endpoints.
    pub endpoint: String,
    /// Workload or host.
    pub kind: EndpointKind,
    /// Policy chains for traffic to the endpoint, in order; None = no policy selects it
    /// for ingress (allowed).
    pub ingress: Option<Vec<PolicyKey>>,
    /// Policy chains for traffic from the endpoint, in order; None = allowed.
    pub egress: Option<Vec<PolicyKey>>,
    /// Staged policies' chains for traffic to the endpoint (keys of
    /// [`Ir::staged_chains`]), in order: they count and log, never decide.
    pub staged_ingress: Vec<PolicyKey>,
    /// Staged policies' chains for traffic from the endpoint.
    pub staged_egress: Vec<PolicyKey>,
}

impl EndpointPolicy {
    /// The (enforced, staged) lists of one direction.
    pub fn lists(&self, dir: Direction) -> (Option<&Vec<PolicyKey>>, &[PolicyKey]) {
        match dir {
            Direction::Ingress => (self.ingress.as_ref(), &self.staged_ingress),
            Direction::Egress => (self.egress.as_ref(), &self.staged_egress),
        }
    }
}

/// A failsafe port: traffic to it is always allowed on host endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FailsafePort {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Destination port.
    pub port: u16,
}

/// Packet-mark bits the chains use to report verdicts to the endpoint chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marks {
    /// Set by an Allow rule.
    pub accept: u32,
    /// Set by a Pass rule.
    pub pass: u32,
}

/// The tier a policy chain belongs to, when tiers are in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierRef {
    /// Tier name.
    pub name: String,
    /// What happens when none of the tier's policies decided.
    pub default_action: crate::tier::TierAction,
}

/// The compiled policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ir {
    /// Address sets by name.
    pub addr_sets: BTreeMap<String, AddrSet>,
    /// Port sets by name.
    pub port_sets: BTreeMap<String, Vec<PortRange>>,
    /// (Address, port) sets by name (named ports).
    pub addr_port_sets: BTreeMap<String, AddrPortSet>,
    /// Policy chains in use, by (policy, direction); shared, so that a compile may take an
    /// unchanged policy's chains from the last one ([`crate::compile::Incremental`]).
    pub chains: BTreeMap<PolicyKey, Arc<PolicyChain>>,
    /// Staged policies' chains in use (`stagedAction: Set`), by (policy, direction):
    /// rendered so that a rule's verdict is counted and logged (`tern-staged …`) and the
    /// packet goes on unchanged.
    pub staged_chains: BTreeMap<PolicyKey, Arc<PolicyChain>>,
    /// Ids of the `doNotTrack` policies in `chains` (their Allow also skips conntrack).
    pub untracked: std::collections::BTreeSet<String>,
    /// Endpoints with at least one direction under policy, sorted by interface.
    pub endpoints: Vec<EndpointPolicy>,
    /// Host endpoints' inbound failsafe ports.
    pub failsafe_in: Vec<FailsafePort>,
    /// Host endpoints' outbound failsafe ports.
    pub failsafe_out: Vec<FailsafePort>,
    /// Mark bits.
    pub marks: Marks,
    /// Tier of each policy (by id) when `Tier` documents are in use; empty otherwise
    /// (every policy in the default tier). Endpoint lists are sorted by tier, so the
    /// policies of one tier are consecutive.
    pub policy_tiers: BTreeMap<String, TierRef>,
}

impl Ir {
    /// An endpoint's policy list cut into tiers: (tier, its policies), in order. Without
    /// tiers, one group with the default tier's action (Deny).
    pub fn tier_groups<'a>(&'a self, list: &'a [PolicyKey]) -> Vec<(TierRef, &'a [PolicyKey])> {
        let tier_of = |k: &PolicyKey| {
            self.policy_tiers.get(&k.0).cloned().unwrap_or(TierRef {
                name: crate::tier::DEFAULT_TIER.to_string(),
                default_action: crate::tier::TierAction::Deny,
            })
        };
        let mut out: Vec<(TierRef, &'a [PolicyKey])> = Vec::new();
        let mut start = 0;
        for i in 1..=list.len() {
            if i == list.len() || tier_of(&list[i]) != tier_of(&list[start]) {
                if start < list.len() {
                    out.push((tier_of(&list[start]), &list[start..i]));
                }
                start = i;
            }
        }
        out
    }
}

impl Ir {
    /// Number of policy rules (after family expansion).
    pub fn rule_count(&self) -> usize {
        self.chains
            .values()
            .chain(self.staged_chains.values())
            .map(|c| c.rules.len())
            .sum()
    }

    /// Number of named sets.
    pub fn set_count(&self) -> usize {
        self.addr_sets.len() + self.port_sets.len() + self.addr_port_sets.len()
    }
}

/// A stable 64-bit FNV-1a hash, for naming sets and chains after their content.
pub fn fnv64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The first 12 hex digits of [`fnv64`].
pub fn short_hash(s: &str) -> String {
    format!("{:016x}", fnv64(s))[..12].to_string()
}

/// A short hash naming a policy list (endpoints with equal lists share a chain). Same
/// value as `short_hash` of `policy|direction` items joined with `,`, without building
/// the string (it runs once per endpoint and direction).
pub fn list_hash(list: &[PolicyKey]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (i, (p, d)) in list.iter().enumerate() {
        if i > 0 {
            feed(b",");
        }
        feed(p.as_bytes());
        feed(b"|");
        feed(match d {
            Direction::Ingress => b"ingress",
            Direction::Egress => b"egress",
        });
    }
    format!("{h:016x}")[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_hash_matches_the_joined_string() {
        let list = vec![
            ("a/b".to_string(), Direction::Ingress),
            ("c".to_string(), Direction::Egress),
        ];
        assert_eq!(list_hash(&list), short_hash("a/b|ingress,c|egress"));
    }
}
