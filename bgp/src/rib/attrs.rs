//! Interned path attributes: a hash-consed table of `Arc<RouteAttrs>` addressed by a
//! 4-octet [`AttrId`], with explicit reference counts so a set is freed when the last
//! path (or Adj-RIB-Out entry) that uses it goes away.
//!
//! A million routes announced with a few thousand distinct attribute sets store a few
//! thousand `RouteAttrs`; each route holds only the 4-octet id.

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
    /// Path attributes as received (or as to be sent).
    pub attrs: PathAttributes,
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
}

/// The interning table.
#[derive(Debug, Default)]
pub(crate) struct AttrTable {
    slots: Vec<Slot>,
    free: Vec<AttrId>,
    index: HashTable<AttrId>,
    hasher: DefaultHashBuilder,
}

impl AttrTable {
    /// Interns `(attrs, next_hop)` and takes one reference on it.
    pub fn intern(&mut self, attrs: &PathAttributes, next_hop: MpNextHop) -> AttrId {
        let hash = self.hasher.hash_one((attrs, &next_hop));
        let slots = &self.slots;
        let found = self.index.find(hash, |&id| {
            slots
                .get(id as usize)
                .and_then(|s| s.item.as_ref())
                .is_some_and(|i| i.value.attrs == *attrs && i.value.next_hop == next_hop)
        });
        if let Some(&id) = found {
            self.retain(id);
            return id;
        }
        let item = Arc::new(Interned {
            summary: Summary::of(attrs),
            value: RouteAttrs {
                attrs: attrs.clone(),
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
                    };
                }
                id
            }
            None => {
                self.slots.push(Slot {
                    item: Some(item),
                    refs: 1,
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
        id
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
        if let Some(item) = slot.item.take() {
            if let Ok(entry) = self.index.find_entry(item.hash, |&other| other == id) {
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
