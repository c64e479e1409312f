//! A connection's writer. The owner task hands it messages through a [`Writer`]: when
//! the writer task has nothing queued and the batch is small (a propagated route, a
//! KEEPALIVE), the owner encodes it and writes it to the socket itself, in its own turn,
//! so no task is woken and a reflected route leaves as soon as it is decided. Anything
//! larger, or anything while earlier messages are still queued, goes to the writer task,
//! which encodes batches into one buffer and writes it (a table's worth of UPDATEs is
//! encoded beside the RIB work). A direct write that the socket takes only in part hands
//! its rest to the task, ahead of anything later, so the stream keeps the owner's order.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use super::conn::ConnEvent;
use crate::wire::codec::encode_message;
use crate::wire::{EncodeContext, Message};

/// Flush the write buffer once it holds this much.
const WRITE_CHUNK: usize = 256 * 1024;

/// A batch of at most this many messages is written by the owner when the writer task
/// has nothing queued.
const DIRECT_MAX: usize = 8;

/// Low-water mark: below it the owner hands the writer more UPDATEs.
pub const QUEUE_LOW: usize = 1024;

/// The write side of a connection: the writer task holds it, the owner only weakly.
pub trait WriteHalf: AsyncWrite + Unpin + Send + Sync + 'static {
    /// Writes what the socket takes now without waiting (`WouldBlock` if nothing).
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    /// Waits until the socket may take more.
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send;
}

impl WriteHalf for OwnedWriteHalf {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        OwnedWriteHalf::try_write(self, buf)
    }
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        OwnedWriteHalf::writable(self)
    }
}

/// Commands to a writer task.
#[derive(Debug)]
enum WriterCmd {
    /// Encode further messages with this context.
    Context(EncodeContext),
    /// Messages to send.
    Send(Vec<Message>),
    /// What a direct write left unwritten (counts as one queued message).
    Rest(BytesMut),
    /// Write what is queued, then close the connection.
    Close,
}

/// Shared count of messages queued to a writer (backpressure for UPDATE sending, and
/// "idle" for direct writes).
#[derive(Debug, Clone, Default)]
struct Queued(Arc<AtomicUsize>);

impl Queued {
    fn get(&self) -> usize {
        // Acquire: a 0 read here comes after the task's write of everything counted.
        self.0.load(Ordering::Acquire)
    }
    fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    fn sub(&self, n: usize) -> usize {
        self.0.fetch_sub(n, Ordering::Release).saturating_sub(n)
    }
}

/// The owner's end of a connection's writer.
#[derive(Debug)]
pub struct Writer<W = OwnedWriteHalf> {
    cmds: mpsc::UnboundedSender<WriterCmd>,
    queued: Queued,
    /// The socket, for direct writes; gone once the task has ended.
    socket: Weak<W>,
    /// The context the task encodes with once it has taken every command sent so far.
    ctx: EncodeContext,
    remote: IpAddr,
}

impl<W: WriteHalf> Writer<W> {
    /// The handle and the writer task (to spawn) for `wr`. The task reports
    /// [`ConnEvent::Drained`] when its queue falls below [`QUEUE_LOW`]; it ends after
    /// [`Writer::close`], on a write error, or when the handle is dropped.
    pub fn new(
        wr: W,
        events: mpsc::Sender<ConnEvent>,
        remote: IpAddr,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let wr = Arc::new(wr);
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Queued::default();
        let handle = Self {
            cmds: tx,
            queued: queued.clone(),
            socket: Arc::downgrade(&wr),
            ctx: EncodeContext::default(),
            remote,
        };
        (handle, run(wr, rx, queued, events, remote))
    }

    /// Messages handed to the task and not yet written.
    pub fn queued(&self) -> usize {
        self.queued.get()
    }

    /// Encodes messages sent from now on with `ctx`.
    pub fn set_context(&mut self, ctx: EncodeContext) {
        self.ctx = ctx;
        let _ = self.cmds.send(WriterCmd::Context(ctx));
    }

    /// Sends `msgs`: written now from the caller's task when the writer task has
    /// nothing queued and there are at most [`DIRECT_MAX`] (encoded into `scratch`),
    /// otherwise queued to the task.
    pub fn send(&self, msgs: Vec<Message>, scratch: &mut BytesMut) {
        if msgs.len() <= DIRECT_MAX && self.queued.get() == 0 {
            if let Some(wr) = self.socket.upgrade() {
                scratch.clear();
                encode_all(&msgs, &self.ctx, scratch, self.remote);
                if scratch.is_empty() {
                    return;
                }
                // An error other than a full socket reaches the task too, which logs it
                // and ends like any failed write.
                let done = wr.try_write(scratch).unwrap_or(0);
                if done < scratch.len() {
                    self.queued.add(1);
                    let rest = BytesMut::from(&scratch[done..]);
                    let _ = self.cmds.send(WriterCmd::Rest(rest));
                }
                return;
            }
        }
        self.queued.add(msgs.len());
        let _ = self.cmds.send(WriterCmd::Send(msgs));
    }

    /// Lets the task write what is queued, then close the connection.
    pub fn close(self) {
        let _ = self.cmds.send(WriterCmd::Close);
    }
}

fn encode_all(msgs: &[Message], ctx: &EncodeContext, out: &mut BytesMut, remote: IpAddr) {
    for m in msgs {
        if let Err(e) = encode_message(m, ctx, out) {
            tracing::warn!(peer = %remote, "cannot encode {}: {e}", m.kind().name());
        }
    }
}

async fn write_all<W: WriteHalf>(wr: &W, buf: &[u8]) -> io::Result<()> {
    let mut at = 0;
    while at < buf.len() {
        match wr.try_write(&buf[at..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wr.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The writer task: encodes the commands queued at once into one buffer (up to
/// [`WRITE_CHUNK`]) and writes it.
async fn run<W: WriteHalf>(
    wr: Arc<W>,
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
                    encode_all(&msgs, &ctx, &mut out, remote);
                }
                WriterCmd::Rest(bytes) => {
                    count += 1;
                    out.extend_from_slice(&bytes);
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
            if let Err(e) = write_all(&*wr, &out).await {
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
            // The handle went with the Close, so this is the only holder (dropping the
            // half closes our side too, should a direct write still hold it).
            if let Some(mut w) = Arc::into_inner(wr) {
                let _ = w.shutdown().await;
            }
            return;
        }
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
pub(super) mod tests;
