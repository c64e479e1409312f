//! Changing one prefix: add, replace or remove one path (peer, ADD-PATH path id),
//! re-run the decision process when the prefix has several paths, and note what
//! changed — in the FIB change log (ECMP set changed) and in each peer's Adj-RIB-Out
//! queue (best path changed; for ADD-PATH send peers also the ECMP set). The single-path case, a million times during a full-table load, touches
//! one 12-octet entry and no allocator.

use std::cmp::Ordering;
use std::net::IpAddr;

use super::attrs::AttrTable;
use smallvec::SmallVec;

use super::decision::{decide, Candidate, Indices};
use super::peers::{candidate, plain_tie_key, Peers};
use super::table::{Addr, Key, PathRef, Table, FIB_DIRTY, LOCAL_SLOT};
use super::types::family_of;

/// Snapshot value meaning "no BGP route in the FIB".
pub(crate) const NO_SNAPSHOT: u32 = u32::MAX;
/// Tag bit of a snapshot value that indexes `Cx::snapshots` (an ECMP set of several
/// paths); without it the value is the attribute id of the single path that was in
/// the FIB, kept alive by one reference until the log is drained.
pub(crate) const MULTI_SNAPSHOT: u32 = 1 << 31;

/// The FIB change log of one family: prefixes whose ECMP set changed since the last
/// `take_route_changes`, each by its table slot with its FIB state from before the
/// first change (a snapshot value, see [`MULTI_SNAPSHOT`]). 8 octets per prefix, no
/// allocation for a prefix whose FIB state was one path. While it holds records the
/// table keeps removed prefixes' slots from reuse ([`Table::hold_removed`]), so a
/// record's slot names the prefix it was made for; taking one reads that slot's entry,
/// not the index (a full table's records are taken in slot order). Once stopped
/// (nobody takes the changes) it logs nothing and no entry is flagged [`FIB_DIRTY`].
#[derive(Debug, Default)]
pub(crate) struct Log {
    entries: Vec<(u32, u32)>,
    stopped: bool,
}

impl Log {
    /// Logs slot `k` with its FIB state before the change (nothing once stopped).
    fn record<A: Addr>(&mut self, table: &mut Table<A>, k: Key<A>, snap: u32) {
        if !self.stopped {
            self.entries.push((k.slot(), snap));
            table.hold_removed();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first `n` records (at most all): (slot, snapshot).
    pub(crate) fn first(&self, n: usize) -> &[(u32, u32)] {
        self.entries.get(..n).unwrap_or(&self.entries)
    }

    /// Drops the first `n` records (taken with [`Log::first`]).
    pub(crate) fn discard(&mut self, n: usize) {
        self.entries.drain(..n.min(self.entries.len()));
    }

    /// Logs nothing from now on; the log must have been drained (its snapshots hold
    /// attribute references and its entries flags).
    pub(crate) fn stop(&mut self) {
        debug_assert!(self.entries.is_empty());
        self.entries = Vec::new();
        self.stopped = true;
    }
}

/// The parts of the RIB one prefix change touches.
pub(crate) struct Cx<'a> {
    pub attrs: &'a mut AttrTable,
    pub peers: &'a mut Peers,
    pub snapshots: &'a mut Vec<Vec<IpAddr>>,
}

/// FIB next hops of an ECMP set: `None` when it is empty or led by a local route.
pub(crate) fn fib_hops(attrs: &AttrTable, ecmp: &[PathRef]) -> Option<Vec<IpAddr>> {
    let first = ecmp.first()?;
    if first.peer == LOCAL_SLOT || !first.accepted() {
        return None;
    }
    if ecmp.len() == 1 {
        return Some(vec![attrs.get(first.attr).next_hop()]);
    }
    let mut hops: Vec<IpAddr> = ecmp
        .iter()
        .filter(|p| p.peer != LOCAL_SLOT)
        .map(|p| attrs.get(p.attr).next_hop())
        .collect();
    hops.sort_unstable();
    hops.dedup();
    Some(hops)
}

fn note_fib<A: Addr>(
    cx: &mut Cx<'_>,
    table: &mut Table<A>,
    log: &mut Log,
    i: Key<A>,
    old_ecmp: &[PathRef],
) {
    if log.stopped || table.flags(i) & FIB_DIRTY != 0 || table.prefix(i).is_none() {
        return;
    }
    let snap = match old_ecmp {
        [] => NO_SNAPSHOT,
        [one] if one.peer == LOCAL_SLOT || !one.accepted() => NO_SNAPSHOT,
        [one] if one.attr < MULTI_SNAPSHOT => {
            cx.attrs.retain(one.attr);
            one.attr
        }
        _ => match fib_hops(cx.attrs, old_ecmp) {
            Some(h) => {
                cx.snapshots.push(h);
                (cx.snapshots.len() - 1) as u32 | MULTI_SNAPSHOT
            }
            None => NO_SNAPSHOT,
        },
    };
    log.record(table, i, snap);
    table.set_flag(i, FIB_DIRTY, true);
}

fn note_export<A: Addr>(
    cx: &mut Cx<'_>,
    (k, addr, len): (Key<A>, A, u8),
    old: Option<PathRef>,
    new: Option<PathRef>,
    ecmp_changed: bool,
) {
    if old == new && !ecmp_changed {
        return;
    }
    let prefix = addr.net(len);
    let family = family_of(&prefix);
    for (s, p) in cx.peers.iter_mut().enumerate() {
        let Some(p) = p else { continue };
        let Some(up) = &p.up else { continue };
        if up.add_path_send.contains(family) {
            // ADD-PATH send: the peer gets the whole ECMP set.
            p.out.mark(A::V6, k.slot());
            continue;
        }
        if old == new {
            continue;
        }
        // Nothing to do for a peer that was not sent the prefix and would not be sent
        // the new best path (it came from that peer): a full-table load from one peer
        // costs no queue entry.
        let not_for_it = match new {
            None => true,
            Some(n) => usize::from(n.peer) == s,
        };
        if not_for_it && !p.out.was_sent(k, &prefix) {
            continue;
        }
        p.out.mark(A::V6, k.slot());
    }
}

/// The table is about to remove prefix `k`: every Adj-RIB-Out keeps what it sent for
/// it by prefix until the withdrawal goes out (the slot is reused).
fn forget<A: Addr>(cx: &mut Cx<'_>, (k, addr, len): (Key<A>, A, u8)) {
    let prefix = addr.net(len);
    for p in cx.peers.iter_mut().flatten() {
        p.out.forget_slot(cx.attrs, k, prefix);
    }
}

fn count(peers: &mut Peers, slot: u16, old: Option<PathRef>, new: Option<PathRef>) {
    if slot == LOCAL_SLOT {
        return;
    }
    let Some(Some(p)) = peers.get_mut(usize::from(slot)) else {
        return;
    };
    p.received = p.received + u64::from(new.is_some()) - u64::from(old.is_some());
    p.accepted = p.accepted + u64::from(new.is_some_and(|n| n.accepted()))
        - u64::from(old.is_some_and(|o| o.accepted()));
}

/// Prefixes whose entries [`remove_paths`] (and a take of the change log) loads in one
/// pass before changing them: a few dozen cache lines, still in the cache then.
pub(crate) const WARM_KEYS: usize = 32;

/// Removes every path of peer `slot` (only the stale ones with `stale_only`) from each
/// prefix of `keys`, in their order. The keys come in prefix order
/// ([`Table::indices_with_peer`]), unrelated to where the entries live: each group of
/// them has its entries and path lists loaded first ([`Table::warm_slots`]), so that
/// their cache misses overlap instead of waiting one behind the other.
pub(crate) fn remove_paths<A: Addr>(
    cx: &mut Cx<'_>,
    table: &mut Table<A>,
    log: &mut Log,
    keys: &[Key<A>],
    slot: u16,
    stale_only: bool,
) {
    for group in keys.chunks(WARM_KEYS) {
        table.warm_slots(group.iter().copied());
        for &k in group {
            let Some((addr, len)) = table.prefix(k) else {
                continue;
            };
            let ids: SmallVec<[u32; 4]> = table
                .paths(k)
                .as_slice()
                .iter()
                .filter(|p| p.peer == slot && (!stale_only || p.stale()))
                .map(|p| p.path_id)
                .collect();
            for id in ids {
                change_path(cx, table, log, (k, addr, len), (slot, id), None);
            }
        }
    }
}

/// Sets (`Some`) or removes (`None`) the path `(peer slot, path id)` of one prefix.
/// `new` (with that path id) brings one reference on its attribute set, which the
/// table keeps or releases.
pub(crate) fn set_path<A: Addr>(
    cx: &mut Cx<'_>,
    table: &mut Table<A>,
    log: &mut Log,
    addr: A,
    len: u8,
    (slot, path_id): (u16, u32),
    new: Option<PathRef>,
) {
    let Some(i) = table.find(addr, len) else {
        if let Some(n) = new {
            // Every new entry is logged, even a rejected one: an entry that exists
            // without FIB_DIRTY at take time has then always been handled already.
            let flags = if log.stopped { 0 } else { FIB_DIRTY };
            let k = table.insert_single(addr, len, n, flags);
            log.record(table, k, NO_SNAPSHOT);
            count(cx.peers, slot, None, Some(n));
            if n.accepted() {
                note_export(cx, (k, addr, len), None, Some(n), true);
            }
        }
        return;
    };
    change_path(cx, table, log, (i, addr, len), (slot, path_id), new);
}

/// [`set_path`] for a stored prefix: its key `i`, which a change that removes its last
/// path leaves unstored.
fn change_path<A: Addr>(
    cx: &mut Cx<'_>,
    table: &mut Table<A>,
    log: &mut Log,
    (i, addr, len): (Key<A>, A, u8),
    (slot, path_id): (u16, u32),
    new: Option<PathRef>,
) {
    let paths = table.paths(i);
    let all = paths.as_slice();
    // Fast path: the prefix has exactly this peer's path.
    if let [only] = all {
        if only.peer == slot && only.path_id == path_id {
            let old = *only;
            if new == Some(old) {
                cx.attrs.release(old.attr);
                return;
            }
            let old_ecmp: &[PathRef] = if old.accepted() { &[old] } else { &[] };
            let changed = old.accepted() || new.is_some_and(|n| n.accepted());
            if changed {
                note_fib(cx, table, log, i, old_ecmp);
            }
            match new {
                Some(n) => table.set_paths(i, &[n], usize::from(n.accepted()), false),
                None => {
                    forget(cx, (i, addr, len));
                    table.set_paths(i, &[], 0, false);
                }
            }
            count(cx.peers, slot, Some(old), new);
            cx.attrs.release(old.attr);
            let (ob, nb) = (
                Some(old).filter(PathRef::accepted),
                new.filter(PathRef::accepted),
            );
            note_export(cx, (i, addr, len), ob, nb, ob != nb);
            return;
        }
    }
    let old_at = all
        .iter()
        .position(|p| p.peer == slot && p.path_id == path_id);
    if old_at.is_none() {
        let Some(n) = new else {
            return;
        };
        // A new path like the ones the prefix has (a fan-in, a mesh of hosts): placed
        // by the tie-breakers alone.
        if n.accepted() && paths.tied() {
            if let Some((at, in_ecmp)) = tied_place(cx.attrs, cx.peers, all, paths.ecmp().len(), n)
            {
                add_tied(cx, table, log, (i, addr, len), n, at, in_ecmp);
                return;
            }
        }
    }
    // General case: rebuild and re-decide.
    let old_best = paths.best();
    // Lists filled in place (`collect` would build each inline array aside and copy it).
    let mut old_ecmp = PathList::new();
    old_ecmp.extend_from_slice(paths.ecmp());
    let mut list = PathList::new();
    list.extend_from_slice(all);
    let old = old_at.map(|k| list.remove(k));
    if new.is_some() && new == old {
        if let Some(n) = new {
            cx.attrs.release(n.attr);
        }
        return;
    }
    list.extend(new);
    let mut ordered = PathList::new();
    let (ecmp, tied) = order(cx.attrs, cx.peers, &list, &mut ordered);
    let ecmp_changed = ordered.get(..ecmp) != Some(&old_ecmp[..]);
    if ecmp_changed {
        note_fib(cx, table, log, i, &old_ecmp);
    }
    if ordered.is_empty() {
        forget(cx, (i, addr, len));
    }
    table.set_paths(i, &ordered, ecmp, tied);
    count(cx.peers, slot, old, new);
    if let Some(o) = old {
        cx.attrs.release(o.attr);
    }
    let new_best = ordered.first().copied().filter(PathRef::accepted);
    note_export(cx, (i, addr, len), old_best, new_best, ecmp_changed);
}

/// Where the new accepted path `n` goes among the stored paths `all` of a tied prefix
/// ([`super::table::Paths::tied`]; `ecmp` of them form the ECMP set), if the
/// tie-breakers alone can place it: `n` is not reflected and equal to the best path in
/// every step before them. Returns the position and whether `n` joins the ECMP set —
/// exactly what [`order`] would make of the stored paths with `n` appended. Reads the
/// attributes of `n` and of the best path only (the others' keys are their peers'), so
/// the k-th path of a fan-in costs two attribute reads instead of k. `None` when a
/// full decision is needed: `n` differs, it would be the best path from another
/// neighbour AS (the ECMP set is then a different one), or a peer's key changed since
/// the order was stored (a restarting peer came back with another BGP identifier).
fn tied_place(
    attrs: &AttrTable,
    peers: &Peers,
    all: &[PathRef],
    ecmp: usize,
    n: PathRef,
) -> Option<(usize, bool)> {
    let best = *all.first()?;
    let sn = &attrs.get(n.attr).summary;
    if sn.reflected() || ecmp == 0 || ecmp >= usize::from(u8::MAX) {
        return None;
    }
    let cn = candidate(n, sn, peers);
    let cb = candidate(best, &attrs.get(best.attr).summary, peers);
    if !cn.same_steps(&cb) {
        return None;
    }
    let (kn, kb) = (cn.tie_key(), cb.tie_key());
    // The ECMP set is the paths from the best path's neighbour AS, the rest follow;
    // each part in the tie-breakers' order, equal keys in the order they came (`n`
    // last).
    let in_ecmp = cn.neighbor_as == cb.neighbor_as;
    let accepted = all.iter().take_while(|p| p.accepted()).count();
    let part = if in_ecmp { 0..ecmp } else { ecmp..accepted };
    let mut at = part.end;
    let mut prev = kb;
    for (j, p) in all.iter().enumerate().take(accepted).skip(1) {
        let k = plain_tie_key(p.peer, peers);
        // Each part ordered, the best first of all: else decide again.
        let before = if j == ecmp { kb } else { prev };
        if k.order(&before) == Ordering::Less {
            return None;
        }
        if at == part.end && part.contains(&j) && k.order(&kn) == Ordering::Greater {
            at = j;
        }
        prev = k;
    }
    if kn.order(&kb) == Ordering::Less {
        // `n` becomes the best path: the same ECMP set only from the same AS.
        return in_ecmp.then_some((0, true));
    }
    Some((at, in_ecmp))
}

/// Adds `n` at position `at` of a tied prefix (see [`tied_place`]).
fn add_tied<A: Addr>(
    cx: &mut Cx<'_>,
    table: &mut Table<A>,
    log: &mut Log,
    (i, addr, len): (Key<A>, A, u8),
    n: PathRef,
    at: usize,
    in_ecmp: bool,
) {
    let paths = table.paths(i);
    let old_best = paths.best();
    let ecmp = paths.ecmp().len();
    let mut list = PathList::new();
    list.extend_from_slice(paths.as_slice());
    if in_ecmp {
        note_fib(cx, table, log, i, &list[..ecmp]);
    }
    #[cfg(debug_assertions)]
    let before = list.clone();
    list.insert(at, n);
    let new_ecmp = ecmp + usize::from(in_ecmp);
    #[cfg(debug_assertions)]
    {
        // The placement is the full decision's: checked on every use in test builds.
        let mut full = before;
        full.push(n);
        let mut ordered = PathList::new();
        let decided = order(cx.attrs, cx.peers, &full, &mut ordered);
        debug_assert_eq!(
            (&ordered[..], decided),
            (&list[..], (new_ecmp, true)),
            "a tied placement differs from the decision"
        );
    }
    table.set_paths(i, &list, new_ecmp, true);
    count(cx.peers, n.peer, None, Some(n));
    let new_best = list.first().copied();
    note_export(cx, (i, addr, len), old_best, new_best, in_ecmp);
}

/// The paths of one prefix while it is re-decided: on the stack for up to 16.
pub(crate) type PathList = SmallVec<[PathRef; 16]>;

/// Orders the paths of one prefix into `ordered` (empty on entry): the decision over
/// the accepted ones, then the rejected ones. Returns the ECMP set size and whether the
/// prefix is tied ([`super::table::Paths::tied`]).
pub(crate) fn order(
    attrs: &AttrTable,
    peers: &Peers,
    list: &[PathRef],
    ordered: &mut PathList,
) -> (usize, bool) {
    let mut out = PathList::new();
    out.extend(list.iter().copied().filter(PathRef::accepted));
    let acc = out.len();
    if acc <= 1 {
        ordered.extend(out);
        ordered.extend(list.iter().copied().filter(|p| !p.accepted()));
        return (acc, false);
    }
    // Filled in place: `collect` builds the inline array aside and copies it over.
    let mut cands: SmallVec<[Candidate; 16]> = SmallVec::new();
    let mut reflected = false;
    cands.extend(out.iter().map(|p| {
        let s = &attrs.get(p.attr).summary;
        reflected |= s.reflected();
        candidate(*p, s, peers)
    }));
    let tied = !reflected
        && cands
            .iter()
            .all(|c| cands.first().is_some_and(|f| f.same_steps(c)));
    let mut idx = Indices::new();
    let ecmp = decide(&cands, &mut idx, |_, _| {});
    ordered.extend(idx.iter().filter_map(|&k| out.get(k).copied()));
    ordered.extend(list.iter().copied().filter(|p| !p.accepted()));
    (ecmp, tied)
}
