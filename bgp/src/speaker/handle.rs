//! The public face of the driver: [`Speaker::start`] and the cloneable [`SpeakerHandle`].

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use tokio::sync::mpsc;

use super::config::{PeerKind, SpeakerConfig};
use crate::rib::{RouteChange, RouteView};

/// Why the speaker could not start.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    /// The listener could not be bound or configured.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The configured listen address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A peer's configuration cannot be run.
    #[error("peer {peer}: {reason}")]
    Peer {
        /// The peer's address.
        peer: IpAddr,
        /// What is wrong.
        reason: String,
    },
}

/// One peer as `tern status` shows it.
#[derive(Debug, Clone)]
pub struct PeerStatus {
    /// Peer address.
    pub address: IpAddr,
    /// Peer AS.
    pub asn: u32,
    /// Mesh or global.
    pub kind: PeerKind,
    /// Free text from the configuration.
    pub description: Option<String>,
    /// FSM state name: "Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established".
    pub state: &'static str,
    /// When the state last changed.
    pub since: Option<SystemTime>,
    /// Time in Established, if established.
    pub uptime: Option<Duration>,
    /// Prefixes received from the peer (Adj-RIB-In).
    pub prefixes_received: u64,
    /// Prefixes accepted by import policy.
    pub prefixes_accepted: u64,
    /// Prefixes advertised to the peer.
    pub prefixes_advertised: u64,
    /// The last error (NOTIFICATION sent or received, connection failure).
    pub last_error: Option<String>,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// UPDATE messages received.
    pub updates_in: u64,
    /// UPDATE messages sent.
    pub updates_out: u64,
    /// Number of transitions into Established.
    pub established_transitions: u64,
    /// Negotiated hold time while established.
    pub hold_time: Option<Duration>,
}

/// Starts the driver.
pub struct Speaker;

impl Speaker {
    /// Binds the listener, starts the owner task and the peers' connectors. Returns the
    /// handle and the stream of best-path changes (for the kernel FIB).
    pub async fn start(
        cfg: SpeakerConfig,
    ) -> Result<(SpeakerHandle, mpsc::UnboundedReceiver<RouteChange>), SpeakerError> {
        let _ = cfg;
        todo!("speaker driver")
    }
}

/// Queries and commands to a running speaker. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SpeakerHandle {
    tx: mpsc::UnboundedSender<()>,
}

impl SpeakerHandle {
    /// Status of every configured peer.
    pub async fn peers(&self) -> Vec<PeerStatus> {
        let _ = &self.tx;
        Vec::new()
    }

    /// The Loc-RIB; with `all`, also the losing and rejected paths.
    pub async fn routes(&self, all: bool) -> Vec<RouteView> {
        let _ = all;
        Vec::new()
    }

    /// (Loc-RIB prefixes, paths).
    pub async fn rib_size(&self) -> (usize, usize) {
        (0, 0)
    }

    /// Replaces the set of originated prefixes.
    pub async fn set_originated(&self, prefixes: Vec<IpNet>) {
        let _ = prefixes;
    }

    /// Sends Cease / Administrative Shutdown to every peer and waits (at most 2 s) for
    /// the NOTIFICATIONs to be written; the speaker stops afterwards.
    pub async fn shutdown(&self) {}
}
