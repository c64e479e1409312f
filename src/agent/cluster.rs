//! etcd mode (`datastore: { type: etcd }`): wiring between the datastore and the agent's
//! parts. The logic is the `cluster` crate's; this module only opens the store,
//! registers this node, and moves values: reflector snapshots → desired peers →
//! `SpeakerHandle::set_peers`; "need a block" from the workload task → a claimed block
//! → BGP origination, the FIB blackhole and IPAM; reflector health → `tern status` and
//! metrics; a reload's file peers and blocks ([`FileUpdate`]) → merged with the
//! datastore's peers and the claimed blocks, applied here (the one owner of both).
//!
//! Start-up ([`start`]) waits for the datastore (retrying with back-off), lists the
//! resources, registers the `Node` with a lease, takes the AS, and the blocks it owns
//! (claiming one per family with a usable pool when it owns none), and returns the
//! node config with those merged in, so the rest of the agent starts as in files mode.
//! After that ([`Cluster::run`]) it follows every change. While etcd is away nothing
//! is withdrawn: the reflectors keep their last view and the peers stay as they are.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bgp::speaker::{PeerConfig, PeerKind, SpeakerHandle};
use cluster::{mesh, pools, Local};
use config::node::Datastore as DatastoreSetting;
use config::NodeConfig;
use ipnet::IpNet;
use resources::Kind;
use store::{Datastore, DatastoreConfig, Reflector, Registration};
use tokio::sync::{mpsc, oneshot, watch};

use super::bfd::BfdHandle;
use super::blocks::BlocksTx;
use super::cluster_mesh::{keep_bfd_up, MeshSettings};

/// Lease of this node's `Node` resource: it leaves the cluster this long after the
/// agent dies.
pub const NODE_TTL: Duration = Duration::from_secs(10);

/// How long an ADD that found its blocks full waits for a new block.
pub const BLOCK_WAIT: Duration = Duration::from_secs(10);

/// The datastore's health, for `tern status` and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DatastoreHealth {
    /// `etcd` (files mode has no health to show).
    pub kind: String,
    /// True while every reflector's last list or watch succeeded.
    pub connected: bool,
    /// Reconnect attempts, summed over the reflectors.
    pub reconnects: u64,
    /// Full relists after compaction, summed.
    pub resyncs: u64,
    /// The last error seen while disconnected.
    pub last_error: Option<String>,
    /// Registered nodes in the cluster.
    pub nodes: usize,
    /// Blocks this node owns.
    pub blocks: Vec<IpNet>,
}

/// What the workload task needs to grow its blocks: the current set, where to ask
/// for another one (the full block, for its family), and where to give an empty one
/// back (`workloads::blocks`).
#[derive(Debug, Clone)]
pub struct BlockSource {
    /// This node's blocks (from the file and claimed).
    pub blocks: watch::Receiver<Vec<IpNet>>,
    /// "My blocks of this block's family are full".
    pub need: mpsc::Sender<IpNet>,
    /// "This block has been empty long enough": answered once it is gone or stays.
    pub retire: mpsc::Sender<super::workloads::blocks::RetireRequest>,
    /// The workload task's clocks: since when each of its empty blocks is empty.
    pub empty_since: BTreeMap<IpNet, std::time::Instant>,
}

/// Giving blocks back: empty ones, and those of nodes that are gone.
#[path = "cluster_ipam.rs"]
mod ipam;
use ipam::ClaimOutcome;

/// `tern_datastore_connected`, `tern_datastore_reconnects_total`,
/// `tern_datastore_resyncs_total`, `tern_datastore_nodes`.
#[derive(Clone)]
struct DatastoreMetrics {
    connected: prometheus::IntGauge,
    reconnects: prometheus::IntCounter,
    resyncs: prometheus::IntCounter,
    nodes: prometheus::IntGauge,
}

impl DatastoreMetrics {
    fn register(registry: &prometheus::Registry) -> Option<DatastoreMetrics> {
        let reg = |c: Box<dyn prometheus::core::Collector>| {
            if let Err(e) = registry.register(c) {
                tracing::error!("metrics registration: {e}");
            }
        };
        let gauge = |name: &str, help: &str| {
            let g = prometheus::IntGauge::new(name, help).ok()?;
            reg(Box::new(g.clone()));
            Some(g)
        };
        let counter = |name: &str, help: &str| {
            let c = prometheus::IntCounter::new(name, help).ok()?;
            reg(Box::new(c.clone()));
            Some(c)
        };
        Some(DatastoreMetrics {
            connected: gauge(
                "tern_datastore_connected",
                "1 while every datastore watch of the agent is connected, else 0 (last state kept)",
            )?,
            reconnects: counter(
                "tern_datastore_reconnects_total",
                "Failed datastore list or watch attempts that were retried",
            )?,
            resyncs: counter(
                "tern_datastore_resyncs_total",
                "Full relists after the datastore compacted the history a watch needed",
            )?,
            nodes: gauge("tern_datastore_nodes", "Nodes registered in the cluster")?,
        })
    }

    fn update(&self, old: &DatastoreHealth, new: &DatastoreHealth) {
        self.connected.set(i64::from(new.connected));
        self.reconnects
            .inc_by(new.reconnects.saturating_sub(old.reconnects));
        self.resyncs.inc_by(new.resyncs.saturating_sub(old.resyncs));
        self.nodes.set(new.nodes as i64);
    }
}

/// Learned routes never take over the route to a peer (`agent::guard`): the guard
/// gets every peer's address, the cluster's included.
fn guard_peers<'a>(
    guard: &watch::Sender<super::guard::Guard>,
    peers: impl Iterator<Item = &'a IpAddr>,
) {
    let mut v: Vec<IpAddr> = peers.map(|a| a.to_canonical()).collect();
    v.sort_unstable();
    v.dedup();
    guard.send_if_modified(|g| {
        let changed = g.peers != v;
        g.peers = v;
        changed
    });
}

/// A reload of the node file in etcd mode ([`super::reload`]): the file's own peers
/// and blocks, which the cluster task merges with the datastore's and applies (it
/// is the only one to call `set_peers` and to originate blocks in etcd mode).
#[derive(Debug)]
pub struct FileUpdate {
    /// The file's peers (as the speaker takes them), when they changed.
    pub peers: Option<Vec<PeerConfig>>,
    /// The file's BFD peers (applied with `peers`).
    pub bfd: Vec<super::bfd::BfdPeer>,
    /// The file's `nodeToNodeMesh` section (applied with `peers`).
    pub mesh: Option<config::node::Peer>,
    /// The file's blocks, when they changed (claimed blocks are always kept).
    pub blocks: Option<Vec<IpNet>>,
    /// The outcome: what changed, or why nothing did.
    pub reply: oneshot::Sender<Result<FileApplied, String>>,
}

/// What a [`FileUpdate`] changed.
#[derive(Debug, Clone, Default)]
pub struct FileApplied {
    /// The speaker's answer to the merged peer list, when the peers were given.
    pub peers: Option<bgp::speaker::PeerDiff>,
    /// This node's blocks now (the file's and the claimed ones), when given.
    pub blocks: Option<Vec<IpNet>>,
}

/// The running etcd side of the agent.
pub struct Cluster {
    store: Arc<Datastore>,
    registration: Option<Registration>,
    nodes: Reflector,
    configs: Reflector,
    peers: Reflector,
    pools: Reflector,
    local: Local,
    /// The node file's `nodeToNodeMesh` settings for the datastore's mesh, and its BFD.
    mesh: MeshSettings,
    blocks: Vec<IpNet>,
    /// The node file's `blocks` (the rest of `blocks` is claimed in the datastore).
    file_blocks: Vec<IpNet>,
    /// Blocks this node owns in the datastore (found at start or claimed since).
    claimed: Vec<IpNet>,
    file_tx: mpsc::Sender<FileUpdate>,
    file_rx: mpsc::Receiver<FileUpdate>,
    blocks_tx: watch::Sender<Vec<IpNet>>,
    need_tx: mpsc::Sender<IpNet>,
    need_rx: mpsc::Receiver<IpNet>,
    /// Empty blocks offered back, and the sweep of gone nodes' blocks.
    reclaim: ipam::Reclaimer,
    /// Re-registrations after a lost lease (the blocks are checked after each).
    renewals: Option<watch::Receiver<u64>>,
    /// A check of the blocks after a re-registration is still to do (etcd failed).
    recheck_due: bool,
    /// Mesh peers kept while their `Node` is gone because BFD says they are up, with
    /// their node names (`cluster_mesh::keep_bfd_up`); their blocks are not swept.
    kept_alive: BTreeMap<IpAddr, String>,
    health: watch::Sender<DatastoreHealth>,
    metrics: Option<DatastoreMetrics>,
}

fn local_of(cfg: &NodeConfig) -> Local {
    let mut addresses = vec![IpAddr::V4(cfg.router_id)];
    if let Some(v6) = cfg.ipv6_address {
        addresses.push(IpAddr::V6(v6));
    }
    if !cfg.listen.address.is_unspecified() && !addresses.contains(&cfg.listen.address) {
        addresses.push(cfg.listen.address);
    }
    Local {
        name: cfg.node_name.clone(),
        labels: cfg.labels.clone(),
        file_as: cfg.as_number_given.then_some(cfg.as_number),
        addresses,
    }
}

/// A `BGPPeer`'s `password.file`: the key without its line end (at most 80 bytes).
fn read_password(path: &str) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 82 {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let key = text.trim_end_matches(['\n', '\r']);
    (!key.is_empty()).then(|| key.to_string())
}

async fn open(endpoints: &[String], tls: Option<&config::node::EtcdTls>) -> Datastore {
    let cfg = DatastoreConfig::Etcd {
        endpoints: endpoints.to_vec(),
        tls: tls.map(|t| store::EtcdTls {
            ca_cert_file: t.ca_cert_file.clone(),
            client: t.cert_file.clone().zip(t.key_file.clone()),
        }),
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        match Datastore::open(&cfg).await {
            Ok(ds) => return ds,
            Err(e) => {
                tracing::warn!("datastore {}: {e}; retrying", endpoints.join(","));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// In etcd mode: connects, registers this node, takes its AS and blocks; returns the
/// node config with the cluster's AS, pools and blocks merged in (peers come with
/// [`Cluster::initial_peers`]). `None` in files mode.
pub async fn start(cfg: &NodeConfig) -> Option<(NodeConfig, Cluster)> {
    let DatastoreSetting::Etcd { endpoints, tls } = &cfg.datastore else {
        return None;
    };
    tracing::info!(endpoints = %endpoints.join(","), tls = tls.is_some(), "datastore: etcd");
    let store = Arc::new(open(endpoints, tls.as_ref()).await);
    let spawn = |k| Reflector::spawn(store.clone(), k);
    let (nodes, configs, peers, pool_r) = (
        spawn(Kind::Node),
        spawn(Kind::BgpConfiguration),
        spawn(Kind::BgpPeer),
        spawn(Kind::IpPool),
    );
    for r in [&nodes, &configs, &peers, &pool_r] {
        r.wait_synced().await;
    }
    let local = local_of(cfg);
    let own = mesh::own_node(&local, cfg.route_reflector.map(|r| r.cluster_id));
    let registration = match &*store {
        Datastore::Etcd(etcd) => loop {
            match etcd.register(&own, NODE_TTL).await {
                Ok(r) => break Some(r),
                Err(e) => {
                    tracing::warn!("registering Node {}: {e}; retrying", local.name);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        },
        Datastore::Files(_) => None,
    };
    let asn = mesh::local_as(&local, &nodes.snapshot().items, &configs.snapshot().items);

    let mut effective = cfg.clone();
    effective.as_number = asn;
    effective.as_number_given = true;
    for p in effective.peers.iter_mut() {
        if p.kind == config::node::PeerKind::Mesh && !cfg.as_number_given {
            p.as_number = asn;
        }
    }
    let pool_items = pool_r.snapshot().items.clone();
    for c in pools::all_cidrs(&pool_items) {
        if !effective.pools.iter().any(|p| p.contains(&c)) {
            effective.pools.push(c);
        }
    }
    // The IPPools' ipipMode / vxlanMode (followed later by agent::overlay_switch).
    let modes = super::overlay::pool_modes(&pool_items, &effective.overlay.pools);
    effective.overlay.pools.extend(modes);
    let (need_tx, need_rx) = mpsc::channel(8);
    let (file_tx, file_rx) = mpsc::channel(4);
    let renewals = registration.as_ref().map(Registration::renewals);
    let mut c = Cluster {
        mesh: MeshSettings::new(cfg),
        blocks: cfg.blocks.clone(),
        file_blocks: cfg.blocks.clone(),
        claimed: Vec::new(),
        file_tx,
        file_rx,
        blocks_tx: watch::channel(Vec::new()).0,
        health: watch::channel(DatastoreHealth::default()).0,
        store,
        registration,
        nodes,
        configs,
        peers,
        pools: pool_r,
        local,
        need_tx,
        need_rx,
        reclaim: ipam::Reclaimer::new(&cfg.node_name),
        renewals,
        recheck_due: false,
        kept_alive: BTreeMap::new(),
        metrics: None,
    };
    c.take_blocks_at_start(&pool_items).await;
    effective.blocks = c.blocks.clone();
    c.blocks_tx.send_replace(c.blocks.clone());
    tracing::info!(
        asn,
        blocks = ?c.blocks,
        pools = ?effective.pools,
        "joined the cluster"
    );
    Some((effective, c))
}

impl Cluster {
    /// This node's labels: its `Node`'s, else the file's.
    fn labels(&self) -> acl::selector::Labels {
        self.nodes
            .snapshot()
            .items
            .values()
            .find(|r| r.metadata.name == self.local.name)
            .map_or_else(|| self.local.labels.clone(), |r| r.metadata.labels.clone())
    }

    /// Where the reloader sends the node file's peers and blocks.
    pub fn file_updates(&self) -> mpsc::Sender<FileUpdate> {
        self.file_tx.clone()
    }

    /// The IPPools as the datastore has them, on every change (their tunnel modes are
    /// followed by `agent::overlay_switch`).
    pub fn pool_changes(&self) -> watch::Receiver<Arc<store::Snapshot>> {
        self.pools.subscribe()
    }

    /// Where the workload task takes its blocks from and asks for more.
    pub fn block_source(&self) -> BlockSource {
        BlockSource {
            blocks: self.blocks_tx.subscribe(),
            need: self.need_tx.clone(),
            retire: self.reclaim.retire_tx.clone(),
            empty_since: BTreeMap::new(),
        }
    }

    /// Registers the datastore's metric families in `registry`.
    pub fn register_metrics(&mut self, registry: &prometheus::Registry) {
        self.metrics = DatastoreMetrics::register(registry);
    }

    /// The datastore's health, as published.
    pub fn health(&self) -> watch::Receiver<DatastoreHealth> {
        self.health.subscribe()
    }

    /// The datastore handle, shared with the policy watch and the WorkloadEndpoint
    /// publisher (`agent::cluster_policy`).
    pub fn store(&self) -> Arc<Datastore> {
        self.store.clone()
    }

    /// The lease registration, for the agent to revoke on a clean stop.
    pub fn take_registration(&mut self) -> Option<Registration> {
        self.registration.take()
    }

    /// The peers from resources, merged under the file's own (`file` wins for an
    /// address it lists).
    /// Also returns the problems found (for the log).
    fn desired(&self, file: &[PeerConfig]) -> (Vec<PeerConfig>, Vec<String>) {
        let (from_cluster, notes) = mesh::desired_peers(
            &self.local,
            &self.nodes.snapshot().items,
            &self.configs.snapshot().items,
            &self.peers.snapshot().items,
            &self.mesh.defaults,
            read_password,
        );
        let mut all = file.to_vec();
        for p in from_cluster {
            if !all
                .iter()
                .any(|f| f.address.to_canonical() == p.address.to_canonical())
            {
                all.push(p);
            }
        }
        (all, notes)
    }

    /// The speaker's peers at start: the file's, then the cluster's.
    pub fn initial_peers(&self, file: &[PeerConfig]) -> Vec<PeerConfig> {
        let (peers, notes) = self.desired(file);
        for n in notes {
            tracing::warn!("{n}");
        }
        peers
    }

    /// Mesh peers whose `Node` is gone stay while BFD says they are up (see
    /// `cluster_mesh`); asks BFD only when some mesh peer is about to go.
    async fn keep_bfd_up(
        &mut self,
        applied: &BTreeMap<IpAddr, PeerConfig>,
        want: &mut BTreeMap<IpAddr, PeerConfig>,
        bfd: &BfdHandle,
    ) {
        let leaving = applied
            .iter()
            .any(|(a, p)| p.kind == PeerKind::Mesh && !want.contains_key(a));
        if !leaving && self.kept_alive.is_empty() {
            return;
        }
        let states = if leaving {
            bfd.states().await
        } else {
            Default::default()
        };
        for line in keep_bfd_up(applied, want, &states, &mut self.kept_alive) {
            tracing::warn!("{line}");
        }
    }

    /// This node's blocks into BGP, the FIB's blackholes and the workload task.
    async fn originate(&self, speaker: &SpeakerHandle, fib_blocks: &BlocksTx) {
        let before = self.blocks_tx.borrow().clone();
        super::blocks::originate(speaker, Some(fib_blocks), &before, &self.blocks).await;
        self.blocks_tx.send_replace(self.blocks.clone());
    }

    fn publish_health(&self) {
        let snaps = [&self.nodes, &self.configs, &self.peers, &self.pools].map(|r| r.snapshot());
        let h = DatastoreHealth {
            kind: "etcd".into(),
            connected: snaps.iter().all(|s| s.connected),
            reconnects: snaps.iter().map(|s| s.reconnects).sum(),
            resyncs: snaps.iter().map(|s| s.resyncs).sum(),
            last_error: snaps.iter().find_map(|s| s.last_error.clone()),
            nodes: snaps[0].items.len(),
            blocks: self.blocks.clone(),
        };
        let metrics = self.metrics.clone();
        self.health.send_if_modified(|old| {
            if let Some(m) = &metrics {
                m.update(old, &h);
            }
            let changed = *old != h;
            *old = h;
            changed
        });
    }

    /// Follows the datastore until the agent stops: peers from every change (applied
    /// only when they differ, BFD in step), blocks on demand. `file_peers` are the node
    /// file's own.
    pub async fn run(
        mut self,
        speaker: SpeakerHandle,
        mut file_peers: Vec<PeerConfig>,
        fib_blocks: BlocksTx,
        guard: watch::Sender<super::guard::Guard>,
        bfd: BfdHandle,
    ) {
        // About what the speaker started with (initial_peers, whose notes were logged
        // then); applied once more in the first round (set_peers is declarative: only a
        // change made since the speaker started does anything).
        let (first, mut last_notes) = self.desired(&file_peers);
        let mut applied: BTreeMap<IpAddr, PeerConfig> =
            first.into_iter().map(|p| (p.address, p)).collect();
        let mut confirmed = false;
        guard_peers(&guard, applied.keys());
        self.mesh.sync_bfd(&bfd, &applied, &file_peers).await;
        let mut subs =
            [&self.nodes, &self.configs, &self.peers, &self.pools].map(|r| r.subscribe());
        self.publish_health();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let [a, b, c, d] = &mut subs;
            tokio::select! {
                r = a.changed() => if r.is_err() { return },
                r = b.changed() => if r.is_err() { return },
                r = c.changed() => if r.is_err() { return },
                r = d.changed() => if r.is_err() { return },
                Some(full) = self.need_rx.recv() => {
                    if self.claim(full.addr().is_ipv6()).await == ClaimOutcome::Claimed {
                        self.originate(&speaker, &fib_blocks).await;
                    }
                }
                Some((block, reply)) = self.reclaim.retire_rx.recv() => {
                    // Withdrawn before the answer: the workload task then drops it.
                    let gone = self.retire(block).await;
                    if gone {
                        self.originate(&speaker, &fib_blocks).await;
                    }
                    let _ = reply.send(gone);
                }
                Some(u) = self.file_rx.recv() => {
                    let mut done = FileApplied::default();
                    if let Some(p) = u.peers {
                        // The merged list, applied now so the reload can answer with
                        // the speaker's verdict; a refusal changes nothing.
                        let before = self.mesh.clone();
                        self.mesh.reload(u.mesh.as_ref(), u.bfd);
                        let (want, _) = self.desired(&p);
                        match speaker.set_peers(want.clone()).await {
                            Ok(d) => {
                                file_peers = p;
                                applied = want.into_iter().map(|p| (p.address, p)).collect();
                                confirmed = true;
                                guard_peers(&guard, applied.keys());
                                self.mesh.sync_bfd(&bfd, &applied, &file_peers).await;
                                done.peers = Some(d);
                            }
                            Err(e) => {
                                self.mesh = before;
                                let _ = u.reply.send(Err(e.to_string()));
                                continue;
                            }
                        }
                    }
                    if let Some(b) = u.blocks {
                        self.file_blocks = b;
                        self.merge_blocks();
                        self.originate(&speaker, &fib_blocks).await;
                        done.blocks = Some(self.blocks.clone());
                    }
                    let _ = u.reply.send(Ok(done));
                    continue;
                }
                _ = tick.tick() => {}
            }
            for s in subs.iter_mut() {
                s.borrow_and_update();
            }
            self.sweep_if_due().await;
            if self.recheck_if_due().await {
                self.originate(&speaker, &fib_blocks).await;
            }
            self.publish_health();
            let (want, notes) = self.desired(&file_peers);
            // Each problem is logged once, not on every recomputation.
            for n in notes.iter().filter(|n| !last_notes.contains(n)) {
                tracing::warn!("{n}");
            }
            last_notes = notes;
            let mut want: BTreeMap<IpAddr, PeerConfig> =
                want.into_iter().map(|p| (p.address, p)).collect();
            self.keep_bfd_up(&applied, &mut want, &bfd).await;
            if want == applied && confirmed {
                continue;
            }
            let added: Vec<String> = want
                .keys()
                .filter(|a| !applied.contains_key(a))
                .map(ToString::to_string)
                .collect();
            let removed: Vec<String> = applied
                .keys()
                .filter(|a| !want.contains_key(a))
                .map(ToString::to_string)
                .collect();
            match speaker.set_peers(want.values().cloned().collect()).await {
                Ok(_) => {
                    if !added.is_empty() || !removed.is_empty() {
                        tracing::info!(?added, ?removed, "peers from the datastore applied");
                    }
                    confirmed = true;
                    applied = want;
                    guard_peers(&guard, applied.keys());
                    self.mesh.sync_bfd(&bfd, &applied, &file_peers).await;
                }
                Err(e) => tracing::warn!("peers from the datastore not applied: {e}"),
            }
        }
    }
}
