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
    attrs: Arc<PathAttributes>,
}

/// Decoded attribute sets of one session, by their octets.
#[derive(Default)]
pub struct AttrCache {
    sets: HashTable<Entry>,
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

    /// The set decoded from `octets`, or the hash to [`AttrCache::insert`] it with.
    fn get(&mut self, octets: &[u8], nlri_present: bool) -> Result<Arc<PathAttributes>, u64> {
        let hash = self.hasher.hash_one(octets);
        let found = self
            .sets
            .find(hash, |e| {
                e.nlri_present == nlri_present && *e.octets == *octets
            })
            .map(|e| Arc::clone(&e.attrs))
            .ok_or(hash);
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
            if self.hits < Self::MAX_SETS {
                self.off = true;
                self.sets = HashTable::new();
                return;
            }
            self.sets.clear();
            self.hits = 0;
        }
        let entry = Entry {
            hash,
            nlri_present,
            octets: octets.into(),
            attrs: Arc::clone(attrs),
        };
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
