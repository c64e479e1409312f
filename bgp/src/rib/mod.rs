//! Routing information bases of one speaker: Adj-RIB-In, Loc-RIB with the RFC 4271
//! §9.1 decision process, Adj-RIB-Out with route reflection (RFC 4456), UPDATE packing,
//! and the best-path change stream for the kernel. Sans-IO: no clock, no sockets; the
//! speaker calls in and takes results out.
//!
//! # Storage
//! Like BIRD, every received path is stored once: per prefix a small list of
//! (peer, interned attributes, import verdict), which is both the peers' Adj-RIB-In and
//! the Loc-RIB's candidate set, ordered best first (`table`). Attribute sets are
//! hash-consed with reference counts (`attrs`). A single-path IPv4 prefix costs a
//! 12-octet entry plus its share of the hash index.
//!
//! # Flow
//! - [`Rib::receive`] applies an UPDATE: import checks (AS loop, own next hop,
//!   RFC 4456 loops, [`crate::policy::ImportPolicy`]), then per prefix the decision
//!   process (`decision`). Rejected paths are not stored: they withdraw the peer's
//!   earlier path and are counted per peer and reason ([`Rib::rejected`]), so what a
//!   peer sends outside the policy costs no memory. Receive and import limits
//!   ([`PrefixLimit`]) are checked per UPDATE.
//! - Best-path changes land in a change log: [`Rib::take_route_changes`] returns them
//!   coalesced as [`RouteChange`]s (install / replace / withdraw with ECMP next hops).
//! - Each Established peer has an Adj-RIB-Out (`adj_out`): [`Rib::take_updates`]
//!   returns packed UPDATEs (`pack`) per the export rules (`export`), and
//!   End-of-RIB after the initial table.
//! - A peer restarting under RFC 4724 keeps its paths as stale ([`Rib::peer_down_graceful`],
//!   [`Rib::flush_stale`]; `graceful`).
//!
//! # Example
//! ```
//! use bgp::rib::*;
//! use std::net::{IpAddr, Ipv4Addr};
//! let mut rib = Rib::new(LocalSettings { asn: 64512, router_id: Ipv4Addr::new(192, 0, 2, 1), cluster_id: None });
//! let peer = PeerId(1);
//! rib.add_peer(peer, PeerSettings::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 64512)).unwrap();
//! rib.peer_up(peer, PeerUp::new(Ipv4Addr::new(192, 0, 2, 2), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))).unwrap();
//! rib.originate("10.244.1.0/24".parse().unwrap());
//! let updates = rib.take_updates(peer, usize::MAX);
//! assert_eq!(updates.len(), 3); // our block, then End-of-RIB for IPv4 and IPv6
//! ```

mod add_path;
mod adj_out;
mod attrs;
mod by_slot;
mod changes;
mod decision;
mod export;
mod graceful;
mod import;
mod pack;
mod peers;
mod prefix_map;
mod refresh;
mod slot_index;
mod table;
mod types;
mod update;
mod view;

pub use refresh::{RefreshRequest, REFRESH_CHUNK};
pub use types::{
    LimitAction, LimitKind, LocalSettings, PathView, PeerId, PeerSettings, PeerUp, PrefixCounters,
    PrefixLimit, RibError, RouteAction, RouteChange, RouteView,
};

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use hashbrown::HashMap;
use ipnet::IpNet;

use crate::wire::{AddressFamily, AsPath, MpNextHop, Nlri, Origin, PathAttributes, Safi, Update};

use attrs::{AttrId, AttrTable};
pub use import::Upcoming;
use import::{Reject, SetOf};
use peers::{Peer, Peers};
use table::{Key, PathRef, Table, LOCAL_SLOT};
use update::{remove_paths, set_path, Cx, Log};

/// Where an attribute set was interned, as a caller of [`Rib::receive_one`] remembers
/// it between UPDATEs that share the set (the default: nowhere yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetHint(AttrId);

impl Default for SetHint {
    fn default() -> Self {
        SetHint(AttrId::MAX)
    }
}

/// The RIB of one speaker: every peer's received paths, the best paths, and what is
/// to be sent to each peer. See the module docs.
#[derive(Debug)]
pub struct Rib {
    local: LocalSettings,
    attrs: AttrTable,
    v4: Table<u32>,
    v6: Table<u128>,
    log4: Log,
    log6: Log,
    snapshots: Vec<Vec<IpAddr>>,
    /// A bounded take left records behind: the log may hold a prefix twice.
    changes_left_behind: bool,
    peers: Peers,
    ids: HashMap<PeerId, u16>,
    /// Our addresses (router ID and the local side of every Established session).
    local_addrs: Vec<IpAddr>,
    /// Changes whenever what the attribute checks depend on may have (our addresses,
    /// the peers in their slots): the checks' verdicts memoised per interned set
    /// ([`Rib::checked`]) are valid for one value.
    checks_epoch: u32,
    /// Attributes of originated routes (one reference per originated prefix).
    origin_attr: Option<AttrId>,
    /// ROUTE-REFRESH re-advertisements in progress.
    refresh: refresh::Refreshes,
    /// `take_updates`' export cache and batch between calls: empty, kept for their
    /// allocations (a flush calls it for every peer).
    export_scratch: (adj_out::ExportCache, adj_out::Batch),
    /// Peers gone down whose paths are still being removed ([`Rib::begin_peer_down`]),
    /// oldest first.
    prunes: Vec<Prune>,
}

/// The paths of a peer gone down that are still to be removed: the prefixes that had
/// one, in prefix order, and how many of them are done.
#[derive(Debug)]
struct Prune {
    slot: u16,
    keys4: Vec<Key<u32>>,
    keys6: Vec<Key<u128>>,
    done4: usize,
    done6: usize,
}

impl Rib {
    /// An empty RIB.
    pub fn new(local: LocalSettings) -> Self {
        let mut rib = Self {
            local,
            attrs: AttrTable::default(),
            v4: Table::default(),
            v6: Table::default(),
            log4: Log::default(),
            log6: Log::default(),
            snapshots: Vec::new(),
            changes_left_behind: false,
            peers: vec![None],
            ids: HashMap::new(),
            local_addrs: Vec::new(),
            checks_epoch: 0,
            origin_attr: None,
            refresh: refresh::Refreshes::default(),
            export_scratch: Default::default(),
            prunes: Vec::new(),
        };
        rib.refresh_local_addrs();
        rib
    }

    /// Our settings.
    pub fn local(&self) -> &LocalSettings {
        &self.local
    }

    pub(crate) fn slot_of(&self, id: PeerId) -> Option<u16> {
        self.ids.get(&id).copied()
    }

    fn slot(&self, id: PeerId) -> Result<u16, RibError> {
        self.slot_of(id).ok_or(RibError::UnknownPeer(id))
    }

    fn refresh_local_addrs(&mut self) {
        let mut v = vec![IpAddr::V4(self.local.router_id)];
        for p in self.peers.iter().flatten() {
            v.extend(p.settings.local_address);
            if let Some(up) = &p.up {
                v.push(up.local_address);
                v.extend(up.local_ipv4.map(IpAddr::V4));
                v.extend(up.local_ipv6.map(IpAddr::V6));
            }
        }
        v.sort_unstable();
        v.dedup();
        self.local_addrs = v;
        self.checks_epoch = self.checks_epoch.wrapping_add(1).max(1);
    }

    /// Registers a peer (its session down).
    pub fn add_peer(&mut self, id: PeerId, settings: PeerSettings) -> Result<(), RibError> {
        if self.ids.contains_key(&id) {
            return Err(RibError::DuplicatePeer(id));
        }
        let peer = Peer::new(id, settings, self.local.asn);
        let slot = match self.peers.iter().skip(1).position(Option::is_none) {
            Some(k) => k + 1,
            None => {
                self.peers.push(None);
                self.peers.len() - 1
            }
        };
        let slot16 = u16::try_from(slot)
            .ok()
            .filter(|&s| s <= table::MAX_PEER_SLOT)
            .ok_or(RibError::UnknownPeer(id))?;
        if let Some(s) = self.peers.get_mut(slot) {
            *s = Some(peer);
        }
        self.ids.insert(id, slot16);
        self.refresh_local_addrs();
        Ok(())
    }

    /// Removes a peer; its routes are withdrawn first.
    pub fn remove_peer(&mut self, id: PeerId) {
        let Some(slot) = self.slot_of(id) else {
            return;
        };
        self.peer_down(id);
        if let Some(s) = self.peers.get_mut(usize::from(slot)) {
            *s = None;
        }
        self.ids.remove(&id);
        self.refresh_local_addrs();
    }

    /// The session reached Established: queue the initial table and End-of-RIB for
    /// each negotiated unicast family. The paths of its last session that are still
    /// being removed go first.
    pub fn peer_up(&mut self, id: PeerId, up: PeerUp) -> Result<(), RibError> {
        let slot = self.slot(id)?;
        self.finish_prune(slot);
        let families: Vec<AddressFamily> =
            [AddressFamily::IPV4_UNICAST, AddressFamily::IPV6_UNICAST]
                .into_iter()
                .filter(|f| up.families.contains(*f))
                .collect();
        let prefixes = self.exportable_to(slot, up.add_path_send);
        let Some(Some(p)) = self.peers.get_mut(usize::from(slot)) else {
            return Err(RibError::UnknownPeer(id));
        };
        p.out.clear(&mut self.attrs);
        p.up = Some(up);
        self.refresh.forget(slot);
        for (v6, s) in prefixes {
            p.out.mark(v6, s);
        }
        p.out.set_eor(families);
        self.refresh_local_addrs();
        Ok(())
    }

    /// The session went down: the peer's paths leave the RIB and its Adj-RIB-Out is
    /// forgotten.
    pub fn peer_down(&mut self, id: PeerId) {
        self.begin_peer_down(id);
        if let Some(slot) = self.slot_of(id) {
            self.finish_prune(slot);
        }
    }

    /// [`Rib::peer_down`] a step at a time, as BIRD prunes its tables: the peer's
    /// Adj-RIB-Out is forgotten now, its paths are removed by [`Rib::prune`] (a full
    /// table's million take about a second, which the caller may want to spread between
    /// other work). Until then they stay in the RIB as they were. The peer coming up
    /// again (or an UPDATE from it, or its removal) finishes the removal first.
    pub fn begin_peer_down(&mut self, id: PeerId) {
        let Some(slot) = self.slot_of(id) else {
            return;
        };
        self.finish_prune(slot);
        let keys4 = self.v4.indices_with_peer(slot, false);
        let keys6 = self.v6.indices_with_peer(slot, false);
        self.refresh.forget(slot);
        if let Some(Some(p)) = self.peers.get_mut(usize::from(slot)) {
            p.out.clear(&mut self.attrs);
            p.up = None;
            p.reset_rejected();
        }
        self.refresh_local_addrs();
        self.prunes.push(Prune {
            slot,
            keys4,
            keys6,
            done4: 0,
            done6: 0,
        });
        // Nothing to remove: done at once.
        self.prune_at(self.prunes.len() - 1, 0);
    }

    /// Removes the paths of at most `max` more prefixes of peers gone down
    /// ([`Rib::begin_peer_down`]); returns whether some remain.
    pub fn prune(&mut self, max: usize) -> bool {
        let mut budget = max;
        while budget > 0 && !self.prunes.is_empty() {
            budget -= self.prune_at(0, budget);
        }
        !self.prunes.is_empty()
    }

    /// Whether paths of peers gone down remain to be removed.
    pub fn pruning(&self) -> bool {
        !self.prunes.is_empty()
    }

    /// Removes what remains of peer `slot`'s paths at once.
    fn finish_prune(&mut self, slot: u16) {
        while let Some(i) = self.prunes.iter().position(|p| p.slot == slot) {
            self.prune_at(i, usize::MAX);
        }
    }

    /// Removes the paths of at most `max` prefixes of `self.prunes[i]` (its IPv4 ones
    /// first), and the entry once it is done; returns how many prefixes it handled.
    fn prune_at(&mut self, i: usize, max: usize) -> usize {
        let Some(pr) = self.prunes.get_mut(i) else {
            return 0;
        };
        let mut cx = Cx {
            attrs: &mut self.attrs,
            peers: &mut self.peers,
            snapshots: &mut self.snapshots,
        };
        let n4 = (pr.keys4.len() - pr.done4).min(max);
        let keys4 = &pr.keys4[pr.done4..pr.done4 + n4];
        remove_paths(&mut cx, &mut self.v4, &mut self.log4, keys4, pr.slot, false);
        pr.done4 += n4;
        let n6 = (pr.keys6.len() - pr.done6).min(max - n4);
        let keys6 = &pr.keys6[pr.done6..pr.done6 + n6];
        remove_paths(&mut cx, &mut self.v6, &mut self.log6, keys6, pr.slot, false);
        pr.done6 += n6;
        if pr.done4 == pr.keys4.len() && pr.done6 == pr.keys6.len() {
            let slot = pr.slot;
            self.prunes.remove(i);
            if let Some(Some(p)) = self.peers.get_mut(usize::from(slot)) {
                p.received = 0;
                p.accepted = 0;
            }
        }
        n4 + n6
    }

    /// Sets or removes one path (peer `slot`, ADD-PATH `path_id`).
    fn apply(&mut self, (slot, path_id): (u16, u32), prefix: IpNet, path: Option<PathRef>) {
        let mut cx = Cx {
            attrs: &mut self.attrs,
            peers: &mut self.peers,
            snapshots: &mut self.snapshots,
        };
        match prefix {
            IpNet::V4(n) => set_path(
                &mut cx,
                &mut self.v4,
                &mut self.log4,
                u32::from(n.network()),
                n.prefix_len(),
                (slot, path_id),
                path,
            ),
            IpNet::V6(n) => set_path(
                &mut cx,
                &mut self.v6,
                &mut self.log6,
                u128::from(n.network()),
                n.prefix_len(),
                (slot, path_id),
                path,
            ),
        }
    }

    /// Applies a received UPDATE: withdrawals, then announcements (RFC 7606
    /// treat-as-withdraw honoured). Paths failing the import checks are counted, not
    /// stored. Returns [`RibError::PrefixLimit`] once when the peer goes over its
    /// receive or import limit (the UPDATE is applied all the same, except what a
    /// `block` limit dropped; for `restart`/`disable` the speaker closes the session
    /// and `peer_down` removes the routes).
    pub fn receive(&mut self, id: PeerId, update: &Update) -> Result<(), RibError> {
        let slot = self.slot(id)?;
        if !self.prunes.is_empty() {
            self.finish_prune(slot);
        }
        self.warm(update);
        for n in update.withdrawals() {
            self.apply((slot, n.path_id.unwrap_or(0)), n.prefix, None);
        }
        if !update.treat_as_withdraw() {
            if !update.nlri.is_empty() {
                let mut nowhere = SetHint::default();
                self.announce_nlri(slot, &update.attributes, &mut nowhere, &update.nlri);
            }
            if let Some(mp) = &update.mp_reach {
                if mp.family.safi == Safi::Unicast {
                    let v4 = mp.family == AddressFamily::IPV4_UNICAST;
                    let set = SetOf::Received(&update.attributes, mp.next_hop, false);
                    self.announce(slot, set, &mp.nlri, v4);
                }
            }
        }
        self.check_limits(id, slot)
    }

    /// [`Rib::receive`] for an UPDATE of one IPv4 NLRI and nothing else but its attribute
    /// set `attrs` (no withdrawn routes, no MP_REACH/MP_UNREACH, no RFC 7606 fault), as a
    /// session's reader hands over a clean one-prefix UPDATE whose attribute list it has
    /// seen before. `hint` is the caller's memory of where that set was interned (per
    /// attribute list of the session): tried first, updated when it has moved.
    pub fn receive_one(
        &mut self,
        id: PeerId,
        attrs: &Arc<PathAttributes>,
        hint: &mut SetHint,
        n: &Nlri,
    ) -> Result<(), RibError> {
        let slot = self.slot(id)?;
        if !self.prunes.is_empty() {
            self.finish_prune(slot);
        }
        self.announce_nlri(slot, attrs, hint, std::slice::from_ref(n));
        self.check_limits(id, slot)
    }

    /// Applies the NLRI field of an UPDATE (with the set `attrs`) from the peer in
    /// `slot`. A set this session sent before is found by its address alone (its
    /// contents are not read), at `hint` first; `hint` is updated when found elsewhere.
    fn announce_nlri(
        &mut self,
        slot: u16,
        attrs: &Arc<PathAttributes>,
        hint: &mut SetHint,
        nlri: &[Nlri],
    ) {
        if let Some(found) = self.attrs.find_received_at(attrs, hint.0) {
            hint.0 = found;
            self.announce(slot, SetOf::Interned(found), nlri, true);
        } else if let Some(nh) = attrs.next_hop {
            let nh = MpNextHop {
                global: IpAddr::V4(nh),
                link_local: None,
            };
            self.announce(slot, SetOf::Received(attrs, nh, true), nlri, true);
        } else {
            for n in nlri {
                self.apply((slot, n.path_id.unwrap_or(0)), n.prefix, None);
            }
        }
    }

    /// Reports a limit crossing once (the flag clears when the count is back within).
    fn check_limits(&mut self, id: PeerId, slot: u16) -> Result<(), RibError> {
        let Some(Some(p)) = self.peers.get_mut(usize::from(slot)) else {
            return Err(RibError::UnknownPeer(id));
        };
        let receive = (
            LimitKind::Receive,
            p.settings.receive_limit,
            p.received + p.rejected_total(),
        );
        let import = (
            LimitKind::Import,
            p.settings.import_limit,
            p.accepted + p.rejected[usize::from(Reject::ImportLimit.code())],
        );
        for (k, (kind, limit, count)) in [receive, import].into_iter().enumerate() {
            let Some(limit) = limit else { continue };
            let over = count > u64::from(limit.max);
            if !over {
                p.limit_reported[k] = false;
            } else if !p.limit_reported[k] {
                p.limit_reported[k] = true;
                return Err(RibError::PrefixLimit {
                    peer: id,
                    kind,
                    limit: limit.max,
                    count,
                    action: limit.action,
                });
            }
        }
        Ok(())
    }

    /// Whether a `block` limit drops a new path of this peer (one it has not sent
    /// before); the reason it is counted under.
    fn blocked(&self, (slot, path_id): (u16, u32), prefix: &IpNet) -> Option<Reject> {
        let p = peers::peer(&self.peers, slot)?;
        let full = |l: Option<PrefixLimit>, count: u64| {
            l.is_some_and(|l| l.action == LimitAction::Block && count >= u64::from(l.max))
        };
        let receive_full = full(p.settings.receive_limit, p.received + p.rejected_total());
        let import_full = full(p.settings.import_limit, p.accepted);
        if !receive_full && !import_full {
            return None;
        }
        if self
            .paths_of(prefix)
            .iter()
            .any(|x| x.peer == slot && x.path_id == path_id)
        {
            return None;
        }
        Some(if receive_full {
            Reject::ReceiveLimit
        } else {
            Reject::ImportLimit
        })
    }

    /// Counts a rejected announcement and withdraws the peer's earlier path.
    fn reject(&mut self, (slot, path_id): (u16, u32), prefix: IpNet, reason: Reject) {
        self.apply((slot, path_id), prefix, None);
        if let Some(Some(p)) = self.peers.get_mut(usize::from(slot)) {
            if let Some(c) = p.rejected.get_mut(usize::from(reason.code())) {
                *c += 1;
            }
        }
    }

    /// Rejected announcements of this session of a peer, by reason (non-zero ones).
    pub fn rejected(&self, id: PeerId) -> Vec<(&'static str, u64)> {
        let Some(p) = self.slot_of(id).and_then(|s| peers::peer(&self.peers, s)) else {
            return Vec::new();
        };
        p.rejected
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(code, n)| {
                let r = Reject::from_code(u8::try_from(code).ok()?)?;
                Some((r.summary(), *n))
            })
            .collect()
    }

    fn origin_attr(&mut self) -> AttrId {
        match self.origin_attr {
            Some(id) => id,
            None => {
                let attrs = PathAttributes {
                    origin: Some(Origin::Igp),
                    as_path: Some(AsPath::default()),
                    ..PathAttributes::default()
                };
                let nh = MpNextHop {
                    global: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                    link_local: None,
                };
                let id = self.attrs.intern(&attrs, nh);
                self.origin_attr = Some(id);
                id
            }
        }
    }

    /// Originates one of this node's blocks (ORIGIN IGP, empty AS_PATH, next hop
    /// self on export). Locally originated prefixes are not reported by
    /// [`Rib::take_route_changes`].
    pub fn originate(&mut self, prefix: IpNet) {
        let prefix = prefix.trunc();
        if self.is_originated(&prefix) {
            return;
        }
        let id = self.origin_attr();
        self.attrs.retain(id);
        let path = PathRef {
            attr: id,
            path_id: 0,
            peer: LOCAL_SLOT,
            reject: 0,
        };
        self.apply((LOCAL_SLOT, 0), prefix, Some(path));
    }

    fn is_originated(&self, prefix: &IpNet) -> bool {
        self.paths_of(prefix).iter().any(|p| p.peer == LOCAL_SLOT)
    }

    /// Stops originating a block.
    pub fn withdraw_originated(&mut self, prefix: IpNet) {
        self.apply((LOCAL_SLOT, 0), prefix.trunc(), None);
    }

    /// The paths of one prefix (ordered, see `table`).
    fn paths_of(&self, prefix: &IpNet) -> Vec<PathRef> {
        match prefix {
            IpNet::V4(n) => self
                .v4
                .find(u32::from(n.network()), n.prefix_len())
                .map(|i| self.v4.paths(i).as_slice().to_vec()),
            IpNet::V6(n) => self
                .v6
                .find(u128::from(n.network()), n.prefix_len())
                .map(|i| self.v6.paths(i).as_slice().to_vec()),
        }
        .unwrap_or_default()
    }

    /// The family (IPv6 or not) and table slot of a stored prefix.
    fn key_of(&self, prefix: &IpNet) -> Option<(bool, u32)> {
        adj_out::key_in(&self.v4, &self.v6, prefix)
    }

    /// Whether UPDATEs (or End-of-RIB) are waiting for this peer.
    pub fn has_pending_updates(&self, id: PeerId) -> bool {
        self.slot_of(id)
            .and_then(|s| peers::peer(&self.peers, s))
            .is_some_and(|p| p.up.is_some() && p.out.has_pending())
            || self.refresh_pending(id)
    }

    /// Packed UPDATEs for this Established peer: withdrawals, then announcements
    /// grouped by attribute set, then End-of-RIB once the initial table is out.
    /// Stops after about `max_bytes_hint` encoded octets (at least one prefix is
    /// processed when any is pending; `usize::MAX` for everything). Message sizes
    /// respect 4096 octets, or 65535 with Extended Message.
    pub fn take_updates(&mut self, id: PeerId, max_bytes_hint: usize) -> Vec<Update> {
        self.feed_refresh(id);
        self.take_updates_impl(id, max_bytes_hint.max(1))
    }

    /// A peer's prefix counters.
    pub fn peer_counters(&self, id: PeerId) -> PrefixCounters {
        self.slot_of(id)
            .and_then(|s| peers::peer(&self.peers, s))
            .map_or_else(PrefixCounters::default, |p| PrefixCounters {
                received: p.received + p.rejected_total(),
                accepted: p.accepted,
                rejected: p.rejected_total(),
                advertised: p.out.advertised() as u64,
                oversized: p.out.oversized() as u64,
            })
    }

    /// Prefixes with at least one accepted path (the Loc-RIB size, own blocks
    /// included).
    pub fn len(&self) -> usize {
        self.v4.accepted() + self.v6.accepted()
    }

    /// Whether the Loc-RIB is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Paths stored (all peers' Adj-RIB-In plus originated routes).
    pub fn path_count(&self) -> usize {
        self.v4.path_count() + self.v6.path_count()
    }

    /// Distinct attribute sets interned (received and exported).
    pub fn attribute_sets(&self) -> usize {
        self.attrs.len()
    }

    /// Approximate heap octets of the prefix tables (for benchmarks and metrics).
    pub fn table_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }
}
