//! Live reload of the node config (files and etcd mode): on SIGHUP or the control socket's
//! `reload` request the agent re-reads the file it was started with, with the same
//! loader as at start, and applies what may change at run time.
//!
//! - `peers` (and `nodeToNodeMesh`): the speaker's peers are replaced declaratively
//!   (`SpeakerHandle::set_peers`: added peers start, removed ones get Cease / Peer
//!   De-configured, changed ones Cease / Other Configuration Change and restart,
//!   unchanged sessions stay up), and so are the BFD sessions and the FIB guard's peer
//!   addresses.
//! - `blocks`: originated into BGP and blackholed in the kernel as at start.
//! - the pools' `ipipMode` / `vxlanMode` (the same CIDRs): the routes move into or out
//!   of the tunnels, devices made or removed as needed ([`super::overlay_switch`]);
//!   applied first, so a switch the kernel refuses (no IPIP module) changes nothing.
//! - Every other key needs a restart: a reload that changes one is refused with a
//!   message naming the key, and nothing changes.
//!
//! In etcd mode the same file is re-read and checked the same way (`datastore`,
//! `nodeName`, `routerId`, `listen`, … refused by name), but the cluster task
//! ([`super::cluster`]) owns the speaker's peers and this node's blocks: the reloader
//! hands it the file's peers and blocks ([`super::cluster::FileUpdate`]); it merges
//! them with the datastore's peers and the claimed blocks (never dropped) and applies
//! the result, so the two never undo each other.
//!
//! A file that does not load (located `FILE:LINE:COL` errors) changes nothing either;
//! every failure is logged at error level line by line, shown by `tern status` and
//! counted in `tern_config_reload_failures_total`. [`diff`] is the pure part.

use std::time::{SystemTime, UNIX_EPOCH};

use bgp::speaker::SpeakerHandle;
use config::node::{NodeConfig, PoolOverlay};
use config::LoadError;
use ipnet::IpNet;
use prometheus::{IntCounter, IntGauge, Registry};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use super::bfd::{self, BfdHandle};
use super::control::{Reply, Request, RoutesQuery, RoutesSink, Source, StatusView};
use super::guard::Guard;
use super::overlay_switch::Switch;
use super::plan;

/// What a reload applies; built by [`diff`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The peer list (or the mesh) changed: the speaker, BFD and the guard get it.
    pub peers: bool,
    /// The new `blocks`, when they changed.
    pub blocks: Option<Vec<IpNet>>,
    /// The pools' new tunnel modes, when they changed.
    pub overlay: Option<Vec<PoolOverlay>>,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        !self.peers && self.blocks.is_none() && self.overlay.is_none()
    }
}

/// What changes from `old` to `new` at run time, or the message refusing the reload
/// because a key that needs a restart changed (the first one, in file order).
pub fn diff(old: &NodeConfig, new: &NodeConfig) -> Result<Plan, String> {
    let fixed: [(&str, bool); 16] = [
        ("nodeName", old.node_name != new.node_name),
        (
            "asNumber",
            old.as_number != new.as_number || old.as_number_given != new.as_number_given,
        ),
        ("routerId", old.router_id != new.router_id),
        ("listen", old.listen != new.listen),
        // The pools' CIDRs are fixed; their tunnel modes may change (`Plan::overlay`).
        ("pools", old.pools != new.pools),
        (
            "overlay",
            (
                old.overlay.ipip_mtu,
                old.overlay.vxlan_mtu,
                old.overlay.vxlan_vni,
            ) != (
                new.overlay.ipip_mtu,
                new.overlay.vxlan_mtu,
                new.overlay.vxlan_vni,
            ),
        ),
        ("fib", old.fib != new.fib),
        ("endpoints", old.endpoints != new.endpoints),
        ("policy", old.policy != new.policy),
        ("metrics", old.metrics != new.metrics),
        ("control", old.control != new.control),
        ("routeReflector", old.route_reflector != new.route_reflector),
        (
            "gracefulRestart",
            old.graceful_restart != new.graceful_restart,
        ),
        ("stateDir", old.state_dir != new.state_dir),
        ("datastore", old.datastore != new.datastore),
        ("labels", old.labels != new.labels),
    ];
    if let Some((key, _)) = fixed.iter().find(|(_, changed)| *changed) {
        return Err(format!(
            "{key} cannot change at run time; restart the agent to apply it (nothing was changed)"
        ));
    }
    // Whatever else the config holds (keys added later) must be equal too.
    let mut probe = new.clone();
    probe.peers.clone_from(&old.peers);
    probe.node_to_node_mesh = old.node_to_node_mesh;
    probe.mesh.clone_from(&old.mesh);
    probe.blocks.clone_from(&old.blocks);
    probe.overlay.pools.clone_from(&old.overlay.pools);
    probe.file.clone_from(&old.file);
    if probe != *old {
        return Err(
            "a setting that cannot change at run time changed; restart the agent to apply it \
             (nothing was changed)"
                .into(),
        );
    }
    Ok(Plan {
        peers: old.peers != new.peers
            || old.node_to_node_mesh != new.node_to_node_mesh
            || old.mesh != new.mesh,
        blocks: (old.blocks != new.blocks).then(|| new.blocks.clone()),
        overlay: (old.overlay.pools != new.overlay.pools).then(|| new.overlay.pools.clone()),
    })
}

/// The last reload as `tern status` shows it (and the `reload` request's answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadView {
    /// Whether it succeeded.
    pub ok: bool,
    /// When it ran (seconds since the Unix epoch).
    pub at_unix: u64,
    /// Why it failed: located `FILE:LINE:COL: message` lines or the refused key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What it changed, in words (`peers: +1 -0 ~0; blocks unchanged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<String>,
    /// Reloads attempted since the agent started.
    pub reloads: u64,
    /// Of those, failed.
    pub failures: u64,
}

/// `tern_config_reloads_total`, `tern_config_reload_failures_total` and
/// `tern_config_last_reload_success_timestamp_seconds`.
#[derive(Clone)]
pub struct ReloadMetrics {
    reloads: IntCounter,
    failures: IntCounter,
    last_success: IntGauge,
}

impl ReloadMetrics {
    /// Registers the families in `registry`.
    pub fn register(registry: &Registry) -> ReloadMetrics {
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            if let Err(e) = registry.register(Box::new(c.clone())) {
                tracing::error!("metrics registration: {e}");
            }
            c
        };
        let last_success = IntGauge::new(
            "tern_config_last_reload_success_timestamp_seconds",
            "When the node config was last loaded successfully (start or reload), Unix time",
        )
        .expect("valid metric");
        if let Err(e) = registry.register(Box::new(last_success.clone())) {
            tracing::error!("metrics registration: {e}");
        }
        last_success.set(unix_now() as i64);
        ReloadMetrics {
            reloads: counter(
                "tern_config_reloads_total",
                "Node config reloads attempted (SIGHUP or tern reload)",
            ),
            failures: counter(
                "tern_config_reload_failures_total",
                "Node config reloads that failed and changed nothing",
            ),
            last_success,
        }
    }
}

/// A `reload` request from the control socket, answered when the reload is done.
pub type ReloadAsk = oneshot::Sender<ReloadView>;

/// The reload task and what it changes.
pub struct Reloader {
    /// The config in force.
    pub cfg: NodeConfig,
    /// The BGP speaker.
    pub speaker: SpeakerHandle,
    /// The BFD task.
    pub bfd: BfdHandle,
    /// The guard's publisher (the peers' addresses are guarded).
    pub guard: watch::Sender<Guard>,
    /// The routes task's blocks input (`None` without a FIB).
    pub blocks: Option<super::blocks::BlocksTx>,
    /// The blocks `tern routes` lists as this node's.
    pub shown_blocks: watch::Sender<Vec<IpNet>>,
    /// The last reload, for `tern status`.
    pub status: watch::Sender<Option<ReloadView>>,
    /// The metric families.
    pub metrics: Option<ReloadMetrics>,
    /// etcd mode: where the file's peers and blocks go (`None` in files mode).
    pub cluster: Option<EtcdLink>,
    /// Where the pools' tunnel modes go (`None` without a FIB: nothing to move).
    pub overlay: Option<Switch>,
}

/// The reloader's link to the cluster task in etcd mode.
pub struct EtcdLink {
    /// The AS the node took from the cluster (mesh peers of the file without their
    /// own AS get it, as at start).
    pub as_number: u32,
    /// The cluster task's queue.
    pub updates: mpsc::Sender<super::cluster::FileUpdate>,
}

impl Reloader {
    /// Reloads on every SIGHUP and `reload` request until the task is dropped.
    pub async fn run(
        mut self,
        mut sighup: super::hangup::Hangups,
        mut asks: mpsc::Receiver<ReloadAsk>,
    ) {
        let mut asks_open = true;
        loop {
            let (reply, trigger) = tokio::select! {
                s = sighup.recv() => {
                    if s.is_none() {
                        return;
                    }
                    (None, "SIGHUP")
                }
                a = asks.recv(), if asks_open => match a {
                    Some(tx) => (Some(tx), "reload request"),
                    None => {
                        asks_open = false;
                        continue;
                    }
                },
            };
            // The outcome is logged at info level, once (a second line before the
            // reload was a write to the log ahead of the new config's UPDATEs).
            tracing::debug!("{trigger}: reloading {}", self.cfg.file.display());
            let view = self.reload_once(trigger).await;
            if let Some(tx) = reply {
                let _ = tx.send(view);
            }
        }
    }

    /// One reload: load, check, apply; the outcome is published and counted.
    async fn reload_once(&mut self, trigger: &'static str) -> ReloadView {
        let outcome = self.try_reload().await;
        let prev = self.status.borrow().clone().unwrap_or_default();
        let mut view = ReloadView {
            ok: outcome.is_ok(),
            at_unix: unix_now(),
            reloads: prev.reloads + 1,
            failures: prev.failures + u64::from(outcome.is_err()),
            ..ReloadView::default()
        };
        if let Some(m) = &self.metrics {
            m.reloads.inc();
        }
        match outcome {
            Ok(changed) => {
                tracing::info!(trigger, "config reloaded: {changed}");
                if let Some(m) = &self.metrics {
                    m.last_success.set(view.at_unix as i64);
                }
                view.changed = Some(changed);
            }
            Err(e) => {
                for line in e.lines() {
                    tracing::error!(trigger, "config reload failed: {line}");
                }
                if let Some(m) = &self.metrics {
                    m.failures.inc();
                }
                view.error = Some(e);
            }
        }
        self.status.send_replace(Some(view.clone()));
        view
    }

    async fn try_reload(&mut self) -> Result<String, String> {
        // Read and parsed on this task: a node file is local and small (at most
        // `config::node::MAX_FILE_BYTES`; a real one loads in 40-200 us). The blocking
        // pool's thread, woken or re-created for each reload, cost 0.12-0.15 ms of the
        // reload → UPDATE latency (bench/propagation, TRIGGER=signal).
        let new = match NodeConfig::load(&self.cfg.file) {
            Ok(c) => c,
            Err(LoadError::Read { path, source }) => {
                return Err(format!("{}: cannot read: {source}", path.display()))
            }
            Err(e) => return Err(e.to_string()),
        };
        let plan = diff(&self.cfg, &new)?;
        if plan.is_empty() {
            self.cfg = new;
            return Ok("nothing changed".into());
        }
        let mut said = Vec::new();
        if let Some(pools) = &plan.overlay {
            said.push(match &self.overlay {
                Some(s) => s.set_file(pools.clone()).await?,
                None => "tunnel modes noted (fib.enabled is false: no routes to move)".into(),
            });
            // From here on the file's modes are in force, whatever else fails.
            self.cfg.overlay.pools.clone_from(pools);
        }
        if let Some(link) = &self.cluster {
            if plan.peers || plan.blocks.is_some() {
                said.push(self.apply_etcd(link, &new, &plan).await?);
            }
            self.cfg = new;
            return Ok(said.join("; "));
        }
        if plan.peers {
            let (speaker_cfg, notes) = plan::speaker_config(&new)?;
            // The first step that changes anything, and the last that can fail.
            let d = self
                .speaker
                .set_peers(speaker_cfg.peers)
                .await
                .map_err(|e| e.to_string())?;
            for n in notes {
                tracing::warn!("{n}");
            }
            self.bfd
                .set_peers(bfd::bfd_peers(&new.peers, new.listen.address))
                .await;
            let peers = plan::guard(&new).peers;
            self.guard.send_if_modified(|g| {
                let changed = g.peers != peers;
                g.peers = peers;
                changed
            });
            said.push(peers_said(&d));
        }
        if let Some(blocks) = &plan.blocks {
            super::blocks::originate(
                &self.speaker,
                self.blocks.as_ref(),
                &self.cfg.blocks,
                blocks,
            )
            .await;
            let before = self.shown_blocks.send_replace(blocks.clone());
            said.push(blocks_said(&before, blocks));
        }
        self.cfg = new;
        Ok(said.join("; "))
    }
}

impl Reloader {
    /// etcd mode: the file's peers, BFD peers, mesh settings and blocks to the cluster
    /// task, which merges and applies them.
    async fn apply_etcd(
        &self,
        link: &EtcdLink,
        new: &NodeConfig,
        plan: &Plan,
    ) -> Result<String, String> {
        let mut peers = None;
        let mut notes = Vec::new();
        if plan.peers {
            let mut eff = new.clone();
            if !new.as_number_given {
                eff.as_number = link.as_number;
                eff.as_number_given = true;
                for p in eff.peers.iter_mut() {
                    if p.kind == config::node::PeerKind::Mesh {
                        p.as_number = link.as_number;
                    }
                }
            }
            let (speaker_cfg, n) = plan::speaker_config(&eff)?;
            peers = Some(speaker_cfg.peers);
            notes = n;
        }
        let (reply, answer) = oneshot::channel();
        let update = super::cluster::FileUpdate {
            peers,
            bfd: bfd::bfd_peers(&new.peers, new.listen.address),
            mesh: new.mesh.clone(),
            blocks: plan.blocks.clone(),
            reply,
        };
        if link.updates.send(update).await.is_err() {
            return Err("the cluster task is not running (nothing was changed)".into());
        }
        let done = answer
            .await
            .map_err(|_| "the cluster task stopped during the reload".to_string())??;
        for n in notes {
            tracing::warn!("{n}");
        }
        let mut said = Vec::new();
        // BFD follows in the cluster task (the file's peers and the cluster's mesh).
        if let Some(d) = &done.peers {
            said.push(peers_said(d));
        }
        if let Some(blocks) = done.blocks {
            let before = self.shown_blocks.send_replace(blocks.clone());
            said.push(blocks_said(&before, &blocks));
        }
        Ok(said.join("; "))
    }
}

fn peers_said(d: &bgp::speaker::PeerDiff) -> String {
    let list = |v: &[std::net::IpAddr]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "peers added [{}] removed [{}] changed [{}]",
        list(&d.added),
        list(&d.removed),
        list(&d.changed)
    )
}

/// What a reload did to the blocks, in words: the ones added and removed, and how many
/// there are now (a node with hundreds of blocks is not listed whole on every reload).
fn blocks_said(before: &[IpNet], now: &[IpNet]) -> String {
    let sorted = |v: &[IpNet]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    };
    let (old, new) = (sorted(before), sorted(now));
    let missing = |from: &[IpNet], sorted: &[IpNet]| {
        from.iter()
            .filter(|b| sorted.binary_search(b).is_err())
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "blocks added [{}] removed [{}], {} in all",
        missing(now, &old),
        missing(before, &new),
        now.len()
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The control socket's source with `reload` requests and the last reload in `status`.
#[derive(Clone)]
pub struct WithReload<S> {
    /// Everything else.
    pub inner: S,
    /// The reload task's queue.
    pub asks: mpsc::Sender<ReloadAsk>,
    /// The last reload.
    pub status: watch::Receiver<Option<ReloadView>>,
}

impl<S: Source> Source for WithReload<S> {
    async fn status(&self) -> StatusView {
        let mut s = self.inner.status().await;
        s.config_reload = self.status.borrow().clone();
        s
    }

    fn routes(
        &self,
        query: RoutesQuery,
        out: RoutesSink,
    ) -> impl std::future::Future<Output = Option<IpNet>> + Send {
        self.inner.routes(query, out)
    }

    fn peer(&self, peer: String) -> impl std::future::Future<Output = Reply> + Send {
        self.inner.peer(peer)
    }

    fn workload(&self, req: Request) -> impl std::future::Future<Output = Reply> + Send {
        self.inner.workload(req)
    }

    async fn reload(&self) -> Reply {
        let (tx, rx) = oneshot::channel();
        if self.asks.send(tx).await.is_err() {
            return Reply::Error("the reload task is not running".into());
        }
        match rx.await {
            Ok(v) => Reply::Reload(v),
            Err(_) => Reply::Error("the agent stopped during the reload".into()),
        }
    }
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
