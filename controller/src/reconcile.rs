//! The reconcile logic (BIRD's kernel sync): the desired table, the diff against a dump of
//! our routes in the kernel, and the batched add/replace/delete that closes the gap. No
//! sockets, no clock: it drives any [`RouteTable`], so it is unit-tested with
//! [`crate::MemoryTable`].
//!
//! Rules: only routes with our protocol number are ever changed (a new route is added with
//! `NLM_F_EXCL`, so another protocol's route for the same prefix makes ours fail instead of
//! being overwritten); a failed route is retried on the next full reconcile, never in a
//! loop; until the desired set is known complete (a `ReplaceAll`, or [`Reconciler::allow_deletes`]),
//! routes of ours that are not desired are *adopted*, not deleted, so a restart causes no churn.

use std::collections::HashMap;
use std::mem;
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;

use crate::interner::{Interner, KindId};
use crate::prefix_map::PrefixMap;
use crate::route::{canonicalize, check, is_canonical, kind_satisfied, Route, TableConfig};
use crate::status::{Counters, RouteState, RouteStatus};
use crate::table::{RouteTable, TableError};

/// A change to the desired table, sent by the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredChange {
    /// Install or change the route for `route.prefix`.
    Upsert(Route),
    /// No route of ours for this prefix any more.
    Remove(IpNet),
    /// This is the complete desired table: everything else of ours goes. Also tells the
    /// controller that the desired set is complete, so undesired routes adopted from a
    /// previous run are deleted from now on.
    ReplaceAll(Vec<Route>),
}

/// A route change the kernel announced (only routes with our protocol in our table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteEvent {
    /// RTM_NEWROUTE: the kernel now has this route.
    New(Route),
    /// RTM_DELROUTE: the kernel removed this route.
    Del(Route),
}

impl RouteEvent {
    /// The prefix the event is about.
    pub fn prefix(&self) -> IpNet {
        match self {
            RouteEvent::New(r) | RouteEvent::Del(r) => r.prefix,
        }
    }
}

mod push;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum State {
    Pending = 0,
    Installed = 1,
    Failed = 2,
    /// Can never be installed (bad route); never sent to the kernel.
    Invalid = 3,
}

/// One desired route in 4 bytes (a full table holds a million): the interned kind's id
/// (low 28 bits), the state (2 bits), whether the kernel has a route of ours for the
/// prefix (maybe a different one), and a "seen" bit used only during one pass (a dump
/// being compared, a `ReplaceAll` naming its routes) and clear outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry(u32);

const KIND_BITS: u32 = 28;
const KIND_MASK: u32 = (1 << KIND_BITS) - 1;
const STATE_SHIFT: u32 = KIND_BITS;
const IN_KERNEL: u32 = 1 << 30;
const SEEN: u32 = 1 << 31;

impl Entry {
    fn new(kind: KindId, state: State) -> Entry {
        let mut e = Entry(0);
        e.set_kind(kind);
        e.0 |= (state as u32) << STATE_SHIFT;
        e
    }
    fn kind(self) -> KindId {
        self.0 & KIND_MASK
    }
    fn set_kind(&mut self, k: KindId) {
        debug_assert!(k <= KIND_MASK, "route kind id {k} out of range");
        self.0 = (self.0 & !KIND_MASK) | (k & KIND_MASK);
    }
    fn state(self) -> State {
        match (self.0 >> STATE_SHIFT) & 3 {
            0 => State::Pending,
            1 => State::Installed,
            2 => State::Failed,
            _ => State::Invalid,
        }
    }
    fn set_state_bits(&mut self, s: State) {
        self.0 = (self.0 & !(3 << STATE_SHIFT)) | ((s as u32) << STATE_SHIFT);
    }
    fn in_kernel(self) -> bool {
        self.0 & IN_KERNEL != 0
    }
    fn set_in_kernel(&mut self, on: bool) {
        self.flag(IN_KERNEL, on);
    }
    fn seen(self) -> bool {
        self.0 & SEEN != 0
    }
    fn set_seen(&mut self, on: bool) {
        self.flag(SEEN, on);
    }
    fn flag(&mut self, bit: u32, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

#[derive(Debug, Default)]
struct Gauges {
    installed: u64,
    failed: u64,
}

impl Gauges {
    fn leave(&mut self, s: State) {
        match s {
            State::Installed => self.installed = self.installed.saturating_sub(1),
            State::Failed | State::Invalid => self.failed = self.failed.saturating_sub(1),
            State::Pending => {}
        }
    }
    fn enter(&mut self, s: State) {
        match s {
            State::Installed => self.installed += 1,
            State::Failed | State::Invalid => self.failed += 1,
            State::Pending => {}
        }
    }
}

fn transition(g: &mut Gauges, e: &mut Entry, to: State) {
    if e.state() != to {
        g.leave(e.state());
        g.enter(to);
        e.set_state_bits(to);
    }
}

/// Queue the delete of a route that is no longer desired, if the kernel has one of ours
/// for its prefix: an installed one with its kind (the reference kept, see
/// `Reconciler::kind_deletes`), another by its prefix alone.
fn queue_delete(
    kinds: &mut Interner,
    deletes: &mut Vec<IpNet>,
    kind_deletes: &mut Vec<(IpNet, KindId)>,
    prefix: IpNet,
    e: Entry,
) {
    if e.in_kernel() && e.state() == State::Installed {
        kind_deletes.push((prefix, e.kind()));
        return;
    }
    kinds.release(e.kind());
    if e.in_kernel() {
        deletes.push(prefix);
    }
}

/// Drop the failure reason of a prefix. The map is nearly always empty, and a removal
/// from an empty map would still hash the key (once per route in a full-table load).
fn forget_reason(reasons: &mut HashMap<IpNet, String>, prefix: &IpNet) {
    if !reasons.is_empty() {
        reasons.remove(prefix);
    }
}

/// The desired table and the logic that makes a [`RouteTable`] match it.
pub struct Reconciler<T: RouteTable> {
    config: TableConfig,
    table: T,
    routes: PrefixMap<Entry>,
    kinds: Interner,
    reasons: HashMap<IpNet, String>,
    adopted: PrefixMap<KindId>,
    deletes_allowed: bool,
    dirty: Vec<IpNet>,
    deletes: Vec<IpNet>,
    /// Installed routes no longer desired, with their kind: the reference is kept until
    /// `push` sends them, which deletes all routes of a kind that goes entirely (a peer
    /// gone with its routes) with the kind's shared object when the backend can.
    kind_deletes: Vec<(IpNet, KindId)>,
    /// Prefixes desired anew while `kind_deletes` had entries (see `push_holding`).
    reborn: Vec<IpNet>,
    scan_all: bool,
    gauges: Gauges,
    counters: Arc<Counters>,
    in_reconcile: bool,
    reconcile_soon: bool,
}

impl<T: RouteTable> Reconciler<T> {
    /// A reconciler with an empty desired table. `deletes_allowed = false` adopts our
    /// undesired routes found in the kernel until the desired set is complete.
    pub fn new(
        config: TableConfig,
        table: T,
        counters: Arc<Counters>,
        deletes_allowed: bool,
    ) -> Self {
        Reconciler {
            config,
            table,
            routes: PrefixMap::default(),
            kinds: Interner::default(),
            reasons: HashMap::new(),
            adopted: PrefixMap::default(),
            deletes_allowed,
            dirty: Vec::new(),
            deletes: Vec::new(),
            kind_deletes: Vec::new(),
            reborn: Vec::new(),
            scan_all: false,
            gauges: Gauges::default(),
            counters,
            in_reconcile: false,
            reconcile_soon: false,
        }
    }

    /// The backend.
    pub fn table(&self) -> &T {
        &self.table
    }

    /// The backend, mutable (tests use it to play "someone else").
    pub fn table_mut(&mut self) -> &mut T {
        &mut self.table
    }

    /// The shared counters.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Whether something happened that only a full reconcile can sort out (an add that
    /// found a route in place, answers lost); the caller schedules one, not immediately.
    pub fn take_reconcile_soon(&mut self) -> bool {
        mem::take(&mut self.reconcile_soon)
    }

    /// Whether there is queued work for [`Reconciler::push`].
    pub fn has_work(&self) -> bool {
        self.scan_all
            || !self.dirty.is_empty()
            || !self.deletes.is_empty()
            || !self.kind_deletes.is_empty()
    }

    /// Record a desired change; nothing is sent until [`Reconciler::push`].
    pub fn change(&mut self, change: DesiredChange) {
        self.change_ref(&change);
    }

    /// [`Reconciler::change`] without taking the change: the caller can free it where it
    /// was allocated (a route's next hops are a heap allocation of the agent's thread;
    /// freeing a million of them here cost this thread more than reading them).
    pub fn change_ref(&mut self, change: &DesiredChange) {
        match change {
            DesiredChange::Upsert(r) => self.upsert(r, false),
            DesiredChange::Remove(p) => self.remove(p.trunc()),
            DesiredChange::ReplaceAll(routes) => self.replace_all(routes),
        }
        self.publish();
    }

    /// `seen`: named by the `ReplaceAll` being applied.
    fn upsert(&mut self, route: &Route, seen: bool) {
        let copy;
        let route = if is_canonical(route, self.config.ecmp) {
            route
        } else {
            let mut r = route.clone();
            canonicalize(&mut r, self.config.ecmp);
            copy = r;
            &copy
        };
        let invalid = check(route).err();
        let prefix = route.prefix;
        let id = self.kinds.intern_ref(&route.kind);
        let g = &mut self.gauges;
        // One probe of the table for a new prefix too (a full table is a million of them).
        let Some((e, new)) = self
            .routes
            .get_or_insert_with(prefix, || Entry::new(id, State::Pending))
        else {
            self.kinds.release(id);
            return;
        };
        if !new {
            e.set_seen(seen);
            if e.kind() == id {
                self.kinds.release(id);
                return;
            }
            self.kinds.release(e.kind());
            e.set_kind(id);
            match invalid {
                Some(reason) => {
                    tracing::warn!(%prefix, %reason, "route rejected");
                    transition(g, e, State::Invalid);
                    self.reasons.insert(prefix, reason);
                    if e.in_kernel() {
                        self.deletes.push(prefix);
                    }
                }
                None => {
                    transition(g, e, State::Pending);
                    self.dirty.push(prefix);
                }
            }
            return;
        }
        e.set_seen(seen);
        if !self.kind_deletes.is_empty() {
            // Its old route's delete may be held back: it must go before the add.
            self.reborn.push(prefix);
        }
        let adopted = self.adopted.remove(&prefix);
        if let Some(reason) = invalid {
            tracing::warn!(%prefix, %reason, "route rejected");
            e.set_state_bits(State::Invalid);
            self.reasons.insert(prefix, reason);
            if adopted.is_some() {
                self.deletes.push(prefix);
            }
        } else if let Some(aid) = adopted {
            e.set_in_kernel(true);
            if kind_satisfied(self.kinds.get(id), self.kinds.get(aid)) {
                e.set_state_bits(State::Installed);
            } else {
                self.dirty.push(prefix);
            }
        } else {
            self.dirty.push(prefix);
        }
        if let Some(aid) = adopted {
            self.kinds.release(aid);
        }
        g.enter(e.state());
    }

    fn remove(&mut self, prefix: IpNet) {
        if let Some(e) = self.routes.remove(&prefix) {
            self.gauges.leave(e.state());
            forget_reason(&mut self.reasons, &prefix);
            queue_delete(
                &mut self.kinds,
                &mut self.deletes,
                &mut self.kind_deletes,
                prefix,
                e,
            );
        }
    }

    fn replace_all(&mut self, routes: &[Route]) {
        for r in routes {
            self.upsert(r, true);
        }
        let Self {
            routes,
            kinds,
            reasons,
            gauges,
            deletes,
            kind_deletes,
            ..
        } = self;
        routes.retain(|p, e| {
            if e.seen() {
                e.set_seen(false);
                return true;
            }
            gauges.leave(e.state());
            forget_reason(reasons, &p);
            queue_delete(kinds, deletes, kind_deletes, p, *e);
            false
        });
        self.allow_deletes();
    }

    /// The desired set is complete: routes of ours that nobody wants are deleted from now
    /// on, starting with those adopted so far.
    pub fn allow_deletes(&mut self) {
        self.deletes_allowed = true;
        for (p, id) in self.adopted.drain() {
            self.kinds.release(id);
            self.deletes.push(p);
        }
    }

    /// Take note of kernel events (no I/O); [`Reconciler::push`] then repairs.
    pub fn events(&mut self, events: impl IntoIterator<Item = RouteEvent>) {
        for ev in events {
            self.event(ev);
        }
        self.publish();
    }

    fn event(&mut self, ev: RouteEvent) {
        let g = &mut self.gauges;
        match ev {
            RouteEvent::New(kr) => match self.routes.get_mut(&kr.prefix) {
                Some(e) => {
                    e.set_in_kernel(true);
                    if e.state() == State::Invalid {
                        self.deletes.push(kr.prefix);
                    } else if kind_satisfied(self.kinds.get(e.kind()), &kr.kind) {
                        transition(g, e, State::Installed);
                        forget_reason(&mut self.reasons, &kr.prefix);
                    } else {
                        tracing::info!(route = %kr, "our route changed by someone else; putting it back");
                        transition(g, e, State::Pending);
                        self.dirty.push(kr.prefix);
                    }
                }
                None if self.deletes_allowed => self.deletes.push(kr.prefix),
                None => {
                    if !self.adopted.contains_key(&kr.prefix) {
                        let id = self.kinds.intern(kr.kind);
                        self.adopted.insert(kr.prefix, id);
                    }
                }
            },
            RouteEvent::Del(kr) => match self.routes.get_mut(&kr.prefix) {
                Some(e) => {
                    e.set_in_kernel(false);
                    if e.state() == State::Installed {
                        tracing::info!(route = %kr, "our route deleted by someone else; putting it back");
                        transition(g, e, State::Pending);
                    }
                    if e.state() == State::Pending {
                        self.dirty.push(kr.prefix);
                    }
                }
                None => {
                    if let Some(id) = self.adopted.remove(&kr.prefix) {
                        self.kinds.release(id);
                    }
                }
            },
        }
    }

    /// Full reconcile: dump our routes, diff, apply. Records duration and counters.
    pub fn reconcile(&mut self) -> Result<(), TableError> {
        let start = Instant::now();
        let r = self.reconcile_inner();
        let c = &self.counters;
        Counters::set(&c.last_reconcile_us, start.elapsed().as_micros() as u64);
        Counters::add(&c.reconciles, 1);
        if let Err(e) = &r {
            Counters::add(&c.reconcile_errors, 1);
            tracing::warn!(error = %e, "reconcile failed");
            self.reconcile_soon = true;
        }
        self.publish();
        r
    }

    fn reconcile_inner(&mut self) -> Result<(), TableError> {
        for attempt in 0..3 {
            if attempt > 0 {
                self.clear_seen();
            }
            self.deletes.clear();
            for (_, id) in self.kind_deletes.drain(..) {
                self.kinds.release(id);
            }
            self.reborn.clear();
            for (_, id) in self.adopted.drain() {
                self.kinds.release(id);
            }
            let Self {
                table,
                routes,
                kinds,
                reasons,
                adopted,
                deletes,
                gauges,
                deletes_allowed,
                ..
            } = self;
            let allowed = *deletes_allowed;
            let dumped = table.dump(&mut |kr: Route| match routes.get_mut(&kr.prefix) {
                Some(e) if e.seen() => {}
                Some(e) => {
                    e.set_seen(true);
                    e.set_in_kernel(true);
                    if e.state() == State::Invalid {
                        deletes.push(kr.prefix);
                    } else if kind_satisfied(kinds.get(e.kind()), &kr.kind) {
                        transition(gauges, e, State::Installed);
                        forget_reason(reasons, &kr.prefix);
                    } else {
                        transition(gauges, e, State::Pending);
                    }
                }
                None if allowed => deletes.push(kr.prefix),
                None => {
                    adopted.insert_with(kr.prefix, || kinds.intern(kr.kind));
                }
            });
            let info = match dumped {
                Ok(info) => info,
                Err(e) => {
                    self.clear_seen();
                    return Err(e);
                }
            };
            if !info.interrupted {
                break;
            }
            tracing::debug!(attempt, "route dump interrupted by changes; dumping again");
        }
        for e in self.routes.values_mut() {
            if e.seen() {
                e.set_seen(false);
            } else {
                e.set_in_kernel(false);
                if matches!(e.state(), State::Installed | State::Failed) {
                    transition(&mut self.gauges, e, State::Pending);
                }
            }
        }
        self.scan_all = true;
        self.dirty.clear();
        self.in_reconcile = true;
        let r = self.push();
        self.in_reconcile = false;
        r
    }

    /// Ends a pass: no entry is "seen" outside one.
    fn clear_seen(&mut self) {
        for e in self.routes.values_mut() {
            e.set_seen(false);
        }
    }

    /// Delete every route with our protocol in our table and forget the desired table
    /// (for `--flush-routes-on-exit`). Returns how many routes were deleted.
    pub fn flush(&mut self) -> Result<usize, TableError> {
        let mut ours = Vec::new();
        self.table.dump(&mut |r| ours.push(r.prefix))?;
        ours.sort_unstable();
        ours.dedup();
        self.routes.clear();
        self.kind_deletes.clear();
        self.reborn.clear();
        self.kinds.clear();
        self.reasons.clear();
        self.adopted.clear();
        self.dirty.clear();
        self.scan_all = false;
        self.gauges = Gauges::default();
        self.deletes = ours;
        let n = self.deletes.len();
        self.push()?;
        // Read the table once more: a backend that keeps shared objects for the routes
        // (nexthop objects) deletes the ones no route uses any more.
        self.table.dump(&mut |_| {})?;
        Ok(n)
    }

    /// The state of the desired route for `prefix`.
    pub fn status(&self, prefix: IpNet) -> Option<RouteStatus> {
        let prefix = prefix.trunc();
        self.routes.get(&prefix).map(|e| self.row(prefix, *e))
    }

    /// All desired routes with their state, sorted by prefix.
    pub fn routes(&self) -> Vec<RouteStatus> {
        let mut v: Vec<RouteStatus> = self.routes.iter().map(|(p, e)| self.row(p, *e)).collect();
        v.sort_by_key(|r| r.route.prefix);
        v
    }

    /// The desired routes of `prefixes` (those there are), in their order.
    pub fn desired_of(&self, prefixes: &[IpNet]) -> Vec<Route> {
        prefixes
            .iter()
            .filter_map(|p| {
                let prefix = p.trunc();
                let e = self.routes.get(&prefix)?;
                Some(Route {
                    prefix,
                    kind: self.kinds.get(e.kind()).clone(),
                })
            })
            .collect()
    }

    /// The desired routes whose prefix `filter` picks, unsorted.
    pub fn desired_where(&self, filter: &dyn Fn(&IpNet) -> bool) -> Vec<Route> {
        self.routes
            .iter()
            .filter(|(p, _)| filter(p))
            .map(|(prefix, e)| Route {
                prefix,
                kind: self.kinds.get(e.kind()).clone(),
            })
            .collect()
    }

    fn row(&self, prefix: IpNet, e: Entry) -> RouteStatus {
        let state = match e.state() {
            State::Installed => RouteState::Installed,
            State::Pending => RouteState::Pending,
            State::Failed | State::Invalid => RouteState::Failed(
                self.reasons
                    .get(&prefix)
                    .cloned()
                    .unwrap_or_else(|| "failed".into()),
            ),
        };
        RouteStatus {
            route: Route {
                prefix,
                kind: self.kinds.get(e.kind()).clone(),
            },
            state,
        }
    }

    fn publish(&self) {
        let c = &self.counters;
        Counters::set(&c.routes_desired, self.routes.len() as u64);
        Counters::set(&c.routes_installed, self.gauges.installed);
        Counters::set(&c.routes_failed, self.gauges.failed);
        Counters::set(&c.nexthop_objects, self.table.shared_objects() as u64);
        Counters::set(&c.deletes_held, self.kind_deletes.len() as u64);
    }
}

#[cfg(test)]
mod tests;
