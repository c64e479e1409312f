//! What the speaker is told to run: the local settings and one entry per peer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use crate::policy::ImportPolicy;
use crate::rib::PrefixLimit;
use crate::session::GracefulRestartConfig;
use crate::wire::AddPathMode;

/// The whole speaker: local AS and identifier, listener, peers, originated prefixes.
#[derive(Debug, Clone)]
pub struct SpeakerConfig {
    /// Local AS number.
    pub asn: u32,
    /// BGP identifier (router ID).
    pub router_id: Ipv4Addr,
    /// Address and port to listen on; `None` runs without a listener (active only).
    pub listen: Option<SocketAddr>,
    /// Route reflector cluster ID (RFC 4456); `None` uses the router ID.
    pub cluster_id: Option<Ipv4Addr>,
    /// Configured peers; connections from any other address are rejected.
    pub peers: Vec<PeerConfig>,
    /// Prefixes this node originates (its blocks).
    pub originate: Vec<IpNet>,
    /// Import filter applied to every peer.
    pub import: ImportPolicy,
    /// Graceful restart (RFC 4724) on every session; `None` turns it off (no capability
    /// advertised, a lost peer's routes withdrawn at once). Default when built by
    /// [`SpeakerConfig::default_graceful_restart`]: restart time 120 s.
    pub graceful_restart: Option<GracefulRestartConfig>,
}

impl SpeakerConfig {
    /// The graceful-restart settings sessions get unless told otherwise.
    pub fn default_graceful_restart() -> Option<GracefulRestartConfig> {
        Some(GracefulRestartConfig::default())
    }
}

/// How a peer was configured (reported in status; no behavioural difference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// A node-to-node mesh peer.
    Mesh,
    /// An explicitly configured (global) peer.
    Global,
}

impl PeerKind {
    /// `"mesh"` or `"global"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mesh => "mesh",
            Self::Global => "global",
        }
    }
}

/// One BGP neighbour. Two configs are equal when every field is: a peer whose config
/// changes in any field is restarted by [`super::SpeakerHandle::set_peers`].
#[derive(Debug, Clone, PartialEq)]
pub struct PeerConfig {
    /// The peer's address.
    pub address: IpAddr,
    /// The peer's TCP port for active connects (179).
    pub port: u16,
    /// The peer's AS number (equal to ours: iBGP).
    pub asn: u32,
    /// Mesh or global.
    pub kind: PeerKind,
    /// Never connect, only accept.
    pub passive: bool,
    /// Hold time we propose (0 = no keepalives; otherwise at least 3 s).
    pub hold_time: Duration,
    /// Keepalive interval; `None` is a third of the negotiated hold time.
    pub keepalive: Option<Duration>,
    /// Base of the ConnectRetry back-off.
    pub connect_retry: Duration,
    /// TCP-MD5 password (RFC 2385).
    pub password: Option<String>,
    /// GTSM (RFC 5082): the peer is at most this many hops away.
    pub ttl_security: Option<u8>,
    /// The peer is a route-reflector client of ours.
    pub route_reflector_client: bool,
    /// Source address for active connects.
    pub source_address: Option<IpAddr>,
    /// Most prefixes accepted from the peer, and what exceeding it does (Cease /
    /// Maximum Number of Prefixes Reached for `restart` and `disable`).
    pub import_limit: Option<PrefixLimit>,
    /// Most prefixes received from the peer, accepted or rejected.
    pub receive_limit: Option<PrefixLimit>,
    /// Free text for status output.
    pub description: Option<String>,
    /// ADD-PATH (RFC 7911) we advertise for each family: receive several paths per
    /// prefix from the peer, send it every ECMP path, or both; `None`: off.
    pub add_path: Option<AddPathMode>,
}

impl PeerConfig {
    /// A peer with the defaults: port 179, active, hold 90 s, keepalive hold/3,
    /// connect-retry base 5 s, no password, no GTSM.
    pub fn new(address: IpAddr, asn: u32) -> Self {
        Self {
            address,
            port: 179,
            asn,
            kind: PeerKind::Global,
            passive: false,
            hold_time: Duration::from_secs(90),
            keepalive: None,
            connect_retry: Duration::from_secs(5),
            password: None,
            ttl_security: None,
            route_reflector_client: false,
            source_address: None,
            import_limit: None,
            receive_limit: None,
            description: None,
            add_path: None,
        }
    }
}
