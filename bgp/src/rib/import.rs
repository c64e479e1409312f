//! Import checks on received paths: AS-loop detection, our own address as next hop,
//! route-reflection loops (RFC 4456 §8), and the prefix policy of [`crate::policy`].
//! A rejected path is not stored (as BIRD without `import keep filtered`): it withdraws
//! the peer's earlier path for the prefix, if any, and is counted per peer by its
//! one-octet [`Reject`] code, so memory does not grow with what a peer sends.
//!
//! [`Rib::announce`] runs the checks and stores the accepted paths of one UPDATE; for a
//! set found by its address the attribute checks' verdict is memoised with the set.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::attrs::AttrId;
use super::peers::{self, Peer};
use super::table::PathRef;
use super::Rib;
use crate::policy::ImportVerdict;
use crate::wire::{MpNextHop, Nlri, PathAttributes};

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

/// Where the attribute set of announced prefixes comes from.
#[derive(Clone, Copy)]
pub(super) enum SetOf<'a> {
    /// Interned already (a set this session sent before, found by its address).
    Interned(AttrId),
    /// As received, with its next hop; interned on the first accepted prefix. The
    /// flag: the next hop is the set's own NEXT_HOP (see `AttrTable::intern_shared`).
    Received(&'a Arc<PathAttributes>, MpNextHop, bool),
}

impl Rib {
    /// The attribute checks' verdict on interned set `id` from the peer in `slot`,
    /// memoised with the set (one peer at a time).
    fn checked(&mut self, id: AttrId, slot: u16) -> Option<Reject> {
        let key = (u64::from(self.checks_epoch) << 24) | (u64::from(slot) << 8);
        let memo = self.attrs.memo(id);
        if memo != 0 && memo & !0xff == key {
            return Reject::from_code(memo as u8);
        }
        let from = peers::peer(&self.peers, slot)?;
        let i = self.attrs.get(id);
        let verdict = self.checks(from).attributes(&i.value.attrs, i.next_hop());
        self.attrs
            .set_memo(id, key | u64::from(verdict.map_or(0, Reject::code)));
        verdict
    }

    fn checks(&self, from: &Peer) -> Checks<'_> {
        Checks {
            local_asn: self.local.asn,
            router_id: self.local.router_id,
            cluster_id: self.local.cluster_id.unwrap_or(self.local.router_id),
            ibgp: from.ibgp,
            local_addrs: &self.local_addrs,
        }
    }

    pub(super) fn announce(&mut self, slot: u16, set: SetOf<'_>, nlri: &[Nlri], v4: bool) {
        let attr_reject = match set {
            SetOf::Received(attrs, nh, _) => {
                let Some(from) = peers::peer(&self.peers, slot) else {
                    return;
                };
                self.checks(from).attributes(attrs, nh.global)
            }
            SetOf::Interned(id) => self.checked(id, slot),
        };
        if let Some(r) = attr_reject {
            // Nothing of this UPDATE is stored: its attributes are not even interned.
            for n in nlri {
                if matches!(n.prefix, IpNet::V4(_)) == v4 {
                    self.reject((slot, n.path_id.unwrap_or(0)), n.prefix, r);
                }
            }
            return;
        }
        let Some(from) = peers::peer(&self.peers, slot) else {
            return;
        };
        let limited = from.settings.import_limit.is_some() || from.settings.receive_limit.is_some();
        self.warm(nlri);
        // One reference held for the loop (a rejected prefix may drop the last path
        // that used the set).
        let mut id = match set {
            SetOf::Interned(id) => {
                self.attrs.retain(id);
                Some(id)
            }
            SetOf::Received(..) => None,
        };
        for n in nlri {
            if matches!(n.prefix, IpNet::V4(_)) != v4 {
                continue;
            }
            // The peer's policy, borrowed again per prefix (a clone per UPDATE cost two
            // allocations, a visible share of a one-prefix-per-UPDATE feed).
            let Some(from) = peers::peer(&self.peers, slot) else {
                break;
            };
            let key = (slot, n.path_id.unwrap_or(0));
            let reject = Reject::from_verdict(from.settings.import.check(&n.prefix))
                .or_else(|| limited.then(|| self.blocked(key, &n.prefix)).flatten());
            if let Some(r) = reject {
                self.reject(key, n.prefix, r);
                continue;
            }
            // Interned on the first accepted prefix; one reference per path.
            let attr = match (id, set) {
                (Some(attr), _) | (None, SetOf::Interned(attr)) => attr,
                (None, SetOf::Received(attrs, nh, own)) => {
                    *id.insert(self.attrs.intern_shared(attrs, nh, own))
                }
            };
            self.attrs.retain(attr);
            let path = PathRef {
                attr,
                path_id: key.1,
                peer: slot,
                reject: 0,
            };
            self.apply(key, n.prefix, Some(path));
        }
        if let Some(attr) = id {
            self.attrs.release(attr);
        }
    }
}
