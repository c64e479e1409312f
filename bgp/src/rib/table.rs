//! The prefix table: every stored path of one address family, which is at once the
//! Adj-RIB-In of every peer and the Loc-RIB candidate set (BIRD's layout: each received
//! path is stored once).
//!
//! Layout, for memory and speed: entries live in a vector of slots (12 octets per IPv4
//! prefix with a single path: address, attribute id, peer slot, prefix length and a
//! flags octet), found through an index of slot numbers (`slot_index`: 8 octets per
//! bucket, at most 3/4 of them used). A prefix keeps its slot while it is stored, so the
//! Adj-RIB-Out of every peer can keep its state in plain arrays indexed by slot and
//! reach the prefix without hashing it again; a removed prefix's slot is reused. A
//! prefix with more than one path keeps its paths in a side arena of small vectors,
//! ordered best first, then the rest of the ECMP set, then the other accepted paths,
//! then the rejected ones. A path with an ADD-PATH path identifier (RFC 7911) other
//! than 0 always lives in the arena, so a peer without ADD-PATH keeps the 12-octet
//! entry.

use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::net::{Ipv4Addr, Ipv6Addr};

use hashbrown::DefaultHashBuilder;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::attrs::AttrId;
use super::slot_index::SlotIndex;

/// Peer slot of locally originated routes.
pub(crate) const LOCAL_SLOT: u16 = 0;
/// Marker in `Entry::peer`: the paths live in the multi-path arena.
const MULTI: u16 = u16::MAX;
/// Low bits of a path's `reject` octet (and of `Entry::flags` for a single path):
/// the reject code (0 = accepted).
pub(crate) const REJECT_MASK: u8 = 0x0f;
/// Bit of a path's `reject` octet: the path is stale (its peer is restarting,
/// RFC 4724); it stays a candidate until replaced or flushed.
pub(crate) const STALE: u8 = 0x40;
/// The bits of `Entry::flags` that belong to the single path.
const PATH_MASK: u8 = REJECT_MASK | STALE;
/// Flag: the prefix is in the FIB change log.
pub(crate) const FIB_DIRTY: u8 = 0x80;

/// An address usable as a table key.
pub(crate) trait Addr: Copy + Eq + Hash + Ord + std::fmt::Debug {
    /// Whether this is the IPv6 table.
    const V6: bool;
    /// The prefix as an `IpNet`.
    fn net(self, len: u8) -> IpNet;
}

impl Addr for u32 {
    const V6: bool = false;
    fn net(self, len: u8) -> IpNet {
        IpNet::V4(Ipv4Net::new(Ipv4Addr::from(self), len).unwrap_or_default())
    }
}

impl Addr for u128 {
    const V6: bool = true;
    fn net(self, len: u8) -> IpNet {
        IpNet::V6(Ipv6Net::new(Ipv6Addr::from(self), len).unwrap_or_default())
    }
}

/// One path: which peer, which attributes, and whether import accepted it.
/// A path is identified by (peer, path id): the path id is the peer's ADD-PATH
/// identifier (RFC 7911), 0 for a peer that does not send them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathRef {
    pub attr: AttrId,
    pub path_id: u32,
    pub peer: u16,
    /// Low bits: 0 = accepted, else a [`super::import::Reject`] code; plus [`STALE`].
    pub reject: u8,
}

impl PathRef {
    pub fn accepted(&self) -> bool {
        self.reject & REJECT_MASK == 0
    }
    pub fn stale(&self) -> bool {
        self.reject & STALE != 0
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry<A> {
    addr: A,
    /// Attribute id, or the arena index when `peer == MULTI`.
    attr: u32,
    peer: u16,
    len: u8,
    flags: u8,
}

#[derive(Debug, Default)]
struct Multi {
    paths: Vec<PathRef>,
    ecmp: u8,
    /// See [`Paths::tied`].
    tied: bool,
}

/// The paths of one prefix, ordered (see the module docs), and the ECMP set size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paths<'a> {
    one: PathRef,
    many: Option<&'a Multi>,
}

impl Paths<'_> {
    pub fn as_slice(&self) -> &[PathRef] {
        match self.many {
            Some(m) => &m.paths,
            None if self.one.reject == u8::MAX => &[],
            None => std::slice::from_ref(&self.one),
        }
    }
    /// The best path, if any path is accepted.
    pub fn best(&self) -> Option<PathRef> {
        self.as_slice().first().copied().filter(PathRef::accepted)
    }
    /// The ECMP set (best first); empty when nothing is accepted.
    pub fn ecmp(&self) -> &[PathRef] {
        let n = match self.many {
            Some(m) => usize::from(m.ecmp),
            None => usize::from(self.one.accepted()),
        };
        self.as_slice().get(..n).unwrap_or_default()
    }
    /// Whether the last full decision found several accepted paths, none reflected,
    /// all equal in every step before the tie-breakers (MED included): their order is
    /// then the tie-breakers' alone, and a path like them can be placed without
    /// deciding again (a fan-in, a mesh of hosts). False for a single path.
    pub fn tied(&self) -> bool {
        self.many.is_some_and(|m| m.tied)
    }
}

/// A stored prefix: its slot, the handle the table's operations take. Valid while the
/// prefix is stored; the slot of a removed prefix goes to the next new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key<A>(u32, PhantomData<A>);

impl<A> Key<A> {
    pub fn new(slot: u32) -> Self {
        Self(slot, PhantomData)
    }
    pub fn slot(self) -> u32 {
        self.0
    }
}

/// Marker in `Entry::peer` of a free slot.
const FREE: u16 = u16::MAX - 1;
/// Marker in `Entry::peer` of a held slot: its prefix was removed while the FIB change
/// log held records, one of which may name the slot; the entry keeps the prefix and the
/// slot is not reused until the log is empty ([`Table::release_held`]).
const HELD: u16 = u16::MAX - 2;

/// The highest peer slot an entry can hold (the ones above are markers).
pub(crate) const MAX_PEER_SLOT: u16 = HELD - 1;

impl<A> Entry<A> {
    /// Whether the entry is a stored prefix (not a free or held slot).
    fn stored(&self) -> bool {
        self.peer != FREE && self.peer != HELD
    }
}

/// The prefix table of one address family.
#[derive(Debug)]
pub(crate) struct Table<A> {
    /// Slot numbers, hashed by their entry's prefix.
    index: SlotIndex,
    slots: Vec<Entry<A>>,
    free_slots: Vec<u32>,
    /// Held slots (see [`HELD`]), freed by [`Table::release_held`].
    held: Vec<u32>,
    /// Whether a removed prefix's slot is held (the change log holds records).
    hold: bool,
    multis: Vec<Multi>,
    free_multis: Vec<u32>,
    hasher: DefaultHashBuilder,
    /// Prefixes with at least one accepted path.
    accepted: usize,
    /// Stored paths.
    paths: usize,
}

impl<A: Addr> Default for Table<A> {
    fn default() -> Self {
        Self {
            index: SlotIndex::default(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            held: Vec::new(),
            hold: false,
            multis: Vec::new(),
            free_multis: Vec::new(),
            hasher: DefaultHashBuilder::default(),
            accepted: 0,
            paths: 0,
        }
    }
}

/// A placeholder single path (rejected, so not counted as accepted) that
/// `insert_single` replaces at once.
const NONE_STORED: PathRef = PathRef {
    attr: 0,
    path_id: 0,
    peer: 0,
    reject: 1,
};

const NONE: PathRef = PathRef {
    attr: 0,
    path_id: 0,
    peer: 0,
    reject: u8::MAX,
};

impl<A: Addr> Table<A> {
    /// The hash a lookup of the prefix starts from (also for [`Table::warm_all`]).
    pub fn hash(&self, addr: A, len: u8) -> u64 {
        self.hasher.hash_one((addr, len))
    }

    fn entry(&self, k: Key<A>) -> Option<&Entry<A>> {
        self.slots.get(k.0 as usize).filter(|e| e.stored())
    }

    fn entry_mut(&mut self, k: Key<A>) -> Option<&mut Entry<A>> {
        self.slots.get_mut(k.0 as usize).filter(|e| e.stored())
    }

    /// From now on the slot of a removed prefix is held, not reused, until
    /// [`Table::release_held`]: called when the FIB change log records a slot, so that
    /// each record's slot keeps naming the prefix it was made for.
    pub fn hold_removed(&mut self) {
        self.hold = true;
    }

    /// Frees the held slots, and removed prefixes' slots are freed at once again:
    /// called when the change log is empty.
    pub fn release_held(&mut self) {
        self.hold = false;
        for &i in &self.held {
            if let Some(x) = self.slots.get_mut(i as usize) {
                x.peer = FREE;
            }
        }
        self.free_slots.append(&mut self.held);
    }

    /// The prefix a change log record of slot `k` was made for, and whether it is
    /// still stored there (`false`: removed since, the slot held; it may be stored
    /// again in another slot). `None` for a free slot.
    pub fn logged(&self, k: Key<A>) -> Option<(A, u8, bool)> {
        let e = self.slots.get(k.0 as usize).filter(|e| e.peer != FREE)?;
        Some((e.addr, e.len, e.peer != HELD))
    }

    /// The key of a stored prefix.
    pub fn find(&self, addr: A, len: u8) -> Option<Key<A>> {
        let slots = &self.slots;
        self.index
            .find(self.hash(addr, len), |i| {
                slots
                    .get(i as usize)
                    .is_some_and(|e| e.addr == addr && e.len == len)
            })
            .map(Key::new)
    }

    /// Loads the index buckets where the lookups of the prefixes with these hashes
    /// start ([`SlotIndex::warm_all`]) and returns a value of them.
    pub fn warm_all(&self, hashes: &[u64]) -> u64 {
        self.index.warm_all(hashes)
    }

    /// Loads what reading the best path of slot `k` touches (its entry, and for several
    /// paths their list) and returns a value of it: done for the next slots of a
    /// queue before they are read, their cache misses overlap.
    pub fn warm_slot(&self, k: Key<A>) -> u64 {
        self.entry(k).map_or(0, |e| {
            let paths = Self::paths_of(&self.multis, e);
            paths.as_slice().first().map_or(0, |p| u64::from(p.attr))
        })
    }

    /// [`Table::warm_slot`] for each of `keys`, in a loop that does nothing else (so that
    /// their cache misses overlap), before a caller changes or reads them one by one.
    pub fn warm_slots(&self, keys: impl IntoIterator<Item = Key<A>>) {
        let warm = keys.into_iter().fold(0, |acc, k| acc ^ self.warm_slot(k));
        std::hint::black_box(warm);
    }

    /// Number of entries (prefixes with any path).
    #[cfg(test)]
    pub fn entries(&self) -> usize {
        self.index.len()
    }

    /// Prefixes with an accepted path.
    pub fn accepted(&self) -> usize {
        self.accepted
    }

    /// Stored paths.
    pub fn path_count(&self) -> usize {
        self.paths
    }

    /// The prefix of a key (`None` once it is removed).
    pub fn prefix(&self, k: Key<A>) -> Option<(A, u8)> {
        self.entry(k).map(|e| (e.addr, e.len))
    }

    fn paths_of<'a>(multis: &'a [Multi], e: &Entry<A>) -> Paths<'a> {
        if e.peer == MULTI {
            Paths {
                one: NONE,
                many: multis.get(e.attr as usize),
            }
        } else {
            Paths {
                one: PathRef {
                    attr: e.attr,
                    path_id: 0,
                    peer: e.peer,
                    reject: e.flags & PATH_MASK,
                },
                many: None,
            }
        }
    }

    /// The paths of a prefix (empty when it is not stored).
    pub fn paths(&self, k: Key<A>) -> Paths<'_> {
        match self.entry(k) {
            Some(e) => Self::paths_of(&self.multis, e),
            None => Paths {
                one: NONE,
                many: None,
            },
        }
    }

    /// Flags of a prefix.
    pub fn flags(&self, k: Key<A>) -> u8 {
        self.entry(k).map_or(0, |e| e.flags & !PATH_MASK)
    }

    /// Sets or clears a flag of a prefix.
    pub fn set_flag(&mut self, k: Key<A>, flag: u8, on: bool) {
        if let Some(e) = self.entry_mut(k) {
            if on {
                e.flags |= flag;
            } else {
                e.flags &= !flag;
            }
        }
    }

    /// Clears `flag` on a prefix in one probe and returns whether it was set, with
    /// the prefix's paths; `None` when the prefix is not stored.
    pub fn clear_flag(&mut self, k: Key<A>, flag: u8) -> Option<(bool, Paths<'_>)> {
        let e = self.entry_mut(k)?;
        let was = e.flags & flag != 0;
        e.flags &= !flag;
        let e = *e;
        Some((was, Self::paths_of(&self.multis, &e)))
    }

    /// Adds a prefix (not stored yet) with one path and the given flags.
    pub fn insert_single(&mut self, addr: A, len: u8, path: PathRef, flags: u8) -> Key<A> {
        if path.path_id != 0 {
            // Only path id 0 fits the inline entry: store an empty one, then the path.
            let k = self.insert_single(addr, len, NONE_STORED, flags);
            self.set_paths(k, &[path], usize::from(path.accepted()), false);
            return k;
        }
        let h = self.hash(addr, len);
        let e = Entry {
            addr,
            attr: path.attr,
            peer: path.peer,
            len,
            flags: (path.reject & PATH_MASK) | (flags & !PATH_MASK),
        };
        let slot = match self.free_slots.pop() {
            Some(i) => {
                if let Some(x) = self.slots.get_mut(i as usize) {
                    *x = e;
                }
                i
            }
            None => {
                self.slots.push(e);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(h, slot);
        self.paths += 1;
        self.accepted += usize::from(path.accepted());
        Key::new(slot)
    }

    /// Replaces the paths of a prefix with `paths` (already ordered; `ecmp` leading
    /// ones form the ECMP set; `tied` see [`Paths::tied`], kept only with several
    /// paths). An empty list removes the prefix.
    pub fn set_paths(&mut self, k: Key<A>, paths: &[PathRef], ecmp: usize, tied: bool) {
        let Some(&e) = self.entry(k) else {
            return;
        };
        let before = Self::paths_of(&self.multis, &e);
        let (old_n, old_acc) = (before.as_slice().len(), before.best().is_some());
        self.paths = self.paths - old_n + paths.len();
        let new_acc = paths.first().is_some_and(PathRef::accepted);
        self.accepted = self.accepted - usize::from(old_acc) + usize::from(new_acc);
        let dirty = e.flags & !PATH_MASK;
        let old_multi = (e.peer == MULTI).then_some(e.attr);
        match paths {
            [] => {
                let h = self.hash(e.addr, e.len);
                self.index.remove(h, k.0);
                if let Some(x) = self.slots.get_mut(k.0 as usize) {
                    x.peer = if self.hold { HELD } else { FREE };
                    x.flags = 0;
                }
                if self.hold {
                    self.held.push(k.0);
                } else {
                    self.free_slots.push(k.0);
                }
                if let Some(m) = old_multi {
                    self.free_multi(m);
                }
            }
            [one] if one.path_id == 0 => {
                let Some(x) = self.slots.get_mut(k.0 as usize) else {
                    return;
                };
                x.attr = one.attr;
                x.peer = one.peer;
                x.flags = dirty | (one.reject & PATH_MASK);
                if let Some(m) = old_multi {
                    self.free_multi(m);
                }
            }
            many => {
                let idx = match old_multi {
                    Some(m) => m,
                    None => match self.free_multis.pop() {
                        Some(m) => m,
                        None => {
                            self.multis.push(Multi::default());
                            (self.multis.len() - 1) as u32
                        }
                    },
                };
                let Some(x) = self.slots.get_mut(k.0 as usize) else {
                    return;
                };
                x.attr = idx;
                x.peer = MULTI;
                x.flags = dirty;
                if let Some(m) = self.multis.get_mut(idx as usize) {
                    m.paths.clear();
                    // Grow two paths at a time, not by doubling: ten paths of a prefix
                    // take 10 slots, not 16 (a fan-in of ten peers keeps a million).
                    if m.paths.capacity() < many.len() {
                        m.paths.reserve_exact(many.len().next_multiple_of(2));
                    }
                    m.paths.extend_from_slice(many);
                    m.ecmp = ecmp.min(many.len()).min(255) as u8;
                    m.tied = tied;
                }
            }
        }
    }

    fn free_multi(&mut self, idx: u32) {
        if let Some(m) = self.multis.get_mut(idx as usize) {
            m.paths = Vec::new();
            m.ecmp = 0;
            m.tied = false;
            self.free_multis.push(idx);
        }
    }

    /// Prefixes holding a path of peer `slot` (for peer down), only stale ones with
    /// `stale_only`, in prefix order (the order their changes are queued to the other
    /// peers in, the same every run).
    pub fn indices_with_peer(&self, slot: u16, stale_only: bool) -> Vec<Key<A>> {
        let hit = |p: &PathRef| p.peer == slot && (!stale_only || p.stale());
        let mut keys: Vec<(A, u8, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                if !e.stored() {
                    false
                } else if e.peer == MULTI {
                    self.multis
                        .get(e.attr as usize)
                        .is_some_and(|m| m.paths.iter().any(hit))
                } else {
                    hit(&PathRef {
                        attr: e.attr,
                        path_id: 0,
                        peer: e.peer,
                        reject: e.flags & PATH_MASK,
                    })
                }
            })
            .map(|(i, e)| (e.addr, e.len, i as u32))
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|(_, _, i)| Key::new(i)).collect()
    }

    /// Marks the paths of peer `slot` for a prefix stale (the order and the ECMP set
    /// stay as they are).
    pub fn set_stale(&mut self, k: Key<A>, slot: u16) {
        let Some(e) = self.slots.get_mut(k.0 as usize).filter(|e| e.stored()) else {
            return;
        };
        if e.peer == MULTI {
            if let Some(m) = self.multis.get_mut(e.attr as usize) {
                for p in m.paths.iter_mut().filter(|p| p.peer == slot) {
                    p.reject |= STALE;
                }
            }
        } else if e.peer == slot {
            e.flags |= STALE;
        }
    }

    /// All prefixes.
    pub fn iter_keys(&self) -> impl Iterator<Item = (Key<A>, A, u8)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, e)| e.stored())
            .map(|(i, e)| (Key::new(i as u32), e.addr, e.len))
    }

    /// Approximate heap bytes held by the table (hash table, arena).
    pub fn heap_bytes(&self) -> usize {
        self.index.heap_bytes()
            + self.slots.capacity() * std::mem::size_of::<Entry<A>>()
            + (self.free_slots.capacity() + self.held.capacity()) * std::mem::size_of::<u32>()
            + self
                .multis
                .iter()
                .map(|m| m.paths.capacity() * std::mem::size_of::<PathRef>())
                .sum::<usize>()
            + self.multis.capacity() * std::mem::size_of::<Multi>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(attr: u32, peer: u16) -> PathRef {
        PathRef {
            attr,
            path_id: 0,
            peer,
            reject: 0,
        }
    }

    #[test]
    fn entry_is_twelve_octets_for_ipv4() {
        assert_eq!(std::mem::size_of::<Entry<u32>>(), 12);
    }

    #[test]
    fn insert_find_multi_and_remove() {
        let mut t: Table<u32> = Table::default();
        let a = t.insert_single(0x0a000000, 24, p(1, 1), 0);
        let b = t.insert_single(0x0a000100, 24, p(2, 1), 0);
        let c = t.insert_single(0x0a000200, 24, p(3, 1), 0);
        assert_eq!(t.find(0x0a000100, 24), Some(b));
        assert_eq!(t.find(0x0a000100, 25), None);
        t.set_paths(b, &[p(2, 1), p(4, 2)], 2, false);
        assert_eq!(t.paths(b).as_slice(), &[p(2, 1), p(4, 2)]);
        assert_eq!(t.paths(b).ecmp().len(), 2);
        assert_eq!(t.path_count(), 4);
        assert_eq!(t.indices_with_peer(2, false), vec![b]);
        assert!(t.indices_with_peer(2, true).is_empty());
        t.set_stale(b, 2);
        assert_eq!(t.indices_with_peer(2, true), vec![b]);
        assert!(t.paths(b).as_slice()[1].stale() && t.paths(b).as_slice()[1].accepted());
        t.set_paths(a, &[], 0, false);
        assert_eq!(t.find(0x0a000000, 24), None);
        assert!(t.paths(a).as_slice().is_empty());
        assert_eq!(t.paths(c).best(), Some(p(3, 1)));
        // Back to one path frees the arena slot.
        t.set_paths(b, &[p(4, 2)], 1, false);
        assert_eq!(t.paths(b).as_slice(), &[p(4, 2)]);
        assert_eq!(t.free_multis.len(), 1);
        let rejected = PathRef {
            reject: 3,
            ..p(5, 3)
        };
        t.set_paths(b, &[rejected], 0, false);
        assert_eq!(t.paths(b).best(), None);
        assert!(t.paths(b).ecmp().is_empty());
        assert_eq!(t.accepted(), 1);
        assert_eq!(t.entries(), 2);
        t.set_flag(c, FIB_DIRTY, true);
        assert_eq!(t.flags(c), FIB_DIRTY);
        t.set_paths(c, &[p(6, 1)], 1, false);
        assert_eq!(t.flags(c), FIB_DIRTY, "flags survive a path change");
    }

    #[test]
    fn paths_with_an_add_path_id_live_in_the_arena() {
        let mut t: Table<u32> = Table::default();
        let one = PathRef {
            path_id: 7,
            ..p(1, 1)
        };
        let k = t.insert_single(0x0a000000, 24, one, 0);
        assert_eq!(t.paths(k).as_slice(), &[one]);
        assert_eq!(t.paths(k).ecmp(), &[one]);
        assert_eq!((t.path_count(), t.accepted()), (1, 1));
        let two = PathRef {
            path_id: 8,
            ..p(2, 1)
        };
        t.set_paths(k, &[one, two], 2, false);
        assert_eq!(t.paths(k).ecmp(), &[one, two]);
        assert_eq!(t.indices_with_peer(1, false), vec![k]);
        t.set_paths(k, &[two], 1, false);
        assert_eq!(t.paths(k).best(), Some(two), "path id kept for one path");
        t.set_paths(k, &[p(3, 1)], 1, false);
        assert_eq!(t.paths(k).best(), Some(p(3, 1)));
        assert_eq!((t.path_count(), t.accepted()), (1, 1));
    }

    #[test]
    fn a_held_slot_keeps_its_prefix_until_released() {
        let mut t: Table<u32> = Table::default();
        let a = t.insert_single(0x0a000000, 24, p(1, 1), 0);
        t.hold_removed();
        t.set_paths(a, &[], 0, false);
        assert_eq!(t.find(0x0a000000, 24), None);
        assert_eq!(t.prefix(a), None, "not stored");
        assert_eq!(t.logged(a), Some((0x0a000000, 24, false)));
        assert!(t.iter_keys().next().is_none());
        let b = t.insert_single(0x0a000100, 24, p(2, 1), 0);
        assert_ne!(a, b, "a held slot is not reused");
        assert_eq!(t.logged(b), Some((0x0a000100, 24, true)));
        t.release_held();
        assert_eq!(t.logged(a), None, "free");
        let c = t.insert_single(0x0a000200, 24, p(3, 1), 0);
        assert_eq!(c, a, "a released slot is reused");
        // Without a hold a removed slot is free at once.
        t.set_paths(c, &[], 0, false);
        assert_eq!(t.logged(c), None);
    }

    #[test]
    fn warming_a_slot_reads_its_first_path() {
        let mut t: Table<u32> = Table::default();
        let one = t.insert_single(0x0a000000, 24, p(7, 1), 0);
        let many = t.insert_single(0x0a000100, 24, p(8, 1), 0);
        t.set_paths(many, &[p(9, 2), p(8, 1)], 1, false);
        assert_eq!((t.warm_slot(one), t.warm_slot(many)), (7, 9));
        t.set_paths(one, &[], 0, false);
        assert_eq!(t.warm_slot(one), 0, "a free slot");
        assert_eq!(t.warm_slot(Key::new(99)), 0, "beyond the table");
    }
}
