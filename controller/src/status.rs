//! What the controller reports: per-route state, and counters/gauges that the agent turns
//! into Prometheus metrics (`tern_fib_*`). Counters are plain atomics shared with the
//! handle so that reading them never waits for a running reconcile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::route::Route;

/// Where one desired route stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteState {
    /// The kernel has exactly this route with our protocol number.
    Installed,
    /// Not (yet) confirmed in the kernel: a change is queued or a re-install is due.
    Pending,
    /// The kernel refused it (or it can never be installed); retried on the next periodic
    /// reconcile, not before.
    Failed(String),
}

/// One desired route and its state (a row of `tern routes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteStatus {
    /// The desired route (normalized: next hops sorted).
    pub route: Route,
    /// Its state in the kernel.
    pub state: RouteState,
}

/// Live counters and gauges, updated by the controller thread.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) netlink_ops: AtomicU64,
    pub(crate) netlink_errors: AtomicU64,
    pub(crate) reconciles: AtomicU64,
    pub(crate) reconcile_errors: AtomicU64,
    pub(crate) last_reconcile_us: AtomicU64,
    pub(crate) events: AtomicU64,
    pub(crate) event_overruns: AtomicU64,
    pub(crate) routes_desired: AtomicU64,
    pub(crate) routes_installed: AtomicU64,
    pub(crate) routes_failed: AtomicU64,
    pub(crate) nexthop_objects: AtomicU64,
    pub(crate) direct_pushes: AtomicU64,
    pub(crate) deletes_held: AtomicU64,
}

/// A copy of [`Counters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Route operations sent to the kernel (add, replace, delete), counter.
    pub netlink_ops: u64,
    /// Route operations the kernel refused (a delete of an already absent route is not an
    /// error), counter.
    pub netlink_errors: u64,
    /// Full reconciles (dump + diff + apply) done, counter.
    pub reconciles: u64,
    /// Full reconciles that failed as a whole (socket error, lost answers), counter.
    pub reconcile_errors: u64,
    /// Duration of the last full reconcile.
    pub last_reconcile: Duration,
    /// Route events read from the kernel, counter.
    pub events: u64,
    /// Event socket overruns (ENOBUFS) — each one triggers a full resync, counter.
    pub event_overruns: u64,
    /// Desired routes, gauge.
    pub routes_desired: u64,
    /// Desired routes confirmed in the kernel, gauge.
    pub routes_installed: u64,
    /// Desired routes that failed, gauge.
    pub routes_failed: u64,
    /// Kernel nexthop objects (gateways and ECMP groups) the table made or adopted for
    /// its routes, gauge.
    pub nexthop_objects: u64,
    /// Small batches of changes the caller applied itself while the controller thread
    /// was idle, instead of handing them over (see [`crate::ControllerHandle::changes`]),
    /// counter.
    pub direct_pushes: u64,
    /// Deletes of routes held back for a moment while a next hop's routes go in bulk, so
    /// that they go with its nexthop object in one operation (see
    /// [`crate::Reconciler::push_holding`]), gauge.
    pub deletes_held: u64,
}

impl Counters {
    /// Read all values.
    pub fn snapshot(&self) -> CountersSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CountersSnapshot {
            netlink_ops: g(&self.netlink_ops),
            netlink_errors: g(&self.netlink_errors),
            reconciles: g(&self.reconciles),
            reconcile_errors: g(&self.reconcile_errors),
            last_reconcile: Duration::from_micros(g(&self.last_reconcile_us)),
            events: g(&self.events),
            event_overruns: g(&self.event_overruns),
            routes_desired: g(&self.routes_desired),
            routes_installed: g(&self.routes_installed),
            routes_failed: g(&self.routes_failed),
            nexthop_objects: g(&self.nexthop_objects),
            direct_pushes: g(&self.direct_pushes),
            deletes_held: g(&self.deletes_held),
        }
    }

    pub(crate) fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(a: &AtomicU64, n: u64) {
        a.store(n, Ordering::Relaxed);
    }
}
