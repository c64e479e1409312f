//! The policy task: watches the policy and endpoint files, and on every change loads,
//! compiles and applies them with the `acl` crate (one nft/iptables transaction,
//! incremental after the first). A bad file is logged with its `FILE:LINE:COL` location
//! and the rules in force stay as they were; `tern status` shows the error until a good
//! version is applied. Container workloads wired through CNI (`agent::workloads`) arrive
//! on a watch channel and are added to the endpoints read from the files; a change of
//! either reloads. With a cluster datastore, its policies, namespaces, host endpoints and
//! other nodes' workloads (`agent::cluster_policy`) arrive on a third channel and are
//! merged with the files (the files win on a name clash); until the datastore's first
//! full view is there nothing is applied (the rules in force stay).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use acl::loader::Loader;
use acl::{Applier, Backend, CompileOptions, WorkloadEndpoint};
use tokio::sync::watch;

use super::cluster_policy::ClusterPolicy;
use super::control::PolicySummary;
use super::metrics::AclMetrics;
use super::watch::Watch;

/// What the policy task needs.
pub struct PolicyTask {
    /// Endpoint paths then policy paths (policies select endpoints).
    pub paths: Vec<PathBuf>,
    /// Compiler options from the node config.
    pub options: CompileOptions,
    /// nftables or iptables.
    pub backend: Backend,
    /// Metrics handles.
    pub metrics: AclMetrics,
    /// Where the summary for `tern status` goes.
    pub summary: watch::Sender<PolicySummary>,
    /// Container workloads (CNI) to add to the endpoints of the files, with the
    /// generation of that set.
    pub workloads: watch::Receiver<WorkloadSet>,
    /// The generation of the last workload set an apply attempt included (whether the
    /// apply succeeded or not): the workload task waits for it before answering ADD.
    pub applied: watch::Sender<u64>,
    /// Policy inputs from a cluster datastore (`None`: files only). Nothing is applied
    /// while the channel holds `None` (the datastore's first view is not there yet).
    pub cluster: Option<watch::Receiver<Option<Arc<ClusterPolicy>>>>,
}

/// The container workloads the policy task is to include, numbered.
#[derive(Debug, Clone, Default)]
pub struct WorkloadSet {
    /// Increases with every change.
    pub generation: u64,
    /// The endpoints.
    pub endpoints: Vec<WorkloadEndpoint>,
}

/// Loader, compiler options and applier: what `acl::Engine` is, plus extra workloads.
struct Engine {
    paths: Vec<PathBuf>,
    opts: CompileOptions,
    loader: Loader,
    /// Reuses the chains of the policies that did not change since the last reload.
    compiler: acl::Incremental,
    applier: Applier,
    /// The last warnings logged (skipped documents, the datastore merge's clashes).
    warned: Vec<String>,
}

impl Engine {
    fn reload(
        &mut self,
        extra: Vec<WorkloadEndpoint>,
        cluster: Option<&ClusterPolicy>,
    ) -> Result<acl::ApplyReport, String> {
        let mut bundle = self.loader.load(&self.paths).map_err(|e| e.to_string())?;
        bundle.workloads.extend(extra);
        // Documents the files hold but tern does not enforce (skipped kinds), then the
        // datastore merge's clashes.
        let mut warnings: Vec<String> = bundle.warnings.iter().map(|w| w.to_string()).collect();
        if let Some(c) = cluster {
            warnings.extend(c.merge_into(&mut bundle));
        }
        // Said once, not at every reload.
        if warnings != self.warned {
            for w in &warnings {
                tracing::warn!("{w}");
            }
            self.warned = warnings;
        }
        let ir = self.compiler.compile(&bundle, &self.opts);
        self.applier.apply_owned(ir).map_err(|e| e.to_string())
    }
}

/// The next change of the datastore's inputs (never, without a datastore).
async fn changed_or_pending(
    rx: &mut Option<watch::Receiver<Option<Arc<ClusterPolicy>>>>,
) -> Result<(), watch::error::RecvError> {
    match rx {
        Some(rx) => rx.changed().await,
        None => std::future::pending().await,
    }
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Nftables => "nftables",
        Backend::Iptables => "iptables",
    }
}

impl PolicyTask {
    /// Runs until the future is dropped; reloads on file events (see `agent::watch`) and
    /// on workload changes.
    pub async fn run(self) {
        let PolicyTask {
            paths,
            options,
            backend,
            metrics,
            summary,
            mut workloads,
            applied,
            mut cluster,
        } = self;
        summary.send_modify(|s| s.backend = backend_name(backend).into());
        let mut files = Watch::new(paths.clone());
        // The engine re-parses only changed files and applies incrementally.
        let mut engine = Some(Engine {
            paths,
            opts: options,
            loader: Loader::new(),
            compiler: acl::Incremental::new(),
            applier: Applier::new(backend),
            warned: Vec::new(),
        });
        let mut workloads_open = true;
        let mut cluster_open = cluster.is_some();
        let mut first = true;
        loop {
            let mut changed = false;
            let mut woken = false;
            // File events (inotify, debounced, with a periodic rescan: agent::watch).
            tokio::select! {
                _ = files.wait() => woken = true,
                r = workloads.changed(), if workloads_open => match r {
                    Ok(()) => changed = true,
                    Err(_) => workloads_open = false,
                },
                r = changed_or_pending(&mut cluster), if cluster_open => match r {
                    Ok(()) => changed = true,
                    Err(_) => cluster_open = false,
                },
            }
            let files_changed = woken && files.changed().await;
            if !(files_changed || changed || first) {
                continue;
            }
            // With a datastore: its inputs (the last view while it is away), or wait.
            let from_store = match &mut cluster {
                Some(rx) => match rx.borrow_and_update().clone() {
                    Some(c) => Some(c),
                    None => continue,
                },
                None => None,
            };
            first = false;
            let WorkloadSet {
                generation,
                endpoints: extra,
            } = workloads.borrow_and_update().clone();
            let Some(mut e) = engine.take() else { return };
            let start = Instant::now();
            let datastore = from_store.as_deref().map(ClusterPolicy::summary);
            let joined = tokio::task::spawn_blocking(move || {
                let r = e.reload(extra, from_store.as_deref());
                (e, r)
            })
            .await;
            let (e, result) = match joined {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!("policy apply task failed: {e}");
                    return;
                }
            };
            engine = Some(e);
            metrics
                .apply_duration
                .observe(start.elapsed().as_secs_f64());
            match result {
                Ok(report) => {
                    tracing::info!(
                        rules = report.rules,
                        sets = report.sets,
                        mode = ?report.mode,
                        "policy applied in {:?}",
                        report.duration
                    );
                    metrics.rules_rendered.set(report.rules as i64);
                    metrics.sets_rendered.set(report.sets as i64);
                    summary.send_modify(|s| {
                        s.rules = report.rules as u64;
                        s.ok = true;
                        s.last_error = None;
                        s.datastore = datastore;
                    });
                }
                Err(e) => {
                    metrics.apply_failures.inc();
                    for line in e.lines() {
                        tracing::error!("policy not applied, rules in force unchanged: {line}");
                    }
                    summary.send_modify(|s| {
                        s.ok = false;
                        s.last_error = Some(e);
                    });
                }
            }
            applied.send_replace(generation);
        }
    }
}
