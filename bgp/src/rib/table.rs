//! The prefix table: every stored path of one address family, which is at once the
//! Adj-RIB-In of every peer and the Loc-RIB candidate set (BIRD's layout: each received
//! path is stored once).
//!
//! Layout, for memory: entries live in one dense `Vec` (12 octets per IPv4 prefix with a
//! single path: address, attribute id, peer slot, prefix length and a flags octet); a
//! `hashbrown::HashTable<u32>` of entry indices finds them (5 octets per bucket). A
//! prefix with more than one path keeps its paths in a side arena of small vectors,
//! ordered best first, then the rest of the ECMP set, then the other accepted paths,
//! then the rejected ones.

use std::hash::{BuildHasher, Hash};
use std::net::{Ipv4Addr, Ipv6Addr};

use hashbrown::{DefaultHashBuilder, HashTable};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::attrs::AttrId;

/// Peer slot of locally originated routes.
pub(crate) const LOCAL_SLOT: u16 = 0;
/// Marker in `Entry::peer`: the paths live in the multi-path arena.
const MULTI: u16 = u16::MAX;
/// Low bits of `Entry::flags`: the reject code of a single path (0 = accepted).
const REJECT_MASK: u8 = 0x0f;
/// Flag: the prefix is in the FIB change log.
pub(crate) const FIB_DIRTY: u8 = 0x80;

/// An address usable as a table key.
pub(crate) trait Addr: Copy + Eq + Hash + Ord + std::fmt::Debug {
    /// The prefix as an `IpNet`.
    fn net(self, len: u8) -> IpNet;
}

impl Addr for u32 {
    fn net(self, len: u8) -> IpNet {
        IpNet::V4(Ipv4Net::new(Ipv4Addr::from(self), len).unwrap_or_default())
    }
}

impl Addr for u128 {
    fn net(self, len: u8) -> IpNet {
        IpNet::V6(Ipv6Net::new(Ipv6Addr::from(self), len).unwrap_or_default())
    }
}

/// One path: which peer, which attributes, and whether import accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathRef {
    pub attr: AttrId,
    pub peer: u16,
    /// 0 = accepted; else a [`super::import::Reject`] code.
    pub reject: u8,
}

impl PathRef {
    pub fn accepted(&self) -> bool {
        self.reject == 0
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
}

/// The paths of one prefix, ordered (see the module docs), and the ECMP set size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paths<'a> {
    one: PathRef,
    many: Option<&'a Multi>,
}

impl<'a> Paths<'a> {
    pub fn as_slice(&self) -> &[PathRef] {
        match self.many {
            Some(m) => &m.paths,
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
}

/// The prefix table of one address family.
#[derive(Debug)]
pub(crate) struct Table<A> {
    entries: Vec<Entry<A>>,
    index: HashTable<u32>,
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
            entries: Vec::new(),
            index: HashTable::new(),
            multis: Vec::new(),
            free_multis: Vec::new(),
            hasher: DefaultHashBuilder::default(),
            accepted: 0,
            paths: 0,
        }
    }
}

impl<A: Addr> Table<A> {
    fn hash(&self, addr: A, len: u8) -> u64 {
        self.hasher.hash_one((addr, len))
    }

    /// The entry index of a prefix.
    pub fn find(&self, addr: A, len: u8) -> Option<usize> {
        let h = self.hash(addr, len);
        let entries = &self.entries;
        self.index
            .find(h, |&i| {
                entries
                    .get(i as usize)
                    .is_some_and(|e| e.addr == addr && e.len == len)
            })
            .map(|&i| i as usize)
    }

    /// Number of entries (prefixes with any path).
    #[cfg(test)]
    pub fn entries(&self) -> usize {
        self.entries.len()
    }

    /// Prefixes with an accepted path.
    pub fn accepted(&self) -> usize {
        self.accepted
    }

    /// Stored paths.
    pub fn path_count(&self) -> usize {
        self.paths
    }

    /// The prefix of entry `i`.
    pub fn key(&self, i: usize) -> Option<(A, u8)> {
        self.entries.get(i).map(|e| (e.addr, e.len))
    }

    /// The paths of entry `i`.
    pub fn paths(&self, i: usize) -> Paths<'_> {
        let empty = PathRef {
            attr: 0,
            peer: 0,
            reject: u8::MAX,
        };
        match self.entries.get(i) {
            Some(e) if e.peer == MULTI => Paths {
                one: empty,
                many: self.multis.get(e.attr as usize),
            },
            Some(e) => Paths {
                one: PathRef {
                    attr: e.attr,
                    peer: e.peer,
                    reject: e.flags & REJECT_MASK,
                },
                many: None,
            },
            None => Paths {
                one: empty,
                many: None,
            },
        }
    }

    /// Flags of entry `i`.
    pub fn flags(&self, i: usize) -> u8 {
        self.entries.get(i).map_or(0, |e| e.flags & !REJECT_MASK)
    }

    /// Sets or clears a flag of entry `i`.
    pub fn set_flag(&mut self, i: usize, flag: u8, on: bool) {
        if let Some(e) = self.entries.get_mut(i) {
            if on {
                e.flags |= flag;
            } else {
                e.flags &= !flag;
            }
        }
    }

    /// Adds a prefix with one path; returns its entry index.
    pub fn insert_single(&mut self, addr: A, len: u8, path: PathRef) -> usize {
        let i = self.entries.len();
        self.entries.push(Entry {
            addr,
            attr: path.attr,
            peer: path.peer,
            len,
            flags: path.reject & REJECT_MASK,
        });
        let h = self.hash(addr, len);
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(h, i as u32, |&j| {
            entries
                .get(j as usize)
                .map_or(0, |e| hasher.hash_one((e.addr, e.len)))
        });
        self.paths += 1;
        self.accepted += usize::from(path.accepted());
        i
    }

    /// Replaces the paths of entry `i` with `paths` (already ordered; `ecmp` leading
    /// ones form the ECMP set). An empty list removes the entry; then the entry that
    /// was last moves to index `i`.
    pub fn set_paths(&mut self, i: usize, paths: &[PathRef], ecmp: usize) {
        let Some(e) = self.entries.get(i).copied() else {
            return;
        };
        let before = self.paths(i);
        let (old_n, old_acc) = (before.as_slice().len(), before.best().is_some());
        self.paths = self.paths - old_n + paths.len();
        let new_acc = paths.first().is_some_and(PathRef::accepted);
        self.accepted = self.accepted - usize::from(old_acc) + usize::from(new_acc);
        let dirty = e.flags & !REJECT_MASK;
        match paths {
            [] => {
                if e.peer == MULTI {
                    self.free_multi(e.attr);
                }
                self.remove_entry(i);
            }
            [one] => {
                if e.peer == MULTI {
                    self.free_multi(e.attr);
                }
                if let Some(slot) = self.entries.get_mut(i) {
                    slot.attr = one.attr;
                    slot.peer = one.peer;
                    slot.flags = dirty | (one.reject & REJECT_MASK);
                }
            }
            many => {
                let ecmp = ecmp.min(many.len()).min(255) as u8;
                let idx = if e.peer == MULTI {
                    e.attr
                } else {
                    self.alloc_multi()
                };
                if let Some(m) = self.multis.get_mut(idx as usize) {
                    m.paths.clear();
                    m.paths.extend_from_slice(many);
                    m.ecmp = ecmp;
                }
                if let Some(slot) = self.entries.get_mut(i) {
                    slot.attr = idx;
                    slot.peer = MULTI;
                    slot.flags = dirty;
                }
            }
        }
    }

    fn alloc_multi(&mut self) -> u32 {
        match self.free_multis.pop() {
            Some(idx) => idx,
            None => {
                self.multis.push(Multi::default());
                (self.multis.len() - 1) as u32
            }
        }
    }

    fn free_multi(&mut self, idx: u32) {
        if let Some(m) = self.multis.get_mut(idx as usize) {
            m.paths = Vec::new();
            m.ecmp = 0;
            self.free_multis.push(idx);
        }
    }

    fn remove_entry(&mut self, i: usize) {
        let Some(e) = self.entries.get(i).copied() else {
            return;
        };
        let h = self.hash(e.addr, e.len);
        if let Ok(found) = self.index.find_entry(h, |&j| j as usize == i) {
            found.remove();
        }
        let last = self.entries.len() - 1;
        self.entries.swap_remove(i);
        if i != last {
            if let Some(moved) = self.entries.get(i).copied() {
                let h = self.hash(moved.addr, moved.len);
                if let Some(slot) = self.index.find_mut(h, |&j| j as usize == last) {
                    *slot = i as u32;
                }
            }
        }
    }

    /// Entry indices holding a path of peer `slot` (for peer down and route refresh).
    pub fn indices_with_peer(&self, slot: u16) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let hit = if e.peer == MULTI {
                self.multis
                    .get(e.attr as usize)
                    .is_some_and(|m| m.paths.iter().any(|p| p.peer == slot))
            } else {
                e.peer == slot
            };
            if hit {
                out.push(i);
            }
        }
        out
    }

    /// All prefixes with their entry index.
    pub fn iter_keys(&self) -> impl Iterator<Item = (usize, A, u8)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.addr, e.len))
    }

    /// Approximate heap bytes held by the table (entries, index, arena).
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry<A>>()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
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
            peer,
            reject: 0,
        }
    }

    #[test]
    fn entry_is_twelve_octets_for_ipv4() {
        assert_eq!(std::mem::size_of::<Entry<u32>>(), 12);
    }

    #[test]
    fn insert_find_multi_and_remove_with_swap() {
        let mut t: Table<u32> = Table::default();
        let a = t.insert_single(0x0a000000, 24, p(1, 1));
        let b = t.insert_single(0x0a000100, 24, p(2, 1));
        let c = t.insert_single(0x0a000200, 24, p(3, 1));
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(t.find(0x0a000100, 24), Some(1));
        assert_eq!(t.find(0x0a000100, 25), None);
        t.set_paths(b, &[p(2, 1), p(4, 2)], 2);
        assert_eq!(t.paths(b).as_slice(), &[p(2, 1), p(4, 2)]);
        assert_eq!(t.paths(b).ecmp().len(), 2);
        assert_eq!(t.path_count(), 4);
        assert_eq!(t.indices_with_peer(2), vec![1]);
        // Removing the first entry moves the last one into its place.
        t.set_paths(a, &[], 0);
        assert_eq!(t.find(0x0a000200, 24), Some(0));
        assert_eq!(t.find(0x0a000000, 24), None);
        assert_eq!(t.paths(0).best(), Some(p(3, 1)));
        // Back to one path frees the arena slot.
        t.set_paths(1, &[p(4, 2)], 1);
        assert_eq!(t.paths(1).as_slice(), &[p(4, 2)]);
        assert_eq!(t.free_multis.len(), 1);
        let rejected = PathRef {
            reject: 3,
            ..p(5, 3)
        };
        t.set_paths(1, &[rejected], 0);
        assert_eq!(t.paths(1).best(), None);
        assert!(t.paths(1).ecmp().is_empty());
        assert_eq!(t.accepted(), 1);
        assert_eq!(t.entries(), 2);
    }
}
