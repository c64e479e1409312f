//! What per-connection tasks tell the owner, and the connector (socket options, bind,
//! connect); the reader is in `reader.rs`, the writer in `writer.rs`. They hold no
//! protocol state; the owner task tells them the negotiated codec contexts.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use super::config::PeerConfig;
use super::reader::Batch;
use super::sockopt;
use crate::session::ConnId;
use crate::wire::Notification;

/// What connection tasks tell the owner task.
#[derive(Debug)]
pub enum ConnEvent {
    /// The connections of a peer's previous configuration are closed (or given up
    /// on): the peer's new session may start.
    Released {
        /// Index of the peer.
        peer: usize,
    },
    /// A configured peer connected to the listener.
    Accepted {
        /// Index of the peer.
        peer: usize,
        /// The accepted stream.
        stream: TcpStream,
    },
    /// Our connection attempt succeeded.
    Connected {
        /// Index of the peer.
        peer: usize,
        /// The session's name for the connection.
        conn: ConnId,
        /// The connected stream.
        stream: TcpStream,
    },
    /// Our connection attempt failed.
    ConnectFailed {
        /// Index of the peer.
        peer: usize,
        /// The session's name for the connection.
        conn: ConnId,
        /// Why.
        error: String,
    },
    /// Decoded messages, in order.
    Messages {
        /// Index of the peer.
        peer: usize,
        /// The connection.
        conn: ConnId,
        /// The messages.
        msgs: Batch,
        /// Their share of [`super::reader::READ_BUDGET`], returned when the owner drops it after
        /// handling them.
        permit: Option<OwnedSemaphorePermit>,
    },
    /// The reader stopped: peer closed, I/O error, or a malformed message (with the
    /// NOTIFICATION to send).
    ReadFailed {
        /// Index of the peer.
        peer: usize,
        /// The connection.
        conn: ConnId,
        /// The NOTIFICATION for a malformed message.
        notification: Option<Notification>,
        /// Why, for logs.
        reason: String,
    },
    /// A writer's queue drained below the low-water mark: more UPDATEs may be taken.
    Drained,
}

/// Applies the peer's TCP-MD5 key and GTSM to a socket.
pub fn peer_sockopts(
    fd: &impl std::os::fd::AsRawFd,
    peer: &PeerConfig,
    v6: bool,
) -> std::io::Result<()> {
    if let Some(pw) = &peer.password {
        sockopt::set_md5(fd, peer.address, v6, Some(pw.as_bytes()))?;
    }
    if let Some(hops) = peer.ttl_security {
        sockopt::set_gtsm(fd, v6, hops)?;
    }
    Ok(())
}

/// Connects to the peer (source address, MD5, GTSM) and reports the outcome.
pub async fn connect(
    peer_idx: usize,
    conn: ConnId,
    peer: PeerConfig,
    events: mpsc::Sender<ConnEvent>,
) {
    let result = connect_inner(&peer).await;
    let ev = match result {
        Ok(stream) => ConnEvent::Connected {
            peer: peer_idx,
            conn,
            stream,
        },
        Err(e) => ConnEvent::ConnectFailed {
            peer: peer_idx,
            conn,
            error: e.to_string(),
        },
    };
    let _ = events.send(ev).await;
}

async fn connect_inner(peer: &PeerConfig) -> std::io::Result<TcpStream> {
    let remote = SocketAddr::new(peer.address, peer.port);
    let v6 = remote.is_ipv6();
    let socket = if v6 {
        TcpSocket::new_v6()?
    } else {
        TcpSocket::new_v4()?
    };
    peer_sockopts(&socket, peer, v6)?;
    if let Some(src) = peer.source_address {
        socket.bind(SocketAddr::new(src, 0))?;
    }
    // Bounded so a black-holed SYN does not hold the attempt past the retry timer.
    let limit = peer.connect_retry.max(Duration::from_secs(5));
    match tokio::time::timeout(limit, socket.connect(remote)).await {
        Ok(r) => {
            let s = r?;
            s.set_nodelay(true)?;
            Ok(s)
        }
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        )),
    }
}
