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
use crate::wire::{MpNextHop, Nlri, PathAttributes, Update};

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

/// An item about to be handed to the RIB, for [`Rib::warm_upcoming`].
#[derive(Debug, Clone, Copy)]
pub enum Upcoming<'a> {
    /// An UPDATE for [`Rib::receive`].
    Update(&'a Update),
    /// The prefix of a one-prefix UPDATE for [`Rib::receive_one`].
    Prefix(Nlri),
    /// Anything else.
    Other,
}

/// Prefixes whose index buckets are loaded in one pass: a few hundred cache lines,
/// still in the cache when their UPDATEs are applied.
const WARM_PREFIXES: usize = 256;

/// Every prefix of an UPDATE, withdrawn or announced.
fn prefixes(u: &Update) -> impl Iterator<Item = &Nlri> {
    u.withdrawals().chain(u.announced())
}

/// The hashes of prefixes about to be looked up, collected first so that their index
/// buckets are then loaded in a loop that does nothing else (`Table::warm_all`):
/// a loop that also reads the messages and computes the hashes keeps only a few of
/// its loads in flight (the processor's window fills with the rest of its work).
struct Ahead {
    v4: [u64; WARM_PREFIXES],
    v6: [u64; WARM_PREFIXES],
    n4: usize,
    n6: usize,
}

impl Ahead {
    fn new() -> Self {
        Self {
            v4: [0; WARM_PREFIXES],
            v6: [0; WARM_PREFIXES],
            n4: 0,
            n6: 0,
        }
    }

    fn len(&self) -> usize {
        self.n4 + self.n6
    }

    /// Adds a prefix's hash (nothing once full).
    fn push(&mut self, rib: &Rib, n: &Nlri) {
        let (hashes, at, h) = match n.prefix {
            IpNet::V4(p) => (
                &mut self.v4,
                &mut self.n4,
                rib.v4.hash(u32::from(p.network()), p.prefix_len()),
            ),
            IpNet::V6(p) => (
                &mut self.v6,
                &mut self.n6,
                rib.v6.hash(u128::from(p.network()), p.prefix_len()),
            ),
        };
        if let Some(slot) = hashes.get_mut(*at) {
            *slot = h;
            *at += 1;
        }
    }

    /// Loads the buckets and starts over.
    fn load(&mut self, rib: &Rib) {
        let acc = rib.v4.warm_all(self.v4.get(..self.n4).unwrap_or_default())
            ^ rib.v6.warm_all(self.v6.get(..self.n6).unwrap_or_default());
        std::hint::black_box(acc);
        (self.n4, self.n6) = (0, 0);
    }
}

impl Rib {
    /// Loads the index buckets of an UPDATE's prefixes (two or more) before any is
    /// looked up: the loads are independent, so their cache misses overlap.
    pub(super) fn warm(&self, u: &Update) {
        if prefixes(u).nth(1).is_none() {
            return;
        }
        let mut ahead = Ahead::new();
        for n in prefixes(u) {
            ahead.push(self, n);
            if ahead.len() == WARM_PREFIXES {
                ahead.load(self);
            }
        }
        ahead.load(self);
    }

    /// Loads the index buckets of the one-prefix UPDATEs at the head of `items` (up to
    /// 256 of them; an UPDATE of one prefix, or the prefix alone of one for
    /// [`Rib::receive_one`]) before the first is applied, and returns how many items it
    /// covered: at least one of a non-empty sequence. An UPDATE of several prefixes is
    /// covered but left to [`Rib::receive`], which loads its buckets itself.
    ///
    /// A full table from BIRD comes one prefix per UPDATE, in an order unrelated to
    /// the index's: each lookup misses the cache, and with the UPDATEs applied one
    /// after the other the misses are waited for one at a time. Loaded here, a few
    /// hundred are in flight together.
    pub fn warm_upcoming<'a>(&self, items: impl IntoIterator<Item = Upcoming<'a>>) -> usize {
        let mut ahead = Ahead::new();
        let mut covered = 0;
        for item in items {
            if ahead.len() == WARM_PREFIXES {
                break;
            }
            covered += 1;
            match item {
                Upcoming::Update(u) => {
                    let mut all = prefixes(u);
                    if let (Some(one), None) = (all.next(), all.next()) {
                        ahead.push(self, one);
                    }
                }
                Upcoming::Prefix(n) => ahead.push(self, &n),
                Upcoming::Other => {}
            }
        }
        ahead.load(self);
        covered
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::rib::LocalSettings;

    fn update(first: u32, prefixes: u32) -> Update {
        let mut u = Update::default();
        for i in first..first + prefixes {
            let p = ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | (i << 8)), 24);
            u.nlri.push(Nlri::new(IpNet::V4(p.expect("a /24"))));
        }
        u
    }

    #[test]
    fn warm_upcoming_covers_a_window_of_one_prefix_updates() {
        let rib = Rib::new(LocalSettings {
            asn: 64512,
            router_id: Ipv4Addr::new(10, 255, 0, 9),
            cluster_id: None,
        });
        let ones: Vec<Update> = (0..300).map(|i| update(i, 1)).collect();
        let upd = Upcoming::Update;
        assert_eq!(rib.warm_upcoming(ones.iter().map(upd)), WARM_PREFIXES);
        assert_eq!(rib.warm_upcoming(ones.iter().skip(200).map(upd)), 100);
        // Not UPDATEs, and UPDATEs of several prefixes (`receive` loads theirs),
        // are covered without using the window.
        let big = update(1000, 400);
        let mut mixed = vec![Upcoming::Other, upd(&big), upd(&big)];
        mixed.extend(ones.iter().map(upd));
        assert_eq!(rib.warm_upcoming(mixed), 3 + WARM_PREFIXES);
        assert_eq!(rib.warm_upcoming(std::iter::empty()), 0);
    }
}
