//! The node config file as written: serde types that mirror the YAML one to one.
//!
//! Everything optional is an `Option` here; defaults and checks are applied by
//! `resolve`, which knows where each value came from. Addresses and CIDR lists
//! that need better messages than serde's are kept as text and parsed there.
//! (No `#[serde(flatten)]`: it defeats `deny_unknown_fields` and serde_yaml's
//! error locations, so the timer fields are repeated in the mesh and the peer.)

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

use super::values::{FailsafePorts, RouteTable, TimeValue};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawNode {
    pub node_name: String,
    pub as_number: Option<u64>,
    pub router_id: Option<IpAddr>,
    pub listen: Option<RawListen>,
    #[serde(default)]
    pub blocks: Vec<String>,
    #[serde(default)]
    pub pools: Vec<super::pool::RawPool>,
    pub node_to_node_mesh: Option<RawMesh>,
    #[serde(default)]
    pub peers: Vec<RawPeer>,
    pub fib: Option<RawFib>,
    #[serde(default)]
    pub endpoints: Vec<PathBuf>,
    pub policy: Option<RawPolicy>,
    pub metrics: Option<RawMetrics>,
    pub control: Option<RawControl>,
    pub docker: Option<RawDocker>,
    pub route_reflector: Option<RawRouteReflector>,
    pub graceful_restart: Option<RawGracefulRestart>,
    pub state_dir: Option<PathBuf>,
    pub datastore: Option<RawDatastore>,
    pub overlay: Option<RawOverlay>,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    pub ipv6_address: Option<std::net::Ipv6Addr>,
}

/// `datastore.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawDatastoreType {
    Files,
    Etcd,
}

/// `datastore`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawDatastore {
    #[serde(rename = "type")]
    pub kind: RawDatastoreType,
    #[serde(default)]
    pub endpoints: Vec<String>,
    pub ca_cert_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// `gracefulRestart`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawGracefulRestart {
    pub enabled: Option<bool>,
    pub restart_time: Option<TimeValue>,
}

/// `listen`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawListen {
    pub address: Option<IpAddr>,
    pub port: Option<u16>,
}

/// `password: { file: PATH }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawPassword {
    pub file: PathBuf,
}

/// `nodeToNodeMesh`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawMesh {
    pub enabled: Option<bool>,
    #[serde(default)]
    pub peers: Vec<IpAddr>,
    pub port: Option<u16>,
    pub password: Option<RawPassword>,
    pub hold_time: Option<TimeValue>,
    pub keepalive_time: Option<TimeValue>,
    pub connect_retry_time: Option<TimeValue>,
    pub max_prefixes: Option<u32>,
    pub import_limit: Option<RawLimit>,
    pub receive_limit: Option<RawLimit>,
    pub bfd: Option<RawBfd>,
    pub add_paths: Option<super::AddPaths>,
}

/// `bfd` of a peer or the mesh (BFD, RFC 5880/5881 single hop).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawBfd {
    pub enabled: Option<bool>,
    pub interval: Option<TimeValue>,
    pub multiplier: Option<u64>,
}

/// `importLimit` / `receiveLimit` of a peer or the mesh (BIRD's `import limit` and
/// `receive limit`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawLimit {
    pub max_prefixes: u32,
    pub action: Option<RawLimitAction>,
}

/// What exceeding a limit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawLimitAction {
    Warn,
    Block,
    Restart,
    Disable,
}

/// One entry of `peers` (Calico's BGPPeer spec names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawPeer {
    #[serde(rename = "peerIP")]
    pub peer_ip: IpAddr,
    pub as_number: u64,
    pub port: Option<u16>,
    pub password: Option<RawPassword>,
    #[serde(default)]
    pub passive: bool,
    #[serde(default)]
    pub route_reflector_client: bool,
    pub ttl_security: Option<u8>,
    pub source_address: Option<IpAddr>,
    pub max_prefixes: Option<u32>,
    pub import_limit: Option<RawLimit>,
    pub receive_limit: Option<RawLimit>,
    pub description: Option<String>,
    pub hold_time: Option<TimeValue>,
    pub keepalive_time: Option<TimeValue>,
    pub connect_retry_time: Option<TimeValue>,
    pub bfd: Option<RawBfd>,
    pub add_paths: Option<super::AddPaths>,
}

/// `fib`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawFib {
    pub table: Option<RouteTable>,
    pub protocol: Option<u8>,
    pub ecmp: Option<bool>,
    pub enabled: Option<bool>,
    pub allow_default: Option<bool>,
    pub metric: Option<u32>,
    pub nexthop_objects: Option<bool>,
}

/// `policy.backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawBackend {
    Nftables,
    Iptables,
}

/// `policy`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawPolicy {
    pub backend: Option<RawBackend>,
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    pub failsafe_inbound_host_ports: Option<FailsafePorts>,
    pub failsafe_outbound_host_ports: Option<FailsafePorts>,
}

/// `metrics`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawMetrics {
    pub listen: Option<SocketAddr>,
}

/// `control`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawControl {
    pub socket: Option<PathBuf>,
}

/// `docker`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawDocker {
    pub plugin_name: String,
    pub docker_socket: Option<PathBuf>,
}

/// `routeReflector`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawRouteReflector {
    pub cluster_id: Option<Ipv4Addr>,
}

/// A `pools` entry in its long form (Calico's IPPool names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawPoolSpec {
    pub cidr: String,
    pub ipip_mode: Option<super::pool::EncapMode>,
    pub vxlan_mode: Option<super::pool::EncapMode>,
}

/// `overlay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawOverlay {
    pub ipip_mtu: Option<u32>,
    pub vxlan_mtu: Option<u32>,
    pub vxlan_vni: Option<u32>,
}
