//! The prefix table's index: a prefix's hash → its slot number.
//!
//! Open addressing with linear probing over 8-octet buckets, each holding a slot
//! number and 32 bits of its prefix's hash side by side. A lookup reads one bucket
//! (usually one cache line) and then the slot's entry, which the caller reads anyway;
//! a SwissTable of 4-octet values keeps its control bytes apart from the values, so
//! each lookup of a prefix not in the cache missed twice before reaching the entry.
//! The bucket of a hash is known before probing, so a batch of lookups can load its
//! buckets first ([`SlotIndex::warm_all`]) and their cache misses overlap instead of
//! waiting one behind the other (a fan-in's next path for a prefix usually finds it
//! out of the cache: its peers run far apart through the table).
//!
//! A bucket's home is its 32 hash bits masked by the bucket count, so growing needs
//! no hasher; removal shifts the following run back, so there are no tombstones.

/// An empty bucket (slot `u32::MAX` with tag `u32::MAX`: the table never has that
/// many slots).
const EMPTY: u64 = u64::MAX;
/// Fewest buckets once anything is stored.
const MIN_BUCKETS: usize = 16;

fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

fn bucket(tag: u32, slot: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(slot)
}

fn parts(b: u64) -> (u32, u32) {
    ((b >> 32) as u32, b as u32)
}

/// Hash → slot, see the module docs. At most 3/4 of the buckets are used.
#[derive(Debug, Default)]
pub(crate) struct SlotIndex {
    buckets: Vec<u64>,
    len: usize,
}

impl SlotIndex {
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    fn home(&self, tag: u32) -> usize {
        tag as usize & self.mask()
    }

    /// Stored slots.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Heap octets.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<u64>()
    }

    /// The first slot stored under `hash` for which `eq` holds.
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let (tag, mask) = (tag_of(hash), self.mask());
        let mut i = self.home(tag);
        loop {
            let b = *self.buckets.get(i)?;
            if b == EMPTY {
                return None;
            }
            let (t, slot) = parts(b);
            if t == tag && eq(slot) {
                return Some(slot);
            }
            i = (i + 1) & mask;
        }
    }

    /// Loads the buckets where lookups of `hashes` start (the home bucket's cache line
    /// and the next, where a probe continues) and returns a value of them, for the
    /// caller to keep (`std::hint::black_box`): a cache warm-up, no lookup. The loop
    /// does nothing else, so that many of its loads are in flight at once.
    pub fn warm_all(&self, hashes: &[u64]) -> u64 {
        let mask = self.mask();
        let at = |i: usize| self.buckets.get(i & mask).copied().unwrap_or(0);
        hashes.iter().fold(0, |acc, &h| {
            let home = tag_of(h) as usize;
            acc ^ at(home) ^ at(home + 8)
        })
    }

    /// Stores `slot` under `hash` (the caller knows it is not stored yet).
    pub fn insert(&mut self, hash: u64, slot: u32) {
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.grow();
        }
        self.place(bucket(tag_of(hash), slot));
        self.len += 1;
    }

    fn place(&mut self, b: u64) {
        let mask = self.mask();
        let mut i = self.home(parts(b).0);
        while let Some(x) = self.buckets.get_mut(i) {
            if *x == EMPTY {
                *x = b;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let n = (self.buckets.len() * 2).max(MIN_BUCKETS);
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; n]);
        for b in old.into_iter().filter(|&b| b != EMPTY) {
            self.place(b);
        }
    }

    /// Removes `slot`, stored under `hash`; whether it was there.
    pub fn remove(&mut self, hash: u64, slot: u32) -> bool {
        if self.buckets.is_empty() {
            return false;
        }
        let (want, mask) = (bucket(tag_of(hash), slot), self.mask());
        let mut hole = self.home(tag_of(hash));
        loop {
            match self.buckets.get(hole) {
                Some(&b) if b == want => break,
                Some(&b) if b != EMPTY => hole = (hole + 1) & mask,
                _ => return false,
            }
        }
        // Shift the rest of the run back over the hole: a bucket moves when the hole
        // lies on its way from its home (cyclically in [home, its position)).
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let b = match self.buckets.get(j) {
                Some(&b) if b != EMPTY => b,
                _ => break,
            };
            let home = self.home(parts(b).0);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.buckets[hole] = b;
                hole = j;
            }
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash whose home in a table of 16 or more buckets is `home` (low tag bits).
    fn h(tag: u32) -> u64 {
        u64::from(tag) << 32
    }

    #[test]
    fn empty_finds_nothing() {
        let mut x = SlotIndex::default();
        assert_eq!(x.find(h(1), |_| true), None);
        assert!(!x.remove(h(1), 0));
        assert_eq!(x.warm_all(&[h(1), h(2)]), 0);
        assert_eq!(x.len(), 0);
    }

    #[test]
    fn colliding_runs_survive_removal_and_wrap_around() {
        let mut x = SlotIndex::default();
        // Three slots with home 15 (the last bucket) wrap to 0 and 1; one with home 0
        // sits behind them at 2.
        x.insert(h(15), 1);
        x.insert(h(31), 2);
        x.insert(h(47), 3);
        x.insert(h(16), 4);
        assert_eq!(x.buckets.len(), 16);
        for (t, s) in [(15, 1), (31, 2), (47, 3), (16, 4)] {
            assert_eq!(x.find(h(t), |v| v == s), Some(s), "tag {t}");
        }
        // A warm-up reads the home bucket and the one a line further (bucket 15's:
        // bucket 7, wrapped).
        assert_eq!(x.warm_all(&[h(15)]), bucket(15, 1) ^ EMPTY);
        assert_eq!(x.warm_all(&[h(15), h(15)]), 0);
        // Equal tags: `eq` picks.
        x.insert(h(15), 5);
        assert_eq!(x.find(h(15), |v| v == 5), Some(5));
        assert!(x.remove(h(15), 1));
        assert!(!x.remove(h(15), 1), "already gone");
        for (t, s) in [(31, 2), (47, 3), (16, 4), (15, 5)] {
            assert_eq!(x.find(h(t), |v| v == s), Some(s), "tag {t} after removal");
        }
        assert_eq!(x.find(h(15), |v| v == 1), None);
        assert_eq!(x.len(), 4);
    }

    #[test]
    fn matches_a_map_through_growth_and_churn() {
        use std::collections::HashMap;
        let mut x = SlotIndex::default();
        let mut want: HashMap<u32, u64> = HashMap::new();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..20_000u32 {
            let r = next();
            // Few distinct tags, so runs are long and collide.
            let hash = h((r % 257) as u32);
            if r % 3 == 0 && !want.is_empty() {
                let slot = *want.keys().nth((r as usize / 3) % want.len()).unwrap_or(&0);
                let hs = want.remove(&slot).unwrap_or_default();
                assert!(x.remove(hs, slot), "round {round}");
            } else {
                x.insert(hash, round);
                want.insert(round, hash);
            }
            assert!(x.len() * 4 <= x.buckets.len() * 3);
        }
        assert_eq!(x.len(), want.len());
        for (&slot, &hash) in &want {
            assert_eq!(x.find(hash, |v| v == slot), Some(slot));
        }
        assert_eq!(x.find(h(1000), |_| true), None);
    }
}
