//! Per-peer state indexed by table slot (see `table::Key`): which attribute set was
//! last sent for each prefix, and which prefixes are queued. Plain arrays in pages of
//! 1,024 slots, allocated on first use: 4 octets per sent prefix where a hash map
//! keyed by prefix took 13 to 25 with its buckets, and a lookup is an index, not a
//! hash and a probe into a table bigger than the caches.

use super::attrs::AttrId;

const PAGE: usize = 1024;
const NOTHING: AttrId = AttrId::MAX;

/// Slot → attribute id.
#[derive(Debug, Default)]
pub(crate) struct SlotMap {
    pages: Vec<Option<Box<[AttrId; PAGE]>>>,
    len: usize,
}

impl SlotMap {
    pub fn get(&self, slot: u32) -> Option<AttrId> {
        let (p, i) = split(slot);
        let v = *self.pages.get(p)?.as_ref()?.get(i)?;
        (v != NOTHING).then_some(v)
    }

    pub fn contains(&self, slot: u32) -> bool {
        self.get(slot).is_some()
    }

    /// Sets the value of `slot`; returns the previous one.
    pub fn insert(&mut self, slot: u32, v: AttrId) -> Option<AttrId> {
        let (p, i) = split(slot);
        if self.pages.len() <= p {
            self.pages.resize_with(p + 1, || None);
        }
        let page = self
            .pages
            .get_mut(p)?
            .get_or_insert_with(|| Box::new([NOTHING; PAGE]));
        let old = std::mem::replace(page.get_mut(i)?, v);
        if old == NOTHING {
            self.len += 1;
            None
        } else {
            Some(old)
        }
    }

    pub fn remove(&mut self, slot: u32) -> Option<AttrId> {
        let (p, i) = split(slot);
        let cell = self.pages.get_mut(p)?.as_mut()?.get_mut(i)?;
        let old = std::mem::replace(cell, NOTHING);
        (old != NOTHING).then(|| {
            self.len -= 1;
            old
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Every (slot, value), in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, AttrId)> + '_ {
        self.pages.iter().enumerate().flat_map(|(p, page)| {
            page.iter().flat_map(move |page| {
                page.iter()
                    .enumerate()
                    .filter(|(_, v)| **v != NOTHING)
                    .map(move |(i, v)| ((p * PAGE + i) as u32, *v))
            })
        })
    }

    /// Empties the map, handing out the values, and frees its pages.
    pub fn drain(&mut self) -> Vec<AttrId> {
        let out = self.iter().map(|(_, v)| v).collect();
        self.pages = Vec::new();
        self.len = 0;
        out
    }
}

/// A set of slots.
#[derive(Debug, Default)]
pub(crate) struct SlotSet {
    words: Vec<u64>,
}

impl SlotSet {
    /// Adds `slot`; true when it was not in the set.
    pub fn insert(&mut self, slot: u32) -> bool {
        let (w, bit) = (slot as usize / 64, 1u64 << (slot % 64));
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        match self.words.get_mut(w) {
            Some(x) if *x & bit == 0 => {
                *x |= bit;
                true
            }
            _ => false,
        }
    }

    pub fn remove(&mut self, slot: u32) {
        if let Some(x) = self.words.get_mut(slot as usize / 64) {
            *x &= !(1u64 << (slot % 64));
        }
    }

    /// Empties the set and frees its memory.
    pub fn clear(&mut self) {
        self.words = Vec::new();
    }
}

fn split(slot: u32) -> (usize, usize) {
    (slot as usize / PAGE, slot as usize % PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_map_counts_and_iterates_in_slot_order() {
        let mut m = SlotMap::default();
        assert_eq!(m.get(5), None);
        assert_eq!(m.remove(5), None);
        assert_eq!(m.insert(5000, 7), None);
        assert_eq!(m.insert(3, 1), None);
        assert_eq!(m.insert(3, 2), Some(1));
        assert_eq!(m.len(), 2);
        assert!(m.contains(3) && !m.contains(4));
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(3, 2), (5000, 7)]);
        assert_eq!(m.remove(3), Some(2));
        assert_eq!(m.len(), 1);
        assert_eq!(m.drain(), vec![7]);
        assert_eq!((m.len(), m.get(5000)), (0, None));
    }

    #[test]
    fn slot_set_reports_new_members() {
        let mut s = SlotSet::default();
        assert!(s.insert(70));
        assert!(!s.insert(70));
        assert!(s.insert(0));
        s.remove(70);
        assert!(s.insert(70));
        s.clear();
        assert!(s.insert(0));
    }
}
