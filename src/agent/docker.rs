//! Docker's plugin socket, wired to the workload task: with `docker: { pluginName: NAME }`
//! the agent serves the remote network driver and IPAM driver protocols (the `docker`
//! crate) on `/run/docker/plugins/NAME.sock`. `RequestPool` is answered here (pools hold
//! no state); every other stateful call becomes a [`DockerOp`] job for the workload task,
//! which owns addresses, interfaces, routes and policy for CNI and Docker alike.
//!
//! After a `Join`, a follow-up task (bounded: [`FOLLOW_UP`]) waits for Docker to move the
//! interface into the sandbox and adds the gateway neighbours there, and reads the
//! container's name and labels from dockerd's API (the driver is never told them) for
//! policy selectors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ::docker::call::{to_value, Call};
use ::docker::pool::{request_pool, Pool};
use ::docker::protocol::{EndpointRef, REQUEST_ADDRESS_TYPE};
use ipnet::IpNet;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::control::{Reply, Request};
use super::workloads::docker_ops::{DockerDone, DockerOp};
use super::workloads::Job;

/// How long the follow-up of a `Join` waits for the sandbox and the container.
pub const FOLLOW_UP: Duration = Duration::from_secs(60);

/// Time between sweeps of attachments dockerd no longer knows (released at the second
/// sweep that finds them stale).
pub const SWEEP: Duration = Duration::from_secs(10);

/// The driver behind the plugin socket.
#[derive(Clone)]
pub struct Plugin {
    name: String,
    jobs: mpsc::Sender<Job>,
    pools: Vec<IpNet>,
    blocks: Vec<IpNet>,
    docker_socket: PathBuf,
}

impl Plugin {
    /// A driver for a node with `pools` and `blocks` that sends jobs to the workload task.
    pub fn new(
        cfg: &config::node::Docker,
        pools: Vec<IpNet>,
        blocks: Vec<IpNet>,
        jobs: mpsc::Sender<Job>,
    ) -> Plugin {
        Plugin {
            name: cfg.plugin_name.clone(),
            jobs,
            pools,
            blocks,
            docker_socket: cfg.docker_socket.clone(),
        }
    }

    async fn job(&self, op: DockerOp) -> Result<DockerDone, String> {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send((Request::Docker(op), tx)).await.is_err() {
            return Err("the workload task stopped".into());
        }
        match rx.await {
            Ok(Reply::Docker(answer)) => answer,
            Ok(Reply::Error(e)) => Err(e),
            Ok(other) => Err(format!("unexpected answer {other:?}")),
            Err(_) => Err("the workload task stopped".into()),
        }
    }

    async fn body(&self, op: DockerOp) -> Result<Value, String> {
        self.job(op).await.map(|d| d.body)
    }
}

/// Serves the plugin socket and sweeps attachments dockerd no longer knows.
pub async fn run(listener: tokio::net::UnixListener, plugin: Plugin) {
    tokio::join!(::docker::serve(listener, plugin.clone()), sweep(plugin));
}

/// Every [`SWEEP`]: the endpoints of this plugin's networks that dockerd lists, handed to
/// the workload task (`workloads_docker_gc`). A dockerd that cannot be asked skips the
/// sweep and clears the suspects.
async fn sweep(plugin: Plugin) {
    let mut suspects = std::collections::BTreeSet::new();
    loop {
        tokio::time::sleep(SWEEP).await;
        let live = match live_endpoints(&plugin).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!("docker sweep skipped: {e}");
                suspects.clear();
                continue;
            }
        };
        let op = DockerOp::Sweep {
            live,
            suspects: std::mem::take(&mut suspects),
        };
        match plugin.body(op).await {
            Ok(v) => {
                suspects = v["suspects"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
            }
            Err(e) => tracing::warn!("docker sweep: {e}"),
        }
    }
}

/// The endpoint IDs on every network of this driver, as dockerd lists them.
async fn live_endpoints(plugin: &Plugin) -> Result<std::collections::BTreeSet<String>, String> {
    let socket = &plugin.docker_socket;
    let nets = ::docker::client::get_json(socket, "/networks")
        .await
        .map_err(|e| e.to_string())?;
    let mut live = std::collections::BTreeSet::new();
    for n in nets.as_array().ok_or("/networks: not a list")? {
        if n["Driver"] != plugin.name.as_str() {
            continue;
        }
        let id = n["Id"].as_str().unwrap_or_default();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("network ID {id:?} from dockerd"));
        }
        let detail = ::docker::client::get_json(socket, &format!("/networks/{id}"))
            .await
            .map_err(|e| e.to_string())?;
        if let Some(cs) = detail["Containers"].as_object() {
            live.extend(
                cs.values()
                    .filter_map(|c| c["EndpointID"].as_str().map(str::to_string)),
            );
        }
    }
    Ok(live)
}

fn ep(r: EndpointRef) -> (String, String) {
    (r.network_id, r.endpoint_id)
}

impl ::docker::Driver for Plugin {
    async fn call(&self, call: Call) -> Result<Value, String> {
        match call {
            Call::RequestPool(r) => {
                request_pool(&r, &self.pools, &self.blocks).map(|p| to_value(&p))
            }
            Call::ReleasePool(r) => Pool::parse(&r.pool_id).map(|_| json!({})),
            Call::RequestAddress(r) => {
                let kind = r
                    .options
                    .get(REQUEST_ADDRESS_TYPE)
                    .cloned()
                    .unwrap_or_default();
                self.body(DockerOp::RequestAddress {
                    pool: r.pool_id,
                    address: r.address,
                    kind,
                })
                .await
            }
            Call::ReleaseAddress(r) => {
                Pool::parse(&r.pool_id)?;
                self.body(DockerOp::ReleaseAddress { address: r.address })
                    .await
            }
            Call::CreateNetwork(n) => {
                let pools = n
                    .ipv4_data
                    .iter()
                    .chain(&n.ipv6_data)
                    .map(|d| (d.address_space.clone(), d.pool.clone()))
                    .collect();
                self.body(DockerOp::CreateNetwork {
                    network: n.network_id,
                    pools,
                })
                .await
            }
            Call::DeleteNetwork(n) => {
                self.body(DockerOp::DeleteNetwork {
                    network: n.network_id,
                })
                .await
            }
            Call::CreateEndpoint(e) => {
                self.body(DockerOp::CreateEndpoint {
                    network: e.network_id,
                    endpoint: e.endpoint_id,
                    address: e.interface.address,
                    address6: e.interface.address_ipv6,
                    mac: e.interface.mac_address,
                })
                .await
            }
            Call::EndpointOperInfo(r) => {
                let (network, endpoint) = ep(r);
                self.body(DockerOp::EndpointInfo { network, endpoint })
                    .await
            }
            Call::DeleteEndpoint(r) => {
                let (network, endpoint) = ep(r);
                self.body(DockerOp::DeleteEndpoint { network, endpoint })
                    .await
            }
            Call::Join(j) => {
                let done = self
                    .job(DockerOp::Join {
                        network: j.network_id.clone(),
                        endpoint: j.endpoint_id.clone(),
                        sandbox: j.sandbox_key,
                    })
                    .await?;
                if let Some((sandbox, mac, families)) = done.joined.clone() {
                    tokio::spawn(follow_up(
                        self.clone(),
                        j.network_id,
                        j.endpoint_id,
                        PathBuf::from(sandbox),
                        (mac, families),
                    ));
                }
                Ok(done.body)
            }
            Call::Leave(r) => {
                let (network, endpoint) = ep(r);
                self.body(DockerOp::Leave { network, endpoint }).await
            }
            // tern does no NAT or port mapping: containers are routed.
            Call::ProgramExternalConnectivity(_) | Call::RevokeExternalConnectivity(_) => {
                Ok(json!({}))
            }
            other => Err(format!("unexpected call {other:?}")),
        }
    }
}

/// After a `Join`, side by side: the gateway neighbours in the sandbox, and the
/// container's name and labels from dockerd.
async fn follow_up(
    plugin: Plugin,
    network: String,
    endpoint: String,
    sandbox: PathBuf,
    (mac, families): ([u8; 6], (bool, bool)),
) {
    let deadline = tokio::time::Instant::now() + FOLLOW_UP;
    tokio::join!(
        neighbours(&endpoint, &sandbox, (mac, families), deadline),
        labels(&plugin, &network, &endpoint, deadline)
    );
}

/// Polls until Docker has moved the interface into the sandbox (its netns is bound only
/// when the container starts) and adds the gateway neighbours there.
async fn neighbours(
    endpoint: &str,
    sandbox: &std::path::Path,
    (mac, families): ([u8; 6], (bool, bool)),
    deadline: tokio::time::Instant,
) {
    loop {
        let s = sandbox.to_path_buf();
        let done =
            tokio::task::spawn_blocking(move || controller::gateway_neighbours(&s, mac, families))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
        let last = tokio::time::Instant::now() > deadline;
        match done {
            Ok(true) => return,
            Ok(false) if last => {
                tracing::warn!(
                    endpoint,
                    "interface never appeared in {}",
                    sandbox.display()
                );
                return;
            }
            Err(e) if last => {
                tracing::warn!(endpoint, "gateway neighbours in {}: {e}", sandbox.display());
                return;
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls dockerd until it lists the container of `endpoint`, then hands its name and
/// labels to the workload task.
async fn labels(plugin: &Plugin, network: &str, endpoint: &str, deadline: tokio::time::Instant) {
    loop {
        let last = tokio::time::Instant::now() > deadline;
        match container_of(&plugin.docker_socket, network, endpoint).await {
            Ok(Some((name, labels))) => {
                let n = labels.len();
                let op = DockerOp::Labels {
                    endpoint: endpoint.to_string(),
                    name: name.clone(),
                    labels,
                };
                match plugin.job(op).await {
                    Ok(_) => tracing::info!(
                        endpoint,
                        container = name,
                        labels = n,
                        "docker labels applied"
                    ),
                    Err(e) => tracing::warn!(endpoint, "docker labels: {e}"),
                }
                return;
            }
            Ok(None) if last => {
                tracing::warn!(
                    endpoint,
                    "dockerd lists no container with endpoint {endpoint} on network {network}"
                );
                return;
            }
            Err(e) if last => {
                tracing::warn!(endpoint, "container labels from dockerd: {e}");
                return;
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The name and labels of the container whose endpoint on `network` is `endpoint`, once
/// dockerd lists it.
async fn container_of(
    socket: &std::path::Path,
    network: &str,
    endpoint: &str,
) -> Result<Option<(String, BTreeMap<String, String>)>, String> {
    let net = ::docker::client::get_json(socket, &format!("/networks/{network}"))
        .await
        .map_err(|e| e.to_string())?;
    let Some(id) = net["Containers"].as_object().and_then(|m| {
        m.iter()
            .find(|(_, c)| c["EndpointID"] == endpoint)
            .map(|(id, _)| id.clone())
    }) else {
        return Ok(None);
    };
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("container ID {id:?} from dockerd"));
    }
    let c = ::docker::client::get_json(socket, &format!("/containers/{id}/json"))
        .await
        .map_err(|e| e.to_string())?;
    let name = c["Name"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/');
    let labels = c["Config"]["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let name = if name.is_empty() {
        id.chars().take(12).collect()
    } else {
        name.to_string()
    };
    Ok(Some((name, labels)))
}
