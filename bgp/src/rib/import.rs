//! Import checks on received paths: AS-loop detection, our own address as next hop,
//! route-reflection loops (RFC 4456 §8), and the prefix policy of [`crate::policy`].
//! A rejected path stays in the Adj-RIB-In with a one-octet [`Reject`] code; its text
//! is produced only when someone looks.

use std::fmt;
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
            _ => return None,
        })
    }

    pub fn from_verdict(v: ImportVerdict) -> Option<Self> {
        match v {
            ImportVerdict::Accept => None,
            ImportVerdict::OutsidePools => Some(Self::OutsidePools),
            ImportVerdict::OwnBlock => Some(Self::OwnBlock),
        }
    }
}

/// A [`Reject`] code with the context needed to explain it.
pub(crate) struct Explained<'a> {
    pub reject: Reject,
    pub local_asn: u32,
    pub cluster_id: Ipv4Addr,
    pub router_id: Ipv4Addr,
    pub next_hop: IpAddr,
    pub attrs: &'a PathAttributes,
}

impl fmt::Display for Explained<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reject {
            Reject::AsLoop => write!(
                f,
                "AS loop: AS_PATH {} contains our AS {}",
                self.attrs.as_path.clone().unwrap_or_default(),
                self.local_asn
            ),
            Reject::NextHopSelf => write!(f, "next hop {} is our own address", self.next_hop),
            Reject::OriginatorSelf => {
                write!(f, "ORIGINATOR_ID is our router ID {}", self.router_id)
            }
            Reject::ClusterLoop => write!(
                f,
                "cluster loop: CLUSTER_LIST contains our cluster ID {}",
                self.cluster_id
            ),
            Reject::OutsidePools => f.write_str("prefix outside the pools"),
            Reject::OwnBlock => f.write_str("prefix is one of our own blocks"),
            Reject::NoNextHop => f.write_str("no usable next hop"),
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
