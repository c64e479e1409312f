//! Sending the queued work: deletes first, then adds/replaces, in backend-sized batches,
//! and recording each route's outcome.

use std::collections::HashMap;
use std::mem;

use ipnet::IpNet;

use super::{forget_reason, transition, Entry, Gauges, Reconciler, State};
use crate::interner::{Interner, KindId};
use crate::route::RouteKind;

use crate::status::Counters;
use crate::table::{Action, Op, OpError, OpErrorKind, RouteTable, TableError};

/// Fewest routes of one kind deleted through their shared object at once.
pub(crate) const SHARED_MIN: usize = 1024;
/// Deleting a kind's routes through their shared object needs them to be at least this
/// share of the routes: one in `SHARED_SHARE`.
const SHARED_SHARE: usize = 8;
/// At most this many prefixes desired again are looked for among held deletes (each a
/// pass over them); more send every held delete.
pub(super) const REBORN_MAX: usize = 64;

/// What becomes of the queued deletes of one kind at a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// All the kind's routes go: through its shared object if the backend can.
    Shared,
    /// Held back ([`Reconciler::push_holding`]).
    Hold,
    /// Deleted one by one.
    Send,
}

impl<T: RouteTable> Reconciler<T> {
    /// Send queued deletes, then queued adds/replaces, in batches.
    pub fn push(&mut self) -> Result<(), TableError> {
        self.push_with(false)
    }

    /// [`Reconciler::push`], except that the deletes of a kind that is going in bulk but
    /// not entirely yet (a peer's routes arriving in batches after it went down) may be
    /// held back, so that a later push deletes them all with their shared object:
    /// [`Reconciler::held`] says how many. The caller pushes again (with either) soon
    /// after the batches stop; a plain `push` sends them in any case.
    pub fn push_holding(&mut self) -> Result<(), TableError> {
        self.push_with(true)
    }

    /// Deletes held back by the last [`Reconciler::push_holding`].
    pub fn held(&self) -> usize {
        self.kind_deletes.len()
    }

    fn push_with(&mut self, hold: bool) -> Result<(), TableError> {
        let r = self.push_inner(hold);
        if r.is_err() {
            self.reconcile_soon = true;
        }
        self.publish();
        r
    }

    fn push_inner(&mut self, hold: bool) -> Result<(), TableError> {
        let batch = self.table.batch_size();
        let mut results = Vec::with_capacity(batch);
        let mut deletes = mem::take(&mut self.deletes);
        self.delete_shared(&mut deletes, hold);
        // Longest prefixes first, each length from the highest address down. The
        // kernel's IPv4 trie (fib_trie) pays when a delete removes the child that gave
        // its node the node's longest suffix (the shortest prefix under it): it then
        // walks the node's children from the first until one has that suffix again.
        // Removing the longer prefixes of a node first rarely removes that child, and
        // within a length the node's first children stay until the end. In ascending
        // order every delete walks past the ones emptied before it: measured with
        // `ip -batch` in a namespace, 400,000 /24s in a table of their own (table 100)
        // took 32.8 s to delete in ascending order and 8.0 s in descending order (8.4 s
        // to add); for 1,000,000 DFZ-like prefixes, system time 18.5 s descending, 16.5 s
        // longest first (one run each). In the main table (with the connected route)
        // the order made no difference: 7.7 s ascending, 7.3 s descending.
        deletes.sort_unstable_by_key(|p| std::cmp::Reverse((p.prefix_len(), p.addr())));
        deletes.dedup();
        for chunk in deletes.chunks(batch) {
            let ops: Vec<Op<'_>> = chunk
                .iter()
                .map(|p| Op {
                    prefix: *p,
                    action: Action::Delete,
                })
                .collect();
            results.clear();
            let r = self.table.apply(&ops, &mut results);
            Counters::add(&self.counters.netlink_ops, results.len() as u64);
            for (op, res) in ops.iter().zip(&results) {
                match res {
                    Ok(()) => {}
                    Err(e) if e.kind == OpErrorKind::NotFound => {}
                    Err(e) => {
                        Counters::add(&self.counters.netlink_errors, 1);
                        tracing::warn!(prefix = %op.prefix, reason = %e, "delete failed");
                    }
                }
            }
            r?;
        }
        if self.scan_all {
            self.scan_all = false;
            self.dirty.clear();
            self.push_all_pending(batch, &mut results)
        } else {
            self.push_dirty(batch, &mut results)
        }
    }

    /// Sends the deletes of whole kinds going at once through their shared object, holds
    /// back (`hold`) those of kinds going in bulk but not entirely yet, and moves the
    /// other deletes of installed routes to `deletes`. A kind goes through its object
    /// when all its references are deletes queued here (no desired or adopted route keeps
    /// it), it has at least [`SHARED_MIN`] of them and its routes are at least a
    /// [`SHARED_SHARE`]th of the table (the backend checks the object's routes with a
    /// read of the whole table: about as costly as deleting a few routes for every route
    /// in it). A held delete whose prefix is desired again goes now (its add follows).
    fn delete_shared(&mut self, deletes: &mut Vec<IpNet>, hold: bool) {
        let queued = mem::take(&mut self.kind_deletes);
        let reborn = mem::take(&mut self.reborn);
        if queued.len() < SHARED_MIN {
            for (p, k) in queued {
                deletes.push(p);
                self.kinds.release(k);
            }
            return;
        }
        // How many deletes each kind has (one pass: the held ones are most of them while
        // a peer's routes stream in, and sorting them again at every push cost more).
        let mut fates: HashMap<KindId, (usize, Fate)> = HashMap::new();
        let mut last: Option<(KindId, usize)> = None;
        for &(_, k) in &queued {
            match &mut last {
                Some((lk, n)) if *lk == k => *n += 1,
                _ => {
                    if let Some((lk, n)) = last {
                        fates.entry(lk).or_insert((0, Fate::Send)).0 += n;
                    }
                    last = Some((k, 1));
                }
            }
        }
        if let Some((lk, n)) = last {
            fates.entry(lk).or_insert((0, Fate::Send)).0 += n;
        }
        let total = self.routes.len() + queued.len();
        for (k, (n, fate)) in fates.iter_mut() {
            let refs = self.kinds.refs(*k) as usize;
            let bulk = *n >= SHARED_MIN && refs.saturating_mul(SHARED_SHARE) >= total;
            *fate = match (bulk, refs == *n) {
                (true, true) => Fate::Shared,
                (true, false) if hold => Fate::Hold,
                _ => Fate::Send,
            };
        }
        // A few prefixes desired again are looked for among the held deletes; many stop
        // the holding.
        let (mut now, mut unhold) = (Vec::new(), false);
        if !reborn.is_empty() && fates.values().any(|f| f.1 == Fate::Hold) {
            if reborn.len() > REBORN_MAX {
                unhold = true;
            } else {
                now = reborn;
                now.sort_unstable();
            }
        }
        if now.is_empty() && !unhold && fates.values().all(|f| f.1 == Fate::Hold) {
            // Nothing to send yet (the usual push while a peer's routes stream in).
            self.kind_deletes = queued;
            return;
        }
        // Kinds going entirely: through their object if the backend can.
        let mut gone: HashMap<KindId, Vec<IpNet>> = fates
            .iter()
            .filter(|(_, f)| f.1 == Fate::Shared)
            .map(|(k, f)| (*k, Vec::with_capacity(f.0)))
            .collect();
        if !gone.is_empty() {
            for (p, k) in &queued {
                if let Some(v) = gone.get_mut(k) {
                    v.push(*p);
                }
            }
            let keep: Vec<&RouteKind> = self
                .kinds
                .live()
                .filter(|(id, _)| !gone.contains_key(id))
                .map(|(_, k)| k)
                .collect();
            for (k, prefixes) in gone.iter_mut() {
                prefixes.sort_unstable();
                let kind = self.kinds.get(*k);
                let started = std::time::Instant::now();
                let failed = match self.table.delete_through_shared(kind, prefixes, &keep) {
                    Ok(true) => {
                        Counters::add(&self.counters.netlink_ops, 1);
                        let ms = started.elapsed().as_millis() as u64;
                        tracing::info!(routes = prefixes.len(), %kind, ms, "deleted routes with their shared next hop");
                        false
                    }
                    Ok(false) => true,
                    Err(e) => {
                        Counters::add(&self.counters.netlink_errors, 1);
                        tracing::warn!(routes = prefixes.len(), %kind, error = %e, "deleting routes with their shared next hop failed; one by one");
                        true
                    }
                };
                if failed {
                    if let Some(f) = fates.get_mut(k) {
                        f.1 = Fate::Send;
                    }
                }
            }
        }
        for (p, k) in queued {
            match fates.get(&k).map_or(Fate::Send, |f| f.1) {
                Fate::Shared => self.kinds.release(k),
                Fate::Hold if !unhold && now.binary_search(&p).is_err() => {
                    self.kind_deletes.push((p, k))
                }
                Fate::Send | Fate::Hold => {
                    deletes.push(p);
                    self.kinds.release(k);
                }
            }
        }
    }

    fn push_all_pending(
        &mut self,
        batch_size: usize,
        results: &mut Vec<Result<(), OpError>>,
    ) -> Result<(), TableError> {
        let mut ctx = Ctx {
            table: &mut self.table,
            kinds: &self.kinds,
            reasons: &mut self.reasons,
            gauges: &mut self.gauges,
            counters: &self.counters,
            in_reconcile: self.in_reconcile,
            reconcile_soon: &mut self.reconcile_soon,
        };
        let mut batch: Vec<(IpNet, &mut Entry)> = Vec::with_capacity(batch_size);
        for (p, e) in self.routes.iter_mut() {
            if e.state() != State::Pending {
                continue;
            }
            batch.push((p, e));
            if batch.len() >= batch_size {
                ctx.apply(&mut batch, results)?;
            }
        }
        ctx.apply(&mut batch, results)
    }

    fn push_dirty(
        &mut self,
        batch_size: usize,
        results: &mut Vec<Result<(), OpError>>,
    ) -> Result<(), TableError> {
        let mut dirty = mem::take(&mut self.dirty);
        if dirty.len() > 64 && dirty.len() > self.routes.len() / 32 {
            // Many changes: one pass over the table beats a lookup per prefix (two, with
            // the one that records the result). A pass reads the table in order, a
            // lookup costs a cache miss: at a million routes the pass is cheaper from
            // ~30,000 changes on. (Counted before dropping repeats: sorting them away
            // first cost more than the pass it sometimes saved.)
            return self.push_all_pending(batch_size, results);
        }
        dirty.sort_unstable();
        dirty.dedup();
        let mut ctx = Ctx {
            table: &mut self.table,
            kinds: &self.kinds,
            reasons: &mut self.reasons,
            gauges: &mut self.gauges,
            counters: &self.counters,
            in_reconcile: self.in_reconcile,
            reconcile_soon: &mut self.reconcile_soon,
        };
        let kinds = ctx.kinds;
        for chunk in dirty.chunks(batch_size) {
            let items: Vec<(IpNet, bool, KindId)> = chunk
                .iter()
                .filter_map(|p| {
                    let e = self.routes.get(p)?;
                    (e.state() == State::Pending).then_some((*p, e.in_kernel(), e.kind()))
                })
                .collect();
            let ops: Vec<Op<'_>> = items
                .iter()
                .map(|(p, in_kernel, id)| op_for(*p, *in_kernel, kinds.get(*id)))
                .collect();
            results.clear();
            let r = ctx.table.apply(&ops, results);
            Counters::add(&ctx.counters.netlink_ops, results.len() as u64);
            for ((p, _, _), res) in items.iter().zip(results.iter()) {
                if let Some(e) = self.routes.get_mut(p) {
                    ctx.record(*p, e, res);
                }
            }
            r?;
        }
        Ok(())
    }
}

/// Borrowed pieces of the reconciler needed to apply one batch of adds/replaces.
struct Ctx<'r, T> {
    table: &'r mut T,
    kinds: &'r Interner,
    reasons: &'r mut HashMap<IpNet, String>,
    gauges: &'r mut Gauges,
    counters: &'r Counters,
    in_reconcile: bool,
    reconcile_soon: &'r mut bool,
}

impl<T: RouteTable> Ctx<'_, T> {
    fn apply(
        &mut self,
        batch: &mut Vec<(IpNet, &mut Entry)>,
        results: &mut Vec<Result<(), OpError>>,
    ) -> Result<(), TableError> {
        if batch.is_empty() {
            return Ok(());
        }
        let kinds = self.kinds;
        let ops: Vec<Op<'_>> = batch
            .iter()
            .map(|(p, e)| op_for(*p, e.in_kernel(), kinds.get(e.kind())))
            .collect();
        results.clear();
        let r = self.table.apply(&ops, results);
        Counters::add(&self.counters.netlink_ops, results.len() as u64);
        for ((prefix, e), res) in batch.iter_mut().zip(results.iter()) {
            self.record(*prefix, e, res);
        }
        batch.clear();
        r
    }

    fn record(&mut self, prefix: IpNet, e: &mut Entry, res: &Result<(), OpError>) {
        match res {
            Ok(()) => {
                e.set_in_kernel(true);
                transition(self.gauges, e, State::Installed);
                forget_reason(self.reasons, &prefix);
            }
            Err(err) => {
                Counters::add(&self.counters.netlink_errors, 1);
                let reason = if err.kind == OpErrorKind::Exists {
                    if !self.in_reconcile {
                        *self.reconcile_soon = true;
                    }
                    format!("a route for {prefix} with another protocol or metric exists")
                } else {
                    err.reason.clone()
                };
                tracing::warn!(%prefix, %reason, "route not installed");
                transition(self.gauges, e, State::Failed);
                self.reasons.insert(prefix, reason);
            }
        }
    }
}

fn op_for(prefix: IpNet, in_kernel: bool, kind: &RouteKind) -> Op<'_> {
    Op {
        prefix,
        action: if in_kernel {
            Action::Replace(kind)
        } else {
            Action::Add(kind)
        },
    }
}
