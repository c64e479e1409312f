//! Import checks on received paths: AS-loop detection, our own address as next hop,
//! route-reflection loops (RFC 4456 §8), and the prefix policy of [`crate::policy`].
//! A rejected path is not stored (as BIRD without `import keep filtered`): it withdraws
//! the peer's earlier path for the prefix, if any, and is counted per peer by its
//! one-octet [`Reject`] code, so memory does not grow with what a peer sends.

use std::net::{IpAddr, Ipv4Addr};

use crate::policy::ImportVerdict;
use crate::wire::PathAttributes;

/// Why a received path is not a Loc-RIB candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Reject {
    AsLoop = 1,
    NextHopSelf = 2,
    OriginatorSelf = 3,
    ClusterLoop = 4,
    OutsidePools = 5,
    OwnBlock = 6,
    NoNextHop = 7,
    /// Dropped by an import limit with action `block`.
    ImportLimit = 8,
    /// Dropped by a receive limit with action `block`.
    ReceiveLimit = 9,
}

impl Reject {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::AsLoop,
            2 => Self::NextHopSelf,
            3 => Self::OriginatorSelf,
            4 => Self::ClusterLoop,
            5 => Self::OutsidePools,
            6 => Self::OwnBlock,
            7 => Self::NoNextHop,
            8 => Self::ImportLimit,
            9 => Self::ReceiveLimit,
            _ => return None,
        })
    }

    /// The reason without the path's details (for counts).
    pub fn summary(self) -> &'static str {
        match self {
            Self::AsLoop => "AS loop: AS_PATH contains our AS",
            Self::NextHopSelf => "next hop is our own address",
            Self::OriginatorSelf => "ORIGINATOR_ID is our router ID",
            Self::ClusterLoop => "cluster loop: CLUSTER_LIST contains our cluster ID",
            Self::OutsidePools => "prefix outside the pools",
            Self::OwnBlock => "prefix is one of our own blocks",
            Self::NoNextHop => "no usable next hop",
            Self::ImportLimit => "import limit reached (action block)",
            Self::ReceiveLimit => "receive limit reached (action block)",
        }
    }

    pub fn from_verdict(v: ImportVerdict) -> Option<Self> {
        match v {
            ImportVerdict::Accept => None,
            ImportVerdict::OutsidePools => Some(Self::OutsidePools),
            ImportVerdict::OwnBlock => Some(Self::OwnBlock),
        }
    }
}

/// What the attribute-level checks need to know about us and the peer.
pub(crate) struct Checks<'a> {
    pub local_asn: u32,
    pub router_id: Ipv4Addr,
    pub cluster_id: Ipv4Addr,
    pub ibgp: bool,
    pub local_addrs: &'a [IpAddr],
}

impl Checks<'_> {
    /// The checks that depend only on the attribute set (run once per UPDATE).
    pub fn attributes(&self, attrs: &PathAttributes, next_hop: IpAddr) -> Option<Reject> {
        if attrs
            .as_path
            .as_ref()
            .is_some_and(|p| p.contains(self.local_asn))
        {
            return Some(Reject::AsLoop);
        }
        if next_hop.is_unspecified() || next_hop.is_multicast() {
            return Some(Reject::NoNextHop);
        }
        if self.local_addrs.contains(&next_hop) {
            return Some(Reject::NextHopSelf);
        }
        if self.ibgp {
            if attrs.originator_id == Some(self.router_id) {
                return Some(Reject::OriginatorSelf);
            }
            if attrs.cluster_list.contains(&self.cluster_id) {
                return Some(Reject::ClusterLoop);
            }
        }
        None
    }
}
