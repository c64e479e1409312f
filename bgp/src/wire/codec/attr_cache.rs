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
//! lists of at most [`AttrCache::MAX_OCTETS`] octets; when full the cache starts over.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::wire::attributes::PathAttributes;

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
}

impl std::fmt::Debug for AttrCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttrCache")
            .field("sets", &self.sets.len())
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

    /// The set decoded from `octets`, or the hash to [`AttrCache::insert`] it with.
    pub(crate) fn get(
        &self,
        octets: &[u8],
        nlri_present: bool,
    ) -> Result<Arc<PathAttributes>, u64> {
        let hash = self.hasher.hash_one(octets);
        self.sets
            .find(hash, |e| {
                e.nlri_present == nlri_present && *e.octets == *octets
            })
            .map(|e| Arc::clone(&e.attrs))
            .ok_or(hash)
    }

    /// Keeps `attrs` as the decoding of `octets` (`hash` from [`AttrCache::get`]).
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        octets: &[u8],
        nlri_present: bool,
        attrs: &Arc<PathAttributes>,
    ) {
        if octets.len() > Self::MAX_OCTETS {
            return;
        }
        if self.sets.len() >= Self::MAX_SETS {
            self.sets.clear();
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
