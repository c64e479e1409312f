//! Interned path attributes: a hash-consed table of `Arc<RouteAttrs>` addressed by a
//! 4-octet [`AttrId`], with explicit reference counts so a set is freed when the last
//! path (or Adj-RIB-Out entry) that uses it goes away.
//!
//! A million routes announced with a few thousand distinct attribute sets store a few
//! thousand `RouteAttrs`; each route holds only the 4-octet id.
//!
//! A received set arrives shared (`Arc`): the session's reader decodes each distinct
//! attribute list once ([`crate::wire::AttrCache`]) and every UPDATE repeating it
//! carries the same allocation. The table keeps that allocation and finds it again by
//! its address, without hashing or comparing the set.

use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::wire::{MpNextHop, Origin, PathAttributes};

/// Index of an interned attribute set.
pub(crate) type AttrId = u32;

/// The attribute set of a path together with its next hop (from NEXT_HOP for IPv4 NLRI
/// in the NLRI field, else from MP_REACH_NLRI).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RouteAttrs {
    /// Path attributes as received (or as to be sent), shared with the UPDATEs that
    /// carried them.
    pub attrs: Arc<PathAttributes>,
    /// The next hop the routes carry.
    pub next_hop: MpNextHop,
}

/// Decision-process inputs derived once per interned set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    pub local_pref: Option<u32>,
    pub as_path_len: u32,
    pub origin: Origin,
    pub med: Option<u32>,
    pub neighbor_as: Option<u32>,
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_len: u32,
}

impl Summary {
    /// Whether a route reflector touched the path (ORIGINATOR_ID or CLUSTER_LIST
    /// present): then the tie-breakers read those instead of the peer's values alone.
    pub fn reflected(&self) -> bool {
        self.originator_id.is_some() || self.cluster_len != 0
    }

    fn of(a: &PathAttributes) -> Self {
        Self {
            local_pref: a.local_pref,
            as_path_len: a.as_path.as_ref().map_or(0, |p| p.length() as u32),
            origin: a.origin.unwrap_or(Origin::Incomplete),
            med: a.med,
            neighbor_as: a.as_path.as_ref().and_then(|p| p.first_asn()),
            originator_id: a.originator_id,
            cluster_len: a.cluster_list.len() as u32,
        }
    }
}

/// One interned set.
#[derive(Debug)]
pub(crate) struct Interned {
    pub value: RouteAttrs,
    pub summary: Summary,
    hash: u64,
}

impl Interned {
    /// The next hop the kernel would use.
    pub fn next_hop(&self) -> IpAddr {
        self.value.next_hop.global
    }
}

#[derive(Debug)]
struct Slot {
    item: Option<Arc<Interned>>,
    refs: u32,
    /// A value the table's user keeps per set (0 for a new one): see [`AttrTable::memo`].
    memo: u64,
    /// The address `by_addr` has this slot under (0: none), so that an id a caller kept
    /// for an address is checked on the slot itself ([`AttrTable::find_received_at`]).
    addr: usize,
}

/// The interning table.
#[derive(Debug, Default)]
pub(crate) struct AttrTable {
    slots: Vec<Slot>,
    free: Vec<AttrId>,
    /// By content.
    index: HashTable<AttrId>,
    /// By the address of the shared set a slot holds, for the sets whose next hop is
    /// their own NEXT_HOP (see [`AttrTable::intern_shared`]): the address and the id
    /// side by side, so that a lookup reads nothing else.
    by_addr: HashTable<(usize, AttrId)>,
    hasher: DefaultHashBuilder,
}

impl AttrTable {
    /// The set interned from this very allocation (with its own NEXT_HOP as next hop),
    /// if any. Takes no reference.
    pub fn find_received(&self, attrs: &Arc<PathAttributes>) -> Option<AttrId> {
        let addr = Arc::as_ptr(attrs) as usize;
        self.by_addr
            .find(self.hasher.hash_one(addr), |&(a, _)| a == addr)
            .map(|&(_, id)| id)
    }

    /// [`AttrTable::find_received`], trying `hint` first: an id this allocation had
    /// before (kept by the caller, e.g. per attribute list of a session), checked on
    /// its slot, which the import path reads anyway — no probe of the address index.
    pub fn find_received_at(&self, attrs: &Arc<PathAttributes>, hint: AttrId) -> Option<AttrId> {
        let addr = Arc::as_ptr(attrs) as usize;
        if self
            .slots
            .get(hint as usize)
            .is_some_and(|s| s.addr == addr)
        {
            return Some(hint);
        }
        self.find_received(attrs)
    }

    /// [`AttrTable::intern`] for a received set, kept as it is (not copied) when new.
    /// `own_next_hop`: `next_hop` is the set's NEXT_HOP, so the allocation alone
    /// identifies the pair and a new set is also found by [`AttrTable::find_received`]
    /// (for as long as it is interned: the table holds the allocation) — if the
    /// allocation is shared beyond the UPDATE at hand.
    pub fn intern_shared(
        &mut self,
        attrs: &Arc<PathAttributes>,
        next_hop: MpNextHop,
        own_next_hop: bool,
    ) -> AttrId {
        let (id, new) = self.intern_with(attrs, next_hop, || Arc::clone(attrs));
        // Indexed by address only when something besides this UPDATE and the table holds
        // the allocation (the session's cache of decoded lists): a set decoded for one
        // UPDATE alone never comes back by that address. The count may be stale by the
        // time it is read; the index is only a shortcut either way.
        if new && own_next_hop && Arc::strong_count(attrs) > 2 {
            let addr = Arc::as_ptr(attrs) as usize;
            let hasher = &self.hasher;
            self.by_addr
                .insert_unique(hasher.hash_one(addr), (addr, id), |&(a, _)| {
                    hasher.hash_one(a)
                });
            if let Some(slot) = self.slots.get_mut(id as usize) {
                slot.addr = addr;
            }
        }
        id
    }

    /// Interns `(attrs, next_hop)` and takes one reference on it.
    pub fn intern(&mut self, attrs: &PathAttributes, next_hop: MpNextHop) -> AttrId {
        self.intern_with(attrs, next_hop, || Arc::new(attrs.clone()))
            .0
    }

    /// Interns `(attrs, next_hop)`, keeping `keep()` when the set is new; true when it is.
    fn intern_with(
        &mut self,
        attrs: &PathAttributes,
        next_hop: MpNextHop,
        keep: impl FnOnce() -> Arc<PathAttributes>,
    ) -> (AttrId, bool) {
        let hash = self.hasher.hash_one((attrs, &next_hop));
        let slots = &self.slots;
        let found = self.index.find(hash, |&id| {
            slots
                .get(id as usize)
                .and_then(|s| s.item.as_ref())
                .is_some_and(|i| *i.value.attrs == *attrs && i.value.next_hop == next_hop)
        });
        if let Some(&id) = found {
            self.retain(id);
            return (id, false);
        }
        let item = Arc::new(Interned {
            summary: Summary::of(attrs),
            value: RouteAttrs {
                attrs: keep(),
                next_hop,
            },
            hash,
        });
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.slots.get_mut(id as usize) {
                    *slot = Slot {
                        item: Some(item),
                        refs: 1,
                        memo: 0,
                        addr: 0,
                    };
                }
                id
            }
            None => {
                self.slots.push(Slot {
                    item: Some(item),
                    refs: 1,
                    memo: 0,
                    addr: 0,
                });
                (self.slots.len() - 1) as AttrId
            }
        };
        let slots = &self.slots;
        self.index.insert_unique(hash, id, |&other| {
            slots
                .get(other as usize)
                .and_then(|s| s.item.as_ref())
                .map_or(0, |i| i.hash)
        });
        (id, true)
    }

    /// Takes one more reference on `id`.
    pub fn retain(&mut self, id: AttrId) {
        if let Some(slot) = self.slots.get_mut(id as usize) {
            slot.refs += 1;
        }
    }

    /// Drops one reference; the set is freed with its last one.
    pub fn release(&mut self, id: AttrId) {
        let Some(slot) = self.slots.get_mut(id as usize) else {
            return;
        };
        slot.refs = slot.refs.saturating_sub(1);
        if slot.refs > 0 {
            return;
        }
        slot.addr = 0;
        if let Some(item) = slot.item.take() {
            if let Ok(entry) = self.index.find_entry(item.hash, |&other| other == id) {
                entry.remove();
            }
            let addr = Arc::as_ptr(&item.value.attrs) as usize;
            let hash = self.hasher.hash_one(addr);
            if let Ok(entry) = self.by_addr.find_entry(hash, |&e| e == (addr, id)) {
                entry.remove();
            }
            self.free.push(id);
        }
    }

    /// The interned set (panics on a dangling id: ids only come from this table).
    pub fn get(&self, id: AttrId) -> &Interned {
        self.slots
            .get(id as usize)
            .and_then(|s| s.item.as_deref())
            .expect("AttrId refers to a live interned set")
    }

    /// The value last stored with [`AttrTable::set_memo`] for `id` while it has been
    /// interned (0 before): the RIB keeps its import checks' verdict there.
    pub fn memo(&self, id: AttrId) -> u64 {
        self.slots.get(id as usize).map_or(0, |s| s.memo)
    }

    /// Stores `memo` with `id` (see [`AttrTable::memo`]).
    pub fn set_memo(&mut self, id: AttrId, memo: u64) {
        if let Some(slot) = self.slots.get_mut(id as usize) {
            slot.memo = memo;
        }
    }

    /// Number of live interned sets.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Reference count of `id` (tests).
    #[cfg(test)]
    pub fn refs(&self, id: AttrId) -> u32 {
        self.slots.get(id as usize).map_or(0, |s| s.refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::AsPath;

    fn attrs(asn: u32) -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(vec![asn, 65000])),
            ..Default::default()
        }
    }

    fn nh(last: u8) -> MpNextHop {
        MpNextHop {
            global: IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)),
            link_local: None,
        }
    }

    #[test]
    fn equal_sets_share_one_slot_and_are_freed_with_the_last_reference() {
        let mut t = AttrTable::default();
        let a = t.intern(&attrs(1), nh(1));
        let b = t.intern(&attrs(1), nh(1));
        assert_eq!(a, b);
        assert_eq!(t.refs(a), 2);
        let c = t.intern(&attrs(1), nh(2));
        assert_ne!(a, c, "next hop is part of the key");
        let d = t.intern(&attrs(2), nh(1));
        assert_ne!(a, d);
        assert_eq!(t.len(), 3);
        assert_eq!(t.get(d).summary.neighbor_as, Some(2));
        assert_eq!(t.get(d).summary.as_path_len, 2);
        t.release(a);
        assert_eq!(t.len(), 3);
        t.release(a);
        assert_eq!(t.len(), 2);
        // The freed slot is reused and the index no longer finds the old value.
        let e = t.intern(&attrs(3), nh(1));
        assert_eq!(e, a);
        let f = t.intern(&attrs(1), nh(1));
        assert_ne!(f, e);
        assert_eq!(t.len(), 4);
    }
}
