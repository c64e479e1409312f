//! Policy data from a cluster datastore (etcd mode): one reflector per kind that policy
//! reads — Calico and Kubernetes policies, tiers, namespaces, network sets, host
//! endpoints and every node's WorkloadEndpoints — turned into a [`ClusterPolicy`] that the policy task
//! merges with the node's own policy files ([`ClusterPolicy::merge_into`]; the files win
//! on a name clash).
//!
//! Other nodes' workload and host endpoints only contribute their addresses to the sets
//! that rule selectors name; policy is applied here to this node's endpoints alone (its
//! CNI workloads come from the workload task, not from the store; its host endpoints are
//! those whose `spec.node` is this node or unset). Nothing is published before every
//! reflector has its first full list; a burst of changes is coalesced into one rebuild;
//! a rebuild equal to the last is not sent. While the datastore is away the reflectors
//! keep their last view, so the rules in force stay as they are until it is back.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use acl::model::Policy;
use resources::{Kind, Resource, Spec};
use store::{Reflector, Snapshot, Store};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The kinds the policy task reads from the datastore.
pub const KINDS: [Kind; 9] = [
    Kind::Tier,
    Kind::GlobalNetworkPolicy,
    Kind::NetworkPolicy,
    Kind::KubernetesNetworkPolicy,
    Kind::Namespace,
    Kind::GlobalNetworkSet,
    Kind::NetworkSet,
    Kind::HostEndpoint,
    Kind::WorkloadEndpoint,
];

/// How long a change waits for more before the inputs are rebuilt (a `tern apply -f` of
/// many documents, a node's burst of workloads).
pub const COALESCE: Duration = Duration::from_millis(50);

/// What the datastore adds to this node's policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterPolicy {
    /// Calico, Calico global and Kubernetes policies.
    pub policies: Vec<std::sync::Arc<Policy>>,
    /// Calico tiers (order and default action of the policies in them).
    pub tiers: Vec<acl::tier::Tier>,
    /// Namespaces with their labels.
    pub namespaces: Vec<acl::Namespace>,
    /// Host endpoints of this node (`spec.node` is this node or unset).
    pub hosts: Vec<acl::HostEndpoint>,
    /// Other nodes' host endpoints (addresses for selectors only).
    pub remote_hosts: Vec<acl::HostEndpoint>,
    /// Other nodes' workload endpoints (addresses for selectors only).
    pub remote_workloads: Vec<acl::WorkloadEndpoint>,
    /// `NetworkSet`s and `GlobalNetworkSet`s (labelled nets that rule selectors match).
    pub network_sets: Vec<acl::NetworkSet>,
}

impl ClusterPolicy {
    /// The inputs from every resource of the policy kinds, as seen by node `node`.
    pub fn from_resources<'a>(node: &str, all: impl IntoIterator<Item = &'a Resource>) -> Self {
        let mut c = ClusterPolicy::default();
        for r in all {
            match &r.spec {
                Spec::Policy(p) => c.policies.push(std::sync::Arc::new(p.policy.clone())),
                Spec::Tier(t) => c.tiers.push(t.tier.clone()),
                Spec::Namespace => c.namespaces.extend(r.to_acl_namespace()),
                Spec::HostEndpoint(h) => {
                    let ep = h.to_acl(&r.metadata);
                    match h.node.as_deref() {
                        Some(n) if n != node => c.remote_hosts.push(ep),
                        _ => c.hosts.push(ep),
                    }
                }
                // This node's own workloads are the workload task's (what it wired),
                // not what the store says about them.
                Spec::WorkloadEndpoint(w) if w.node.as_deref() != Some(node) => {
                    c.remote_workloads.push(w.to_acl(&r.metadata))
                }
                Spec::NetworkSet(s) => c.network_sets.push(acl::NetworkSet {
                    name: r.metadata.name.clone(),
                    namespace: (r.kind == Kind::NetworkSet)
                        .then(|| r.metadata.namespace.clone())
                        .flatten(),
                    nets: s.nets(),
                    labels: r.metadata.labels.clone(),
                }),
                _ => {}
            }
        }
        c
    }

    /// Counts for `tern status`.
    pub fn summary(&self) -> super::control::DatastorePolicy {
        super::control::DatastorePolicy {
            policies: self.policies.len() as u64,
            remote_endpoints: (self.remote_workloads.len() + self.remote_hosts.len()) as u64,
            network_sets: self.network_sets.len() as u64,
        }
    }

    /// Adds these inputs to a bundle loaded from the node's files. The files win: a
    /// policy, namespace or host endpoint the files already define is not taken from the
    /// datastore (one warning line each is returned).
    pub fn merge_into(&self, bundle: &mut acl::Bundle) -> Vec<String> {
        let mut warnings = Vec::new();
        let ids: BTreeSet<String> = bundle.policies.iter().map(|p| p.id.to_string()).collect();
        for p in &self.policies {
            if ids.contains(&p.id.to_string()) {
                warnings.push(format!(
                    "datastore policy {} ignored: the node's policy files define it",
                    p.id
                ));
            } else {
                bundle.policies.push(p.clone());
            }
        }
        let tiers: BTreeSet<String> = bundle.tiers.iter().map(|t| t.name.clone()).collect();
        for t in &self.tiers {
            if tiers.contains(&t.name) {
                warnings.push(format!(
                    "datastore tier {} ignored: the node's policy files declare it",
                    t.name
                ));
            } else {
                bundle.tiers.push(t.clone());
            }
        }
        let names: BTreeSet<String> = bundle.namespaces.iter().map(|n| n.name.clone()).collect();
        for n in &self.namespaces {
            if names.contains(&n.name) {
                warnings.push(format!(
                    "datastore namespace {} ignored: the node's files declare it",
                    n.name
                ));
            } else {
                bundle.namespaces.push(n.clone());
            }
        }
        let ifaces: BTreeSet<String> = bundle
            .hosts
            .iter()
            .map(|h| h.interface.clone())
            .chain(bundle.workloads.iter().map(|w| w.interface.clone()))
            .collect();
        for h in &self.hosts {
            if ifaces.contains(&h.interface) {
                warnings.push(format!(
                    "datastore host endpoint {} ignored: interface {} has an endpoint in the node's files",
                    h.name, h.interface
                ));
            } else {
                bundle.hosts.push(h.clone());
            }
        }
        let sets: BTreeSet<String> = bundle.network_sets.iter().map(|s| s.key()).collect();
        for s in &self.network_sets {
            if sets.contains(&s.key()) {
                warnings.push(format!(
                    "datastore network set {} ignored: the node's files define it",
                    s.key()
                ));
            } else {
                bundle.network_sets.push(s.clone());
            }
        }
        bundle
            .remote_workloads
            .extend(self.remote_workloads.iter().cloned());
        bundle
            .remote_hosts
            .extend(self.remote_hosts.iter().cloned());
        warnings
    }
}

/// The datastore's ends of the policy task and the workload task.
pub struct Links {
    /// For `PolicyTask::cluster`.
    pub inputs: watch::Receiver<Option<Arc<ClusterPolicy>>>,
    /// For `Workloads::publish_to`.
    pub workloads: watch::Sender<super::cluster_wep::Attachments>,
}

/// Starts, on `tasks`, the watch of the policy inputs ([`watch_inputs`]) and the
/// publisher of this node's WorkloadEndpoints (`cluster_wep::publish`).
pub fn spawn<S: Store>(tasks: &mut JoinSet<()>, store: Arc<S>, node: &str) -> Links {
    let (inputs_tx, inputs) = watch::channel(None);
    let (workloads, attachments) = watch::channel(None);
    let reflectors = reflect(&store);
    let weps = reflectors
        .iter()
        .find(|r| r.kind() == Kind::WorkloadEndpoint)
        .map(Reflector::subscribe);
    tasks.spawn(watch_inputs(reflectors, node.to_string(), inputs_tx));
    if let Some(weps) = weps {
        tasks.spawn(super::cluster_wep::publish(
            store,
            node.to_string(),
            attachments,
            weps,
        ));
    }
    Links { inputs, workloads }
}

/// One reflector of `store` per kind in [`KINDS`], on the current runtime.
pub fn reflect<S: Store>(store: &Arc<S>) -> Vec<Reflector> {
    KINDS
        .iter()
        .map(|k| Reflector::spawn(store.clone(), *k))
        .collect()
}

/// Rebuilds the inputs from the reflectors' views; `None` until every one is synced.
fn build(node: &str, snaps: &[Arc<Snapshot>]) -> Option<ClusterPolicy> {
    if !snaps.iter().all(|s| s.synced) {
        return None;
    }
    Some(ClusterPolicy::from_resources(
        node,
        snaps.iter().flat_map(|s| s.items.values()),
    ))
}

/// Follows the reflectors of the policy kinds ([`reflect`]) and sends [`ClusterPolicy`]
/// on `out` after the first full lists and on every change (coalesced over
/// [`COALESCE`]). Runs until every receiver of `out` is gone; the reflectors stop with
/// it.
pub async fn watch_inputs(
    reflectors: Vec<Reflector>,
    node: String,
    out: watch::Sender<Option<Arc<ClusterPolicy>>>,
) {
    let mut rxs: Vec<watch::Receiver<Arc<Snapshot>>> =
        reflectors.iter().map(Reflector::subscribe).collect();
    let mut connected = true;
    loop {
        let snaps: Vec<Arc<Snapshot>> = rxs
            .iter_mut()
            .map(|r| r.borrow_and_update().clone())
            .collect();
        let now_connected = snaps.iter().all(|s| s.connected || !s.synced);
        if connected && !now_connected {
            let err = snaps.iter().find_map(|s| s.last_error.clone());
            tracing::warn!(
                "datastore away ({}): policy stays as last known",
                err.unwrap_or_default()
            );
        } else if !connected && now_connected {
            tracing::info!("datastore back: policy inputs resynced");
        }
        connected = now_connected;
        if let Some(c) = build(&node, &snaps) {
            let changed = out.borrow().as_deref() != Some(&c);
            if changed {
                tracing::debug!(
                    policies = c.policies.len(),
                    remote_workloads = c.remote_workloads.len(),
                    "datastore policy inputs changed"
                );
                out.send_replace(Some(Arc::new(c)));
            }
        }
        let waits = rxs.iter_mut().map(|r| Box::pin(r.changed()));
        let r = tokio::select! {
            (r, _, _) = futures::future::select_all(waits) => r,
            () = out.closed() => return,
        };
        if r.is_err() {
            return;
        }
        tokio::time::sleep(COALESCE).await;
    }
}

#[cfg(test)]
#[path = "cluster_policy_tests.rs"]
mod tests;
