//! Adj-RIB-Out per peer: what we last sent (table slot → interned exported
//! attributes, see `by_slot`; with ADD-PATH send, prefix → paths with our path ids,
//! see `add_path`), which prefixes changed since (the queue, by slot), and the pending
//! End-of-RIB markers. `take_updates` turns the queue into packed UPDATEs.
//!
//! A prefix removed from the table gives its slot back at once: what was sent for it
//! moves to a small map keyed by prefix (`gone`) until the withdrawal is sent.
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

use crate::wire::{AddressFamily, FamilySet, Nlri, Update};

use super::add_path::SentPath;
use super::attrs::{AttrId, AttrTable};
use super::by_slot::{SlotMap, SlotSet};
use super::export::{export, Source};
use super::pack;
use super::peers::peer;
use super::prefix_map::PrefixMap;
use super::table::{Addr, Key, PathRef, Paths, Table, LOCAL_SLOT};
use super::types::{family_of, PeerId};
use super::Rib;

/// Bit of a queued slot number: the slot is in the IPv6 table.
const V6_BIT: u32 = 1 << 31;

/// A queued slot: family and slot number.
fn queued(v6: bool, slot: u32) -> u32 {
    if v6 {
        slot | V6_BIT
    } else {
        slot
    }
}

fn unqueued(item: u32) -> (bool, u32) {
    (item & V6_BIT != 0, item & !V6_BIT)
}

/// One peer's Adj-RIB-Out.
#[derive(Debug, Default)]
pub(crate) struct AdjOut {
    /// Per family (IPv4, IPv6), by table slot: the exported set last sent.
    sent: [SlotMap; 2],
    /// Sent prefixes removed from the table before their withdrawal went out.
    gone: PrefixMap<AttrId>,
    /// Prefixes to settle by prefix (their slot went away): withdrawals, held or
    /// ADD-PATH state.
    gone_queue: VecDeque<IpNet>,
    /// Slots changed since the queue was last filled (see `queued`), in the order of
    /// their first change (`marked` keeps them unique): a deterministic order without
    /// a sort.
    pending: Vec<u32>,
    marked: [SlotSet; 2],
    queue: VecDeque<u32>,
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
    /// Whether the prefix (stored in `k`) was sent, or held back as oversized (either
    /// way a change of it concerns this peer).
    pub fn was_sent<A: Addr>(&self, k: Key<A>, p: &IpNet) -> bool {
        self.sent[usize::from(A::V6)].contains(k.slot())
            || (!self.held.is_empty() && self.held.contains_key(p))
            || (!self.paths.is_empty() && self.paths.contains_key(p))
    }

    pub fn mark(&mut self, v6: bool, slot: u32) {
        if self.marked[usize::from(v6)].insert(slot) {
            self.pending.push(queued(v6, slot));
        }
    }

    pub fn force(&mut self, p: IpNet, v6: bool, slot: u32) {
        self.force.insert(p);
        self.mark(v6, slot);
    }

    /// The table is about to remove prefix `p` (slot `k`): what was sent for it is
    /// kept by prefix until its withdrawal goes out.
    pub fn forget_slot<A: Addr>(&mut self, attrs: &mut AttrTable, k: Key<A>, p: IpNet) {
        match self.sent[usize::from(A::V6)].remove(k.slot()) {
            Some(id) => {
                if let Some(old) = self.gone.insert(p, id) {
                    attrs.release(old);
                }
                self.gone_queue.push_back(p);
            }
            None if self.held.contains_key(&p) || self.paths.contains_key(&p) => {
                self.gone_queue.push_back(p);
            }
            None => {}
        }
    }

    /// The slots sent in one family, and the ADD-PATH prefixes.
    pub fn sent_slots(&self, v6: bool) -> impl Iterator<Item = u32> + '_ {
        self.sent[usize::from(v6)].iter().map(|(s, _)| s)
    }

    pub fn add_path_prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.paths.keys().copied()
    }

    pub fn set_eor(&mut self, families: Vec<AddressFamily>) {
        self.eor = families;
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
            || !self.queue.is_empty()
            || !self.gone_queue.is_empty()
            || !self.eor.is_empty()
    }

    pub fn advertised(&self) -> usize {
        self.sent[0].len() + self.sent[1].len() + self.gone.len() + self.paths.len()
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
        for id in self.sent[0].drain().into_iter().chain(self.sent[1].drain()) {
            attrs.release(id);
        }
        for (_, id) in self.gone.drain().chain(self.held.drain()) {
            attrs.release(id);
        }
        self.gone_queue.clear();
        for (_, paths) in self.paths.drain() {
            for p in paths {
                attrs.release(p.attr);
            }
        }
        self.held_sets.clear();
        self.pending.clear();
        self.marked[0].clear();
        self.marked[1].clear();
        self.queue.clear();
        self.force.clear();
        self.eor.clear();
    }
}

/// Per take: (source set, source peer, IPv6) → the exported set and whether it fits.
pub(super) type ExportCache = HashMap<(AttrId, u16, bool), Option<(AttrId, bool)>>;

/// What one `take_updates` sends: announcements grouped by exported attribute set
/// (in first-seen order) and withdrawals.
#[derive(Debug, Default)]
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

    /// Empties the batch, keeping its allocations for the next one up to
    /// [`SCRATCH_KEEP`] entries each (a flush after a full table's changes fills
    /// megabytes once).
    pub fn clear(&mut self) {
        self.groups.clear();
        self.groups.shrink_to(SCRATCH_KEEP);
        self.order.clear();
        self.order.shrink_to(SCRATCH_KEEP);
        self.announced.clear();
        self.announced.shrink_to(SCRATCH_KEEP);
        self.withdrawn.clear();
        self.withdrawn.shrink_to(SCRATCH_KEEP);
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

/// Entries of the export cache and of each list of a batch that `take_updates` keeps
/// allocated between calls.
const SCRATCH_KEEP: usize = 16_384;

/// Queue items whose table entries a flush loads ahead of reading them.
const WARM_AHEAD: usize = 32;
/// A queue this long holds a table's worth of changes (a peer that went down or came
/// up next to a full table): its slots are no longer in the cache, so a flush loads
/// them ahead ([`Rib::warm_queue`]). The queues of a load's flushes are shorter and
/// were just written: loading them again would only cost.
const COLD_QUEUE: usize = 65_536;

/// An IPv4 prefix as one integer that orders as its `IpNet` does (address, then length):
/// a full table's sort compares these in one instruction, where sorting `IpNet`s was
/// most of the time of a peer coming up next to a million prefixes.
fn v4_order_key(addr: u32, len: u8) -> u64 {
    u64::from(addr) << 8 | u64::from(len)
}

impl Rib {
    /// Prefixes with an ECMP path that did not come from peer `slot` (with ADD-PATH
    /// send every member is exported; else only the best path), in prefix order, as
    /// (IPv6, table slot).
    pub(super) fn exportable_to(&self, slot: u16, add_path: FamilySet) -> Vec<(bool, u32)> {
        let wanted = |paths: Paths<'_>, family| {
            if add_path.contains(family) {
                paths.ecmp().iter().any(|b| b.peer != slot)
            } else {
                paths.best().is_some_and(|b| b.peer != slot)
            }
        };
        let mut v4 = Vec::new();
        for (i, a, l) in self.v4.iter_keys() {
            if wanted(self.v4.paths(i), AddressFamily::IPV4_UNICAST) {
                v4.push((v4_order_key(a, l), i.slot()));
            }
        }
        let mut v6 = Vec::new();
        for (i, a, l) in self.v6.iter_keys() {
            if wanted(self.v6.paths(i), AddressFamily::IPV6_UNICAST) {
                v6.push(((a, l), i.slot()));
            }
        }
        v4.sort_unstable();
        v6.sort_unstable();
        let v4 = v4.into_iter().map(|(_, s)| (false, s));
        v4.chain(v6.into_iter().map(|(_, s)| (true, s))).collect()
    }

    /// The prefix stored in slot `s` of one family's table, with its best path.
    pub(super) fn at_slot(&self, v6: bool, s: u32) -> Option<(IpNet, Option<PathRef>)> {
        if v6 {
            let k = Key::new(s);
            let (a, l) = self.v6.prefix(k)?;
            Some((a.net(l), self.v6.paths(k).best()))
        } else {
            let k = Key::new(s);
            let (a, l) = self.v4.prefix(k)?;
            Some((a.net(l), self.v4.paths(k).best()))
        }
    }

    /// Loads the table entries of [`WARM_AHEAD`] slots of a queue from position `from`
    /// before they are read (a flush after a full table's changes reads a million
    /// slots in the order they changed, each a cache miss): their misses overlap.
    fn warm_queue(&self, queue: &VecDeque<u32>, from: usize) {
        let mut acc = 0u64;
        let end = queue.len().min(from + WARM_AHEAD);
        for &item in queue.range(from.min(end)..end) {
            let (v6, s) = unqueued(item);
            acc ^= if v6 {
                self.v6.warm_slot(Key::new(s))
            } else {
                self.v4.warm_slot(Key::new(s))
            };
        }
        std::hint::black_box(acc);
    }

    /// The exported attribute id for `best` of `prefix` toward peer `slot` (one new
    /// reference) and whether an UPDATE with it fits in `max_len` octets, or `None`
    /// when nothing is to be sent. Both are decided once per source set and family
    /// (`cache`).
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
            for &item in &out.pending {
                let (v6, s) = unqueued(item);
                out.marked[usize::from(v6)].remove(s);
            }
            out.queue = std::mem::take(&mut out.pending).into();
        }
        let limits = (max_len, four);
        // Last call's cache and batch, empty, with their allocations.
        let (mut cache, mut batch) = std::mem::take(&mut self.export_scratch);
        let mut bytes = 0usize;
        // A long queue's next slots are loaded one window ahead of their reading.
        let cold = out.queue.len() >= COLD_QUEUE;
        if cold {
            self.warm_queue(&out.queue, 0);
        }
        let mut warm = 0usize;
        while bytes < budget {
            if cold && warm == 0 {
                self.warm_queue(&out.queue, WARM_AHEAD);
                warm = WARM_AHEAD;
            }
            warm = warm.saturating_sub(1);
            // Prefixes whose slot went away first (their withdrawals), then the queue.
            let (prefix, key, best) = if let Some(prefix) = out.gone_queue.pop_front() {
                match self.key_of(&prefix) {
                    // Stored again meanwhile: settle it under its new slot.
                    Some((v6, s)) => {
                        if let Some(old) = out.gone.remove(&prefix) {
                            match out.sent[usize::from(v6)].get(s) {
                                Some(_) => self.attrs.release(old),
                                None => {
                                    out.sent[usize::from(v6)].insert(s, old);
                                }
                            }
                        }
                        let best = self.at_slot(v6, s).and_then(|(_, b)| b);
                        (prefix, Some((v6, s)), best)
                    }
                    None => (prefix, None, None),
                }
            } else if let Some(item) = out.queue.pop_front() {
                let (v6, s) = unqueued(item);
                // A slot freed meanwhile: its prefix went to `gone_queue` if it
                // concerns this peer.
                let Some((prefix, best)) = self.at_slot(v6, s) else {
                    continue;
                };
                (prefix, Some((v6, s)), best)
            } else {
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
            let want = match best {
                Some(b) => self.export_path(slot, &prefix, b, limits, &mut cache),
                None => None,
            };
            let forced = out.take_forced(&prefix);
            if !matches!(want, Some((_, false))) {
                out.unhold(&mut self.attrs, &prefix);
            }
            let unsend = |out: &mut AdjOut| match key {
                Some((v6, s)) => out.sent[usize::from(v6)].remove(s),
                None => out.gone.remove(&prefix),
            };
            match (want, key) {
                (Some((w, false)), _) => {
                    // Too large for this peer: hold it back (withdrawing what it had).
                    if let Some(h) = unsend(&mut out) {
                        self.attrs.release(h);
                        batch.withdrawn.push(Nlri::new(prefix));
                        bytes += pack::nlri_len(&prefix);
                    }
                    if out.hold(&mut self.attrs, prefix, w) {
                        self.log_oversized(slot, w, &prefix, limits);
                    }
                    bytes += 1;
                }
                (Some((w, true)), Some((v6, s))) => {
                    let had = out.sent[usize::from(v6)].insert(s, w);
                    if let Some(h) = had {
                        self.attrs.release(h);
                    }
                    if had != Some(w) || forced {
                        bytes += batch.announce(&self.attrs, w, Nlri::new(prefix), four);
                    }
                }
                (Some((w, true)), None) => {
                    // Not reached: a prefix without a slot has no best path.
                    self.attrs.release(w);
                }
                (None, _) => {
                    if let Some(h) = unsend(&mut out) {
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
        cache.shrink_to(SCRATCH_KEEP);
        batch.clear();
        self.export_scratch = (cache, batch);
        if out.queue.is_empty() && out.pending.is_empty() && out.gone_queue.is_empty() {
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

/// The family (IPv6 or not) and table slot of a stored prefix.
pub(super) fn key_in(v4: &Table<u32>, v6: &Table<u128>, prefix: &IpNet) -> Option<(bool, u32)> {
    match prefix {
        IpNet::V4(n) => v4
            .find(u32::from(n.network()), n.prefix_len())
            .map(|k| (false, k.slot())),
        IpNet::V6(n) => v6
            .find(u128::from(n.network()), n.prefix_len())
            .map(|k| (true, k.slot())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::table::Addr;

    #[test]
    fn v4_order_key_orders_prefixes_as_ipnet_does() {
        // The same address at several lengths, neighbours, both ends of the space, and
        // a scatter (a multiplicative step).
        let mut keys: Vec<(u32, u8)> = vec![
            (0, 0),
            (0, 32),
            (0x0a00_0000, 8),
            (0x0a00_0000, 16),
            (0x0a00_0000, 24),
            (0x0a00_0100, 24),
            (0x0aff_ffff, 32),
            (u32::MAX, 32),
        ];
        let mut x: u32 = 1;
        for i in 0..2000u32 {
            x = x.wrapping_mul(2_654_435_761).wrapping_add(0x9e37_79b9);
            let len = (i % 33) as u8;
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            keys.push((x & mask, len));
        }
        let mut by_key = keys.clone();
        by_key.sort_unstable_by_key(|&(a, l)| v4_order_key(a, l));
        let mut by_net = keys;
        by_net.sort_unstable_by_key(|&(a, l)| a.net(l));
        assert_eq!(by_key, by_net);
    }
}
