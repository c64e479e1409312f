//! `tern agent`: wires the parts together (docs/architecture.md, "One direction of data").
//!
//! - [`plan`]: node config → speaker, controller and policy-compiler settings.
//! - The speaker (`bgp::speaker`) originates this node's blocks and learns the others';
//!   its best-path changes, this node's blocks (blackholes) and the local workload
//!   endpoints (device routes) are merged by [`fib`] into the controller's desired table.
//! - The endpoint task watches the endpoint files ([`watch`]), keeps the device routes and
//!   the veths' proxy-ARP/NDP settings (`controller::configure_workload_interface`) in step.
//! - The [`policy`] task loads, compiles and applies network policy on every change. In
//!   etcd mode [`cluster_policy`] adds the datastore's policies and other nodes'
//!   endpoints, and [`cluster_wep`] publishes this node's containers as WorkloadEndpoints.
//! - The [`workloads`] task owns the containers wired through CNI (IPAM under `stateDir`,
//!   veths, their device routes through the same desired FIB, their policy endpoints).
//! - [`control`]: the unix socket `tern status` / `tern routes` read ([`view`]).
//! - [`metrics`]: Prometheus families, owned by the [`observe`] task, which also says
//!   whether the agent is ready; [`http`] serves `/metrics`, `/healthz` and `/readyz`.
//!
//! SIGTERM/SIGINT: Cease (Administrative Shutdown) to every peer, routes left in the
//! kernel for the next start to adopt (unless `--flush-routes-on-exit`), the policy
//! ruleset left in force (as Calico's Felix does; `tern policy flush` removes it), control
//! socket removed, exit 0. Peers withdraw this node's blocks when its sessions end. With
//! `--graceful-restart` the sessions with peers that advertised graceful restart (RFC
//! 4724) are closed without a NOTIFICATION instead: those peers keep this node's blocks
//! (stale) until the agent is back and has sent End-of-RIB, so cross-host traffic keeps
//! flowing through a restart or an upgrade.

pub mod bfd;
pub mod blocks;
pub mod cluster;
pub mod cluster_mesh;
pub mod cluster_policy;
pub mod cluster_wep;
pub mod control;
pub mod docker;
pub mod fib;
pub mod guard;
pub mod hangup;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod observe;
pub mod overlay;
pub mod overlay_switch;
pub mod peer_detail;
pub mod plan;
pub mod policy;
pub mod process;
pub mod reload;
pub mod restart;
pub mod view;
pub mod watch;
pub mod workloads;
pub mod workloads_net;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp::speaker::{RouteChanges, Speaker, SpeakerError};
use config::NodeConfig;
use controller::{Controller, ControllerError, ControllerHandle, DesiredChange};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch as tokio_watch};
use tokio::task::JoinSet;

use self::control::{ControlError, ControlSocket, PolicySummary};
use self::fib::{DeviceRoute, FibTable};
use self::metrics::Metrics;
use self::view::{AgentView, NodeInfo};

/// How the agent runs besides its config.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Delete tern's routes from the kernel on exit (default: leave them).
    pub flush_routes_on_exit: bool,
    /// End sessions on exit as a restarting speaker (RFC 4724) instead of with a Cease.
    pub graceful_restart: bool,
}

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The config cannot be run as it is.
    #[error("{0}")]
    Plan(String),
    /// The tokio runtime or the signal handlers could not be set up.
    #[error("runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The BGP speaker could not start.
    #[error("BGP speaker: {0}")]
    Speaker(#[from] SpeakerError),
    /// The FIB controller failed.
    #[error("FIB controller: {0}")]
    Controller(#[from] ControllerError),
    /// The control socket could not be set up.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The metrics listener could not be bound.
    #[error("metrics listener {addr}: {source}")]
    Metrics {
        /// Configured address.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Runs the agent until SIGTERM or SIGINT.
pub fn run(cfg: NodeConfig, opts: Options) -> Result<(), AgentError> {
    // Before any other thread starts, so that all of them inherit the mask: SIGHUP is
    // read from a signalfd ([`hangup`]).
    hangup::block_in_this_thread().map_err(AgentError::Runtime)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tern")
        .enable_all()
        .build()
        .map_err(AgentError::Runtime)?;
    rt.block_on(run_async(cfg, opts))
}

async fn run_async(cfg: NodeConfig, opts: Options) -> Result<(), AgentError> {
    let started = Instant::now();
    if let Some((old, new)) = limits::raise_nofile_limit().filter(|(o, n)| o != n) {
        tracing::info!("open-file limit raised from {old} to {new}");
    }
    let mut sigterm = signal(SignalKind::terminate()).map_err(AgentError::Runtime)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(AgentError::Runtime)?;
    // SIGHUP: `reload` (blocked since `run`, so queued for the signalfd; the handler,
    // for a thread that does not block it, is installed first thing: its default action
    // would end the agent).
    let sighup = hangup::Hangups::register().map_err(AgentError::Runtime)?;
    // etcd mode: the cluster's AS, pools and blocks join the config, its peers the file's.
    // A reload compares the file with the file (`file_cfg`), not with what was merged.
    let file_cfg = cfg.clone();
    let (cfg, mut cluster) = tokio::select! {
        c = cluster::start(&cfg) => match c {
            Some((effective, c)) => (effective, Some(c)),
            None => (cfg, None),
        },
        // Still waiting for etcd: nothing to undo.
        _ = sigterm.recv() => return Ok(()),
        _ = sigint.recv() => return Ok(()),
    };
    let (mut speaker_cfg, notes) = plan::speaker_config(&cfg).map_err(AgentError::Plan)?;
    let file_peers = speaker_cfg.peers.clone();
    if let Some(c) = &cluster {
        speaker_cfg.peers = c.initial_peers(&file_peers);
    }
    for n in notes {
        tracing::warn!("{n}");
    }

    let control = ControlSocket::bind(&cfg.control.socket).await?;
    let metrics_listener = match cfg.metrics {
        Some(m) => Some(
            http::bind(m.listen)
                .await
                .map_err(|source| AgentError::Metrics {
                    addr: m.listen,
                    source,
                })?,
        ),
        None => None,
    };

    // `fib: { enabled: false }`: no controller, the kernel is left alone, and the
    // speaker's best-path changes are not taken (it drops them itself).
    let (guard_tx, guards) = tokio_watch::channel(guard::current(&plan::guard(&cfg)));
    let reload_guard = guard_tx.clone();
    let cluster_guard = guard_tx.clone();
    let (blocks_tx, blocks_rx) = mpsc::channel::<blocks::BlocksUpdate>(4);
    // Our routes still in the kernel: a restart that kept forwarding (R and F bits, RFC 4724).
    let kept = cfg.fib.enabled && restart::forwarding_kept(plan::controller_config(&cfg).table);
    if let Some(gr) = speaker_cfg.graceful_restart.as_mut() {
        gr.restarting = kept;
        gr.forwarding_preserved = kept || !cfg.fib.enabled;
    }
    // Pool mode changes at run time (reload, IPPools) move routes (agent::overlay_switch).
    let (overlay_tx, overlay_rx) = mpsc::channel::<overlay_switch::OverlayUpdate>(1);
    let mut modes_switch = None;
    let controller = if cfg.fib.enabled {
        let (fib, fib_task) = Controller::spawn(plan::controller_config(&cfg))?;
        let mut table = FibTable::new(fib.clone());
        // Learned routes never take over the host's own reachability (`guard`).
        table.set_guard(guards.borrow().clone()).await;
        // Pools with an ipipMode: tern.ipip, and their routes through it (agent::overlay).
        let (modes, devices) =
            overlay::setup(&cfg).map_err(|e| AgentError::Plan(format!("overlay: {e}")))?;
        table.set_overlay(modes.clone()).await;
        let file_modes = file_cfg.overlay.pools.clone();
        modes_switch = Some(overlay_switch::Switch::new(
            devices, modes, file_modes, overlay_tx,
        ));
        for c in table.set_blocks(&cfg.blocks).await {
            fib.change(c).await?;
        }
        Some((fib, fib_task, table))
    } else {
        tracing::info!("fib.enabled is false: routes are not installed in the kernel");
        None
    };
    let (speaker, changes) = Speaker::start(speaker_cfg).await?;
    tracing::info!(
        node = %cfg.node_name,
        asn = cfg.as_number,
        router_id = %cfg.router_id,
        peers = cfg.peers.len(),
        "agent started"
    );

    let (endpoints_tx, endpoints_rx) = tokio_watch::channel(Vec::<DeviceRoute>::new());
    let (wl_policy_tx, wl_policy_rx) = tokio_watch::channel(policy::WorkloadSet::default());
    let (applied_tx, applied_rx) = tokio_watch::channel(0u64);
    // etcd mode: policy also comes from the datastore (cluster_policy).
    let policy_on = !cfg.policy.paths.is_empty() || cluster.is_some();
    let policy_applied = policy_on.then_some(applied_rx);
    let (wl_routes_tx, wl_routes_rx) = mpsc::channel::<workloads::RoutesUpdate>(4);
    let (jobs_tx, jobs_rx) = mpsc::channel::<workloads::Job>(64);
    let backend = if !policy_on {
        "none"
    } else {
        match plan::backend(&cfg) {
            acl::Backend::Nftables => "nftables",
            acl::Backend::Iptables => "iptables",
        }
    };
    let (policy_tx, policy_rx) = tokio_watch::channel(PolicySummary {
        backend: backend.into(),
        ok: !policy_on,
        ..PolicySummary::default()
    });
    let metrics = Metrics::new();
    if let Some(c) = cluster.as_mut() {
        c.register_metrics(metrics.registry());
    }
    let reload_metrics = reload::ReloadMetrics::register(metrics.registry());
    let bfd = bfd::spawn(
        bfd::bfd_peers(&cfg.peers, cfg.listen.address),
        speaker.clone(),
        Some(bfd::BfdMetrics::register(metrics.registry())),
    );
    let mut tasks = JoinSet::new();
    // etcd mode: policy inputs from the datastore; this node's workloads published to it.
    let cluster_links = cluster
        .as_ref()
        .map(|c| cluster_policy::spawn(&mut tasks, c.store(), &cfg.node_name));

    // Endpoints → device routes; BGP → via routes; both into the controller.
    let (fib, fib_task) = match controller {
        Some((fib, fib_task, table)) => {
            let (eps_tx, eps_rx) = mpsc::channel::<Vec<DeviceRoute>>(4);
            let (locals_tx, locals_rx) = tokio_watch::channel(false);
            let locals = LocalSources {
                cni_pending: workloads::Workloads::restores_at_start(&cfg.state_dir),
                ready: locals_tx,
            };
            tasks.spawn(guard::watch(guard_tx));
            tasks.spawn(routes_task(
                table,
                changes,
                guards.clone(),
                eps_rx,
                wl_routes_rx,
                blocks_rx,
                overlay_rx,
                fib.clone(),
                endpoints_tx,
                locals,
            ));
            if !cfg.endpoints.is_empty() {
                tasks.spawn(endpoints_task(cfg.endpoints.clone(), eps_tx, fib.clone()));
            }
            if kept {
                let max = cfg.graceful_restart.restart_time;
                tasks.spawn(restart::sweep_after_end_of_rib(
                    speaker.clone(),
                    fib.clone(),
                    locals_rx,
                    max,
                ));
            }
            (Some(fib), Some(fib_task))
        }
        None => {
            drop(changes);
            drop(endpoints_tx);
            // Nobody writes blackholes: a block list sent here would wait for ever.
            drop(blocks_rx);
            (None, None)
        }
    };
    if policy_on {
        let mut paths = cfg.endpoints.clone();
        paths.extend(cfg.policy.paths.iter().cloned());
        let task = policy::PolicyTask {
            paths,
            options: plan::compile_options(&cfg),
            backend: plan::backend(&cfg),
            metrics: metrics.acl(),
            summary: policy_tx,
            workloads: wl_policy_rx,
            applied: applied_tx,
            cluster: cluster_links.as_ref().map(|l| l.inputs.clone()),
        };
        tasks.spawn(task.run());
    }
    let wl = workloads::Workloads::new(
        cfg.state_dir.clone(),
        cfg.blocks.clone(),
        fib.as_ref().map(|_| wl_routes_tx),
        fib.clone(),
        wl_policy_tx,
        policy_applied,
    );
    let wl = match &cluster_links {
        Some(l) => wl.publish_to(l.workloads.clone()),
        None => wl,
    };
    let wl = match &cluster {
        Some(c) => wl.grow_from(c.block_source()),
        None => wl,
    };
    let registration = cluster
        .as_mut()
        .and_then(cluster::Cluster::take_registration);
    let datastore_health = cluster.as_ref().map(cluster::Cluster::health);
    let cluster_reload = cluster.as_ref().map(|c| reload::EtcdLink {
        as_number: cfg.as_number,
        updates: c.file_updates(),
    });
    if let (Some(c), Some(s)) = (&cluster, &modes_switch) {
        tasks.spawn(s.clone().follow_pools(c.pool_changes()));
    }
    if let Some(c) = cluster {
        tasks.spawn(c.run(
            speaker.clone(),
            file_peers,
            blocks_tx.clone(),
            cluster_guard,
            bfd.clone(),
        ));
    }
    tasks.spawn(wl.run(jobs_rx));
    if let Some(d) = &cfg.docker {
        let l = ::docker::bind(&d.plugin_socket).map_err(|e| {
            AgentError::Plan(format!(
                "docker plugin socket {}: {e}",
                d.plugin_socket.display()
            ))
        })?;
        let (pools, blocks) = (cfg.pools.clone(), cfg.blocks.clone());
        let plugin = docker::Plugin::new(d, pools, blocks, jobs_tx.clone());
        tasks.spawn(docker::run(l, plugin));
    }
    let (ask_tx, ask_rx) = mpsc::channel::<http::Ask>(16);
    if let Some(l) = metrics_listener {
        tasks.spawn(http::serve(l, ask_tx));
    }
    let inputs = observe::Inputs {
        speaker: speaker.clone(),
        fib: fib.clone(),
        policy: policy_rx.clone(),
    };
    tasks.spawn(observe::run(metrics, inputs, ask_rx));
    let (shown_blocks_tx, shown_blocks) = tokio_watch::channel(cfg.blocks.clone());
    let view = AgentView {
        speaker: speaker.clone(),
        fib: fib.clone(),
        guard: guards,
        node: Arc::new(NodeInfo {
            name: cfg.node_name.clone(),
            asn: cfg.as_number,
            router_id: cfg.router_id,
            blocks: shown_blocks,
            started,
        }),
        endpoints: endpoints_rx,
        policy: policy_rx,
        bfd: bfd.clone(),
        datastore: datastore_health,
    };
    let source = workloads::WithWorkloads {
        view,
        jobs: Some(jobs_tx),
    };
    let (reload_tx, reload_rx) = mpsc::channel::<reload::ReloadAsk>(4);
    let (reload_status_tx, reload_status) = tokio_watch::channel(None);
    let reloader = reload::Reloader {
        cfg: file_cfg,
        speaker: speaker.clone(),
        bfd: bfd.clone(),
        guard: reload_guard,
        blocks: fib.as_ref().map(|_| blocks_tx),
        shown_blocks: shown_blocks_tx,
        status: reload_status_tx,
        metrics: Some(reload_metrics),
        cluster: cluster_reload,
        overlay: modes_switch,
    };
    tasks.spawn(reloader.run(sighup, reload_rx));
    let source = reload::WithReload {
        inner: source,
        asks: reload_tx,
        status: reload_status,
    };
    tasks.spawn(async move { control.serve(source).await });

    let fib_wait = async {
        match fib_task {
            Some(t) => t.wait().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(fib_wait);
    let stopped_by = tokio::select! {
        _ = sigterm.recv() => "SIGTERM",
        _ = sigint.recv() => "SIGINT",
        r = &mut fib_wait => {
            tasks.shutdown().await;
            speaker.shutdown().await;
            return Err(match r {
                Err(e) => AgentError::Controller(e),
                Ok(()) => AgentError::Controller(ControllerError::Stopped),
            });
        }
    };
    tracing::info!("{stopped_by}: shutting down");
    // First stop passing route changes on (the sessions going down withdraw every learned
    // route, and those routes are to stay in the kernel), the control server (removing
    // the socket), the watchers and the metrics endpoint; then end the sessions.
    tasks.shutdown().await;
    // etcd mode: this node leaves the cluster now (not after its lease's TTL); after a
    // graceful restart it comes back before its peers give up on it.
    if let Some(r) = registration.filter(|_| !opts.graceful_restart) {
        if let Err(e) = r.revoke().await {
            tracing::warn!("datastore: revoking this node's registration: {e}");
        }
    }
    if opts.graceful_restart {
        speaker.shutdown_graceful().await;
    } else {
        speaker.shutdown().await;
    }
    // Then BFD neighbours hear AdminDown (RFC 5882 §3.2: not a path failure). After the
    // sessions, so a neighbour whose BGP reacts to BFD already helps with the restart
    // (FRR 8.4 sent Cease / BFD Down when AdminDown came first).
    bfd.shutdown().await;
    let Some(fib) = fib else {
        return Ok(());
    };
    match fib.shutdown(opts.flush_routes_on_exit).await {
        Ok(n) if opts.flush_routes_on_exit => tracing::info!("removed {n} routes from the kernel"),
        Ok(_) => tracing::info!("routes left in the kernel for the next start"),
        Err(e) => tracing::warn!("FIB controller shutdown: {e}"),
    }
    if let Err(e) = fib_wait.await {
        tracing::warn!("FIB controller: {e}");
    }
    Ok(())
}

/// Most best-path changes pulled from the speaker at once (they wait, coalesced, in the
/// RIB until the controller has taken the previous batch).
const CHANGE_BATCH: usize = 4096;

/// Whether the local device routes (endpoint files, CNI workloads) have reached the
/// controller once: a restart's sweep of adopted routes must not run before, or it
/// deletes the routes of this node's own containers until they are loaded again.
struct LocalSources {
    /// The workloads task will hand over restored attachments (CNI used before).
    cni_pending: bool,
    /// Set once every source has been handed over (or has none).
    ready: tokio_watch::Sender<bool>,
}

/// One input of the routes task.
enum RoutesInput {
    Bgp(Vec<bgp::rib::RouteChange>),
    Guard(guard::Guard),
    Endpoints(Vec<DeviceRoute>),
    Workloads(workloads::RoutesUpdate),
    Blocks(blocks::BlocksUpdate),
    Overlay(overlay_switch::OverlayUpdate),
}

/// Owns the merged desired table: best-path changes from the speaker and endpoint sets
/// from the endpoint task become controller changes. A small batch of best-path changes
/// that finds this task waiting and the controller idle is applied in the speaker's turn
/// instead ([`fib::BgpSink`]); the table is shared with it behind a lock, held here from
/// an input's first change of the table to its hand-over to the controller.
// One input per source of desired routes; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
async fn routes_task(
    table: FibTable,
    mut changes: RouteChanges,
    mut guards: tokio_watch::Receiver<guard::Guard>,
    mut endpoints: mpsc::Receiver<Vec<DeviceRoute>>,
    mut workloads: mpsc::Receiver<workloads::RoutesUpdate>,
    mut blocks: mpsc::Receiver<blocks::BlocksUpdate>,
    mut overlays: mpsc::Receiver<overlay_switch::OverlayUpdate>,
    fib: ControllerHandle,
    published: tokio_watch::Sender<Vec<DeviceRoute>>,
    locals: LocalSources,
) {
    let table = Arc::new(tokio::sync::Mutex::new(table));
    changes.set_sink(
        controller::DIRECT_CHANGES,
        fib::BgpSink::new(table.clone(), fib.clone()),
    );
    // A source is in once it has sent its first set or closed (or, CNI, has none).
    let mut files_seen = false;
    let mut cni_seen = !locals.cni_pending;
    let mut bgp_open = true;
    let mut eps_open = true;
    let mut wl_open = true;
    // Device routes from the endpoint files and from CNI workloads, merged.
    let mut from_files: Vec<DeviceRoute> = Vec::new();
    let mut from_cni: Vec<DeviceRoute> = Vec::new();
    let mut out: Vec<DesiredChange> = Vec::new();
    while bgp_open || eps_open || wl_open {
        // `None`: a source closed.
        let input = tokio::select! {
            // Level-triggered: Install/Replace set the hops, Withdraw removes if
            // present (FibTable::bgp is idempotent). `next` is cancel-safe: when another
            // input wins, its take stays parked in the speaker.
            batch = changes.next(CHANGE_BATCH), if bgp_open => {
                bgp_open = batch.is_some();
                batch.map(RoutesInput::Bgp)
            }
            Ok(()) = guards.changed() => {
                Some(RoutesInput::Guard(guards.borrow_and_update().clone()))
            }
            e = endpoints.recv(), if eps_open => {
                eps_open = e.is_some();
                e.map(RoutesInput::Endpoints)
            }
            Some(b) = blocks.recv() => Some(RoutesInput::Blocks(b)),
            Some(u) = overlays.recv() => Some(RoutesInput::Overlay(u)),
            w = workloads.recv(), if wl_open => {
                wl_open = w.is_some();
                w.map(RoutesInput::Workloads)
            }
        };
        // A pool mode switch: answered once its routes are in the kernel.
        let mut moved: Option<tokio::sync::oneshot::Sender<()>> = None;
        // New blocks: their announcement, started once their blackholes are handed to
        // the controller.
        let mut announce: Option<blocks::Announce> = None;
        // A CNI set: answered once handed to the controller.
        let mut done = None;
        let mut set_changed = false;
        let mut table = table.lock().await;
        match input {
            None => {}
            Some(RoutesInput::Bgp(batch)) => {
                out.extend(batch.iter().filter_map(|c| table.bgp(c)));
            }
            Some(RoutesInput::Guard(g)) => out.extend(table.set_guard(g).await),
            Some(RoutesInput::Blocks(b)) => {
                out.extend(table.set_blocks(&b.blocks).await);
                announce = b.announce;
            }
            Some(RoutesInput::Overlay(u)) => {
                out.extend(table.set_overlay(u.overlay).await);
                moved = Some(u.done);
            }
            Some(RoutesInput::Endpoints(routes)) => {
                from_files = routes;
                files_seen = true;
                set_changed = true;
            }
            Some(RoutesInput::Workloads(u)) => {
                from_cni = u.routes;
                done = Some(u.done);
                cni_seen = true;
                set_changed = true;
            }
        }
        if set_changed {
            let mut all = from_files.clone();
            all.extend(from_cni.iter().cloned());
            out.extend(table.set_endpoints(all).await);
            published.send_replace(table.endpoints().to_vec());
        }
        if let Err(e) = fib.changes(std::mem::take(&mut out)).await {
            tracing::error!("FIB controller: {e}");
            return;
        }
        drop(table);
        // Written when the controller was idle (the common case), queued in order
        // otherwise: either way the announcement may follow.
        if let Some(a) = announce {
            a.start();
        }
        if (files_seen || !eps_open) && (cni_seen || !wl_open) {
            locals
                .ready
                .send_if_modified(|r| !std::mem::replace(r, true));
        }
        if let Some(d) = done {
            let _ = d.send(());
        }
        if let Some(m) = moved {
            if let Err(e) = fib.sync().await {
                tracing::error!("FIB controller: {e}");
                return;
            }
            let _ = m.send(());
        }
    }
}

/// Reads the endpoint files after a change ([`watch`]); sends the new device routes. Keeps
/// each endpoint's veth prepared (proxy ARP/NDP, forwarding), re-preparing it when the
/// interface is re-created, and asks the controller to retry when one appears.
async fn endpoints_task(
    paths: Vec<PathBuf>,
    out: mpsc::Sender<Vec<DeviceRoute>>,
    fib: ControllerHandle,
) {
    let mut files = watch::Watch::new(paths.clone());
    let mut current: Vec<DeviceRoute> = Vec::new();
    // Interface → ifindex it had when prepared.
    let mut prepared: HashMap<String, String> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Files are read only after an event or at the periodic rescan (agent::watch).
        if files.pending() && files.changed().await {
            let p = paths.clone();
            match tokio::task::spawn_blocking(move || acl::load_paths(&p)).await {
                Ok(Ok(bundle)) => {
                    let (routes, clashes) = fib::device_routes(&bundle.workloads);
                    for c in clashes {
                        tracing::warn!("endpoints: {c}");
                    }
                    tracing::info!(
                        endpoints = bundle.workloads.len(),
                        addresses = routes.len(),
                        "endpoints loaded"
                    );
                    current = routes.clone();
                    if out.send(routes).await.is_err() {
                        return;
                    }
                }
                Ok(Err(e)) => {
                    for line in e.to_string().lines() {
                        tracing::error!("endpoints not reloaded, previous set stays: {line}");
                    }
                }
                Err(e) => tracing::error!("endpoint loader failed: {e}"),
            }
        }
        let mut appeared = false;
        let ifaces: std::collections::BTreeSet<&str> =
            current.iter().map(|d| d.interface.as_str()).collect();
        prepared.retain(|k, _| ifaces.contains(k.as_str()));
        for ifname in ifaces {
            let index = std::fs::read_to_string(format!("/sys/class/net/{ifname}/ifindex"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            if index.is_empty() || prepared.get(ifname) == Some(&index) {
                continue;
            }
            match controller::configure_workload_interface(ifname, None) {
                Ok(_) => {
                    prepared.insert(ifname.to_string(), index);
                    appeared = true;
                }
                Err(e) => tracing::warn!("endpoint interface: {e}"),
            }
        }
        if appeared {
            // Device routes that failed while the interface was missing go in now.
            if let Err(e) = fib.reconcile().await {
                tracing::warn!("FIB reconcile: {e}");
            }
        }
    }
}
