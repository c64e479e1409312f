//! Per-connection tasks: the connector (socket options, bind, connect) and the writer
//! (encoding batches into one buffer and one write); the reader is in `reader.rs`.
//! They hold no protocol state; the owner task tells them the negotiated codec
//! contexts.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use super::config::PeerConfig;
use super::reader::Batch;
use super::sockopt;
use crate::session::ConnId;
use crate::wire::codec::encode_message;
use crate::wire::{EncodeContext, Message, Notification};

/// Flush the write buffer once it holds this much.
const WRITE_CHUNK: usize = 256 * 1024;

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

/// Commands to a writer task.
#[derive(Debug)]
pub enum WriterCmd {
    /// Encode further messages with this context.
    Context(EncodeContext),
    /// Messages to send.
    Send(Vec<Message>),
    /// Write what is queued, then close the connection.
    Close,
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

/// Shared count of messages queued to a writer (backpressure for UPDATE sending).
#[derive(Debug, Clone, Default)]
pub struct Queued(Arc<AtomicUsize>);

impl Queued {
    /// Messages handed to the writer and not yet written.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
    /// Counts `n` more queued messages.
    pub fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    fn sub(&self, n: usize) -> usize {
        self.0.fetch_sub(n, Ordering::Relaxed).saturating_sub(n)
    }
}

/// Low-water mark: below it the owner hands the writer more UPDATEs.
pub const QUEUE_LOW: usize = 1024;

/// Encodes batches into one buffer and writes it with one `write_all`.
pub async fn writer<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut cmds: mpsc::UnboundedReceiver<WriterCmd>,
    queued: Queued,
    events: mpsc::Sender<ConnEvent>,
    remote: IpAddr,
) {
    let mut ctx = EncodeContext::default();
    let mut out = BytesMut::with_capacity(WRITE_CHUNK);
    while let Some(first) = cmds.recv().await {
        let mut next = Some(first);
        let mut count = 0usize;
        let mut close = false;
        while let Some(cmd) = next.take() {
            match cmd {
                WriterCmd::Context(c) => ctx = c,
                WriterCmd::Send(msgs) => {
                    count += msgs.len();
                    for m in &msgs {
                        if let Err(e) = encode_message(m, &ctx, &mut out) {
                            tracing::warn!(peer = %remote, "cannot encode {}: {e}", m.kind().name());
                        }
                    }
                }
                WriterCmd::Close => {
                    close = true;
                    break;
                }
            }
            if out.len() < WRITE_CHUNK {
                next = cmds.try_recv().ok();
            }
        }
        if !out.is_empty() {
            if let Err(e) = wr.write_all(&out).await {
                tracing::debug!(peer = %remote, "write failed: {e}");
                return;
            }
            out.clear();
        }
        let left = queued.sub(count);
        if count > 0 && left < QUEUE_LOW && left + count >= QUEUE_LOW {
            let _ = events.send(ConnEvent::Drained).await;
        }
        if close {
            let _ = wr.shutdown().await;
            return;
        }
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
pub(super) mod tests;
