//! Per-connection tasks: the connector (socket options, bind, connect), the reader
//! (framing and decoding in batches) and the writer (encoding batches into one buffer
//! and one write). They hold no protocol state; the owner task tells them the
//! negotiated codec contexts.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use super::config::PeerConfig;
use super::sockopt;
use crate::session::ConnId;
use crate::wire::codec::{decode_message_cached, encode_message, AttrCache};
use crate::wire::{DecodeContext, DecodeError, EncodeContext, Message, Notification};

/// Most messages handed to the owner in one batch.
const READ_BATCH: usize = 2048;
/// Most wire octets of messages handed to the owner in one batch (~350 full-table
/// UPDATEs; decoded they take several times this).
const READ_BATCH_BYTES: usize = 64 * 1024;
/// Wire octets of messages read but not yet handled by the owner, over all connections
/// of a speaker: a reader waits for this budget before it hands a batch over, so a
/// fast peer cannot queue a table's worth of decoded UPDATEs (the TCP window backs up
/// instead). One batch over the budget still passes alone.
pub const READ_BUDGET: usize = 512 * 1024;
/// Read buffer growth per read.
const READ_CHUNK: usize = 256 * 1024;
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
        msgs: Vec<Message>,
        /// Their share of [`READ_BUDGET`], returned when the owner drops it after
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

/// Reads, frames and decodes; hands batches to the owner. After the peer's OPEN it
/// waits for the negotiated decode context before decoding anything else.
///
/// When it stops (told to by `stop`, or on its own after an error) it keeps reading and
/// discarding for up to [`LINGER`] before it drops the socket: closing a socket with
/// unread data makes the kernel send a RST, and a RST can destroy the NOTIFICATION the
/// writer has just sent before the peer reads it.
pub async fn reader<R: AsyncRead + Unpin>(
    peer: usize,
    conn: ConnId,
    mut rd: R,
    events: mpsc::Sender<ConnEvent>,
    budget: Arc<Semaphore>,
    negotiated: oneshot::Receiver<DecodeContext>,
    mut stop: oneshot::Receiver<()>,
) {
    let out = Out {
        peer,
        conn,
        events,
        budget,
    };
    let why = read_loop(&out, &mut rd, negotiated, &mut stop).await;
    tracing::debug!(peer, ?conn, "reader stopped: {why}");
    let mut sink = vec![0u8; 64 * 1024];
    let drain = async { while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// How long a stopped reader keeps draining the socket.
pub const LINGER: Duration = Duration::from_secs(2);

/// Where a reader's batches go.
struct Out {
    peer: usize,
    conn: ConnId,
    events: mpsc::Sender<ConnEvent>,
    budget: Arc<Semaphore>,
}

impl Out {
    /// Hands a batch of `bytes` wire octets to the owner once the read budget allows;
    /// `false` when the owner is gone.
    async fn send(&self, msgs: Vec<Message>, bytes: usize) -> bool {
        let want = u32::try_from(bytes.clamp(1, READ_BUDGET)).unwrap_or(u32::MAX);
        let Ok(permit) = self.budget.clone().acquire_many_owned(want).await else {
            return false;
        };
        let ev = ConnEvent::Messages {
            peer: self.peer,
            conn: self.conn,
            msgs,
            permit: Some(permit),
        };
        self.events.send(ev).await.is_ok()
    }

    async fn fail(&self, notification: Option<Notification>, reason: String) {
        let ev = ConnEvent::ReadFailed {
            peer: self.peer,
            conn: self.conn,
            notification,
            reason,
        };
        let _ = self.events.send(ev).await;
    }
}

/// Whether `buf` starts with a whole message, by its header's length field.
fn whole_message_at_front(buf: &[u8]) -> bool {
    match buf.get(16..18) {
        Some(&[hi, lo]) => buf.len() >= usize::from(u16::from_be_bytes([hi, lo])),
        _ => false,
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    out: &Out,
    rd: &mut R,
    mut negotiated: oneshot::Receiver<DecodeContext>,
    stop: &mut oneshot::Receiver<()>,
) -> &'static str {
    let mut ctx = DecodeContext::default();
    let mut have_ctx = false;
    // The attribute lists this session sent, decoded (made for the negotiated context).
    let mut attr_cache = AttrCache::new();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    // A batch starts at the size of the one before: growing it would copy its
    // messages (~200 octets each) at every doubling.
    let mut hint = 16;
    let mut batch = Vec::new();
    let mut bytes = 0usize;
    loop {
        loop {
            // Messages are decoded in place in the batch; it is allocated once a whole
            // message is there (an idle session holds none).
            if batch.capacity() == 0 && whole_message_at_front(&buf) {
                batch.reserve_exact(hint);
            }
            let cache = have_ctx.then_some(&mut attr_cache);
            match decode_message_cached(&buf, &ctx, &mut batch, cache) {
                Ok(used) => {
                    buf.advance(used);
                    bytes += used;
                    let open = matches!(batch.last(), Some(Message::Open(_)));
                    if open && !have_ctx {
                        let msgs = std::mem::take(&mut batch);
                        if !out.send(msgs, std::mem::take(&mut bytes)).await {
                            return "owner gone";
                        }
                        let c = tokio::select! {
                            c = &mut negotiated => c,
                            _ = &mut *stop => return "stopped while waiting for the decode context",
                        };
                        match c {
                            Ok(c) => {
                                ctx = c;
                                have_ctx = true;
                            }
                            // The owner refused the OPEN and dropped the connection.
                            Err(_) => return "OPEN refused",
                        }
                    } else if batch.len() >= READ_BATCH || bytes >= READ_BATCH_BYTES {
                        hint = batch.len();
                        let msgs = std::mem::take(&mut batch);
                        if !out.send(msgs, std::mem::take(&mut bytes)).await {
                            return "owner gone";
                        }
                    }
                }
                Err(DecodeError::Incomplete { .. }) => break,
                Err(e @ DecodeError::Malformed { .. }) => {
                    if !batch.is_empty() {
                        out.send(std::mem::take(&mut batch), bytes).await;
                    }
                    out.fail(e.notification().cloned(), e.to_string()).await;
                    return "malformed message";
                }
            }
        }
        if !batch.is_empty() {
            hint = batch.len().max(16);
            if !out
                .send(std::mem::take(&mut batch), std::mem::take(&mut bytes))
                .await
            {
                return "owner gone";
            }
        }
        buf.reserve(READ_CHUNK);
        let read = tokio::select! {
            r = rd.read_buf(&mut buf) => r,
            _ = &mut *stop => return "stopped",
        };
        match read {
            Ok(0) => {
                out.fail(None, "closed by peer".into()).await;
                return "closed by peer";
            }
            Ok(_) => {}
            Err(e) => {
                out.fail(None, e.to_string()).await;
                return "read error";
            }
        }
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
mod tests;
