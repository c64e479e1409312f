//! Shared route kinds: a million routes via a handful of next hops store each next-hop set
//! once; a route holds a small id. Reference-counted, ids are reused.

use std::collections::HashMap;

use crate::route::RouteKind;

/// Id of an interned [`RouteKind`].
pub(crate) type KindId = u32;

#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: HashMap<RouteKind, KindId>,
    slots: Vec<Option<(RouteKind, u32)>>,
    free: Vec<KindId>,
    /// The id `intern` gave last: a table's routes come in runs through the same next hop,
    /// and comparing with it is cheaper than hashing the kind.
    last: Option<KindId>,
}

impl Interner {
    /// Take one reference to `kind`, returning its id.
    pub(crate) fn intern(&mut self, kind: RouteKind) -> KindId {
        self.intern_ref(&kind)
    }

    /// [`Interner::intern`] of a kind the caller keeps (copied only when new).
    pub(crate) fn intern_ref(&mut self, kind: &RouteKind) -> KindId {
        if let Some(id) = self.last {
            if let Some(Some((k, refs))) = self.slots.get_mut(id as usize) {
                if k == kind {
                    *refs += 1;
                    return id;
                }
            }
        }
        let id = self.intern_hashed(kind);
        self.last = Some(id);
        id
    }

    fn intern_hashed(&mut self, kind: &RouteKind) -> KindId {
        if let Some(&id) = self.ids.get(kind) {
            if let Some(Some((_, refs))) = self.slots.get_mut(id as usize) {
                *refs += 1;
            }
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as KindId
            }
        };
        if let Some(slot) = self.slots.get_mut(id as usize) {
            *slot = Some((kind.clone(), 1));
        }
        self.ids.insert(kind.clone(), id);
        id
    }

    /// Drop one reference.
    pub(crate) fn release(&mut self, id: KindId) {
        let Some(slot) = self.slots.get_mut(id as usize) else {
            return;
        };
        let gone = match slot {
            Some((_, refs)) if *refs > 1 => {
                *refs -= 1;
                false
            }
            Some(_) => true,
            None => false,
        };
        if gone {
            if let Some((kind, _)) = slot.take() {
                self.ids.remove(&kind);
            }
            self.free.push(id);
        }
    }

    /// The kind behind a live id. Ids come only from `intern`, so a dead id is a bug in this
    /// crate; it reads as a blackhole rather than panicking.
    pub(crate) fn get(&self, id: KindId) -> &RouteKind {
        static DEAD: RouteKind = RouteKind::Blackhole;
        match self.slots.get(id as usize) {
            Some(Some((k, _))) => k,
            _ => {
                debug_assert!(false, "dead route kind id {id}");
                &DEAD
            }
        }
    }

    /// How many references `id` has (0 for a dead id).
    pub(crate) fn refs(&self, id: KindId) -> u32 {
        match self.slots.get(id as usize) {
            Some(Some((_, refs))) => *refs,
            _ => 0,
        }
    }

    /// Every live kind with its id.
    pub(crate) fn live(&self) -> impl Iterator<Item = (KindId, &RouteKind)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(id, s)| s.as_ref().map(|(k, _)| (id as KindId, k)))
    }

    /// Number of distinct kinds alive.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn clear(&mut self) {
        *self = Interner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refcounts_and_reuses_ids() {
        let mut i = Interner::default();
        let a = i.intern(RouteKind::Device("a".into()));
        let a2 = i.intern(RouteKind::Device("a".into()));
        assert_eq!(a, a2);
        let b = i.intern(RouteKind::Blackhole);
        assert_ne!(a, b);
        i.release(a);
        assert_eq!(i.get(a), &RouteKind::Device("a".into()));
        i.release(a);
        assert_eq!(i.len(), 1);
        let c = i.intern(RouteKind::Device("c".into()));
        assert_eq!(c, a, "freed id reused");
        assert_eq!(i.get(c), &RouteKind::Device("c".into()));
    }

    #[test]
    fn the_last_id_is_only_reused_for_an_equal_kind() {
        let mut i = Interner::default();
        let a = i.intern(RouteKind::Device("a".into()));
        assert_eq!(i.intern(RouteKind::Device("a".into())), a);
        i.release(a);
        i.release(a);
        // a's slot is free; the next kind takes its id and must not read as a.
        let b = i.intern(RouteKind::Device("b".into()));
        assert_eq!(b, a);
        let a = i.intern(RouteKind::Device("a".into()));
        assert_ne!(a, b);
        assert_eq!(i.intern(RouteKind::Device("b".into())), b);
        assert_eq!(i.get(b), &RouteKind::Device("b".into()));
        assert_eq!(i.get(a), &RouteKind::Device("a".into()));
        i.release(b);
        i.release(b);
        assert_eq!(i.len(), 1);
    }
}
