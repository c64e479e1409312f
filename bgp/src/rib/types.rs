//! The RIB's public value types: peer identity and settings, what a session tells the
//! RIB when it comes up, the best-path change stream, views for `tern routes`, errors.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::policy::ImportPolicy;
use crate::wire::{AddressFamily, FamilySet, Origin};

/// This speaker's own identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSettings {
    /// Our AS number.
    pub asn: u32,
    /// Our BGP Identifier.
    pub router_id: Ipv4Addr,
    /// Route-reflector CLUSTER_ID (RFC 4456); the router ID when `None`.
    pub cluster_id: Option<Ipv4Addr>,
}

/// A peer's handle in the RIB, chosen by the caller (`add_peer`). Small and `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

/// Configuration of one peer, as far as the RIB cares.
///
/// Whether the peer is internal (iBGP) is derived: `asn` equals our AS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSettings {
    /// The peer's address (the last tie-breaker of the decision process).
    pub address: IpAddr,
    /// The peer's AS number.
    pub asn: u32,
    /// The peer is a route-reflector client of ours (iBGP only, RFC 4456).
    pub route_reflector_client: bool,
    /// Prefix filter for routes from this peer.
    pub import: ImportPolicy,
    /// Most prefixes accepted from this peer (BIRD's `import limit`).
    pub import_limit: Option<PrefixLimit>,
    /// Most prefixes received from this peer, accepted or rejected (BIRD's `receive
    /// limit`).
    pub receive_limit: Option<PrefixLimit>,
    /// Our side of the session if known before it comes up (next-hop-self);
    /// [`PeerUp::local_address`] overrides it.
    pub local_address: Option<IpAddr>,
}

impl PeerSettings {
    /// Settings with no route reflection, no max-prefix, an import policy that accepts
    /// everything and no configured local address.
    pub fn new(address: IpAddr, asn: u32) -> Self {
        Self {
            address,
            asn,
            route_reflector_client: false,
            import: ImportPolicy::accept_all(),
            import_limit: None,
            receive_limit: None,
            local_address: None,
        }
    }
}

/// A limit on the prefixes of one peer and what happens when it is exceeded (BIRD's
/// `import limit` / `receive limit` with `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixLimit {
    /// The most prefixes allowed.
    pub max: u32,
    /// What exceeding it does.
    pub action: LimitAction,
}

impl PrefixLimit {
    /// A limit that resets the session (the RFC 4271 §6.7 / RFC 4486 behaviour).
    pub fn restart(max: u32) -> Self {
        Self {
            max,
            action: LimitAction::Restart,
        }
    }
}

/// What exceeding a [`PrefixLimit`] does (BIRD's actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitAction {
    /// Log it (once per crossing); keep everything.
    Warn,
    /// Log it; prefixes beyond the limit are dropped (counted as rejected) until the
    /// count falls below the limit.
    Block,
    /// Reset the session with Cease / Maximum Number of Prefixes Reached (RFC 4486
    /// subcode 1); it reconnects after the usual retry.
    #[default]
    Restart,
    /// As `Restart`, and the session stays down until the agent is restarted or its
    /// configuration reloaded.
    Disable,
}

impl LimitAction {
    /// The configuration word (`warn`, `block`, `restart`, `disable`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Block => "block",
            Self::Restart => "restart",
            Self::Disable => "disable",
        }
    }
}

/// Which of a peer's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// [`PeerSettings::receive_limit`]: everything received.
    Receive,
    /// [`PeerSettings::import_limit`]: accepted prefixes.
    Import,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Receive => "receive",
            Self::Import => "import",
        })
    }
}

/// What the session negotiated, handed to [`crate::rib::Rib::peer_up`] on Established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerUp {
    /// The peer's BGP Identifier (decision-process tie-breaker).
    pub bgp_id: Ipv4Addr,
    /// Our address on this session: next hop when we set next-hop-self.
    pub local_address: IpAddr,
    /// Our IPv4 next hop for IPv4 routes when the session runs over IPv6 (or to
    /// override `local_address`).
    pub local_ipv4: Option<Ipv4Addr>,
    /// Our global IPv6 next hop for IPv6 routes when the session runs over IPv4.
    pub local_ipv6: Option<Ipv6Addr>,
    /// Our link-local IPv6 address on the interface toward the peer (sent as the
    /// second MP_REACH next hop to directly connected eBGP peers, RFC 2545).
    pub link_local: Option<Ipv6Addr>,
    /// Subnets we share with the peer (the prefixes of our interface toward a directly
    /// connected peer; empty otherwise). Toward an eBGP peer, a learned route whose next
    /// hop lies in one of them keeps that next hop instead of next-hop-self
    /// (third-party next hop, RFC 4271 §5.1.3 (2)).
    pub shared_subnets: Vec<IpNet>,
    /// Address families negotiated (multiprotocol capability; IPv4 unicast without it).
    pub families: FamilySet,
    /// 4-octet AS numbers negotiated (sizes of our UPDATEs depend on it).
    pub four_octet_as: bool,
    /// Extended Message (RFC 8654) negotiated: UPDATEs up to 65535 octets.
    pub extended_message: bool,
    /// Families for which we send ADD-PATH path identifiers (RFC 7911; the session's
    /// encode context): the peer gets every path of the ECMP set, each with a path
    /// id of ours, instead of the best path alone.
    pub add_path_send: FamilySet,
}

impl PeerUp {
    /// A session over `local_address` with IPv4 and IPv6 unicast, 4-octet AS and
    /// 4096-octet messages; no link-local address, no shared subnets.
    pub fn new(bgp_id: Ipv4Addr, local_address: IpAddr) -> Self {
        Self {
            bgp_id,
            local_address,
            local_ipv4: None,
            local_ipv6: None,
            link_local: None,
            shared_subnets: Vec::new(),
            families: FamilySet::UNICAST,
            four_octet_as: true,
            extended_message: false,
            add_path_send: FamilySet::EMPTY,
        }
    }

    /// Next hop we announce for IPv4 routes (next-hop-self).
    pub fn self_ipv4(&self) -> Option<Ipv4Addr> {
        self.local_ipv4.or(match self.local_address {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(a) => a.to_ipv4_mapped(),
        })
    }

    /// Global next hop we announce for IPv6 routes (next-hop-self).
    pub fn self_ipv6(&self) -> Option<Ipv6Addr> {
        self.local_ipv6.or(match self.local_address {
            IpAddr::V6(a) if !is_link_local(a) => Some(a),
            _ => None,
        })
    }
}

/// The unicast family of a prefix.
pub(crate) fn family_of(p: &IpNet) -> AddressFamily {
    match p {
        IpNet::V4(_) => AddressFamily::IPV4_UNICAST,
        IpNet::V6(_) => AddressFamily::IPV6_UNICAST,
    }
}

pub(crate) fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// A best-path change for the kernel FIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChange {
    /// The destination.
    pub prefix: IpNet,
    /// What to do with it.
    pub action: RouteAction,
}

/// What changed about a prefix's best path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAction {
    /// The prefix had no BGP route; install one with these ECMP next hops (sorted).
    Install(Vec<IpAddr>),
    /// The prefix had a BGP route; its ECMP next hops are now these (sorted).
    Replace(Vec<IpAddr>),
    /// The prefix no longer has a BGP route.
    Withdraw,
}

/// Prefix counters of one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrefixCounters {
    /// What the peer sent in this session: its prefixes in the RIB plus every
    /// announcement rejected (rejected paths are counted, not stored: a rejected
    /// prefix announced again counts again).
    pub received: u64,
    /// Prefixes accepted by import checks and policy (Loc-RIB candidates).
    pub accepted: u64,
    /// Announcements rejected in this session (see [`crate::rib::Rib::rejected`]).
    pub rejected: u64,
    /// Prefixes currently advertised to this peer (its Adj-RIB-Out).
    pub advertised: u64,
    /// Prefixes not advertised to this peer because their attribute set does not fit
    /// in one UPDATE of its maximum message size (4096 octets, 65535 with RFC 8654).
    pub oversized: u64,
}

/// One prefix of the Loc-RIB, for `tern routes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteView {
    /// The destination.
    pub prefix: IpNet,
    /// The best path, if any path is accepted.
    pub best: Option<PathView>,
    /// Next hops of the ECMP set (sorted; empty when the best path is ours).
    pub ecmp_next_hops: Vec<IpAddr>,
    /// The paths: with `all`, every path (best first, then the losers and rejected
    /// ones); without, only the ECMP set.
    pub paths: Vec<PathView>,
}

/// One path of a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathView {
    /// The peer it came from; `None` for a locally originated prefix.
    pub peer: Option<PeerId>,
    /// That peer's address.
    pub from: Option<IpAddr>,
    /// The peer's ADD-PATH path identifier for it (RFC 7911); `None` without ADD-PATH.
    pub path_id: Option<u32>,
    /// The path's next hop (the unspecified address for a local route).
    pub next_hop: IpAddr,
    /// AS_PATH as text (`65001 65002 {65003}`).
    pub as_path: String,
    /// LOCAL_PREF used by the decision process (100 when absent or from eBGP).
    pub local_pref: u32,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// ORIGIN.
    pub origin: Origin,
    /// Selected as the best path.
    pub best: bool,
    /// Member of the ECMP set (the best path is).
    pub ecmp: bool,
    /// Why it lost against the best path ("lower LOCAL_PREF 100 < 200", …).
    pub reason_lost: Option<String>,
    /// Why it was not accepted at all. Always `None` from [`crate::rib::Rib`], which
    /// does not store rejected paths (it counts them: [`crate::rib::Rib::rejected`]).
    pub rejected: Option<String>,
}

/// Errors of the RIB's entry points.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RibError {
    /// The peer went over one of its prefix limits (reported once per crossing); the
    /// caller carries out `action` (for `Restart` and `Disable`: Cease / Maximum
    /// Number of Prefixes Reached, RFC 4486).
    #[error("{kind} limit of {limit} prefixes exceeded ({count}), action {}", action.name())]
    PrefixLimit {
        /// The peer.
        peer: PeerId,
        /// Which limit.
        kind: LimitKind,
        /// The configured limit.
        limit: u32,
        /// The count that went over it.
        count: u64,
        /// What to do.
        action: LimitAction,
    },
    /// No peer with this id was added.
    #[error("unknown peer {0:?}")]
    UnknownPeer(PeerId),
    /// A peer with this id already exists.
    #[error("peer {0:?} already exists")]
    DuplicatePeer(PeerId),
}
