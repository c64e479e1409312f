//! The policy model tern evaluates: one normalized form for Calico `NetworkPolicy` /
//! `GlobalNetworkPolicy` and Kubernetes `NetworkPolicy`, plus the field-path errors the
//! converters return (the loader turns them into `FILE:LINE:COL`).

pub mod calico;
mod directions;
mod host_hooks;
pub mod k8s;
mod ports;

use std::fmt;

use ipnet::IpNet;

pub use ports::{parse_port, PortRange};

use crate::selector::Selector;

/// Where a policy came from; part of its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyKind {
    /// `projectcalico.org/v3` `GlobalNetworkPolicy` (no namespace).
    CalicoGlobal,
    /// `projectcalico.org/v3` `NetworkPolicy` (namespaced).
    Calico,
    /// `networking.k8s.io/v1` `NetworkPolicy` (namespaced).
    Kubernetes,
}

/// The identity of a policy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyId {
    /// Which API the policy came from.
    pub kind: PolicyKind,
    /// Namespace (None for global policies).
    pub namespace: Option<String>,
    /// Policy name.
    pub name: String,
}

impl fmt::Display for PolicyId {
    /// `ns/name`, `knp.ns/name` (Kubernetes, as Calico names them) or `name` (global).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, &self.namespace) {
            (PolicyKind::Kubernetes, Some(ns)) => write!(f, "knp.{ns}/{}", self.name),
            (_, Some(ns)) => write!(f, "{ns}/{}", self.name),
            (_, None) => f.write_str(&self.name),
        }
    }
}

/// A normalized policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Identity.
    pub id: PolicyId,
    /// `spec.tier`: None for the `default` tier (and Kubernetes policies).
    pub tier: Option<String>,
    /// `spec.order`; None sorts after every ordered policy (as Calico).
    pub order: Option<f64>,
    /// `spec.applyOnForward`: on host endpoints, also police traffic forwarded through
    /// the interface (not only traffic to and from the host itself).
    pub apply_on_forward: bool,
    /// `spec.preDNAT` (GlobalNetworkPolicy, with `applyOnForward`): ingress policy of host
    /// endpoints evaluated in the prerouting hook, before DNAT; never in the filter hooks.
    pub pre_dnat: bool,
    /// `spec.doNotTrack` (GlobalNetworkPolicy, with `applyOnForward`): host endpoints'
    /// untracked policy, evaluated before conntrack (raw priority); Allow means the packet
    /// is not tracked and is accepted by the filter hooks too.
    pub do_not_track: bool,
    /// Which endpoints the policy applies to (within its namespace when namespaced).
    pub selector: Selector,
    /// `GlobalNetworkPolicy.spec.namespaceSelector`: endpoints whose namespace matches.
    pub namespace_selector: Option<Selector>,
    /// Ingress rules, when the policy has the Ingress type.
    pub ingress: Option<Vec<Rule>>,
    /// Egress rules, when the policy has the Egress type.
    pub egress: Option<Vec<Rule>>,
}

/// `spec.stagedAction` of a staged policy: what enforcing it would do to the enforced
/// policy of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StagedAction {
    /// Add the policy, or replace the enforced one (Calico's default).
    Set,
    /// Delete the enforced policy of that name.
    Delete,
}

impl StagedAction {
    /// Parses `Set` / `Delete` (absent: `Set`).
    pub(crate) fn parse(path: &[PathSeg], v: Option<&str>) -> Result<StagedAction, FieldError> {
        match v {
            None | Some("Set") => Ok(StagedAction::Set),
            Some("Delete") => Ok(StagedAction::Delete),
            Some(o) => Err(FieldError::new(
                &child(path, "stagedAction"),
                format!(
                    "unknown staged action `{}` (Set or Delete)",
                    o.escape_debug()
                ),
            )),
        }
    }
}

/// A staged policy: evaluated and reported (`explain`), never enforced.
#[derive(Debug, Clone, PartialEq)]
pub struct StagedPolicy {
    /// The policy as it would be enforced (same id as its enforced counterpart).
    pub policy: Policy,
    /// Set or Delete.
    pub action: StagedAction,
}

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Accept the packet (for this endpoint and direction).
    Allow,
    /// Drop the packet.
    Deny,
    /// Log the packet and continue with the next rule.
    Log,
    /// Stop evaluating policies; the direction's default (deny) applies.
    Pass,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Allow => "Allow",
            Action::Deny => "Deny",
            Action::Log => "Log",
            Action::Pass => "Pass",
        })
    }
}

/// An IP protocol, by name where Calico has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1), IPv4 only.
    Icmp,
    /// ICMPv6 (58), IPv6 only.
    Icmpv6,
    /// SCTP (132).
    Sctp,
    /// UDP-Lite (136).
    UdpLite,
    /// Any other protocol number.
    Number(u8),
}

impl Protocol {
    /// The IANA protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Icmp => 1,
            Protocol::Icmpv6 => 58,
            Protocol::Sctp => 132,
            Protocol::UdpLite => 136,
            Protocol::Number(n) => n,
        }
    }

    /// From a number, using the named variant when there is one.
    pub fn from_number(n: u8) -> Protocol {
        match n {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            1 => Protocol::Icmp,
            58 => Protocol::Icmpv6,
            132 => Protocol::Sctp,
            136 => Protocol::UdpLite,
            n => Protocol::Number(n),
        }
    }

    /// Parses `TCP`, `udp`, `ICMPv6`, `132`, ….
    pub fn parse(s: &str) -> Option<Protocol> {
        Some(match s.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" => Protocol::Icmp,
            "icmpv6" => Protocol::Icmpv6,
            "sctp" => Protocol::Sctp,
            "udplite" => Protocol::UdpLite,
            n => Protocol::from_number(n.parse().ok()?),
        })
    }

    /// True when the protocol has ports.
    pub fn has_ports(self) -> bool {
        matches!(
            self,
            Protocol::Tcp | Protocol::Udp | Protocol::Sctp | Protocol::UdpLite
        )
    }

    /// The nftables / iptables keyword (or number).
    pub fn keyword(self) -> String {
        match self {
            Protocol::Tcp => "tcp".into(),
            Protocol::Udp => "udp".into(),
            Protocol::Icmp => "icmp".into(),
            Protocol::Icmpv6 => "ipv6-icmp".into(),
            Protocol::Sctp => "sctp".into(),
            Protocol::UdpLite => "udplite".into(),
            Protocol::Number(n) => n.to_string(),
        }
    }
}

/// An ICMP type and optional code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Icmp {
    /// ICMP type.
    pub r#type: u8,
    /// ICMP code (any when None).
    pub code: Option<u8>,
}

/// IP version restriction of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Source or destination match of a rule; every present field must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entity {
    /// Address in any of these.
    pub nets: Vec<IpNet>,
    /// Address in none of these.
    pub not_nets: Vec<IpNet>,
    /// Address belongs to an endpoint the selector matches.
    pub selector: Option<Selector>,
    /// Address belongs to no endpoint the selector matches.
    pub not_selector: Option<Selector>,
    /// Endpoints in namespaces whose labels match (with `selector` when both are set).
    pub namespace_selector: Option<Selector>,
    /// Port in any of these.
    pub ports: Vec<PortRange>,
    /// Port in none of these.
    pub not_ports: Vec<PortRange>,
    /// Named ports (`http`): the port of that name on the endpoint the address belongs
    /// to (destination only; resolved per endpoint at compile time).
    pub named_ports: Vec<String>,
}

/// One policy rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// What happens on a match.
    pub action: Action,
    /// Protocol must be this.
    pub protocol: Option<Protocol>,
    /// Protocol must not be this.
    pub not_protocol: Option<Protocol>,
    /// ICMP type/code must be this.
    pub icmp: Option<Icmp>,
    /// ICMP type/code must not be this.
    pub not_icmp: Option<Icmp>,
    /// Only this IP version.
    pub ip_version: Option<IpVersion>,
    /// Source match.
    pub source: Entity,
    /// Destination match.
    pub destination: Entity,
}

impl Rule {
    /// A rule that matches everything with the given action.
    pub fn any(action: Action) -> Rule {
        Rule {
            action,
            protocol: None,
            not_protocol: None,
            icmp: None,
            not_icmp: None,
            ip_version: None,
            source: Entity::default(),
            destination: Entity::default(),
        }
    }
}

/// One step of a path into a YAML document (`spec`, `ingress`, `0`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A semantic error at a field of a document (the loader adds file, line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the offending field from the document root.
    pub path: Vec<PathSeg>,
    /// What is wrong.
    pub message: String,
    /// Character offset inside the field's value (selector column − 1), when known.
    pub offset: Option<usize>,
}

impl FieldError {
    /// An error at `path`.
    pub fn new(path: &[PathSeg], message: impl Into<String>) -> FieldError {
        FieldError {
            path: path.to_vec(),
            message: message.into(),
            offset: None,
        }
    }

    /// The path as `spec.ingress[0].source`.
    pub fn path_text(&self) -> String {
        path_text(&self.path)
    }
}

/// Renders a path as `spec.ingress[0].source`.
pub fn path_text(path: &[PathSeg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Builds child paths while converting.
pub(crate) fn child(path: &[PathSeg], key: &str) -> Vec<PathSeg> {
    let mut p = path.to_vec();
    p.push(PathSeg::Key(key.to_string()));
    p
}

/// Builds an index path while converting.
pub(crate) fn index(path: &[PathSeg], i: usize) -> Vec<PathSeg> {
    let mut p = path.to_vec();
    p.push(PathSeg::Index(i));
    p
}

/// Parses a selector field, mapping the column into the error.
pub(crate) fn parse_selector(path: &[PathSeg], text: &str) -> Result<Selector, FieldError> {
    crate::selector::parse(text).map_err(|e| FieldError {
        path: path.to_vec(),
        message: format!("bad selector: {}", e.message),
        offset: Some(e.column.saturating_sub(1)),
    })
}

/// Parses a CIDR (or a bare address, taken as a host prefix).
pub(crate) fn parse_net(path: &[PathSeg], text: &str) -> Result<IpNet, FieldError> {
    if let Ok(n) = text.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    if let Ok(a) = text.parse::<std::net::IpAddr>() {
        return Ok(IpNet::from(a));
    }
    Err(FieldError::new(path, format!("bad CIDR `{text}`")))
}

/// Parses a list of CIDRs.
pub(crate) fn parse_nets(path: &[PathSeg], list: &[String]) -> Result<Vec<IpNet>, FieldError> {
    list.iter()
        .enumerate()
        .map(|(i, s)| parse_net(&index(path, i), s))
        .collect()
}

/// True for a port name as Kubernetes accepts it (an IANA service name): 1-15 of
/// `a-z`, `0-9` and `-`, at least one letter, no `-` at either end or twice in a row.
pub fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && s.bytes().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}
