//! The per-connection reader: reads, frames and decodes the peer's messages and hands
//! them to the owner task in batches, within a read budget shared by all connections
//! of a speaker. It holds no protocol state; the owner tells it the negotiated decode
//! context after the OPEN exchange.

#[cfg(test)]
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::conn::ConnEvent;
use crate::session::ConnId;
use crate::wire::codec::{decode_message_cached, decode_one_cached, AttrCache};
use crate::wire::{DecodeContext, DecodeError, Message, Nlri, Notification, PathAttributes};

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

/// Batches handed back to their reader.
type Returned = Arc<Mutex<Vec<Parts>>>;

/// Fewest messages a batch must hold to go back to its reader when dropped (a single
/// UPDATE's batch is freed where it is handled).
const RETURN_MIN: usize = 256;

/// A clean UPDATE of one IPv4 prefix whose attribute list the session sent before (see
/// [`Batch`]): 16 octets instead of a decoded message's 112, and no reference taken on
/// the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct One {
    /// The attribute list's number in the session's attribute cache ([`Batch::new_sets`]).
    pub set: u32,
    /// The prefix.
    pub nlri: Nlri,
}

/// What a batch is made of; kept for reuse when the batch comes back.
#[derive(Debug, Default)]
pub struct Parts {
    msgs: Vec<Message>,
    ones: Vec<One>,
    /// How many of `ones` come before each message of `msgs`.
    ones_before: Vec<u32>,
    /// The sets numbered for the first time in this batch, by number.
    sets: Vec<(u32, Arc<PathAttributes>)>,
    /// The attribute cache's generation the numbers belong to.
    generation: u32,
}

impl Parts {
    fn len(&self) -> usize {
        self.msgs.len() + self.ones.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn clear(&mut self) {
        self.msgs.clear();
        self.ones.clear();
        self.ones_before.clear();
        self.sets.clear();
    }

    /// Appends a message (decoded into `msgs` already) to the order.
    fn pushed_msg(&mut self) {
        self.ones_before.push(self.ones.len() as u32);
    }
}

/// One item of a [`Batch`], in the order the peer sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// The message at this index of [`Batch::msgs`].
    Msg(usize),
    /// A one-prefix UPDATE.
    One(One),
}

/// Decoded messages on their way to the owner. A large batch, dropped, goes back to
/// its reader, which drops the messages and reuses the allocation: the attribute sets
/// the messages share were cloned on the reader's thread (from its attribute cache) and
/// are released there too, so during a bulk transfer, where reader and owner run on
/// two cores, a set's reference count does not travel between them with every UPDATE.
///
/// A clean UPDATE of one IPv4 prefix whose attribute list the session's cache holds (a
/// full table from BIRD is almost only these) comes as a [`One`]: the list's number and
/// the prefix. The batch carries the sets numbered for the first time in it
/// ([`Batch::new_sets`]); a number keeps its set until [`Batch::generation`] changes.
#[derive(Debug, Default)]
pub struct Batch {
    parts: Parts,
    back: Option<Returned>,
}

impl Batch {
    /// A batch of these messages alone.
    #[cfg(test)]
    pub fn of(msgs: Vec<Message>) -> Self {
        let mut parts = Parts {
            msgs,
            ..Parts::default()
        };
        parts.ones_before = vec![0; parts.msgs.len()];
        Batch { parts, back: None }
    }

    /// The messages that are not [`One`]s.
    pub fn msgs(&self) -> &[Message] {
        &self.parts.msgs
    }

    /// A message of [`Batch::msgs`], to take it.
    pub fn msg_mut(&mut self, i: usize) -> Option<&mut Message> {
        self.parts.msgs.get_mut(i)
    }

    /// The one-prefix UPDATEs.
    pub fn ones(&self) -> &[One] {
        &self.parts.ones
    }

    /// Messages and one-prefix UPDATEs together.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// How many one-prefix UPDATEs come before message `m` of [`Batch::msgs`] (all of
    /// them for `m` past the last message).
    pub fn ones_before(&self, m: usize) -> usize {
        let p = &self.parts;
        p.ones_before.get(m).map_or(p.ones.len(), |&b| b as usize)
    }

    /// The items from message `m` and one-prefix UPDATE `o` on, in the order the peer
    /// sent them (`o` at most [`Batch::ones_before`] `m`).
    pub fn items_from(&self, mut m: usize, mut o: usize) -> impl Iterator<Item = Item> + '_ {
        std::iter::from_fn(move || {
            if o < self.ones_before(m) {
                o += 1;
                return self.parts.ones.get(o - 1).map(|&one| Item::One(one));
            }
            (m < self.parts.msgs.len()).then(|| {
                m += 1;
                Item::Msg(m - 1)
            })
        })
    }

    /// The sets numbered for the first time in this batch.
    pub fn new_sets(&self) -> &[(u32, Arc<PathAttributes>)] {
        &self.parts.sets
    }

    /// Which numbering the [`One`]s' set numbers belong to.
    pub fn generation(&self) -> u32 {
        self.parts.generation
    }
}

/// The sets a connection's reader numbered ([`Batch::new_sets`]), as their receiver keeps
/// them: by number, each with a value of the receiver's (`T`).
#[derive(Debug)]
pub struct Numbered<T> {
    generation: u32,
    sets: Vec<Option<(Arc<PathAttributes>, T)>>,
}

impl<T> Default for Numbered<T> {
    fn default() -> Self {
        Self {
            generation: 0,
            sets: Vec::new(),
        }
    }
}

impl<T: Default + Clone> Numbered<T> {
    /// Takes the sets batch `b` numbers for the first time (all numbers start over when
    /// its generation is not the one before).
    pub fn take(&mut self, b: &Batch) {
        if b.ones().is_empty() && b.new_sets().is_empty() {
            return;
        }
        if b.generation() != self.generation {
            self.sets.clear();
            self.generation = b.generation();
        }
        for (no, set) in b.new_sets() {
            let i = *no as usize;
            if self.sets.len() <= i {
                self.sets.resize(i + 1, None);
            }
            if let Some(e) = self.sets.get_mut(i) {
                *e = Some((Arc::clone(set), T::default()));
            }
        }
    }

    /// Set `no` and its value.
    pub fn get_mut(&mut self, no: u32) -> Option<(&Arc<PathAttributes>, &mut T)> {
        let (set, value) = self.sets.get_mut(no as usize)?.as_mut()?;
        Some((set, value))
    }

    /// The UPDATE a one-prefix UPDATE stands for.
    pub fn update(&self, one: &One) -> Option<Message> {
        let (set, _) = self.sets.get(one.set as usize)?.as_ref()?;
        let mut u = crate::wire::Update {
            attributes: Arc::clone(set),
            ..Default::default()
        };
        u.nlri.push(one.nlri);
        Some(Message::Update(u))
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(back) = self.back.take() {
            if let Ok(mut returned) = back.lock() {
                returned.push(std::mem::take(&mut self.parts));
            }
        }
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
        returned: Returned::default(),
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
    returned: Returned,
}

impl Out {
    /// A batch the owner has handled and dropped, emptied here, for reuse.
    fn reuse(&self) -> Option<Parts> {
        let mut v = self.returned.lock().ok()?.pop()?;
        v.clear();
        Some(v)
    }

    /// Drops the messages of the batches the owner has handed back (before the reader
    /// waits: an idle session keeps none).
    fn release_returned(&self) {
        let returned = self.returned.lock().map(|mut r| std::mem::take(&mut *r));
        drop(returned);
    }

    /// Hands a batch of `bytes` wire octets to the owner once the read budget allows;
    /// `false` when the owner is gone.
    async fn send(&self, parts: Parts, bytes: usize) -> bool {
        let want = u32::try_from(bytes.clamp(1, READ_BUDGET)).unwrap_or(u32::MAX);
        let Ok(permit) = self.budget.clone().acquire_many_owned(want).await else {
            return false;
        };
        let back = (parts.len() >= RETURN_MIN).then(|| self.returned.clone());
        let ev = ConnEvent::Messages {
            peer: self.peer,
            conn: self.conn,
            msgs: Batch { parts, back },
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

/// How long a reader in bulk mode waits for more octets before it gives its thread back
/// to the runtime (see [`read_loop`]).
const BULK_IDLE: Duration = Duration::from_millis(5);

/// Readers' numbers, to tell them apart in [`Streams`].
static NEXT_READER: AtomicU32 = AtomicU32::new(1);

/// Whole batches two readers sent within this of each other: more than one peer is
/// sending in bulk (a fan-in).
const CONTENDED_GAP: Duration = Duration::from_millis(50);
/// How long after that no reader goes into (or stays in) bulk mode.
const CONTENDED_HOLD: Duration = Duration::from_millis(200);

/// Which readers of the process send whole batches, and which one is in bulk mode.
/// Bulk mode helps one peer's table
/// (the owner gets a core of its own); with several peers sending at once the owner is
/// busy anyway and a reader's extra thread only takes CPU from it (10 peers' tables:
/// 12.4 and 17.3 s with one reader in bulk mode against 9.3 and 11.9 s without).
#[derive(Debug, Default)]
struct Streams {
    /// The reader that sent the last whole batch, and when.
    last: Option<(u32, Instant)>,
    /// No bulk mode before this.
    contended_until: Option<Instant>,
    /// The reader in bulk mode: one per process (ten readers each on a thread of its
    /// own crowded out the owner: 10 peers' tables in 18 s instead of 11).
    bulk: Option<u32>,
}

impl Streams {
    /// Notes that reader `id` sent a whole batch at `now`; whether bulk mode is open
    /// to it.
    fn full_batch(&mut self, id: u32, now: Instant) -> bool {
        if let Some((other, at)) = self.last {
            if other != id && now.saturating_duration_since(at) < CONTENDED_GAP {
                self.contended_until = Some(now + CONTENDED_HOLD);
            }
        }
        self.last = Some((id, now));
        self.contended_until.is_none_or(|t| now >= t)
    }

    /// Makes reader `id` the one in bulk mode, unless another one is.
    fn claim(&mut self, id: u32) -> bool {
        let free = self.bulk.is_none();
        if free {
            self.bulk = Some(id);
        }
        free
    }

    fn release(&mut self, id: u32) {
        if self.bulk == Some(id) {
            self.bulk = None;
        }
    }
}

static STREAMS: Mutex<Streams> = Mutex::new(Streams {
    last: None,
    contended_until: None,
    bulk: None,
});

/// [`Streams::full_batch`] for the process.
fn full_batch(id: u32) -> bool {
    STREAMS
        .lock()
        .is_ok_and(|mut s| s.full_batch(id, Instant::now()))
}

/// Bulk passes begun (for tests).
#[cfg(test)]
static BULK_PASSES: AtomicUsize = AtomicUsize::new(0);

/// Reader `.0` is the one in bulk mode ([`Streams::claim`]) until this is dropped.
struct BulkReader(u32);

impl BulkReader {
    fn claim(id: u32) -> Option<BulkReader> {
        STREAMS
            .lock()
            .is_ok_and(|mut s| s.claim(id))
            .then_some(BulkReader(id))
    }
}

impl Drop for BulkReader {
    fn drop(&mut self) {
        if let Ok(mut s) = STREAMS.lock() {
            s.release(self.0);
        }
    }
}

/// How a pass of [`Reading::pass`] ended.
enum Pass {
    /// The reader is done, for this reason.
    Stop(&'static str),
    /// A whole batch of many messages was there at once: the peer sends faster than we
    /// read.
    Bulk,
    /// (Bulk mode) nothing came for [`BULK_IDLE`], or another reader is sending in
    /// bulk too.
    Idle,
}

/// A reader's state between passes.
struct Reading {
    /// This reader's number ([`Streams`]).
    id: u32,
    ctx: DecodeContext,
    /// Until the OPEN exchange is done: where the negotiated context comes from.
    negotiated: Option<oneshot::Receiver<DecodeContext>>,
    /// The attribute lists this session sent, decoded (made for the negotiated context).
    attr_cache: AttrCache,
    buf: BytesMut,
    /// A batch starts at the size of the one before (messages, one-prefix UPDATEs):
    /// growing it would copy its messages (112 octets each) at every doubling.
    hint: (usize, usize),
    batch: Parts,
    bytes: usize,
    /// The set numbers of the cache's generation `given_gen` the owner has been given
    /// (one bit each).
    given: Vec<u64>,
    given_gen: u32,
}

impl Reading {
    /// Allocates the batch (a returned one if there is one).
    fn start_batch(&mut self, out: &Out) {
        match out.reuse() {
            Some(p) => self.batch = p,
            None => {
                self.batch.msgs.reserve_exact(self.hint.0);
                self.batch.ones_before.reserve_exact(self.hint.0);
                self.batch.ones.reserve_exact(self.hint.1);
            }
        }
    }

    /// Decodes the message at the front of the buffer into the batch; the octets it
    /// took.
    fn decode_next(&mut self) -> Result<usize, DecodeError> {
        if self.negotiated.is_some() {
            let used = decode_message_cached(&self.buf, &self.ctx, &mut self.batch.msgs, None)?;
            self.batch.pushed_msg();
            return Ok(used);
        }
        if let Some((set, nlri, used)) =
            decode_one_cached(&self.buf, &self.ctx, &mut self.attr_cache)
        {
            self.give(set);
            self.batch.ones.push(One { set, nlri });
            return Ok(used);
        }
        let cache = Some(&mut self.attr_cache);
        let used = decode_message_cached(&self.buf, &self.ctx, &mut self.batch.msgs, cache)?;
        self.batch.pushed_msg();
        Ok(used)
    }

    /// Adds set `no` to the batch unless the owner has it already.
    fn give(&mut self, no: u32) {
        self.batch.generation = self.attr_cache.generation();
        let (word, bit) = ((no / 64) as usize, 1u64 << (no % 64));
        if self.given.len() <= word {
            self.given.resize(word + 1, 0);
        }
        let Some(w) = self.given.get_mut(word) else {
            return;
        };
        if *w & bit == 0 {
            if let Some(set) = self.attr_cache.set(no) {
                *w |= bit;
                self.batch.sets.push((no, Arc::clone(set)));
            }
        }
    }

    /// Whether the cache's numbers started over since the batch's one-prefix UPDATEs
    /// were numbered: the batch must go before any other is added.
    fn renumbered(&mut self) -> bool {
        let now = self.attr_cache.generation();
        if now == self.given_gen {
            return false;
        }
        self.given.clear();
        self.given_gen = now;
        !self.batch.ones.is_empty() || !self.batch.sets.is_empty()
    }
}

/// Reads, decodes and hands over batches until the connection ends.
///
/// A bulk transfer (a peer's whole table) would otherwise keep the reader and the owner
/// on one worker thread taking turns: the owner, woken from the reader's worker, runs
/// there next (tokio's LIFO slot). Once a whole batch of at least [`RETURN_MIN`]
/// messages was waiting in the socket, the reader moves off the worker
/// (`block_in_place`) and decodes on its own thread while the owner runs on a worker,
/// until the peer pauses for [`BULK_IDLE`]; a single UPDATE (propagation) is read and
/// handled as before, without a thread hop.
async fn read_loop<R: AsyncRead + Unpin>(
    out: &Out,
    rd: &mut R,
    negotiated: oneshot::Receiver<DecodeContext>,
    stop: &mut oneshot::Receiver<()>,
) -> &'static str {
    let mut st = Reading {
        id: NEXT_READER.fetch_add(1, Ordering::Relaxed),
        ctx: DecodeContext::default(),
        negotiated: Some(negotiated),
        attr_cache: AttrCache::new(),
        buf: BytesMut::with_capacity(READ_CHUNK),
        hint: (16, 0),
        batch: Parts::default(),
        bytes: 0,
        given: Vec::new(),
        given_gen: 0,
    };
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    loop {
        match st.pass(out, rd, stop, false).await {
            Pass::Stop(why) => return why,
            Pass::Bulk if multi_thread => {
                let Some(_only) = BulkReader::claim(st.id) else {
                    continue;
                };
                #[cfg(test)]
                BULK_PASSES.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(peer = out.peer, "reader in bulk mode");
                let handle = tokio::runtime::Handle::current();
                let bulk = st.pass(out, rd, stop, true);
                if let Pass::Stop(why) = tokio::task::block_in_place(|| handle.block_on(bulk)) {
                    return why;
                }
            }
            Pass::Bulk | Pass::Idle => {}
        }
    }
}

impl Reading {
    /// Decodes what is buffered and reads more, until the connection ends, or (not in
    /// bulk mode) a whole batch was waiting, or (in bulk mode) the peer paused.
    async fn pass<R: AsyncRead + Unpin>(
        &mut self,
        out: &Out,
        rd: &mut R,
        stop: &mut oneshot::Receiver<()>,
        bulk: bool,
    ) -> Pass {
        loop {
            loop {
                // Messages are decoded in place in the batch; it is allocated once a
                // whole message is there (an idle session holds none).
                if self.batch.msgs.capacity() == 0
                    && self.batch.ones.capacity() == 0
                    && whole_message_at_front(&self.buf)
                {
                    self.start_batch(out);
                }
                let have_ctx = self.negotiated.is_none();
                match self.decode_next() {
                    Ok(used) => {
                        self.buf.advance(used);
                        self.bytes += used;
                        let open = matches!(self.batch.msgs.last(), Some(Message::Open(_)));
                        if let Some(negotiated) = self.negotiated.as_mut().filter(|_| open) {
                            let msgs = std::mem::take(&mut self.batch);
                            if !out.send(msgs, std::mem::take(&mut self.bytes)).await {
                                return Pass::Stop("owner gone");
                            }
                            let c = tokio::select! {
                                c = negotiated => c,
                                _ = &mut *stop => return Pass::Stop("stopped while waiting for the decode context"),
                            };
                            match c {
                                Ok(c) => {
                                    self.ctx = c;
                                    self.negotiated = None;
                                }
                                // The owner refused the OPEN and dropped the connection.
                                Err(_) => return Pass::Stop("OPEN refused"),
                            }
                        } else if self.renumbered()
                            || self.batch.len() >= READ_BATCH
                            || self.bytes >= READ_BATCH_BYTES
                        {
                            self.hint = (self.batch.msgs.len(), self.batch.ones.len());
                            let msgs = std::mem::take(&mut self.batch);
                            if !out.send(msgs, std::mem::take(&mut self.bytes)).await {
                                return Pass::Stop("owner gone");
                            }
                            // Many small messages: their decoding is worth overlapping.
                            // A batch of a few large UPDATEs (GoBGP packs ~200 prefixes
                            // in one) is mostly the owner's work, and moving it between
                            // cores costs more than the overlap buys.
                            let many = have_ctx && self.hint.0 + self.hint.1 >= RETURN_MIN;
                            let open = many && full_batch(self.id);
                            if bulk && !open {
                                return Pass::Idle;
                            }
                            if !bulk && open {
                                return Pass::Bulk;
                            }
                        }
                    }
                    Err(DecodeError::Incomplete { .. }) => break,
                    Err(e @ DecodeError::Malformed { .. }) => {
                        if !self.batch.is_empty() {
                            out.send(std::mem::take(&mut self.batch), self.bytes).await;
                        }
                        out.fail(e.notification().cloned(), e.to_string()).await;
                        return Pass::Stop("malformed message");
                    }
                }
            }
            if !self.batch.is_empty() {
                // Exact, as after a whole batch: an everyday UPDATE is one message (or
                // one prefix, kept in `ones` with no message at all), and a reservation
                // of 16 messages (1,792 octets) is past glibc's thread cache, where each
                // one consolidated the freed small chunks first.
                self.hint = (self.batch.msgs.len(), self.batch.ones.len());
                let msgs = std::mem::take(&mut self.batch);
                if !out.send(msgs, std::mem::take(&mut self.bytes)).await {
                    return Pass::Stop("owner gone");
                }
            }
            self.buf.reserve(READ_CHUNK);
            let read = async {
                tokio::select! {
                    r = rd.read_buf(&mut self.buf) => Some(r),
                    _ = &mut *stop => None,
                }
            };
            let read = if bulk {
                match tokio::time::timeout(BULK_IDLE, read).await {
                    Ok(r) => r,
                    Err(_) => return Pass::Idle,
                }
            } else {
                out.release_returned();
                read.await
            };
            match read {
                None => return Pass::Stop("stopped"),
                Some(Ok(0)) => {
                    out.fail(None, "closed by peer".into()).await;
                    return Pass::Stop("closed by peer");
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    out.fail(None, e.to_string()).await;
                    return Pass::Stop("read error");
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
