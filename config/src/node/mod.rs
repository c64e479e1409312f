//! The node configuration (`node.yaml`): the resolved types the agent uses, and
//! loading them from a file with every problem reported as `FILE:LINE:COL: message`.
//!
//! The file's schema is in `raw`; `resolve` applies defaults, reads password files
//! and runs the semantic checks; this module holds the result.

mod add_paths;
mod bfd;
mod datastore;
mod overlap;
mod pool;
mod pool_check;
mod raw;
mod resolve;
mod values;

#[cfg(test)]
mod datastore_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::yaml::{self, LocatedErrors};

pub use add_paths::AddPaths;
pub use bfd::{MAX_BFD_INTERVAL, MIN_BFD_INTERVAL};
pub use pool::{EncapMode, Overlay, PoolOverlay, DEFAULT_VNI};
pub use values::{FailsafePort, Protocol};

/// Largest node config file tern reads (1 MiB: a config with thousands of peers and
/// blocks is a few hundred KB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Most entries in `blocks`, and in `pools`.
pub const MAX_PREFIXES: usize = 10_000;
/// Most entries in `peers`, and in `nodeToNodeMesh.peers`.
pub const MAX_PEERS: usize = 5_000;
/// Default BGP port (`listen.port`, `peers[].port`).
pub const DEFAULT_BGP_PORT: u16 = 179;
/// Default hold time (RFC 4271 §10 suggests 90 s).
pub const DEFAULT_HOLD_TIME: Duration = Duration::from_secs(90);
/// Default ConnectRetry time (RFC 4271 §10: 120 s).
pub const DEFAULT_CONNECT_RETRY_TIME: Duration = Duration::from_secs(120);
/// Shortest `connectRetryTime` accepted.
pub const MIN_CONNECT_RETRY_TIME: Duration = Duration::from_secs(1);
/// Longest `connectRetryTime` accepted (1 h).
pub const MAX_CONNECT_RETRY_TIME: Duration = Duration::from_secs(3600);
/// Default routing-table protocol number of tern's routes (`proto 201` in
/// `ip route`). 201 is in no registry we know of: not in iproute2's
/// `rt_protos` (≤ 192 plus `bird` 12, `bgp` 186, FRR's 186–197), nor used by
/// Calico (Felix uses 3/`boot` and 80, BIRD 12). Routes with another protocol
/// number are never touched by tern.
pub const DEFAULT_FIB_PROTOCOL: u8 = 201;
/// The `main` routing table.
pub const MAIN_TABLE: u32 = 254;
/// Default `stateDir`: where the agent keeps address allocations and container
/// attachments (CNI) across restarts.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/tern";
/// Default control socket.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/tern/tern.sock";
/// Default metrics address when a `metrics` section is present without `listen`.
pub const DEFAULT_METRICS_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9469);
/// Default inbound failsafe ports (SSH, DHCP client, BGP, etcd, Kubernetes API).
pub const DEFAULT_FAILSAFE_INBOUND: [FailsafePort; 6] = [
    FailsafePort::tcp(22),
    FailsafePort::udp(68),
    FailsafePort::tcp(179),
    FailsafePort::tcp(2379),
    FailsafePort::tcp(2380),
    FailsafePort::tcp(6443),
];
/// Default outbound failsafe ports (DNS, DHCP server, BGP, etcd, Kubernetes API),
/// as Calico's.
pub const DEFAULT_FAILSAFE_OUTBOUND: [FailsafePort; 6] = [
    FailsafePort::udp(53),
    FailsafePort::udp(67),
    FailsafePort::tcp(179),
    FailsafePort::tcp(2379),
    FailsafePort::tcp(2380),
    FailsafePort::tcp(6443),
];

/// A validated node configuration with every default filled in.
///
/// Relative paths in the file (password files, `endpoints`, `policy.paths`,
/// `control.socket`, `stateDir`) are resolved against the directory of the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// The file it was loaded from.
    pub file: PathBuf,
    /// `nodeName`.
    pub node_name: String,
    /// `asNumber`: this node's AS (4-octet). In etcd mode it may be left out of the
    /// file ([`NodeConfig::as_number_given`] false, this field 0): the agent then takes
    /// the AS from the cluster (the node's `Node` resource, else `BGPConfiguration
    /// default`, else 64512).
    pub as_number: u32,
    /// Whether the file sets `asNumber` (always true in files mode, where it is required).
    pub as_number_given: bool,
    /// `routerId`: the BGP identifier.
    pub router_id: Ipv4Addr,
    /// `listen`.
    pub listen: Listen,
    /// `blocks`: this node's container subnets, originated into BGP.
    pub blocks: Vec<IpNet>,
    /// `pools`: routes outside these are never accepted or installed.
    pub pools: Vec<IpNet>,
    /// `nodeToNodeMesh.enabled` (the mesh peers are in [`NodeConfig::peers`]).
    pub node_to_node_mesh: bool,
    /// The `nodeToNodeMesh` section's session settings (port, password, timers, limits,
    /// `bfd`) as a mesh peer with an unspecified address, when the file has the
    /// section: etcd mode applies them to the mesh it builds from the `Node` list.
    pub mesh: Option<Peer>,
    /// Every BGP peer: the mesh peers (when the mesh is enabled) first, in file
    /// order, then `peers`.
    pub peers: Vec<Peer>,
    /// `fib`.
    pub fib: Fib,
    /// `endpoints`: endpoint YAML files or folders.
    pub endpoints: Vec<PathBuf>,
    /// `policy`.
    pub policy: Policy,
    /// `metrics`; `None` when the section is absent (no metrics endpoint).
    pub metrics: Option<Metrics>,
    /// `control`.
    pub control: Control,
    /// `docker`; `None` when the section is absent (no Docker plugin socket).
    pub docker: Option<Docker>,
    /// `routeReflector`; `None` unless this node is a route reflector with a
    /// cluster ID of its own (clients still work without it: the cluster ID is
    /// then the router ID, as in BIRD).
    pub route_reflector: Option<RouteReflector>,
    /// `gracefulRestart` (RFC 4724): on by default with a 120 s restart time, as in
    /// Calico's BIRD.
    pub graceful_restart: GracefulRestart,
    /// `stateDir`: the agent's persistent state (IPAM allocations and container
    /// attachments made through CNI); default [`DEFAULT_STATE_DIR`].
    pub state_dir: PathBuf,
    /// `datastore`: where cluster resources come from ([`Datastore::Files`] unless set).
    pub datastore: Datastore,
    /// `labels`: this node's labels, written to its `Node` resource in etcd mode (what
    /// `nodeSelector`s of BGPPeers and IPPools match).
    pub labels: std::collections::BTreeMap<String, String>,
    /// `ipv6Address`: this node's IPv6 address for BGP in etcd mode (its `Node`'s
    /// `bgp.ipv6Address`: IPv6 mesh sessions and IPv6 blocks), when `listen.address` is
    /// not already one.
    pub ipv6_address: Option<std::net::Ipv6Addr>,
    /// The pools' `ipipMode` / `vxlanMode` and `overlay` (tunnels where the fabric does
    /// not route the pools).
    pub overlay: Overlay,
}

/// `datastore`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Datastore {
    /// `type: files` (the default): peers, blocks and pools from this file only.
    #[default]
    Files,
    /// `type: etcd`: the node registers itself, takes its mesh, AS and blocks from
    /// the cluster's resources in etcd at these endpoints.
    Etcd {
        /// `endpoints`: etcd client URLs (all `http://` or all `https://`).
        endpoints: Vec<String>,
        /// With `https://` endpoints: the TLS files.
        tls: Option<EtcdTls>,
    },
}

/// `datastore.caCertFile`, `certFile`, `keyFile` (paths resolved against the config
/// file's folder; checked readable PEM files when the config was loaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdTls {
    /// The CA certificate that signed etcd's server certificate.
    pub ca_cert_file: PathBuf,
    /// This node's client certificate (with `key_file`), for etcd's `--client-cert-auth`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's key.
    pub key_file: Option<PathBuf>,
}

/// `listen`: where the BGP listener binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// Address; `::` (all addresses, IPv4 and IPv6) when unset.
    pub address: IpAddr,
    /// Port; 179 when unset.
    pub port: u16,
}

/// Where a peer comes from, as `tern status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// Listed in `nodeToNodeMesh.peers` (iBGP with our AS).
    Mesh,
    /// Listed in `peers` (Calico's "global" BGPPeer).
    Global,
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerKind::Mesh => "mesh",
            PeerKind::Global => "global",
        })
    }
}

/// One BGP neighbour with all its settings resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Mesh or global.
    pub kind: PeerKind,
    /// `peerIP`.
    pub address: IpAddr,
    /// `port` (179 when unset): where we connect to.
    pub port: u16,
    /// The peer's AS (ours for mesh peers).
    pub as_number: u32,
    /// TCP-MD5 key (RFC 2385), read from `password.file`.
    pub password: Option<Password>,
    /// `holdTime` we offer in OPEN: zero (no keepalives) or at least 3 s.
    pub hold_time: Duration,
    /// `keepaliveTime`: a third of the hold time unless set; zero when the hold time is.
    pub keepalive_time: Duration,
    /// `connectRetryTime` (120 s unless set).
    pub connect_retry_time: Duration,
    /// `passive`: never connect, only accept.
    pub passive: bool,
    /// `routeReflectorClient`: we reflect routes to this iBGP peer (RFC 4456).
    pub route_reflector_client: bool,
    /// `ttlSecurity`: GTSM (RFC 5082) with this many hops allowed.
    pub ttl_security: Option<u8>,
    /// `sourceAddress` for outgoing connections.
    pub source_address: Option<IpAddr>,
    /// `importLimit` (or the shorthand `maxPrefixes: N`, action restart): most
    /// prefixes accepted from the peer.
    pub import_limit: Option<PrefixLimit>,
    /// `receiveLimit`: most prefixes received from the peer, rejected ones included.
    pub receive_limit: Option<PrefixLimit>,
    /// `description`, free text.
    pub description: Option<String>,
    /// `bfd` (the peer's own, or the mesh's for mesh peers): `None` when BFD is off.
    pub bfd: Option<Bfd>,
    /// `addPaths` (the peer's own, or the mesh's for mesh peers): ADD-PATH, RFC 7911.
    pub add_paths: AddPaths,
}

/// `bfd`: a BFD session (RFC 5880/5881, single hop) beside the BGP session; when it goes
/// down the BGP session is closed at once (Cease, BFD Down) and its routes leave the FIB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bfd {
    /// `interval`: desired transmit and required receive interval once Up
    /// ([`DEFAULT_BFD_INTERVAL`] unless set).
    pub interval: Duration,
    /// `multiplier`: packets missed before the neighbour is declared down
    /// ([`DEFAULT_BFD_MULTIPLIER`] unless set).
    pub multiplier: u8,
}

/// Default `bfd.interval` (BIRD's and FRR's default is 300 ms; 100 ms × 3 detects a dead
/// neighbour within 300 ms).
pub const DEFAULT_BFD_INTERVAL: Duration = Duration::from_millis(100);
/// Default `bfd.multiplier` (BIRD's, FRR's).
pub const DEFAULT_BFD_MULTIPLIER: u8 = 3;

impl Peer {
    /// Whether the session is internal BGP (same AS as ours).
    pub fn is_ibgp(&self, local_as: u32) -> bool {
        self.as_number == local_as
    }
}

/// A prefix limit of a peer (BIRD's `import limit` / `receive limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixLimit {
    /// `maxPrefixes`.
    pub max_prefixes: u32,
    /// `action` (restart unless set).
    pub action: LimitAction,
}

/// What exceeding a [`PrefixLimit`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitAction {
    /// `warn`: log it.
    Warn,
    /// `block`: log it and drop new prefixes beyond the limit.
    Block,
    /// `restart`: close the session with Cease / Maximum Number of Prefixes Reached
    /// (RFC 4486); it reconnects after connectRetryTime.
    Restart,
    /// `disable`: as restart, and stay down until the agent restarts or reloads.
    Disable,
}

/// A TCP-MD5 key. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Vec<u8>);

impl Password {
    /// The key bytes (the file's contents without the trailing newline).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password(<{} bytes>)", self.0.len())
    }
}

/// `fib`: how routes go into the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fib {
    /// Routing table number (`main` = 254).
    pub table: u32,
    /// Route protocol number tern's routes carry ([`DEFAULT_FIB_PROTOCOL`] unless set).
    pub protocol: u8,
    /// Install ECMP (multipath) routes (default true).
    pub ecmp: bool,
    /// Program the kernel at all (default true). `false` runs BGP only: no FIB
    /// controller, nothing installed, best paths only shown and advertised.
    pub enabled: bool,
    /// `allowDefault`: a default route (0.0.0.0/0, ::/0) learned from a peer may be
    /// installed (default false, so a peer cannot take over the host's own default
    /// route). Learned routes that would take over the host's connected subnets or
    /// its route to a configured peer are never installed.
    pub allow_default: bool,
    /// `metric`: the route metric (priority) of tern's routes ([`DEFAULT_FIB_METRIC`]
    /// unless set; 0 is the kernel's default: 0 for IPv4, 1024 for IPv6).
    pub metric: u32,
    /// `nexthopObjects`: routes via a single gateway reference a kernel nexthop object
    /// (`ip nexthop`, Linux >= 5.3) shared by every route through that gateway, instead
    /// of carrying the gateway themselves (default true; a kernel without them turns it
    /// off).
    pub nexthop_objects: bool,
}

/// The metric of tern's kernel routes unless `fib.metric` is set: above what hosts give
/// their own routes (0 for static and connected IPv4 routes, 256 for connected IPv6,
/// 100–600 from NetworkManager, 1024 from systemd-networkd's DHCP and for IPv6 router
/// advertisements and the kernel's IPv6 default), so the host's route for the same
/// prefix always wins, and equal to none of them (the kernel refuses a second route
/// with the same prefix and metric). BIRD's kernel protocol uses 32.
pub const DEFAULT_FIB_METRIC: u32 = 2048;

/// The packet-filter backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// `nft -f` (default).
    Nftables,
    /// `iptables-restore` + `ipset restore`.
    Iptables,
}

/// `policy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `backend` (nftables unless set).
    pub backend: Backend,
    /// Policy YAML files or folders.
    pub paths: Vec<PathBuf>,
    /// `failsafeInboundHostPorts` ([`DEFAULT_FAILSAFE_INBOUND`] unless set).
    pub failsafe_inbound_host_ports: Vec<FailsafePort>,
    /// `failsafeOutboundHostPorts` ([`DEFAULT_FAILSAFE_OUTBOUND`] unless set).
    pub failsafe_outbound_host_ports: Vec<FailsafePort>,
}

/// `metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metrics {
    /// Address of the `/metrics` HTTP endpoint.
    pub listen: SocketAddr,
}

/// `control`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// The control socket's path.
    pub socket: PathBuf,
}

/// `docker`: serve Docker's remote network and IPAM driver protocols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Docker {
    /// `pluginName`: the name given to `docker network create --driver` and
    /// `--ipam-driver`.
    pub plugin_name: String,
    /// The plugin socket: `/run/docker/plugins/<pluginName>.sock` (where dockerd looks).
    pub plugin_socket: PathBuf,
    /// `dockerSocket`: dockerd's API socket, read for container labels (default
    /// [`DEFAULT_DOCKER_SOCKET`]).
    pub docker_socket: PathBuf,
}

/// dockerd's API socket unless `docker.dockerSocket` says otherwise.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// The folder dockerd discovers plugin sockets in.
pub const DOCKER_PLUGIN_DIR: &str = "/run/docker/plugins";

/// `gracefulRestart`: the BGP graceful restart capability (RFC 4724).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestart {
    /// `enabled` (default true): advertise the capability, keep a restarting peer's
    /// routes, and allow `tern agent --graceful-restart`.
    pub enabled: bool,
    /// `restartTime` (default 120s, 1s–4095s): how long peers keep our routes while we
    /// restart.
    pub restart_time: Duration,
}

impl Default for GracefulRestart {
    fn default() -> Self {
        GracefulRestart {
            enabled: true,
            restart_time: DEFAULT_RESTART_TIME,
        }
    }
}

/// Default graceful-restart time (BIRD's and Calico's).
pub const DEFAULT_RESTART_TIME: Duration = Duration::from_secs(120);

/// `routeReflector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteReflector {
    /// CLUSTER_ID (RFC 4456); the router ID when unset.
    pub cluster_id: Ipv4Addr,
}

/// Why a config file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read (exit code 1 material).
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid config (exit code 2 material).
    #[error("{0}")]
    Invalid(LocatedErrors),
}

impl NodeConfig {
    /// Reads, parses and checks the config file at `path`.
    ///
    /// A file larger than [`MAX_FILE_BYTES`] or not UTF-8 is [`LoadError::Invalid`]
    /// (located), like any other bad input.
    pub fn load(path: &Path) -> Result<NodeConfig, LoadError> {
        let text = yaml::read_file(path, MAX_FILE_BYTES).map_err(|e| match e {
            yaml::ReadError::Io(source) => LoadError::Read {
                path: path.to_path_buf(),
                source,
            },
            yaml::ReadError::Invalid(e) => LoadError::Invalid(e.into()),
        })?;
        Self::from_str(path, &text).map_err(LoadError::Invalid)
    }

    /// Parses and checks `text`; `path` names the file in errors and is the base
    /// for relative paths. Password files are read here. Returns every error
    /// found, sorted by position.
    pub fn from_str(path: &Path, text: &str) -> Result<NodeConfig, LocatedErrors> {
        // A valid file is read without indexing where its nodes are (half the time of a
        // reload's parse); positions are only needed for errors, and a file with any
        // is read again below to locate them.
        if let Some(raw) = yaml::deserialize_unlocated::<raw::RawNode>(path, text) {
            let unlocated = yaml::Positions::empty(path, yaml::Location::START);
            if let Ok(config) = resolve::resolve(path, raw, &unlocated) {
                return Ok(config);
            }
        }
        Self::from_str_located(path, text)
    }

    /// [`NodeConfig::from_str`] with the positions of every node indexed before anything
    /// is checked: the same result for every text, at about twice the cost for a valid
    /// one (the fuzz target holds the two to agreeing).
    pub fn from_str_located(path: &Path, text: &str) -> Result<NodeConfig, LocatedErrors> {
        let result = match yaml::load_document_all::<raw::RawNode>(path, text) {
            Ok(doc) => resolve::resolve(path, doc.value, &doc.positions),
            // Every error in one pass: the file's own and the checks' on the rest.
            Err(partial) => {
                Err(partial.finish(|doc| resolve::resolve(path, doc.value, &doc.positions).err()))
            }
        };
        result.map_err(not_a_resource)
    }
}

/// A node config with `apiVersion` or `kind` at the top is mistaken for a Calico
/// resource: say so instead of "unknown field".
fn not_a_resource(errors: LocatedErrors) -> LocatedErrors {
    errors
        .into_iter()
        .map(|mut e| {
            for key in ["apiVersion", "kind"] {
                if e.message.starts_with(&format!("unknown field `{key}`")) {
                    e.message = format!(
                        "{key}: a node config has no apiVersion or kind: it is tern's own \
                         node file (see docs/configuration.md), not a Calico resource \
                         (resources go to `tern apply`, or to the policy and endpoint files)"
                    );
                }
            }
            e
        })
        .collect::<Vec<_>>()
        .into()
}
