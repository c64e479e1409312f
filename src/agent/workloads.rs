//! The workload task: the one owner of this node's container attachments (CNI). It holds
//! the IPAM allocator and its state directory, wires each container (veth, addresses,
//! gateway routes: `controller::create_workload_veth`), feeds the containers' device
//! routes into the agent's one desired FIB (through the routes task, waiting until the
//! controller has installed them) and their endpoints into the policy task.
//!
//! ADD: validate → netns exists → allocate → persist → wire → route → policy, answered
//! once the route is in the kernel and the policy task has applied a ruleset that includes
//! the container (DEL and label changes likewise). Each step
//! is undone when a later one fails, so a failed ADD leaves nothing behind. ADD of a
//! known attachment returns the same addresses (re-wiring it when its interface is gone).
//! DEL: unwire, release, forget; anything unknown is a success. CHECK reports what is
//! missing. GC frees every attachment not in `cni.dev/valid-attachments`.
//!
//! On start the state directory is read back: every attachment whose host interface still
//! exists is routed and put under policy again; the others keep their addresses until
//! the runtime's DEL or GC (the container may come back).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use controller::{ControllerHandle, RouteState, VethSpec};
use ipam::store::StateDir;
use ipam::{Allocation, Allocator, AttachmentKey, IpamError};
use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot, watch};

use super::control::{Reply, Request};
use super::fib::DeviceRoute;
use super::policy::WorkloadSet;
use super::workloads_net::{self as net, EndpointsView, LabelRequest};
use crate::cni::spec::{code, CniCall, CniError, CniReply};

/// Docker's calls on this task's state.
#[path = "workloads_docker.rs"]
pub mod docker_ops;

/// etcd mode: empty blocks given back to the pools.
#[path = "workloads_blocks.rs"]
pub mod blocks;

/// The CNI verbs (ADD, DEL, CHECK, GC, STATUS).
#[path = "workloads_cni.rs"]
mod cni_ops;

/// A request for the workload task and where its answer goes.
pub type Job = (Request, oneshot::Sender<Reply>);

/// A new set of workload device routes for the routes task; `done` is answered once the
/// changes are queued at the controller.
#[derive(Debug)]
pub struct RoutesUpdate {
    /// Every workload device route.
    pub routes: Vec<DeviceRoute>,
    /// Answered when queued.
    pub done: oneshot::Sender<()>,
}

/// The task's state.
pub struct Workloads {
    state_dir: PathBuf,
    blocks: Vec<IpNet>,
    alloc: Allocator,
    /// `None` until opened: at start when `stateDir` holds IPAM state, else at the first
    /// workload request (an agent that never serves a container never writes there).
    store: Option<StateDir>,
    /// Attachments whose interface exists (routed and under policy).
    wired: BTreeSet<AttachmentKey>,
    routes: Option<mpsc::Sender<RoutesUpdate>>,
    fib: Option<ControllerHandle>,
    policy: watch::Sender<WorkloadSet>,
    /// The generation the policy task last applied (`None`: no policy task).
    policy_applied: Option<watch::Receiver<u64>>,
    generation: u64,
    /// Where the wired attachments go to be published as WorkloadEndpoints (etcd mode).
    published: Option<watch::Sender<super::cluster_wep::Attachments>>,
    /// etcd mode: blocks claimed from the pools, and where to ask for another one.
    grow: Option<super::cluster::BlockSource>,
}

/// How long a request waits for the policy task to include a change.
const POLICY_WAIT: Duration = Duration::from_secs(10);

/// How long an ADD waits for its routes to be in the kernel.
const ROUTE_WAIT: Duration = Duration::from_secs(20);

fn err(c: u32, msg: impl Into<String>) -> CniReply {
    CniReply::Err(CniError::new(c, msg))
}

impl Workloads {
    /// The task's state; nothing is read yet.
    pub fn new(
        state_dir: PathBuf,
        blocks: Vec<IpNet>,
        routes: Option<mpsc::Sender<RoutesUpdate>>,
        fib: Option<ControllerHandle>,
        policy: watch::Sender<WorkloadSet>,
        policy_applied: Option<watch::Receiver<u64>>,
    ) -> Workloads {
        Workloads {
            alloc: Allocator::new(blocks.clone()),
            state_dir,
            blocks,
            store: None,
            wired: BTreeSet::new(),
            routes,
            fib,
            policy,
            policy_applied,
            generation: 0,
            published: None,
            grow: None,
        }
    }

    /// Takes its blocks from `source` (etcd mode) and asks it for another block when
    /// the blocks of a family are full.
    pub fn grow_from(mut self, source: super::cluster::BlockSource) -> Self {
        self.grow = Some(source);
        self
    }

    /// Takes blocks claimed since the last call (etcd mode): the allocator is rebuilt
    /// over the new set with every allocation kept.
    fn take_new_blocks(&mut self) {
        let Some(g) = &mut self.grow else { return };
        let now = g.blocks.borrow_and_update().clone();
        if now == self.blocks {
            return;
        }
        self.blocks = now;
        let (alloc, problems) = Allocator::restore(self.blocks.clone(), self.alloc.records());
        for p in problems {
            tracing::warn!(
                "attachment {} not kept over new blocks: {:?}",
                p.record.key,
                p.kind
            );
        }
        self.alloc = alloc;
    }

    /// Allocates for a new attachment; in etcd mode a full family first gets a new
    /// block from the pools (waiting at most `BLOCK_WAIT`).
    async fn allocate(
        &mut self,
        key: &AttachmentKey,
        req: &ipam::Request,
    ) -> Result<Allocation, IpamError> {
        self.take_new_blocks();
        let full = match self.alloc.allocate(key, req) {
            Err(IpamError::Exhausted { block, .. }) if self.grow.is_some() => block,
            Err(IpamError::NoBlock) if self.grow.is_some() => {
                "0.0.0.0/0".parse().unwrap_or_default()
            }
            other => return other,
        };
        if let Some(g) = &mut self.grow {
            g.blocks.mark_unchanged();
            if g.need.send(full).await.is_ok() {
                let _ = tokio::time::timeout(super::cluster::BLOCK_WAIT, g.blocks.changed()).await;
            }
        }
        self.take_new_blocks();
        self.alloc.allocate(key, req)
    }

    /// Also sends the wired attachments to `tx` (the WorkloadEndpoint publisher) after
    /// the state is read and on every change.
    pub fn publish_to(mut self, tx: watch::Sender<super::cluster_wep::Attachments>) -> Self {
        self.published = Some(tx);
        self
    }

    fn send_published(&self) {
        if let Some(tx) = &self.published {
            let wired = self.wired_iter().map(|(k, a)| (k.clone(), a.clone()));
            tx.send_replace(Some(wired.collect()));
        }
    }

    /// Opens `stateDir` (once), restores the allocations (problems are logged and left
    /// out) and finds which attachments still have their interface.
    fn ensure_open(&mut self) -> Result<(), String> {
        if self.store.is_some() {
            return Ok(());
        }
        let store = StateDir::open(&self.state_dir).map_err(|e| format!("stateDir: {e}"))?;
        let loaded = store.load().map_err(|e| format!("stateDir: {e}"))?;
        for p in &loaded.problems {
            tracing::warn!("stateDir: {p:?}");
        }
        let (alloc, problems) = Allocator::restore(self.blocks.clone(), loaded.records);
        for p in problems {
            tracing::warn!(
                "stateDir: attachment {} not restored: {:?}",
                p.record.key,
                p.kind
            );
        }
        let mut wired = BTreeSet::new();
        for (k, a) in alloc.iter() {
            match controller::host_veth_exists(&a.attachment.host_ifname) {
                Ok(true) => {
                    if let Err(e) =
                        controller::configure_workload_interface(&a.attachment.host_ifname, None)
                    {
                        tracing::warn!("attachment {k}: {e}");
                    }
                    wired.insert(k.clone());
                }
                Ok(false) => tracing::info!(
                    "attachment {k}: interface {} is gone; its addresses stay until DEL or GC",
                    a.attachment.host_ifname
                ),
                Err(e) => tracing::warn!("attachment {k}: {e}"),
            }
        }
        tracing::info!(
            attachments = alloc.len(),
            wired = wired.len(),
            dir = %self.state_dir.display(),
            "workload attachments restored"
        );
        self.alloc = alloc;
        self.wired = wired;
        self.store = Some(store);
        Ok(())
    }

    /// Whether [`Workloads::run`] hands restored attachments to the routes task at start:
    /// only when CNI or Docker attachments were ever stored under `state_dir`.
    pub fn restores_at_start(state_dir: &std::path::Path) -> bool {
        state_dir.join(ipam::store::SUBDIR).exists()
    }

    /// Serves requests until the channel closes.
    pub async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        if Self::restores_at_start(&self.state_dir) {
            match self.ensure_open() {
                Ok(()) => {
                    if let Err(e) = self.publish(&[]).await {
                        tracing::warn!("workloads: {e}");
                    }
                }
                Err(e) => tracing::error!("workloads: {e}"),
            }
        }
        self.send_published();
        let mut empty_check = tokio::time::interval(blocks::EMPTY_CHECK);
        loop {
            let (req, reply) = tokio::select! {
                job = jobs.recv() => match job {
                    Some(j) => j,
                    None => break,
                },
                _ = empty_check.tick(), if self.grow.is_some() => {
                    self.retire_empty_blocks().await;
                    continue;
                }
            };
            if let Err(e) = self.ensure_open() {
                let answer = match req {
                    Request::Cni(_) => Reply::Cni(err(code::IO_FAILURE, e)),
                    _ => Reply::Error(e),
                };
                let _ = reply.send(answer);
                continue;
            }
            let answer = match req {
                Request::Cni(call) => Reply::Cni(self.cni(call).await),
                Request::Docker(op) => Reply::Docker(self.docker(op).await),
                Request::Endpoints => Reply::Endpoints(self.endpoints()),
                Request::EndpointLabel(l) => match self.label(l).await {
                    Ok(v) => Reply::Endpoints(v),
                    Err(e) => Reply::Error(e),
                },
                _ => Reply::Error("not a workload request".into()),
            };
            let _ = reply.send(answer);
        }
    }

    fn store(&self) -> Result<&StateDir, String> {
        self.store
            .as_ref()
            .ok_or_else(|| "stateDir is not open".to_string())
    }

    fn wired_iter(&self) -> impl Iterator<Item = (&AttachmentKey, &Allocation)> {
        self.wired
            .iter()
            .filter_map(|k| self.alloc.get(k).map(|a| (k, a)))
    }

    /// Sends the device routes and policy endpoints of the wired attachments; waits until
    /// the routes are queued and then until the controller has pushed `wait_for` (or
    /// failed it). Returns the first failure.
    async fn publish(&mut self, wait_for: &[IpNet]) -> Result<(), String> {
        self.generation += 1;
        let generation = self.generation;
        self.policy.send_replace(WorkloadSet {
            generation,
            endpoints: net::policy_endpoints(self.wired_iter()),
        });
        self.send_published();
        let routed = self.publish_routes(wait_for).await;
        self.wait_policy(generation).await;
        routed
    }

    /// The routes half of [`Workloads::publish`].
    async fn publish_routes(&mut self, wait_for: &[IpNet]) -> Result<(), String> {
        let Some(tx) = &self.routes else {
            return Ok(());
        };
        let (done, queued) = oneshot::channel();
        let update = RoutesUpdate {
            routes: net::device_routes(self.wired_iter()),
            done,
        };
        if tx.send(update).await.is_err() || queued.await.is_err() {
            return Err("the routes task stopped".into());
        }
        let Some(fib) = &self.fib else {
            return Ok(());
        };
        // Removals and additions are in the kernel when the request is answered.
        fib.sync().await.map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + ROUTE_WAIT;
        for p in wait_for {
            loop {
                fib.sync().await.map_err(|e| e.to_string())?;
                match fib.route_status(*p).await.map_err(|e| e.to_string())? {
                    Some(s) if s.state == RouteState::Installed => break,
                    Some(s) => {
                        if let RouteState::Failed(r) = &s.state {
                            if tokio::time::Instant::now() > deadline {
                                return Err(format!("route {p}: {r}"));
                            }
                            // Typically "no such device": the controller's interface
                            // list predates the new veth. A reconcile re-reads it and
                            // retries now instead of at the next periodic pass.
                            fib.reconcile().await.map_err(|e| e.to_string())?;
                        }
                    }
                    None => return Err(format!("route {p} is not in the desired table")),
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(format!("route {p} not installed after {ROUTE_WAIT:?}"));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        Ok(())
    }

    /// Waits until the policy task has run an apply that includes workload set
    /// `generation`, so a container is under its policy when ADD returns (and out of it
    /// when DEL returns). A policy that fails to apply is logged by the policy task and
    /// does not hold containers up; nor does a policy task that takes longer than
    /// [`POLICY_WAIT`].
    async fn wait_policy(&mut self, generation: u64) {
        let Some(rx) = &mut self.policy_applied else {
            return;
        };
        let waited = tokio::time::timeout(POLICY_WAIT, rx.wait_for(|g| *g >= generation)).await;
        if waited.is_err() {
            tracing::warn!(
                "policy for workload set {generation} not applied within {POLICY_WAIT:?}"
            );
        }
    }

    fn forget(&mut self, key: &AttachmentKey, fresh: bool) {
        self.wired.remove(key);
        if fresh {
            self.alloc.release(key);
            if let Err(e) = self
                .store()
                .and_then(|s| s.remove(key).map_err(|e| e.to_string()))
            {
                tracing::warn!("stateDir: {e}");
            }
        }
    }

    async fn unwire(&mut self, key: &AttachmentKey) {
        self.wired.remove(key);
        let host_if = self.alloc.get(key).map_or_else(
            || net::host_ifname(key),
            |a| a.attachment.host_ifname.clone(),
        );
        match blocking(move || controller::delete_workload_veth(&host_if)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("attachment {key}: {e}"),
            Err(e) => tracing::warn!("attachment {key}: {e}"),
        }
    }

    fn endpoints(&self) -> EndpointsView {
        let mut rows: Vec<_> = self
            .alloc
            .iter()
            .map(|(k, a)| net::endpoint_row(k, a))
            .collect();
        rows.sort_by(|a, b| {
            (&a.namespace, &a.name, &a.ifname).cmp(&(&b.namespace, &b.name, &b.ifname))
        });
        EndpointsView { endpoints: rows }
    }

    async fn label(&mut self, l: LabelRequest) -> Result<EndpointsView, String> {
        let keys: Vec<AttachmentKey> = self
            .alloc
            .iter()
            .filter(|(_, a)| a.attachment.namespace == l.namespace && a.attachment.name == l.name)
            .map(|(k, _)| k.clone())
            .collect();
        if keys.is_empty() {
            return Err(format!(
                "no workload {}/{} on this node",
                l.namespace, l.name
            ));
        }
        for key in &keys {
            let a = self
                .alloc
                .update_labels(key, |labels| {
                    for r in &l.remove {
                        labels.remove(r);
                    }
                    labels.extend(l.set.clone());
                })
                .map_err(|e| e.to_string())?
                .clone();
            self.store()?
                .put(key, &a)
                .map_err(|e| format!("stateDir: {e}"))?;
        }
        self.publish(&[]).await?;
        let mut v = self.endpoints();
        v.endpoints
            .retain(|r| r.namespace == l.namespace && r.name == l.name);
        Ok(v)
    }
}

fn spec_of(key: &AttachmentKey, a: &Allocation) -> VethSpec {
    VethSpec {
        host_if: a.attachment.host_ifname.clone(),
        netns: PathBuf::from(&a.attachment.netns),
        ifname: key.ifname.clone(),
        addrs: net::prefixes(a),
        mac: net::container_mac(key),
    }
}

/// Runs blocking netlink work off the async threads.
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("worker thread failed: {e}"))
}

/// The control socket's source: the agent's view, plus the workload task for workload
/// requests.
#[derive(Clone)]
pub struct WithWorkloads<S> {
    /// Status and routes.
    pub view: S,
    /// The workload task's queue (`None`: the task did not start).
    pub jobs: Option<mpsc::Sender<Job>>,
}

impl<S: super::control::Source> super::control::Source for WithWorkloads<S> {
    fn status(&self) -> impl std::future::Future<Output = super::control::StatusView> + Send {
        self.view.status()
    }

    fn routes(
        &self,
        query: super::control::RoutesQuery,
        out: super::control::RoutesSink,
    ) -> impl std::future::Future<Output = Option<IpNet>> + Send {
        self.view.routes(query, out)
    }

    fn peer(&self, peer: String) -> impl std::future::Future<Output = Reply> + Send {
        self.view.peer(peer)
    }

    async fn workload(&self, req: Request) -> Reply {
        let Some(jobs) = &self.jobs else {
            return Reply::Error("the workload task is not running (see the agent's log)".into());
        };
        let (tx, rx) = oneshot::channel();
        if jobs.send((req, tx)).await.is_err() {
            return Reply::Error("the workload task stopped".into());
        }
        rx.await
            .unwrap_or_else(|_| Reply::Error("the workload task stopped".into()))
    }
}
