//! A session's decoded attribute sets, by their octets: a router announcing a table
//! sends the same few thousand attribute lists again and again (BIRD, for one, sends
//! one UPDATE per attribute set and run of prefixes). The reader decodes each distinct
//! list once; the UPDATEs that repeat it share the decoded set, and the RIB recognises
//! that set by its address instead of hashing and comparing it again.
//!
//! Only lists whose decoding is a function of their octets alone are kept: no RFC 7606
//! fault, no MP_REACH_NLRI / MP_UNREACH_NLRI (they carry prefixes). The decode context
//! (4-octet AS, the peer being external) is fixed for the cache's lifetime: one cache
//! per session, made after the OPEN exchange. Memory is bounded by [`AttrCache::MAX_SETS`]
//! lists of at most [`AttrCache::MAX_OCTETS`] octets. When full the cache starts over —
//! or, if its lists were served fewer times than there are lists (a peer whose lists
//! rarely repeat: each miss costs a hash, a lookup and a copy of the key), it turns
//! itself off for the rest of the session.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::wire::attributes::PathAttributes;
use crate::wire::update::Update;

/// What [`AttrCache::lookup`] found.
pub(crate) enum Lookup {
    /// The set decoded before.
    Hit(Arc<PathAttributes>),
    /// Not kept: the hash to keep it with once decoded.
    Miss(u64),
    /// The cache is off, or the list empty: decode, keep nothing.
    Skip,
}

struct Entry {
    hash: u64,
    /// The UPDATE had NLRI in its NLRI field (NEXT_HOP is then mandatory).
    nlri_present: bool,
    octets: Box<[u8]>,
    /// The list's number (see [`AttrCache::number`]).
    no: u32,
}

/// Decoded attribute sets of one session, by their octets.
#[derive(Default)]
pub struct AttrCache {
    sets: HashTable<Entry>,
    /// The decoded sets by list number: the order the lists were kept in.
    by_no: Vec<Arc<PathAttributes>>,
    /// Changes whenever the numbers start over (the cache started over or turned off).
    generation: u32,
    hasher: DefaultHashBuilder,
    /// Lookups served since the cache last started over.
    hits: usize,
    off: bool,
}

impl std::fmt::Debug for AttrCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttrCache")
            .field("sets", &self.sets.len())
            .field("hits", &self.hits)
            .field("off", &self.off)
            .finish()
    }
}

impl AttrCache {
    /// Most attribute lists kept.
    pub const MAX_SETS: usize = 8192;
    /// Longest attribute list kept, in octets.
    pub const MAX_OCTETS: usize = 512;

    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of lists kept.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Whether no list is kept.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Whether the cache is in use (it turns itself off when its lists do not repeat).
    pub fn is_on(&self) -> bool {
        !self.off
    }

    /// The set decoded before from the list `octets` (`nlri_present`: the UPDATE has
    /// NLRI in its NLRI field), or the hash to [`AttrCache::keep`] the decoding with.
    pub(crate) fn lookup(&mut self, octets: &[u8], nlri_present: bool) -> Lookup {
        if self.off || octets.is_empty() {
            return Lookup::Skip;
        }
        match self.get(octets, nlri_present) {
            Ok(shared) => Lookup::Hit(shared),
            Err(hash) => Lookup::Miss(hash),
        }
    }

    /// Keeps the set of `update`, decoded from `octets` after a [`Lookup::Miss`], when
    /// it may be (no RFC 7606 fault, no MP_REACH/MP_UNREACH).
    pub(crate) fn keep(&mut self, hash: u64, octets: &[u8], nlri_present: bool, update: &Update) {
        if update.errors.is_empty() && update.mp_reach.is_none() && update.mp_unreach.is_none() {
            self.insert(hash, octets, nlri_present, &update.attributes);
        }
    }

    /// The number of the list `octets` (of an UPDATE with NLRI when `nlri_present`) if
    /// it is kept: the lists are numbered 0, 1, … in the order they were kept, for as
    /// long as [`AttrCache::generation`] stays the same; [`AttrCache::set`] is its set.
    /// Unlike the lookup [`super::decode_message_cached`] makes, it takes no reference
    /// on the set.
    pub fn number(&mut self, octets: &[u8], nlri_present: bool) -> Option<u32> {
        if self.off || octets.is_empty() {
            return None;
        }
        let no = self.find(octets, nlri_present).ok()?;
        self.hits += 1;
        Some(no)
    }

    /// The set of list number `no` ([`AttrCache::number`]).
    pub fn set(&self, no: u32) -> Option<&Arc<PathAttributes>> {
        self.by_no.get(no as usize)
    }

    /// Changes when the list numbers start over.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The number of the list `octets`, or its hash.
    fn find(&self, octets: &[u8], nlri_present: bool) -> Result<u32, u64> {
        let hash = self.hasher.hash_one(octets);
        self.sets
            .find(hash, |e| {
                e.nlri_present == nlri_present && *e.octets == *octets
            })
            .map(|e| e.no)
            .ok_or(hash)
    }

    /// The set decoded from `octets`, or the hash to [`AttrCache::insert`] it with.
    fn get(&mut self, octets: &[u8], nlri_present: bool) -> Result<Arc<PathAttributes>, u64> {
        let found = self
            .find(octets, nlri_present)
            .and_then(|no| self.by_no.get(no as usize).cloned().ok_or(0));
        self.hits += usize::from(found.is_ok());
        found
    }

    /// Keeps `attrs` as the decoding of `octets` (`hash` from [`AttrCache::get`]).
    fn insert(
        &mut self,
        hash: u64,
        octets: &[u8],
        nlri_present: bool,
        attrs: &Arc<PathAttributes>,
    ) {
        if self.off || octets.len() > Self::MAX_OCTETS {
            return;
        }
        if self.sets.len() >= Self::MAX_SETS {
            self.generation = self.generation.wrapping_add(1);
            if self.hits < Self::MAX_SETS {
                self.off = true;
                self.sets = HashTable::new();
                self.by_no = Vec::new();
                return;
            }
            self.sets.clear();
            self.by_no.clear();
            self.hits = 0;
        }
        let entry = Entry {
            hash,
            nlri_present,
            octets: octets.into(),
            no: self.by_no.len() as u32,
        };
        self.by_no.push(Arc::clone(attrs));
        self.sets.insert_unique(hash, entry, |e| e.hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(i: usize) -> Vec<u8> {
        // MED = i: one distinct list per i.
        let mut v = vec![0x80, 4, 4];
        v.extend((i as u32).to_be_bytes());
        v
    }

    fn fill(c: &mut AttrCache, from: usize, n: usize, hits_each: usize) {
        let set = Arc::new(PathAttributes::default());
        for i in from..from + n {
            let o = list(i);
            let Err(hash) = c.get(&o, true) else {
                panic!("list {i} cached before it was inserted");
            };
            c.insert(hash, &o, true, &set);
            for _ in 0..hits_each {
                assert!(c.get(&o, true).is_ok(), "list {i}");
            }
        }
    }

    #[test]
    fn lists_that_repeat_keep_the_cache_on_across_a_start_over() {
        let mut c = AttrCache::new();
        fill(&mut c, 0, AttrCache::MAX_SETS, 1);
        assert_eq!(c.len(), AttrCache::MAX_SETS);
        fill(&mut c, AttrCache::MAX_SETS, 10, 1);
        assert!(c.is_on());
        assert_eq!(c.len(), 10, "started over");
        assert!(c.get(&list(0), true).is_err());
        let i = AttrCache::MAX_SETS;
        assert!(c.get(&list(i), false).is_err(), "keyed by NLRI too");
    }

    #[test]
    fn lists_are_numbered_in_the_order_kept_until_the_cache_starts_over() {
        let mut c = AttrCache::new();
        let sets: Vec<Arc<PathAttributes>> = (0..3)
            .map(|i| {
                Arc::new(PathAttributes {
                    med: Some(i),
                    ..PathAttributes::default()
                })
            })
            .collect();
        for (i, set) in sets.iter().enumerate() {
            let o = list(i);
            assert_eq!(c.number(&o, true), None, "not kept yet");
            let Err(hash) = c.get(&o, true) else {
                panic!("list {i} cached before it was inserted");
            };
            c.insert(hash, &o, true, set);
        }
        for (i, set) in sets.iter().enumerate() {
            let no = c.number(&list(i), true).expect("kept");
            assert_eq!(no, i as u32);
            assert!(c.set(no).is_some_and(|s| Arc::ptr_eq(s, set)));
        }
        assert_eq!(c.number(&list(1), false), None, "keyed by NLRI too");
        let before = c.generation();
        // Filled with lists that repeat, the cache starts over: new numbers.
        fill(&mut c, 3, AttrCache::MAX_SETS - 3, 1);
        assert_eq!(c.generation(), before);
        fill(&mut c, AttrCache::MAX_SETS, 1, 0);
        assert_ne!(c.generation(), before);
        assert_eq!(c.number(&list(0), true), None);
        assert_eq!(c.number(&list(AttrCache::MAX_SETS), true), Some(0));
        assert!(c.set(1).is_none());
    }

    #[test]
    fn lists_that_do_not_repeat_turn_the_cache_off() {
        let mut c = AttrCache::new();
        fill(&mut c, 0, AttrCache::MAX_SETS, 0);
        assert!(c.is_on());
        fill(&mut c, AttrCache::MAX_SETS, 1, 0);
        assert!(!c.is_on());
        assert!(c.is_empty());
        let set = Arc::new(PathAttributes::default());
        c.insert(0, &list(1), true, &set);
        assert!(c.is_empty(), "an off cache keeps nothing");
    }
}
