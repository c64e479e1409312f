//! The best-path change stream for the kernel: the change log holds each prefix once
//! with its FIB state from before its first change; taking it compares that with the
//! state now, so a prefix that flapped and came back reports nothing, and one that
//! changed twice reports once.

use std::net::IpAddr;

use super::table::{Addr, Key, Table, FIB_DIRTY};
use super::update::{fib_hops, Log, MULTI_SNAPSHOT, NO_SNAPSHOT, WARM_KEYS};
use super::{AttrTable, Rib, RouteAction, RouteChange};

fn drain<A: Addr>(
    table: &mut Table<A>,
    log: &mut Log,
    attrs: &mut AttrTable,
    snapshots: &[Vec<IpAddr>],
    out: &mut Vec<RouteChange>,
    max: usize,
    skip_equal: bool,
) {
    let n = log.len().min(max);
    // The records of a peer's removal come in prefix order, unrelated to where the
    // entries live: each group's entries and first paths are loaded first, their cache
    // misses overlapping (a full table's insertions come in slot order anyway).
    for group in log.first(n).chunks(WARM_KEYS) {
        table.warm_slots(group.iter().map(|&(slot, _)| Key::new(slot)));
        for &(slot, snap) in group {
            let one;
            let before: Option<&[IpAddr]> = if snap == NO_SNAPSHOT {
                None
            } else if snap & MULTI_SNAPSHOT != 0 {
                snapshots
                    .get((snap & !MULTI_SNAPSHOT) as usize)
                    .map(Vec::as_slice)
            } else {
                one = attrs.get(snap).next_hop();
                attrs.release(snap);
                Some(std::slice::from_ref(&one))
            };
            let k = Key::new(slot);
            let Some((addr, len, here)) = table.logged(k) else {
                continue;
            };
            // Removed since: the prefix may be stored again, in another slot.
            let stored = if here { Some(k) } else { table.find(addr, len) };
            let flagged = stored.and_then(|k| table.clear_flag(k, FIB_DIRTY));
            let now = match flagged {
                // Every entry created or changed since the last take is flagged; an
                // unflagged one was handled by an earlier record of this same drain
                // (which had the older snapshot).
                Some((false, _)) => continue,
                Some((true, paths)) => fib_hops(attrs, paths.ecmp()),
                None => None,
            };
            let action = match (before, now) {
                (None, None) => continue,
                (Some(_), None) => RouteAction::Withdraw,
                (None, Some(h)) => RouteAction::Install(h),
                (Some(b), Some(h)) if skip_equal && b == &h[..] => continue,
                (Some(_), Some(h)) => RouteAction::Replace(h),
            };
            out.push(RouteChange {
                prefix: addr.net(len),
                action,
            });
        }
    }
    log.discard(n);
    if log.is_empty() {
        table.release_held();
    }
}

impl Rib {
    /// Best-path changes since the last call, one per prefix at most, for the kernel:
    /// [`RouteAction::Install`] (no BGP route before), [`RouteAction::Replace`] (ECMP
    /// next hops changed), [`RouteAction::Withdraw`]. Prefixes whose best path is our
    /// own (originated) count as having no BGP route. IPv4 changes come first, each
    /// family in the order the prefixes first changed.
    pub fn take_route_changes(&mut self) -> Vec<RouteChange> {
        let mut out = Vec::with_capacity(self.log4.len() + self.log6.len());
        let skip_equal = !std::mem::take(&mut self.changes_left_behind);
        drain(
            &mut self.v4,
            &mut self.log4,
            &mut self.attrs,
            &self.snapshots,
            &mut out,
            usize::MAX,
            skip_equal,
        );
        drain(
            &mut self.v6,
            &mut self.log6,
            &mut self.attrs,
            &self.snapshots,
            &mut out,
            usize::MAX,
            skip_equal,
        );
        self.snapshots.clear();
        out
    }

    /// The change stream in bounded batches: at most `max` (at least 1) logged prefixes
    /// are taken, the rest stay logged (8 octets per prefix) for the next call,
    /// so a consumer that pulls batches never holds more than one batch of
    /// [`RouteChange`]s.
    ///
    /// The stream is then *level-triggered*: once a take has left changes behind, the
    /// log can hold a prefix more than once, so until it has been emptied again each
    /// change states the prefix's current next hops rather than a difference. A prefix
    /// may then be reported again unchanged (a `Replace` with the hops the consumer
    /// has, an `Install` for one it has, a second `Withdraw`), and a flap is not
    /// suppressed. Apply `Install` and `Replace` as "set", `Withdraw` as "remove if
    /// present", and the consumer ends with exactly the Loc-RIB's next hops once the
    /// log is empty. A take that starts with nothing left behind is exactly
    /// [`Rib::take_route_changes`] (flaps suppressed).
    pub fn take_route_changes_max(&mut self, max: usize) -> Vec<RouteChange> {
        let max = max.max(1);
        let mut out = Vec::with_capacity(max.min(self.pending_route_changes()));
        let n4 = self.log4.len().min(max);
        let skip_equal = !self.changes_left_behind;
        drain(
            &mut self.v4,
            &mut self.log4,
            &mut self.attrs,
            &self.snapshots,
            &mut out,
            n4,
            skip_equal,
        );
        drain(
            &mut self.v6,
            &mut self.log6,
            &mut self.attrs,
            &self.snapshots,
            &mut out,
            max - n4,
            skip_equal,
        );
        // Logged ECMP snapshots are indexed from both logs.
        self.changes_left_behind = !(self.log4.is_empty() && self.log6.is_empty());
        if !self.changes_left_behind {
            self.snapshots.clear();
        }
        out
    }

    /// Nobody takes the change stream (a speaker without a FIB): the log is emptied
    /// and from now on nothing is logged, so a full table costs no change records.
    /// [`Rib::take_route_changes`] then returns nothing.
    pub fn stop_route_changes(&mut self) {
        self.take_route_changes();
        self.log4.stop();
        self.log6.stop();
    }

    /// Number of prefixes waiting in the change log.
    pub fn pending_route_changes(&self) -> usize {
        self.log4.len() + self.log6.len()
    }
}
