//! Docker's calls on the workload task's state (a child of `workloads`, so the one task
//! that owns IPAM, the wired attachments, routes and policy also serves Docker; nothing
//! is forked). `agent::docker` decodes the plugin calls into [`DockerOp`]s.
//!
//! How Docker's model maps onto attachments:
//! - `RequestAddress` allocates one address under the key `docker-ip-ADDR/eth0` (Docker
//!   asks before it names the endpoint); `ReleaseAddress` frees it.
//! - `CreateEndpoint` moves the endpoint's addresses to the key `docker-ENDPOINT/eth0`
//!   (namespace `docker`, host interface `tern…`); `DeleteEndpoint` moves them back.
//! - `Join` makes the veth pair in the host namespace (Docker moves the peer into the
//!   sandbox), wires the attachment (device routes, policy endpoint) and answers once the
//!   routes are in the kernel; `Leave` unwires it and deletes the veth.
//! - Networks are files `stateDir/docker/networks/ID.json` (written atomically), so a
//!   restarted agent knows them; allocations persist as every attachment does.
//!
//! Every failing call leaves allocations, files and interfaces as they were.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use docker::pool::Pool;
use docker::protocol::{
    InterfaceName, JoinReply, StaticRoute, GATEWAY_REQUEST, REQUEST_ADDRESS_TYPE, ROUTE_CONNECTED,
};
use ipam::{Attachment, Family, Request as IpamRequest};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::*;

/// The sweep of attachments Docker no longer knows.
#[path = "workloads_docker_gc.rs"]
mod gc;

/// Docker's IPAM calls.
#[path = "workloads_docker_ipam.rs"]
mod ipam_ops;

/// The workload namespace of Docker containers (for policy selectors and `tern endpoints`).
pub const DOCKER_NAMESPACE: &str = "docker";
/// Interface name prefix inside the sandbox (`eth0`, `eth1`, …).
const DST_PREFIX: &str = "eth";

/// A Docker call for the workload task (decoded and checked for shape by `agent::docker`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerOp {
    /// `CreateNetwork`: the pools of its IPv4 and IPv6 data, with their address spaces.
    CreateNetwork {
        /// Network ID.
        network: String,
        /// (address space, pool CIDR) of each pool.
        pools: Vec<(String, String)>,
    },
    /// `DeleteNetwork`.
    DeleteNetwork {
        /// Network ID.
        network: String,
    },
    /// `RequestAddress`.
    RequestAddress {
        /// Pool ID.
        pool: String,
        /// A specific address, or empty.
        address: String,
        /// `RequestAddressType` option.
        kind: String,
    },
    /// `ReleaseAddress`.
    ReleaseAddress {
        /// The address.
        address: String,
    },
    /// `CreateEndpoint`.
    CreateEndpoint {
        /// Network ID.
        network: String,
        /// Endpoint ID.
        endpoint: String,
        /// IPv4 address (CIDR) or empty.
        address: String,
        /// IPv6 address (CIDR) or empty.
        address6: String,
        /// MAC Docker asks for, or empty.
        mac: String,
    },
    /// `DeleteEndpoint`.
    DeleteEndpoint {
        /// Network ID.
        network: String,
        /// Endpoint ID.
        endpoint: String,
    },
    /// `EndpointOperInfo`.
    EndpointInfo {
        /// Network ID.
        network: String,
        /// Endpoint ID.
        endpoint: String,
    },
    /// `Join`.
    Join {
        /// Network ID.
        network: String,
        /// Endpoint ID.
        endpoint: String,
        /// The sandbox's netns path.
        sandbox: String,
    },
    /// `Leave`.
    Leave {
        /// Network ID.
        network: String,
        /// Endpoint ID.
        endpoint: String,
    },
    /// The container's name and labels, read from dockerd after `Join`.
    Labels {
        /// Endpoint ID.
        endpoint: String,
        /// Container name.
        name: String,
        /// Container labels.
        labels: BTreeMap<String, String>,
    },
    /// A sweep (`workloads_docker_gc`): the endpoints dockerd lists, and the attachment
    /// keys the previous sweep found stale.
    Sweep {
        /// Live endpoint IDs.
        live: std::collections::BTreeSet<String>,
        /// Stale at the last sweep.
        suspects: std::collections::BTreeSet<String>,
    },
}

/// What a done [`DockerOp`] answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerDone {
    /// The JSON answer for Docker.
    pub body: Value,
    /// After `Join`: the sandbox, the container end's MAC and its families (IPv4, IPv6),
    /// for the gateway neighbours.
    pub joined: Option<(String, [u8; 6], (bool, bool))>,
}

/// The answer of a [`DockerOp`]: done, or the message for `{"Err": …}`.
pub type DockerAnswer = Result<DockerDone, String>;

/// What an endpoint's attachment keeps in `extra.docker`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct EndpointMeta {
    network: String,
    endpoint: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    mac: String,
}

/// A persisted network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct NetworkFile {
    id: String,
    pools: Vec<String>,
}

/// Docker IDs are hex; anything safe as a file and key name is accepted.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

fn check_id(what: &str, id: &str) -> Result<(), String> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(format!("bad {what} ID {id:?}"))
    }
}

/// The key of an address that IPAM handed out and no endpoint holds yet.
pub fn address_key(addr: IpAddr) -> AttachmentKey {
    AttachmentKey {
        container_id: format!("docker-ip-{}", addr.to_string().replace(':', "-")),
        ifname: "eth0".into(),
    }
}

/// The key of an endpoint.
pub fn endpoint_key(endpoint: &str) -> AttachmentKey {
    AttachmentKey {
        container_id: format!("docker-{endpoint}"),
        ifname: "eth0".into(),
    }
}

/// Whether an attachment was made for Docker (CNI's GC must leave it alone).
pub fn is_docker_key(key: &AttachmentKey) -> bool {
    key.container_id.starts_with("docker-")
}

/// An address with or without a mask.
fn parse_addr(text: &str) -> Result<IpAddr, String> {
    let bare = text.split('/').next().unwrap_or_default();
    bare.parse()
        .map_err(|_| format!("{text:?} is not an IP address"))
}

fn host_prefix(a: IpAddr) -> String {
    IpNet::from(a).to_string()
}

fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = text.split(':').collect();
    let bad = || format!("{text:?} is not a MAC address");
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        m[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(m)
}

fn ok(body: Value) -> DockerAnswer {
    Ok(DockerDone { body, joined: None })
}

impl Workloads {
    fn networks_dir(&self) -> PathBuf {
        self.state_dir.join("docker").join("networks")
    }

    fn network_path(&self, id: &str) -> PathBuf {
        self.networks_dir().join(format!("{id}.json"))
    }

    fn known_network(&self, id: &str) -> Result<(), String> {
        check_id("network", id)?;
        if self.network_path(id).is_file() {
            Ok(())
        } else {
            Err(format!(
                "unknown network {id} (not created through this tern plugin)"
            ))
        }
    }

    /// The endpoint's key and metadata, checked against the network Docker names.
    fn endpoint(
        &self,
        network: &str,
        endpoint: &str,
    ) -> Result<(AttachmentKey, EndpointMeta), String> {
        self.known_network(network)?;
        check_id("endpoint", endpoint)?;
        let key = endpoint_key(endpoint);
        let a = self
            .alloc
            .get(&key)
            .ok_or_else(|| format!("unknown endpoint {endpoint}"))?;
        let meta: EndpointMeta = serde_json::from_value(a.attachment.extra["docker"].clone())
            .map_err(|e| format!("endpoint {endpoint}: stored metadata: {e}"))?;
        if meta.network != network {
            return Err(format!(
                "endpoint {endpoint} belongs to network {}, not {network}",
                meta.network
            ));
        }
        Ok((key, meta))
    }

    fn persist(&self, key: &AttachmentKey) -> Result<(), String> {
        let a = self
            .alloc
            .get(key)
            .ok_or_else(|| format!("no attachment {key}"))?;
        self.store()?
            .put(key, a)
            .map_err(|e| format!("stateDir: {e}"))
    }

    fn unpersist(&self, key: &AttachmentKey) {
        if let Err(e) = self
            .store()
            .and_then(|s| s.remove(key).map_err(|e| e.to_string()))
        {
            tracing::warn!("stateDir: {e}");
        }
    }

    /// Serves one Docker call.
    pub(super) async fn docker(&mut self, op: DockerOp) -> DockerAnswer {
        match op {
            DockerOp::CreateNetwork { network, pools } => self.create_network(&network, &pools),
            DockerOp::DeleteNetwork { network } => {
                self.known_network(&network)?;
                if self.alloc.iter().any(|(k, a)| {
                    is_docker_key(k) && a.attachment.extra["docker"]["network"] == network.as_str()
                }) {
                    return Err(format!("network {network} still has endpoints"));
                }
                std::fs::remove_file(self.network_path(&network))
                    .map_err(|e| format!("stateDir: {e}"))?;
                tracing::info!(network, "docker network deleted");
                ok(json!({}))
            }
            DockerOp::RequestAddress {
                pool,
                address,
                kind,
            } => self.request_address(&pool, &address, &kind),
            DockerOp::ReleaseAddress { address } => self.release_address(&address),
            DockerOp::CreateEndpoint {
                network,
                endpoint,
                address,
                address6,
                mac,
            } => self.create_endpoint(&network, &endpoint, &address, &address6, &mac),
            DockerOp::DeleteEndpoint { network, endpoint } => {
                self.delete_endpoint(&network, &endpoint).await
            }
            DockerOp::EndpointInfo { network, endpoint } => {
                let (key, _) = self.endpoint(&network, &endpoint)?;
                let a = self.alloc.get(&key).cloned().unwrap_or_default();
                ok(json!({ "Value": {
                    "hostInterface": a.attachment.host_ifname,
                    "addresses": net::prefixes(&a).iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "sandbox": a.attachment.netns,
                }}))
            }
            DockerOp::Join {
                network,
                endpoint,
                sandbox,
            } => self.join(&network, &endpoint, &sandbox).await,
            DockerOp::Leave { network, endpoint } => {
                let (key, _) = self.endpoint(&network, &endpoint)?;
                self.leave(&key).await;
                ok(json!({}))
            }
            DockerOp::Labels {
                endpoint,
                name,
                labels,
            } => self.docker_labels(&endpoint, name, labels).await,
            DockerOp::Sweep { live, suspects } => self.sweep(&live, &suspects),
        }
    }

    fn create_network(&mut self, network: &str, pools: &[(String, String)]) -> DockerAnswer {
        check_id("network", network)?;
        if pools.is_empty() {
            return Err("a tern network needs an IPv4 or IPv6 pool".into());
        }
        for (space, pool) in pools {
            if space != docker::call::LOCAL_ADDRESS_SPACE {
                return Err(format!(
                    "pool {pool} is from address space {space:?}, not tern's: create the network with --ipam-driver set to this plugin too"
                ));
            }
        }
        let file = NetworkFile {
            id: network.to_string(),
            pools: pools.iter().map(|(_, p)| p.clone()).collect(),
        };
        let dir = self.networks_dir();
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let tmp = dir.join(format!(".{network}.tmp"));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(&file).unwrap_or_default())?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.network_path(network))?;
            std::fs::File::open(&dir)?.sync_all()
        };
        write().map_err(|e| format!("stateDir: {}: {e}", dir.display()))?;
        tracing::info!(network, pools = ?file.pools, "docker network created");
        ok(json!({}))
    }

    fn create_endpoint(
        &mut self,
        network: &str,
        endpoint: &str,
        address: &str,
        address6: &str,
        mac: &str,
    ) -> DockerAnswer {
        self.known_network(network)?;
        check_id("endpoint", endpoint)?;
        let key = endpoint_key(endpoint);
        let mut addrs = Vec::new();
        for text in [address, address6] {
            if !text.is_empty() {
                addrs.push(parse_addr(text)?);
            }
        }
        if addrs.is_empty() {
            return Err(format!("endpoint {endpoint} has no address from tern IPAM"));
        }
        let container_mac = if mac.is_empty() {
            net::container_mac(&key)
        } else {
            parse_mac(mac)?
        };
        if let Some(a) = self.alloc.get(&key) {
            // A repeated CreateEndpoint with the same addresses is answered the same.
            let held: Vec<IpAddr> = a.addrs().collect();
            if addrs.iter().all(|x| held.contains(x)) {
                return ok(endpoint_reply(mac, &container_mac));
            }
            return Err(format!("endpoint {endpoint} exists with other addresses"));
        }
        for a in &addrs {
            match self.alloc.owner(*a) {
                Some(o) if *o == address_key(*a) => {}
                Some(o) => return Err(format!("address {a} is held by {o}")),
                None => return Err(format!("address {a} was not handed out by tern IPAM")),
            }
        }
        let meta = EndpointMeta {
            network: network.into(),
            endpoint: endpoint.into(),
            mac: if mac.is_empty() {
                String::new()
            } else {
                mac.into()
            },
        };
        let short: String = endpoint.chars().take(12).collect();
        let mut req = IpamRequest::new(Attachment {
            host_ifname: net::host_ifname(&key),
            namespace: DOCKER_NAMESPACE.into(),
            name: short,
            extra: json!({ "docker": meta }),
            ..Attachment::default()
        });
        let mut old = Vec::new();
        for a in &addrs {
            let k = address_key(*a);
            if let Some(prev) = self.alloc.release(&k) {
                old.push((k, prev));
            }
            match a {
                IpAddr::V4(v) => req.ipv4 = Some(*v),
                IpAddr::V6(v) => req.ipv6 = Some(*v),
            }
        }
        let restore = |me: &mut Self| {
            me.alloc.release(&key);
            for (k, prev) in &old {
                let back = IpamRequest {
                    attachment: prev.attachment.clone(),
                    ipv4: prev.ipv4,
                    ipv6: prev.ipv6,
                };
                if let Err(e) = me.alloc.allocate_families(k, &back, &[]) {
                    tracing::error!("docker: restoring {k}: {e}");
                }
            }
        };
        if let Err(e) = self.alloc.allocate_families(&key, &req, &[]) {
            restore(self);
            return Err(e.to_string());
        }
        if let Err(e) = self.persist(&key) {
            restore(self);
            return Err(e);
        }
        for (k, _) in &old {
            self.unpersist(k);
        }
        tracing::info!(network, endpoint, addresses = ?addrs, "docker endpoint created");
        ok(endpoint_reply(mac, &container_mac))
    }

    async fn delete_endpoint(&mut self, network: &str, endpoint: &str) -> DockerAnswer {
        let (key, _) = self.endpoint(network, endpoint)?;
        if self.wired.contains(&key) {
            self.leave(&key).await;
        }
        let Some(a) = self.alloc.release(&key) else {
            return ok(json!({}));
        };
        // Its addresses go back to IPAM's keys until Docker's ReleaseAddress.
        let mut moved = Vec::new();
        for addr in a.addrs() {
            let k = address_key(addr);
            let req = IpamRequest {
                attachment: Attachment {
                    namespace: DOCKER_NAMESPACE.into(),
                    ..Attachment::default()
                },
                ipv4: match addr {
                    IpAddr::V4(v) => Some(v),
                    IpAddr::V6(_) => None,
                },
                ipv6: match addr {
                    IpAddr::V6(v) => Some(v),
                    IpAddr::V4(_) => None,
                },
            };
            match self.alloc.allocate_families(&k, &req, &[]) {
                Ok(_) => moved.push(k),
                Err(e) => tracing::error!("docker: {k}: {e}"),
            }
        }
        for k in &moved {
            if let Err(e) = self.persist(k) {
                tracing::warn!("{e}");
            }
        }
        self.unpersist(&key);
        tracing::info!(network, endpoint, "docker endpoint deleted");
        ok(json!({}))
    }

    async fn join(&mut self, network: &str, endpoint: &str, sandbox: &str) -> DockerAnswer {
        let (key, meta) = self.endpoint(network, endpoint)?;
        if sandbox.is_empty() {
            return Err("Join without a SandboxKey".into());
        }
        let a = self.alloc.get(&key).cloned().unwrap_or_default();
        let host_if = a.attachment.host_ifname.clone();
        let peer_if = format!("tmp{}", host_if.trim_start_matches(net::HOST_IF_PREFIX));
        let mac = if meta.mac.is_empty() {
            net::container_mac(&key)
        } else {
            parse_mac(&meta.mac)?
        };
        let (h, p) = (host_if.clone(), peer_if.clone());
        blocking(move || controller::create_docker_veth(&h, &p, mac))
            .await?
            .map_err(|e| e.to_string())?;
        let mut attachment = a.attachment.clone();
        attachment.netns = sandbox.to_string();
        let undo_veth = {
            let h = host_if.clone();
            move || {
                let _ = controller::delete_workload_veth(&h);
            }
        };
        let stored = match self.alloc.set_attachment(&key, attachment) {
            Ok(_) => self.persist(&key),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = stored {
            undo_veth();
            return Err(e);
        }
        self.wired.insert(key.clone());
        if let Err(e) = self.publish(&net::prefixes(&a)).await {
            self.wired.remove(&key);
            let _ = self.publish(&[]).await;
            undo_veth();
            return Err(e);
        }
        tracing::info!(network, endpoint, interface = %host_if, sandbox, "docker endpoint joined");
        let has4 = a.ipv4.is_some();
        let has6 = a.ipv6.is_some();
        let reply = JoinReply {
            interface_name: InterfaceName {
                src_name: peer_if,
                dst_prefix: DST_PREFIX.into(),
            },
            gateway: if has4 {
                controller::GATEWAY4.to_string()
            } else {
                String::new()
            },
            gateway_ipv6: if has6 {
                controller::GATEWAY_V6.to_string()
            } else {
                String::new()
            },
            static_routes: if has4 {
                vec![StaticRoute {
                    destination: format!("{}/32", controller::GATEWAY4),
                    route_type: ROUTE_CONNECTED,
                    next_hop: String::new(),
                }]
            } else {
                Vec::new()
            },
            disable_gateway_service: true,
        };
        Ok(DockerDone {
            body: docker::call::to_value(&reply),
            joined: Some((sandbox.to_string(), mac, (has4, has6))),
        })
    }

    /// Takes the endpoint's routes and policy entry away, then its veth.
    async fn leave(&mut self, key: &AttachmentKey) {
        if self.wired.remove(key) {
            if let Err(e) = self.publish(&[]).await {
                tracing::warn!("docker Leave {key}: {e}");
            }
        }
        self.unwire(key).await;
        if let Some(a) = self.alloc.get(key).cloned() {
            let mut att = a.attachment;
            att.netns = String::new();
            if self.alloc.set_attachment(key, att).is_ok() {
                if let Err(e) = self.persist(key) {
                    tracing::warn!("{e}");
                }
            }
        }
    }

    async fn docker_labels(
        &mut self,
        endpoint: &str,
        name: String,
        labels: BTreeMap<String, String>,
    ) -> DockerAnswer {
        check_id("endpoint", endpoint)?;
        let key = endpoint_key(endpoint);
        let Some(a) = self.alloc.get(&key).cloned() else {
            return Err(format!("unknown endpoint {endpoint}"));
        };
        let mut att = a.attachment;
        if att.name == name && att.labels == labels {
            return ok(json!({}));
        }
        att.name = name;
        att.labels = labels;
        self.alloc
            .set_attachment(&key, att)
            .map_err(|e| e.to_string())?;
        self.persist(&key)?;
        if self.wired.contains(&key) {
            self.publish(&[]).await?;
        }
        ok(json!({}))
    }
}

fn endpoint_reply(requested_mac: &str, mac: &[u8; 6]) -> Value {
    if requested_mac.is_empty() {
        json!({ "Interface": { "MacAddress": net::mac_text(mac) } })
    } else {
        json!({})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_valid_attachment_keys() {
        for a in ["10.244.1.7", "fd00:244:0:1::7"] {
            let k = address_key(a.parse().unwrap());
            assert!(k.validate().is_ok(), "{k}");
            assert!(is_docker_key(&k));
        }
        let k = endpoint_key(&"ab".repeat(32));
        assert!(k.validate().is_ok());
        assert_eq!(net::host_ifname(&k).len(), 15);
        assert!(!valid_id("../x") && !valid_id("") && valid_id("3c8f0a"));
        assert_eq!(
            parse_mac("02:00:0a:ff:01:02").unwrap(),
            [2, 0, 10, 255, 1, 2]
        );
        assert!(parse_mac("02:00").is_err());
        assert_eq!(parse_addr("10.1.2.3/32").unwrap().to_string(), "10.1.2.3");
        assert!(parse_addr("x").is_err());
    }
}
