//! Unit tests of the writer: one write for many messages, direct writes when idle, the
//! owner's order kept when the socket takes a direct write only in part.

use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

use super::*;
use crate::wire::codec::decode_message;
use crate::wire::{AsPath, DecodeContext, Nlri, PathAttributes, Update};

pub(in crate::speaker) fn four_octet_update() -> Update {
    update("10.1.0.0/16")
}

fn update(prefix: &str) -> Update {
    Update {
        attributes: PathAttributes {
            origin: Some(crate::wire::Origin::Igp),
            as_path: Some(AsPath::sequence(vec![4_200_000_000])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..PathAttributes::default()
        }
        .into(),
        nlri: [Nlri::new(prefix.parse().expect("prefix"))].into(),
        ..Update::default()
    }
}

/// What the fake socket saw.
#[derive(Default)]
struct Seen {
    bytes: Vec<u8>,
    writes: usize,
    shut: bool,
    /// Octets the socket takes before it is full (`None`: no limit); cleared when the
    /// writer waits for it to become writable.
    room: Option<usize>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Seen>>);

impl Recorder {
    fn seen<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        f(&mut self.0.lock().expect("lock"))
    }
}

impl WriteHalf for Recorder {
    fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        self.seen(|s| {
            let n = s.room.map_or(buf.len(), |r| r.min(buf.len()));
            if n == 0 {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            s.room = s.room.map(|r| r - n);
            s.bytes.extend_from_slice(&buf[..n]);
            s.writes += 1;
            Ok(n)
        })
    }
    fn writable(&self) -> impl Future<Output = std::io::Result<()>> + Send {
        self.seen(|s| s.room = None);
        std::future::ready(Ok(()))
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.try_write(buf))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.seen(|s| s.shut = true);
        Poll::Ready(Ok(()))
    }
}

fn four() -> EncodeContext {
    EncodeContext {
        four_octet_as: true,
        ..EncodeContext::default()
    }
}

/// The UPDATEs in `bytes`, in order (every message must decode).
fn decoded(bytes: &[u8]) -> Vec<Update> {
    let ctx = DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    };
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        let (msg, used) = decode_message(&bytes[at..], &ctx).expect("decodes");
        match msg {
            Message::Update(u) => out.push(u),
            other => panic!("not an UPDATE: {other:?}"),
        }
        at += used;
    }
    out
}

/// A writer on `rec` with the 4-octet context set, its task (not running yet), and an
/// encoding buffer for direct writes.
fn writer(rec: &Recorder) -> (Writer<Recorder>, impl Future<Output = ()>, BytesMut) {
    let (ev_tx, _ev_rx) = mpsc::channel(16);
    let (mut w, task) = Writer::new(rec.clone(), ev_tx, "192.0.2.1".parse().expect("ip"));
    w.set_context(four());
    (w, task, BytesMut::new())
}

#[tokio::test]
async fn writer_encodes_queued_batches_into_one_write_and_closes() {
    let rec = Recorder::default();
    // Everything is queued before the writer runs: 10 batches of 100 UPDATEs.
    let (w, task, mut scratch) = writer(&rec);
    for _ in 0..10 {
        w.send(
            vec![Message::Update(four_octet_update()); 100],
            &mut scratch,
        );
    }
    assert_eq!(w.queued(), 1000);
    let queued = w.queued.clone();
    w.close();
    task.await;

    let (bytes, writes, shut) = rec.seen(|s| (s.bytes.clone(), s.writes, s.shut));
    assert_eq!(writes, 1, "1,000 UPDATEs in one write");
    assert!(shut, "closed after writing");
    assert_eq!(queued.get(), 0);
    let updates = decoded(&bytes);
    assert_eq!(updates.len(), 1000);
    assert!(updates.iter().all(|u| *u == four_octet_update()));
}

#[tokio::test]
async fn a_small_batch_to_an_idle_writer_is_written_by_the_caller() {
    let rec = Recorder::default();
    let (w, task, mut scratch) = writer(&rec);
    // The task has not run: only a direct write can have put these on the socket.
    w.send(vec![Message::Update(update("10.1.0.0/16"))], &mut scratch);
    w.send(
        vec![Message::Update(update("10.2.0.0/16")); 2],
        &mut scratch,
    );
    assert_eq!(w.queued(), 0);
    let (bytes, writes) = rec.seen(|s| (s.bytes.clone(), s.writes));
    assert_eq!(writes, 2, "one write a batch");
    let updates = decoded(&bytes);
    assert_eq!(updates.len(), 3);
    assert_eq!(updates[0], update("10.1.0.0/16"));
    assert_eq!(updates[2], update("10.2.0.0/16"));

    // A batch larger than DIRECT_MAX goes to the task.
    w.send(
        vec![Message::Update(update("10.3.0.0/16")); DIRECT_MAX + 1],
        &mut scratch,
    );
    assert_eq!(w.queued(), DIRECT_MAX + 1);
    assert_eq!(rec.seen(|s| s.writes), 2);
    w.close();
    task.await;
    assert_eq!(
        decoded(&rec.seen(|s| s.bytes.clone())).len(),
        3 + DIRECT_MAX + 1
    );
}

#[tokio::test]
async fn the_rest_of_a_partial_direct_write_goes_out_before_anything_later() {
    let rec = Recorder::default();
    let (w, task, mut scratch) = writer(&rec);
    // The socket takes 10 octets of the first UPDATE, then is full.
    rec.seen(|s| s.room = Some(10));
    w.send(vec![Message::Update(update("10.1.0.0/16"))], &mut scratch);
    assert_eq!(w.queued(), 1, "the rest is queued");
    assert_eq!(rec.seen(|s| s.bytes.len()), 10);
    // The socket has room again, but later messages queue behind the rest, small or not.
    rec.seen(|s| s.room = None);
    w.send(vec![Message::Update(update("10.2.0.0/16"))], &mut scratch);
    w.send(
        vec![Message::Update(update("10.3.0.0/16")); 20],
        &mut scratch,
    );
    assert_eq!(w.queued(), 22);
    assert_eq!(
        rec.seen(|s| s.bytes.len()),
        10,
        "nothing written past the rest"
    );
    w.close();
    task.await;

    let updates = decoded(&rec.seen(|s| s.bytes.clone()));
    let prefixes: Vec<String> = updates
        .iter()
        .map(|u| u.nlri[0].prefix.to_string())
        .collect();
    assert_eq!(prefixes.len(), 22);
    assert_eq!(prefixes[0], "10.1.0.0/16");
    assert_eq!(prefixes[1], "10.2.0.0/16");
    assert!(prefixes[2..].iter().all(|p| p == "10.3.0.0/16"));
}

#[tokio::test]
async fn sends_after_the_task_ended_are_dropped_quietly() {
    let rec = Recorder::default();
    let (w, task, mut scratch) = writer(&rec);
    drop(task);
    w.send(vec![Message::Update(four_octet_update())], &mut scratch);
    assert_eq!(rec.seen(|s| s.writes), 0, "no socket once the task is gone");
}
