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
use std::ops::Range;

use hashbrown::{HashMap, HashSet};
use ipnet::IpNet;

use crate::wire::{AddressFamily, Nlri, Update};

use super::add_path::SentPath;
use super::attrs::{AttrId, AttrTable};
use super::export::{export, Source};
use super::pack;
use super::peers::peer;
use super::prefix_map::PrefixMap;
use super::table::{PathRef, LOCAL_SLOT};
use super::types::{family_of, PeerId};
use super::Rib;

/// Entries per family the set of queued prefixes keeps room for once emptied (a
/// full-table burst gives the rest back).
const MARKED_KEEP: usize = 4096;

/// One peer's Adj-RIB-Out.
#[derive(Debug, Default)]
pub(crate) struct AdjOut {
    sent: PrefixMap<AttrId>,
    /// Prefixes changed since the queue was last filled, in the order of their first
    /// change (`marked` keeps them unique): a deterministic order without a sort.
    pending: Vec<IpNet>,
    marked: PrefixMap<()>,
    queue: VecDeque<IpNet>,
    /// Prefixes to send again even if unchanged (route refresh).
    force: HashSet<IpNet>,
    /// End-of-RIB markers to send once the initial table is out.
    eor: Vec<AddressFamily>,
    /// Prefixes whose exported attribute set does not fit in one UPDATE to this peer
    /// (one reference on the set each): not sent.
    held: PrefixMap<AttrId>,
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
        if self.marked.insert(p, ()).is_none() {
            self.pending.push(p);
        }
    }

    pub fn force(&mut self, p: IpNet) {
        self.force.insert(p);
        self.mark(p);
    }

    pub fn sent_prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.sent.keys().chain(self.paths.keys().copied())
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
        // Almost always empty: skip hashing the prefix then.
        if self.held.is_empty() {
            return;
        }
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

    /// Whether `prefix` is to be sent again even if unchanged (once).
    fn take_forced(&mut self, prefix: &IpNet) -> bool {
        // Empty outside a route refresh: skip hashing the prefix then.
        !self.force.is_empty() && self.force.remove(prefix)
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
        self.marked.clear_to(0);
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
    /// Exported set → its group number (the position in `order`).
    groups: HashMap<AttrId, u32>,
    order: Vec<AttrId>,
    /// The announcements in the order they were added, with their group number.
    announced: Vec<(u32, Nlri)>,
    pub withdrawn: Vec<Nlri>,
}

/// One exported set, one family, and the range of its prefixes in `Batch::runs`.
type Run = (AttrId, AddressFamily, Range<usize>);

impl Batch {
    /// Adds an announcement; returns the octets it adds to the UPDATEs (the budget
    /// counts the attributes each group's UPDATEs carry once).
    pub fn announce(&mut self, attrs: &AttrTable, id: AttrId, n: Nlri, four: bool) -> usize {
        let mut bytes = pack::path_nlri_len(&n);
        let group = *self.groups.entry(id).or_insert_with(|| {
            self.order.push(id);
            let value = &attrs.get(id).value;
            bytes += pack::encoded_base(&value.attrs, &value.next_hop, family_of(&n.prefix), four);
            (self.order.len() - 1) as u32
        });
        self.announced.push((group, n));
        bytes
    }

    /// The announcements as runs of one exported set and family, groups in
    /// first-seen order, IPv4 before IPv6, prefixes in the order they were added:
    /// all the prefixes, and the runs over them.
    fn runs(&self) -> (Vec<Nlri>, Vec<Run>) {
        // A counting sort on (group, family): one pass to size the runs, one to place.
        let run_of = |&(group, n): &(u32, Nlri)| {
            let v6 = n.prefix.addr().is_ipv6();
            2 * group as usize + usize::from(v6)
        };
        let mut start = vec![0; 2 * self.order.len() + 1];
        for a in &self.announced {
            start[run_of(a) + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let Some(&(_, filler)) = self.announced.first() else {
            return (Vec::new(), Vec::new());
        };
        let mut all = vec![filler; self.announced.len()];
        let mut next = start.clone();
        for a in &self.announced {
            let slot = &mut next[run_of(a)];
            all[*slot] = a.1;
            *slot += 1;
        }
        let families = [AddressFamily::IPV4_UNICAST, AddressFamily::IPV6_UNICAST];
        let runs = start
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] < w[1])
            .map(|(r, w)| (self.order[r / 2], families[r % 2], w[0]..w[1]))
            .collect();
        (all, runs)
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
            out.marked.clear_to(MARKED_KEEP);
            out.queue = std::mem::take(&mut out.pending).into();
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
                let forced = out.take_forced(&prefix);
                let mut paths = out.paths.remove(&prefix).unwrap_or_default();
                let cx = (slot, limits, forced);
                bytes += self.export_paths(cx, prefix, &mut paths, &mut cache, &mut batch);
                if !paths.is_empty() {
                    out.paths.insert(prefix, paths);
                }
                continue;
            }
            let want = self.export_id(slot, &prefix, limits, &mut cache);
            let forced = out.take_forced(&prefix);
            if !matches!(want, Some((_, false))) {
                out.unhold(&mut self.attrs, &prefix);
            }
            match want {
                Some((w, false)) => {
                    // Too large for this peer: hold it back (withdrawing what it had).
                    if let Some(h) = out.sent.remove(&prefix) {
                        self.attrs.release(h);
                        batch.withdrawn.push(Nlri::new(prefix));
                        bytes += pack::nlri_len(&prefix);
                    }
                    if out.hold(&mut self.attrs, prefix, w) {
                        self.log_oversized(slot, w, &prefix, limits);
                    }
                    bytes += 1;
                }
                Some((w, true)) => {
                    let had = out.sent.insert(prefix, w);
                    if let Some(h) = had {
                        self.attrs.release(h);
                    }
                    if had != Some(w) || forced {
                        bytes += batch.announce(&self.attrs, w, Nlri::new(prefix), four);
                    }
                }
                None => {
                    if let Some(h) = out.sent.remove(&prefix) {
                        self.attrs.release(h);
                        batch.withdrawn.push(Nlri::new(prefix));
                        bytes += pack::nlri_len(&prefix);
                    }
                }
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
        let (announced, runs) = batch.runs();
        for (gid, family, range) in runs {
            let value = &self.attrs.get(gid).value;
            updates.extend(pack::announce(
                &value.attrs,
                value.next_hop,
                family,
                &announced[range],
                max_len,
                four,
            ));
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
