//! The long-running controller: one dedicated thread owns the desired table, the netlink
//! sockets and the reconcile loop; the agent talks to it through a [`ControllerHandle`].
//!
//! The thread runs a small single-threaded tokio runtime and waits on three things:
//! commands from handles, route events from the kernel, and the resync timer. Netlink work
//! is blocking and CPU-bound (the kernel does the FIB work inside `send`), which is why it
//! has its own thread instead of a task on the agent's runtime.
//!
//! One exception: a small batch of changes that finds the thread idle (nothing queued, the
//! reconciler free) is applied and pushed by the caller, on its own thread. Handing it
//! over would first wake the parked FIB thread, which in a VM doubled the time from a BGP
//! UPDATE read to its route write (p50 72 µs against 36, p90 141 against 43). The thread
//! and the handles share the reconciler behind a mutex for this.
//! [`ControllerHandle::desired_of`] reads the desired routes of a few prefixes the same
//! way when the thread is idle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, sleep_until, Instant, MissedTickBehavior};

use crate::netlink::{EventRead, NetlinkTable};
use crate::reconcile::{DesiredChange, Reconciler, RouteEvent};
use crate::route::{Route, TableConfig};
use crate::status::{Counters, CountersSnapshot, RouteStatus};
use crate::table::TableError;

/// Settings of a [`Controller`].
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Table, protocol number, ECMP.
    pub table: TableConfig,
    /// Network namespace name under /run/netns to program; `None` = the namespace the
    /// process runs in (the agent under `ip netns exec` uses `None`).
    pub netns: Option<String>,
    /// Full reconcile period (dump + diff + repair). Default 30 s.
    pub resync_interval: Duration,
    /// How long routes of ours found at start but not (yet) desired are kept, waiting for
    /// the agent to learn them again (e.g. from BGP). A `ReplaceAll` or
    /// [`ControllerHandle::allow_deletes`] ends the wait early. Default 120 s.
    pub adopt_grace: Duration,
    /// While a next hop's routes are removed in bulk (a peer gone), their deletes are held
    /// back until no more came for this long (at most 25 times as long in all), then go
    /// with the next hop's nexthop object in one operation when all of them go
    /// ([`Reconciler::push_holding`]). Default 200 ms.
    pub delete_hold: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            table: TableConfig::default(),
            netns: None,
            resync_interval: Duration::from_secs(30),
            adopt_grace: Duration::from_secs(120),
            delete_hold: HOLD_IDLE,
        }
    }
}

/// Errors of the controller and its handle.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The kernel backend failed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// A reconcile or flush run by the controller thread failed (the backend's error text).
    #[error("FIB: {0}")]
    Kernel(String),
    /// The controller thread has stopped.
    #[error("FIB controller stopped")]
    Stopped,
    /// The controller thread could not be started.
    #[error("starting the FIB controller thread: {0}")]
    Start(std::io::Error),
}

/// Picks prefixes out of the desired table ([`ControllerHandle::desired_where`]).
pub type PrefixFilter = Box<dyn Fn(&IpNet) -> bool + Send>;

enum Command {
    Change(DesiredChange),
    /// The permit returns the batch's share of [`QUEUED_CHANGES`] once it is applied.
    Changes(Vec<DesiredChange>, OwnedSemaphorePermit),
    Sync(oneshot::Sender<()>),
    Reconcile(oneshot::Sender<Result<(), String>>),
    Status(IpNet, oneshot::Sender<Option<RouteStatus>>),
    Routes(oneshot::Sender<Vec<RouteStatus>>),
    Desired(PrefixFilter, oneshot::Sender<Vec<Route>>),
    DesiredOf(Vec<IpNet>, oneshot::Sender<Vec<Route>>),
    AllowDeletes,
    Flush(oneshot::Sender<Result<usize, String>>),
    Shutdown {
        flush: bool,
        reply: oneshot::Sender<Result<usize, String>>,
    },
}

/// Talks to the controller thread. Cheap to clone. When every handle is dropped the
/// controller stops and leaves its routes in place.
#[derive(Clone)]
pub struct ControllerHandle {
    tx: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    /// Changes queued in batches and not yet applied, at most [`QUEUED_CHANGES`].
    queued: Arc<Semaphore>,
    shared: Arc<Shared>,
}

/// What the thread and the handles share.
struct Shared {
    rec: Mutex<Reconciler<NetlinkTable>>,
    /// Commands sent to the thread and not yet handled by it (raised before the send,
    /// lowered under the lock once handled): at 0 under the lock, everything sent
    /// before is applied, so a change applied by a handle cannot overtake one.
    inflight: AtomicUsize,
    /// [`STARTING`] until the thread's first reconcile (adopting what a previous run
    /// left) is done, [`STOPPED`] once it has handled its last command: handles push
    /// only while [`RUNNING`].
    state: AtomicU8,
}

/// One command counted in [`Shared::inflight`] until it is on the queue: lowered again
/// when the send fails or is cancelled (dropped while waiting for room).
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn raise(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

const STARTING: u8 = 0;
const RUNNING: u8 = 1;
const STOPPED: u8 = 2;

impl Shared {
    /// The reconciler; a panic while it was held does not stop the others using it.
    fn lock(&self) -> MutexGuard<'_, Reconciler<NetlinkTable>> {
        self.rec.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Changes applied on the caller's thread while the controller thread is idle
/// ([`ControllerHandle::direct`]).
pub struct Direct<'a> {
    rec: MutexGuard<'a, Reconciler<NetlinkTable>>,
    counters: &'a Counters,
}

impl Direct<'_> {
    /// Sets one desired change (as [`ControllerHandle::change`] would).
    pub fn change(&mut self, change: DesiredChange) {
        self.rec.change(change);
    }

    /// Writes the changes made to the kernel, here and now.
    pub fn push(mut self) {
        if self.rec.has_work() {
            let _ = self.rec.push();
        }
        Counters::add(&self.counters.direct_pushes, 1);
    }
}

/// Largest batch a handle applies itself ([`ControllerHandle::changes`],
/// [`ControllerHandle::direct`]); larger ones go to the thread, whose pushes may take long
/// (a full table takes seconds).
pub const DIRECT_CHANGES: usize = 64;

/// Most changes sent in batches ([`ControllerHandle::changes`]) that wait on the queue:
/// the queue's capacity counts commands, and without this bound a fast source could
/// park a whole table of routes there (~130 bytes each) while the kernel is slow.
const QUEUED_CHANGES: usize = 16_384;

/// The controller thread; [`ControllerTask::wait`] returns when it ends.
pub struct ControllerTask {
    done: oneshot::Receiver<Result<(), ControllerError>>,
    thread: std::thread::JoinHandle<()>,
}

impl ControllerTask {
    /// Wait for the controller to end (all handles dropped, or [`ControllerHandle::shutdown`]).
    pub async fn wait(self) -> Result<(), ControllerError> {
        let r = self.done.await.unwrap_or(Err(ControllerError::Stopped));
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
        r
    }
}

/// Entry point: see [`Controller::spawn`].
pub struct Controller;

impl Controller {
    /// Open the netlink sockets (in `config.netns` if set) and start the controller thread.
    /// It reconciles at once (adopting our routes already in the kernel), then on every
    /// change, event and `resync_interval`.
    pub fn spawn(
        config: ControllerConfig,
    ) -> Result<(ControllerHandle, ControllerTask), ControllerError> {
        let table = NetlinkTable::open(config.table, config.netns.as_deref(), true)?;
        let counters = Arc::new(Counters::default());
        let rec = Reconciler::new(
            config.table,
            table,
            counters.clone(),
            config.adopt_grace.is_zero(),
        );
        let shared = Arc::new(Shared {
            rec: Mutex::new(rec),
            inflight: AtomicUsize::new(0),
            state: AtomicU8::new(STARTING),
        });
        let (tx, rx) = mpsc::channel(4096);
        let (done_tx, done) = oneshot::channel();
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tern-fib".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let r = match rt {
                    Ok(rt) => rt.block_on(run(theirs, rx, config)),
                    Err(e) => Err(ControllerError::Start(e)),
                };
                let _ = done_tx.send(r);
            })
            .map_err(ControllerError::Start)?;
        Ok((
            ControllerHandle {
                tx,
                counters,
                queued: Arc::new(Semaphore::new(QUEUED_CHANGES)),
                shared,
            },
            ControllerTask { done, thread },
        ))
    }
}

impl ControllerHandle {
    async fn send(&self, c: Command) -> Result<(), ControllerError> {
        let counted = InFlight::raise(&self.shared.inflight);
        let sent = self.tx.send(c).await;
        if sent.is_ok() {
            // The thread lowers it once the command is handled.
            std::mem::forget(counted);
        }
        sent.map_err(|_| ControllerError::Stopped)
    }

    /// The reconciler, when the controller thread is running and idle: nothing sent
    /// before is still waiting (every change sent is in its desired table), and nobody
    /// else holds it.
    fn idle(&self) -> Option<MutexGuard<'_, Reconciler<NetlinkTable>>> {
        if self.shared.inflight.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let rec = match self.shared.rec.try_lock() {
            Ok(rec) => rec,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        // Checked again under the lock. (Stopped, the queue's send reports it.)
        if self.shared.state.load(Ordering::SeqCst) != RUNNING
            || self.shared.inflight.load(Ordering::SeqCst) != 0
        {
            return None;
        }
        Some(rec)
    }

    /// Applies and pushes a small batch on the caller's thread when the controller thread
    /// is idle; gives the batch back otherwise (see the module's documentation).
    fn apply_here(&self, changes: Vec<DesiredChange>) -> Option<Vec<DesiredChange>> {
        let small = changes.len() <= DIRECT_CHANGES
            && !changes
                .iter()
                .any(|c| matches!(c, DesiredChange::ReplaceAll(_)));
        if !small {
            return Some(changes);
        }
        let Some(mut direct) = self.direct() else {
            return Some(changes);
        };
        for c in changes {
            direct.change(c);
        }
        direct.push();
        None
    }

    /// The desired table for a small batch of changes made on the caller's thread, when
    /// the controller thread is idle and has no push pending (one would be carried out
    /// of turn); `None` otherwise. The thread waits until the [`Direct`] is pushed (or
    /// dropped: then the changes made wait for the thread's next push). Keep the batch to [`DIRECT_CHANGES`] (no `ReplaceAll`): the push runs on
    /// the caller's thread. For a caller that must not wait (the BGP speaker's turn) and
    /// needs to know before it computes the changes that they can be made now.
    pub fn direct(&self) -> Option<Direct<'_>> {
        let rec = self.idle().filter(|rec| !rec.has_work())?;
        Some(Direct {
            rec,
            counters: &self.counters,
        })
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ControllerError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        rx.await.map_err(|_| ControllerError::Stopped)
    }

    /// Queue a desired change (applied in batches with the changes around it).
    pub async fn change(&self, change: DesiredChange) -> Result<(), ControllerError> {
        self.send(Command::Change(change)).await
    }

    /// Queue several desired changes at once, in order (one message on the queue instead
    /// of one per route: the agent hands over a batch of best-path changes this way).
    /// A batch of at most 64 changes (no `ReplaceAll`) that finds the controller idle —
    /// nothing queued, no push running — is applied and pushed here, on the caller's
    /// thread, before this returns; it never overtakes a change sent before it.
    pub async fn changes(&self, changes: Vec<DesiredChange>) -> Result<(), ControllerError> {
        if changes.is_empty() {
            return Ok(());
        }
        let Some(changes) = self.apply_here(changes) else {
            return Ok(());
        };
        // A batch larger than the bound waits for an empty queue.
        let n = changes.len().min(QUEUED_CHANGES) as u32;
        let permit = self
            .queued
            .clone()
            .acquire_many_owned(n)
            .await
            .map_err(|_| ControllerError::Stopped)?;
        self.send(Command::Changes(changes, permit)).await
    }

    /// Install or change one route.
    pub async fn upsert(&self, route: Route) -> Result<(), ControllerError> {
        self.change(DesiredChange::Upsert(route)).await
    }

    /// Withdraw our route for a prefix.
    pub async fn remove(&self, prefix: IpNet) -> Result<(), ControllerError> {
        self.change(DesiredChange::Remove(prefix)).await
    }

    /// Set the complete desired table (everything else of ours is deleted).
    pub async fn replace_all(&self, routes: Vec<Route>) -> Result<(), ControllerError> {
        self.change(DesiredChange::ReplaceAll(routes)).await
    }

    /// Wait until every change sent before has been pushed to the kernel.
    pub async fn sync(&self) -> Result<(), ControllerError> {
        self.ask(Command::Sync).await
    }

    /// Run a full reconcile now and wait for it.
    pub async fn reconcile(&self) -> Result<(), ControllerError> {
        self.ask(Command::Reconcile)
            .await?
            .map_err(ControllerError::Kernel)
    }

    /// The state of the desired route for `prefix` (None: not desired).
    pub async fn route_status(
        &self,
        prefix: IpNet,
    ) -> Result<Option<RouteStatus>, ControllerError> {
        self.ask(|tx| Command::Status(prefix, tx)).await
    }

    /// Every desired route with its state, sorted by prefix (for `tern routes`).
    pub async fn routes(&self) -> Result<Vec<RouteStatus>, ControllerError> {
        self.ask(Command::Routes).await
    }

    /// The desired routes whose prefix `filter` picks (no state, unsorted). The agent
    /// keeps no copy of the routes it handed over and reads them back here when a rule
    /// that decides them changes. Sees every change sent before it.
    pub async fn desired_where(&self, filter: PrefixFilter) -> Result<Vec<Route>, ControllerError> {
        self.ask(|tx| Command::Desired(filter, tx)).await
    }

    /// The desired routes of these prefixes (those it has; each looked up, the table is
    /// not walked), after every change sent before. Read on the caller's thread when
    /// the controller thread is idle, as [`ControllerHandle::changes`] writes.
    pub async fn desired_of(&self, prefixes: Vec<IpNet>) -> Result<Vec<Route>, ControllerError> {
        if let Some(rec) = self.idle() {
            return Ok(rec.desired_of(&prefixes));
        }
        self.ask(|tx| Command::DesiredOf(prefixes, tx)).await
    }

    /// The desired set is complete: delete adopted routes nobody wants now.
    pub async fn allow_deletes(&self) -> Result<(), ControllerError> {
        self.send(Command::AllowDeletes).await
    }

    /// Delete every route with our protocol in our table and forget the desired table.
    /// Returns how many routes were deleted.
    pub async fn flush(&self) -> Result<usize, ControllerError> {
        self.ask(Command::Flush)
            .await?
            .map_err(ControllerError::Kernel)
    }

    /// Stop the controller; with `flush`, delete our routes first (`--flush-routes-on-exit`),
    /// otherwise they stay for the next start to adopt. Returns routes deleted.
    pub async fn shutdown(&self, flush: bool) -> Result<usize, ControllerError> {
        self.ask(|reply| Command::Shutdown { flush, reply })
            .await?
            .map_err(ControllerError::Kernel)
    }

    /// Counters and gauges right now (never waits for the controller).
    pub fn counters(&self) -> CountersSnapshot {
        self.counters.snapshot()
    }
}

/// Most changes taken from the queue before pushing (a batch counts its changes): bounds
/// the latency of queries and the dirty list between pushes.
const DRAIN: usize = 65_536;
/// Most event messages read before acting on them.
const EVENTS: usize = 65_536;
/// After an interface that went down comes back up, reconcile this much later (its
/// addresses and connected routes are back by then).
const LINK_UP_DELAY: Duration = Duration::from_millis(500);
/// After an event overrun, resync once no push happened for this long ...
const QUIET: Duration = Duration::from_secs(1);
/// ... but no later than this after the overrun.
const MAX_DEFER: Duration = Duration::from_secs(10);
/// The default [`ControllerConfig::delete_hold`].
const HOLD_IDLE: Duration = Duration::from_millis(200);
/// Deletes are held back at most this many times [`ControllerConfig::delete_hold`].
const HOLD_MAX: u32 = 25;

/// When held-back deletes must be sent: `due` is `None` while none are held.
#[derive(Debug, Default)]
struct Hold {
    since: Option<Instant>,
    held: usize,
    due: Option<Instant>,
}

impl Hold {
    /// After a holding push that left `held` deletes held back: due `idle` after the last
    /// push that held more, at most `HOLD_MAX` times that after the first.
    fn after_push(&mut self, held: usize, idle: Duration) {
        if held == 0 {
            *self = Hold::default();
            return;
        }
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        if held > self.held || self.due.is_none() {
            self.due = Some((now + idle).min(since + idle * HOLD_MAX));
        }
        self.held = held;
    }
}

async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Command>,
    config: ControllerConfig,
) -> Result<(), ControllerError> {
    let counters = shared.lock().counters().clone();
    let taken = shared.lock().table_mut().take_events();
    let mut events = match taken {
        // SAFETY: the EventSocket owns its fd and neither closes nor replaces it while the
        // AsyncFd holds it; the fd is deregistered when the AsyncFd drops it.
        Some(sock) => Some(
            unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE) }
                .map_err(|e| ControllerError::Start(e.into_parts().1))?,
        ),
        None => None,
    };
    // Reconcile at start, before any command: adopts what a previous run left.
    let _ = shared.lock().reconcile();
    shared.state.store(RUNNING, Ordering::SeqCst);
    let period = config.resync_interval.max(Duration::from_millis(100));
    let mut resync = tokio::time::interval_at(Instant::now() + period, period);
    resync.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let grace = sleep(config.adopt_grace);
    tokio::pin!(grace);
    let mut grace_over = config.adopt_grace.is_zero();
    let mut soon: Option<Instant> = None;
    // Lost events (ENOBUFS) call for a full resync. Our own bulk changes flood the event
    // socket too, so the resync waits until pushes pause (QUIET), at most MAX_DEFER.
    let mut overrun_since: Option<Instant> = None;
    let mut last_push = Instant::now();
    let mut evbuf: Vec<RouteEvent> = Vec::new();
    let mut hold = Hold::default();
    let spent = freer();
    loop {
        // Let the runtime poll the I/O driver: with commands always ready the loop would
        // otherwise never park, and the event socket's readiness would never be seen.
        tokio::task::yield_now().await;
        let overrun_due = overrun_since.map(|t| (last_push + QUIET).min(t + MAX_DEFER));
        let due = [soon, overrun_due].into_iter().flatten().min();
        // Commands first: while the agent keeps the queue full (a bulk load), route events
        // (other processes' changes: our own are filtered out in the kernel) wait; if the
        // event socket overflows meanwhile, one resync after the load repairs whatever was
        // lost. Events are read whenever the queue is empty, nearly always in steady state.
        tokio::select! {
            biased;
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break };
                let mut rec = shared.lock();
                let mut next = Some(cmd);
                let mut n = 0;
                while let Some(cmd) = next.take() {
                    n += match &cmd {
                        Command::Changes(v, _) => v.len().max(1),
                        _ => 1,
                    };
                    let stop = command(&mut rec, cmd, &spent);
                    shared.inflight.fetch_sub(1, Ordering::SeqCst);
                    if let Some(stop) = stop {
                        // Under the lock: no handle pushes after the last one.
                        shared.state.store(STOPPED, Ordering::SeqCst);
                        return stop;
                    }
                    if n < DRAIN {
                        next = rx.try_recv().ok();
                    }
                }
                if rec.has_work() {
                    let _ = rec.push_holding();
                    last_push = Instant::now();
                }
                hold.after_push(rec.held(), config.delete_hold);
            }
            _ = async { match hold.due { Some(t) => sleep_until(t).await, None => std::future::pending().await } } => {
                hold = Hold::default();
                let mut rec = shared.lock();
                if rec.held() > 0 {
                    let _ = rec.push();
                    last_push = Instant::now();
                }
            }
            ready = async { match events.as_mut() { Some(e) => e.readable_mut().await, None => std::future::pending().await } } => {
                let Ok(mut guard) = ready else { continue };
                let mut rec = shared.lock();
                evbuf.clear();
                let rr = guard.get_inner_mut().read(rec.table_mut(), &mut evbuf, EVENTS);
                if guard.get_inner_mut().take_links_up() {
                    // The kernel deleted routes through it when it went down, silently.
                    tracing::debug!("an interface came back up; reconcile soon");
                    soon.get_or_insert_with(|| Instant::now() + LINK_UP_DELAY);
                }
                match rr {
                    Ok(EventRead::Drained) => guard.clear_ready(),
                    Ok(EventRead::More) => {}
                    Ok(EventRead::Overrun { drained }) => {
                        if drained {
                            guard.clear_ready();
                        }
                        Counters::add(&counters.event_overruns, 1);
                        tracing::debug!("route event overrun; full resync when changes pause");
                        overrun_since.get_or_insert_with(Instant::now);
                        continue;
                    }
                    Err(e) => {
                        guard.clear_ready();
                        tracing::warn!(error = %e, "reading route events");
                        soon.get_or_insert_with(|| Instant::now() + Duration::from_secs(1));
                        continue;
                    }
                }
                Counters::add(&counters.events, evbuf.len() as u64);
                // The last event per prefix is the kernel's current word on it.
                let mut last: HashMap<IpNet, RouteEvent> = HashMap::with_capacity(evbuf.len());
                for ev in evbuf.drain(..) {
                    last.insert(ev.prefix(), ev);
                }
                rec.events(last.into_values());
                if rec.has_work() {
                    let _ = rec.push();
                    last_push = Instant::now();
                }
            }
            _ = resync.tick() => {
                soon = None;
                overrun_since = None;
                let _ = shared.lock().reconcile();
            }
            _ = async { match due { Some(t) => sleep_until(t).await, None => std::future::pending().await } } => {
                soon = None;
                overrun_since = None;
                let _ = shared.lock().reconcile();
            }
            _ = &mut grace, if !grace_over => {
                grace_over = true;
                let mut rec = shared.lock();
                rec.allow_deletes();
                let _ = rec.push();
            }
        }
        if shared.lock().take_reconcile_soon() {
            soon.get_or_insert_with(|| Instant::now() + Duration::from_secs(1));
        }
    }
    // Every handle is gone: deletes held back still go.
    let mut rec = shared.lock();
    if rec.held() > 0 {
        let _ = rec.push();
    }
    Ok(())
}

/// Where batches of changes go once applied: a thread that frees them. Their routes' next
/// hops were allocated on the agent's side; freeing a million of them here (another
/// thread's allocations, through the allocator's locks) took ~15–20 % of this thread's
/// user time in a full-table load, which the kernel's route inserts wait behind. If the
/// thread cannot start, a send fails and the batch is freed here as before.
fn freer() -> std_mpsc::Sender<Vec<DesiredChange>> {
    let (tx, rx) = std_mpsc::channel::<Vec<DesiredChange>>();
    let started = std::thread::Builder::new()
        .name("tern-fib-free".into())
        .spawn(move || rx.into_iter().for_each(drop));
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start the thread that frees applied changes");
    }
    tx
}

/// Handle one command; `Some(result)` ends the controller. Applied batches of changes go
/// to `spent` ([`freer`]).
fn command(
    rec: &mut Reconciler<NetlinkTable>,
    cmd: Command,
    spent: &std_mpsc::Sender<Vec<DesiredChange>>,
) -> Option<Result<(), ControllerError>> {
    let push = |rec: &mut Reconciler<NetlinkTable>| {
        if rec.has_work() {
            let _ = rec.push();
        }
    };
    match cmd {
        Command::Change(c) => rec.change(c),
        Command::Changes(v, _permit) => {
            v.iter().for_each(|c| rec.change_ref(c));
            // A small batch is freed here: waking the other thread would cost more, and
            // on the way of a single route to the kernel.
            if v.len() > DIRECT_CHANGES {
                let _ = spent.send(v);
            }
        }
        Command::Sync(reply) => {
            push(rec);
            let _ = reply.send(());
        }
        Command::Reconcile(reply) => {
            let _ = reply.send(rec.reconcile().map_err(|e| e.to_string()));
        }
        Command::Status(p, reply) => {
            push(rec);
            let _ = reply.send(rec.status(p));
        }
        Command::Routes(reply) => {
            push(rec);
            let _ = reply.send(rec.routes());
        }
        Command::Desired(filter, reply) => {
            let _ = reply.send(rec.desired_where(&*filter));
        }
        Command::DesiredOf(prefixes, reply) => {
            let _ = reply.send(rec.desired_of(&prefixes));
        }
        Command::AllowDeletes => rec.allow_deletes(),
        Command::Flush(reply) => {
            let _ = reply.send(rec.flush().map_err(|e| e.to_string()));
        }
        Command::Shutdown { flush, reply } => {
            let r = if flush {
                rec.flush().map_err(|e| e.to_string())
            } else {
                push(rec);
                Ok(0)
            };
            let _ = reply.send(r);
            return Some(Ok(()));
        }
    }
    None
}
