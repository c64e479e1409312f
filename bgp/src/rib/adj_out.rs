//! Adj-RIB-Out per peer: what we last sent (prefix → interned exported attributes;
//! with ADD-PATH send, prefix → paths with our path ids, see `add_path`), which
//! prefixes changed since (the queue), and the pending End-of-RIB markers.
//! `take_updates` turns the queue into packed UPDATEs.
//!
//! An exported attribute set too large for one UPDATE to this peer (4096 octets, or
//! 65535 with Extended Message, RFC 8654) cannot be sent: its prefixes are held back
//! (withdrawn if an earlier version was sent), counted, and logged once per set while
//! any prefix uses it — never packed one prefix per oversized message. This is what
//! BIRD does, and RFC 7606 §3 (j) forbids sending an UPDATE the peer must treat as
//! malformed.

use std::collections::VecDeque;

use hashbrown::{HashMap, HashSet};
use ipnet::IpNet;

use crate::wire::{AddressFamily, Nlri, Update};

use super::add_path::SentPath;
use super::attrs::{AttrId, AttrTable};
use super::export::{export, Source};
use super::pack;
use super::peers::peer;
use super::table::{PathRef, LOCAL_SLOT};
use super::types::{family_of, PeerId};
use super::Rib;

/// One peer's Adj-RIB-Out.
#[derive(Debug, Default)]
pub(crate) struct AdjOut {
    sent: HashMap<IpNet, AttrId>,
    pending: HashSet<IpNet>,
    queue: VecDeque<IpNet>,
    /// Prefixes to send again even if unchanged (route refresh).
    force: HashSet<IpNet>,
    /// End-of-RIB markers to send once the initial table is out.
    eor: Vec<AddressFamily>,
    /// Prefixes whose exported attribute set does not fit in one UPDATE to this peer
    /// (one reference on the set each): not sent.
    held: HashMap<IpNet, AttrId>,
    /// Number of held prefixes per exported set (logged when it becomes non-zero).
    held_sets: HashMap<AttrId, u32>,
    /// ADD-PATH send families: the paths sent per prefix (one reference each).
    pub(super) paths: HashMap<IpNet, Vec<SentPath>>,
}

impl AdjOut {
    /// Whether the prefix was sent, or held back as oversized (either way a change
    /// of it concerns this peer).
    pub fn was_sent(&self, p: &IpNet) -> bool {
        self.sent.contains_key(p) || self.held.contains_key(p) || self.paths.contains_key(p)
    }

    pub fn mark(&mut self, p: IpNet) {
        self.pending.insert(p);
    }

    pub fn force(&mut self, p: IpNet) {
        self.force.insert(p);
        self.pending.insert(p);
    }

    pub fn sent_prefixes(&self) -> impl Iterator<Item = &IpNet> {
        self.sent.keys().chain(self.paths.keys())
    }

    pub fn set_eor(&mut self, families: Vec<AddressFamily>) {
        self.eor = families;
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty() || !self.queue.is_empty() || !self.eor.is_empty()
    }

    pub fn advertised(&self) -> usize {
        self.sent.len() + self.paths.len()
    }

    /// Prefixes held back because their attribute set is too large for this peer.
    pub fn oversized(&self) -> usize {
        self.held.len()
    }

    /// Holds `prefix` back with the oversized set `id` (whose reference it takes).
    /// Returns true when `id` had no held prefix before (time to log it).
    fn hold(&mut self, attrs: &mut AttrTable, prefix: IpNet, id: AttrId) -> bool {
        match self.held.insert(prefix, id) {
            Some(old) if old == id => {
                attrs.release(id);
                return false;
            }
            Some(old) => self.unhold_set(attrs, old),
            None => {}
        }
        let n = self.held_sets.entry(id).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// Stops holding `prefix` (it is sent, withdrawn or no longer exported).
    fn unhold(&mut self, attrs: &mut AttrTable, prefix: &IpNet) {
        if let Some(old) = self.held.remove(prefix) {
            self.unhold_set(attrs, old);
        }
    }

    fn unhold_set(&mut self, attrs: &mut AttrTable, id: AttrId) {
        if let Some(n) = self.held_sets.get_mut(&id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.held_sets.remove(&id);
            }
        }
        attrs.release(id);
    }

    /// Forgets everything (session down), releasing the attribute references.
    pub fn clear(&mut self, attrs: &mut AttrTable) {
        for (_, id) in self.sent.drain().chain(self.held.drain()) {
            attrs.release(id);
        }
        for (_, paths) in self.paths.drain() {
            for p in paths {
                attrs.release(p.attr);
            }
        }
        self.held_sets.clear();
        self.pending.clear();
        self.queue.clear();
        self.force.clear();
        self.eor.clear();
    }
}

/// Per take: (source set, source peer, IPv6) → the exported set and whether it fits.
pub(super) type ExportCache = HashMap<(AttrId, u16, bool), Option<(AttrId, bool)>>;

/// What one `take_updates` sends: announcements grouped by exported attribute set
/// (in first-seen order) and withdrawals.
#[derive(Default)]
pub(super) struct Batch {
    groups: HashMap<AttrId, Vec<Nlri>>,
    order: Vec<AttrId>,
    pub withdrawn: Vec<Nlri>,
}

impl Batch {
    /// Adds an announcement; returns the octets it adds to the UPDATEs (the budget
    /// counts the attributes each group's UPDATEs carry once).
    pub fn announce(&mut self, attrs: &AttrTable, id: AttrId, n: Nlri, four: bool) -> usize {
        let mut bytes = pack::path_nlri_len(&n);
        let g = self.groups.entry(id).or_insert_with(|| {
            self.order.push(id);
            let value = &attrs.get(id).value;
            bytes += pack::encoded_base(&value.attrs, &value.next_hop, family_of(&n.prefix), four);
            Vec::new()
        });
        g.push(n);
        bytes
    }
}

impl Rib {
    /// The exported attribute id for `prefix` toward peer `slot` (one new reference)
    /// and whether an UPDATE with it fits in `max_len` octets, or `None` when nothing
    /// is to be sent. Both are decided once per source set and family (`cache`).
    fn export_id(
        &mut self,
        slot: u16,
        prefix: &IpNet,
        limits: (usize, bool),
        cache: &mut ExportCache,
    ) -> Option<(AttrId, bool)> {
        let best = self.best_path(prefix)?;
        self.export_path(slot, prefix, best, limits, cache)
    }

    /// As `export_id`, for one given path of the prefix.
    pub(super) fn export_path(
        &mut self,
        slot: u16,
        prefix: &IpNet,
        best: PathRef,
        (max_len, four): (usize, bool),
        cache: &mut ExportCache,
    ) -> Option<(AttrId, bool)> {
        // The exported set depends on the source path and the family (next hop).
        let key = (best.attr, best.peer, matches!(prefix, IpNet::V6(_)));
        if let Some(&hit) = cache.get(&key) {
            if let Some((id, _)) = hit {
                self.attrs.retain(id);
            }
            return hit;
        }
        let target = peer(&self.peers, slot)?;
        let up = target.up.as_ref()?;
        let src = if best.peer == LOCAL_SLOT {
            Source::Local
        } else {
            Source::Peer(peer(&self.peers, best.peer)?)
        };
        let interned = self.attrs.get(best.attr);
        let family = family_of(prefix);
        let out = export(&self.local, src, interned, target, up, family);
        let id = out.map(|(a, nh)| {
            let fits = pack::fits(&a, &nh, family, max_len, four);
            (self.attrs.intern(&a, nh), fits)
        });
        if let Some((id, _)) = id {
            // One reference for the cache, one for the caller.
            self.attrs.retain(id);
        }
        cache.insert(key, id);
        id
    }

    /// Logs (once per set while it holds prefixes) that a set cannot go to a peer.
    fn log_oversized(&self, slot: u16, id: AttrId, prefix: &IpNet, (max_len, four): (usize, bool)) {
        let value = &self.attrs.get(id).value;
        let len = pack::encoded_base(&value.attrs, &value.next_hop, family_of(prefix), four);
        let address = peer(&self.peers, slot).map(|p| p.settings.address);
        tracing::warn!(
            peer = ?address,
            "not advertising {prefix} and every other prefix with the same attributes: \
             an UPDATE would need at least {len} octets, more than the peer's maximum \
             message size of {max_len}"
        );
    }

    pub(super) fn take_updates_impl(&mut self, id: PeerId, budget: usize) -> Vec<Update> {
        let Some(slot) = self.slot_of(id) else {
            return Vec::new();
        };
        let (max_len, four, add_path) = match peer(&self.peers, slot).and_then(|p| p.up.as_ref()) {
            Some(up) => (
                if up.extended_message {
                    crate::wire::MAX_EXTENDED_MESSAGE_LEN
                } else {
                    crate::wire::MAX_MESSAGE_LEN
                },
                up.four_octet_as,
                up.add_path_send,
            ),
            None => return Vec::new(),
        };
        let Some(Some(p)) = self.peers.get_mut(usize::from(slot)) else {
            return Vec::new();
        };
        let mut out = std::mem::take(&mut p.out);
        if out.queue.is_empty() {
            let mut v: Vec<IpNet> = out.pending.drain().collect();
            v.sort_unstable();
            out.queue = v.into();
        }
        let limits = (max_len, four);
        let mut cache = ExportCache::new();
        let mut batch = Batch::default();
        let mut bytes = 0usize;
        while bytes < budget {
            let Some(prefix) = out.queue.pop_front() else {
                break;
            };
            if add_path.contains(family_of(&prefix)) {
                let forced = out.force.remove(&prefix);
                let mut paths = out.paths.remove(&prefix).unwrap_or_default();
                let cx = (slot, limits, forced);
                bytes += self.export_paths(cx, prefix, &mut paths, &mut cache, &mut batch);
                if !paths.is_empty() {
                    out.paths.insert(prefix, paths);
                }
                continue;
            }
            let want = self.export_id(slot, &prefix, limits, &mut cache);
            let forced = out.force.remove(&prefix);
            let had = out.sent.get(&prefix).copied();
            if !matches!(want, Some((_, false))) {
                out.unhold(&mut self.attrs, &prefix);
            }
            match (want, had) {
                (Some((w, false)), had) => {
                    // Too large for this peer: hold it back (withdrawing what it had).
                    if let Some(h) = had {
                        out.sent.remove(&prefix);
                        self.attrs.release(h);
                        batch.withdrawn.push(Nlri::new(prefix));
                        bytes += pack::nlri_len(&prefix);
                    }
                    if out.hold(&mut self.attrs, prefix, w) {
                        self.log_oversized(slot, w, &prefix, limits);
                    }
                    bytes += 1;
                }
                (Some((w, true)), Some(h)) if w == h && !forced => self.attrs.release(w),
                (Some((w, true)), had) => {
                    out.sent.insert(prefix, w);
                    if let Some(h) = had {
                        self.attrs.release(h);
                    }
                    bytes += batch.announce(&self.attrs, w, Nlri::new(prefix), four);
                }
                (None, Some(h)) => {
                    out.sent.remove(&prefix);
                    self.attrs.release(h);
                    batch.withdrawn.push(Nlri::new(prefix));
                    bytes += pack::nlri_len(&prefix);
                }
                (None, None) => {}
            }
        }
        let mut updates = Vec::new();
        for family in [AddressFamily::IPV4_UNICAST, AddressFamily::IPV6_UNICAST] {
            let w: Vec<Nlri> = batch
                .withdrawn
                .iter()
                .filter(|p| family_of(&p.prefix) == family)
                .copied()
                .collect();
            if !w.is_empty() {
                updates.extend(pack::withdraw(family, &w, max_len));
            }
        }
        for gid in batch.order {
            let Some(prefixes) = batch.groups.get(&gid) else {
                continue;
            };
            let value = &self.attrs.get(gid).value;
            for family in [AddressFamily::IPV4_UNICAST, AddressFamily::IPV6_UNICAST] {
                let ps: Vec<Nlri> = prefixes
                    .iter()
                    .filter(|p| family_of(&p.prefix) == family)
                    .copied()
                    .collect();
                if !ps.is_empty() {
                    updates.extend(pack::announce(
                        &value.attrs,
                        value.next_hop,
                        family,
                        &ps,
                        max_len,
                        four,
                    ));
                }
            }
        }
        for (_, id) in cache.drain() {
            if let Some((id, _)) = id {
                self.attrs.release(id);
            }
        }
        if out.queue.is_empty() && out.pending.is_empty() {
            for family in out.eor.drain(..) {
                updates.push(Update::end_of_rib_marker(family));
            }
        }
        if let Some(Some(p)) = self.peers.get_mut(usize::from(slot)) {
            p.out = out;
        }
        updates
    }
}
