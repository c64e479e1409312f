//! Unit tests of the reader task over in-memory streams: batching, the pause after the
//! peer's OPEN, malformed input, bulk mode, batches handed back.

use std::net::Ipv4Addr;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::speaker::writer::tests::four_octet_update;
use crate::wire::codec::encode_message;
use crate::wire::{EncodeContext, ErrorCode, MessageHeaderError, Nlri, Open};

fn encode(msgs: &[Message], ctx: &EncodeContext) -> Vec<u8> {
    let mut out = BytesMut::new();
    for m in msgs {
        encode_message(m, ctx, &mut out).expect("encode");
    }
    out.to_vec()
}

/// The messages batch `b` stands for, in order, its one-prefix UPDATEs whole again with
/// the sets given so far (kept across batches, as the owner keeps them per connection).
fn expand(given: &mut Numbered<()>, b: &Batch) -> Vec<Message> {
    given.take(b);
    b.items_from(0, 0)
        .map(|item| match item {
            Item::Msg(i) => b.msgs()[i].clone(),
            Item::One(one) => given.update(&one).expect("set given before"),
        })
        .collect()
}

async fn next(rx: &mut mpsc::Receiver<ConnEvent>) -> ConnEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event in time")
        .expect("reader alive")
}

/// A reader task on one end of an in-memory stream, and the test's ends of its
/// channels.
struct Lab {
    client: tokio::io::DuplexStream,
    rx: mpsc::Receiver<ConnEvent>,
    ctx_tx: oneshot::Sender<DecodeContext>,
    stop_tx: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn start(peer: usize, conn: ConnId, capacity: usize) -> Lab {
    let (client, server) = tokio::io::duplex(capacity);
    let (tx, rx) = mpsc::channel(16);
    let (ctx_tx, ctx_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(reader(peer, conn, server, tx, budget(), ctx_rx, stop_rx));
    Lab {
        client,
        rx,
        ctx_tx,
        stop_tx,
        task,
    }
}

/// Held by the tests whose readers send whole batches: bulk mode is one per process and
/// closed while two readers send whole batches ([`Streams`]), so such tests would
/// disturb each other.
static WHOLE_BATCHES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A reader task past the OPEN exchange (its batch taken), decoding with 4-octet AS
/// numbers: the test's end of the stream, the events, the stop and the task.
async fn past_open(
    peer: usize,
    conn: ConnId,
    capacity: usize,
) -> (
    tokio::io::DuplexStream,
    mpsc::Receiver<ConnEvent>,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let Lab {
        mut client,
        mut rx,
        ctx_tx,
        stop_tx,
        task,
    } = start(peer, conn, capacity);
    let open = Open::new(65001, 90, Ipv4Addr::new(192, 0, 2, 1), Vec::new());
    let bytes = encode(&[Message::Open(open)], &EncodeContext::default());
    client.write_all(&bytes).await.expect("write");
    assert!(matches!(next(&mut rx).await, ConnEvent::Messages { .. }));
    let four = DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    };
    ctx_tx.send(four).expect("reader waiting");
    (client, rx, stop_tx, task)
}

#[tokio::test]
async fn reader_pauses_after_open_then_decodes_with_the_negotiated_context() {
    let Lab {
        mut client,
        mut rx,
        ctx_tx,
        stop_tx: _stop_tx,
        task,
    } = start(7, ConnId(3), 1 << 20);

    let open = Open::new(65001, 90, Ipv4Addr::new(192, 0, 2, 1), Vec::new());
    let mut bytes = encode(&[Message::Open(open.clone())], &EncodeContext::default());
    let four = EncodeContext {
        four_octet_as: true,
        ..EncodeContext::default()
    };
    let mut rest = vec![Message::Keepalive; 100];
    rest.push(Message::Update(four_octet_update()));
    bytes.extend(encode(&rest, &four));
    client.write_all(&bytes).await.expect("write");

    match next(&mut rx).await {
        ConnEvent::Messages {
            peer, conn, msgs, ..
        } => {
            assert_eq!((peer, conn), (7, ConnId(3)));
            assert_eq!(msgs.msgs(), [Message::Open(open)], "the OPEN alone");
        }
        other => panic!("{other:?}"),
    }
    // Nothing more until the owner has negotiated (decoding the UPDATE with 2-octet AS
    // numbers would misread it).
    assert!(tokio::time::timeout(Duration::from_millis(200), rx.recv())
        .await
        .is_err());
    ctx_tx
        .send(DecodeContext {
            four_octet_as: true,
            ..DecodeContext::default()
        })
        .expect("reader waiting");
    match next(&mut rx).await {
        ConnEvent::Messages { msgs, .. } => {
            assert_eq!(msgs.len(), 101, "one batch for everything that was read");
            let all = expand(&mut Numbered::default(), &msgs);
            assert_eq!(all.last(), Some(&Message::Update(four_octet_update())));
        }
        other => panic!("{other:?}"),
    }
    drop(client);
    assert!(matches!(
        next(&mut rx).await,
        ConnEvent::ReadFailed {
            notification: None,
            ..
        }
    ));
    task.await.expect("reader ends");
}

#[tokio::test]
async fn reader_reports_malformed_input_with_its_notification() {
    let Lab {
        mut client,
        mut rx,
        ctx_tx: _ctx_tx,
        stop_tx: _stop_tx,
        ..
    } = start(0, ConnId(0), 1 << 16);
    let mut bytes = vec![0u8; 16]; // marker not all ones
    bytes.extend([0, 19, 4]);
    client.write_all(&bytes).await.expect("write");
    match next(&mut rx).await {
        ConnEvent::ReadFailed {
            notification: Some(n),
            ..
        } => assert_eq!(
            n.error,
            ErrorCode::MessageHeader(MessageHeaderError::ConnectionNotSynchronized)
        ),
        other => panic!("{other:?}"),
    }
}

fn budget() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(READ_BUDGET))
}

/// UPDATE `i` of a bulk stream: its own /24, one attribute list for all.
fn nth_update(i: u32) -> Message {
    let mut u = four_octet_update();
    let prefix = Ipv4Addr::from(0x0a00_0000 | (i << 8));
    u.nlri = [Nlri::new(
        ipnet::Ipv4Net::new(prefix, 24).expect("prefix").into(),
    )]
    .into();
    Message::Update(u)
}

fn prefix_of(m: &Message) -> Option<ipnet::IpNet> {
    match m {
        Message::Update(u) => u.nlri.first().map(|n| n.prefix),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_in_bulk_mode_hands_over_everything_in_order_then_reads_as_before() {
    let _alone = WHOLE_BATCHES.lock().await;
    let (mut client, mut rx, stop_tx, task) = past_open(1, ConnId(1), 1 << 16).await;
    let before = BULK_PASSES.load(Ordering::Relaxed);

    // 20,000 UPDATEs (~1 MB) written as fast as the reader takes them: whole batches
    // wait in the stream, so the reader goes into bulk mode.
    const N: u32 = 20_000;
    let wire_ctx = EncodeContext {
        four_octet_as: true,
        ..EncodeContext::default()
    };
    let all: Vec<Message> = (0..N).map(nth_update).collect();
    let stream = encode(&all, &wire_ctx);
    let feeder = tokio::spawn(async move {
        client.write_all(&stream).await.expect("write");
        client
    });
    let (mut seen, mut returned, mut ones) = (0u32, 0, 0);
    let mut given = Numbered::default();
    while seen < N {
        match next(&mut rx).await {
            ConnEvent::Messages { msgs, .. } => {
                ones += msgs.ones().len();
                for m in &expand(&mut given, &msgs) {
                    assert_eq!(prefix_of(m), prefix_of(&nth_update(seen)), "in order");
                    seen += 1;
                }
                returned += usize::from(msgs.back.is_some());
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        BULK_PASSES.load(Ordering::Relaxed) > before,
        "whole batches waiting put the reader into bulk mode"
    );
    assert!(returned > 0, "large batches go back to the reader");
    assert_eq!(ones, N as usize - 1, "all but the first in compact form");

    // After a pause longer than BULK_IDLE a single UPDATE is read and handed over alone.
    let mut client = feeder.await.expect("feeder");
    tokio::time::sleep(BULK_IDLE * 10).await;
    client
        .write_all(&encode(&[nth_update(N)], &wire_ctx))
        .await
        .expect("write");
    match next(&mut rx).await {
        ConnEvent::Messages { msgs, .. } => {
            assert_eq!(msgs.len(), 1);
            let all = expand(&mut given, &msgs);
            assert_eq!(prefix_of(&all[0]), prefix_of(&nth_update(N)));
            assert!(
                msgs.back.is_none(),
                "a small batch is dropped where it is handled"
            );
        }
        other => panic!("{other:?}"),
    }
    stop_tx.send(()).expect("reader running");
    drop(client);
    task.await.expect("reader ends");
    assert!(BulkReader::claim(u32::MAX).is_some(), "bulk mode released");
}

#[tokio::test]
async fn a_dropped_batch_goes_back_to_its_reader_which_drops_the_messages() {
    let (tx, _rx) = mpsc::channel(16);
    let out = Out {
        peer: 0,
        conn: ConnId(0),
        events: tx,
        budget: budget(),
        returned: Returned::default(),
    };
    let Message::Update(u) = nth_update(1) else {
        panic!("an UPDATE");
    };
    let set = u.attributes.clone();
    let mut batch = Batch::of(vec![Message::Update(u); RETURN_MIN]);
    batch.back = Some(out.returned.clone());
    assert_eq!(Arc::strong_count(&set), RETURN_MIN + 1);
    drop(batch);
    assert_eq!(
        Arc::strong_count(&set),
        RETURN_MIN + 1,
        "the owner's drop keeps the messages for the reader"
    );
    let v = out.reuse().expect("the batch is back");
    assert!(v.is_empty() && v.msgs.capacity() >= RETURN_MIN);
    assert_eq!(Arc::strong_count(&set), 1, "released by the reader");
    assert!(out.reuse().is_none());
}

#[test]
fn bulk_mode_is_closed_while_two_readers_send_whole_batches() {
    let mut s = Streams::default();
    let t = std::time::Instant::now();
    let ms = Duration::from_millis;
    assert!(s.full_batch(1, t), "one reader sending");
    assert!(s.full_batch(1, t + ms(10)));
    assert!(!s.full_batch(2, t + ms(20)), "a second one within the gap");
    assert!(!s.full_batch(1, t + ms(30)), "closed to the first one too");
    assert!(
        !s.full_batch(1, t + ms(200)),
        "reader 2 stopped, but within the hold"
    );
    assert!(s.full_batch(1, t + ms(240)), "open again after the hold");
    assert!(s.full_batch(2, t + ms(400)), "another reader, long after");
}

/// One-prefix UPDATEs handed over by their attribute list's number keep their place
/// among the other messages, and each stands for its own set, also after the session's
/// attribute cache filled up and started over (new numbers).
#[tokio::test]
async fn one_prefix_updates_keep_their_order_and_sets_across_a_cache_start_over() {
    let _alone = WHOLE_BATCHES.lock().await;
    let (mut client, mut rx, stop_tx, task) = past_open(0, ConnId(0), 1 << 20).await;

    let prefix = |i: u32| {
        let p = Ipv4Addr::from(0x0a00_0000 | (i << 8));
        Nlri::new(ipnet::Ipv4Net::new(p, 24).expect("prefix").into())
    };
    // The list with MED `med`, announcing the prefixes `first..first + n`.
    let with_med = |med: u32, first: u32, n: u32| {
        let mut u = four_octet_update();
        let mut a = (*u.attributes).clone();
        a.med = Some(med);
        u.attributes = Arc::new(a);
        u.nlri = (first..first + n).map(prefix).collect();
        Message::Update(u)
    };
    const LISTS: u32 = AttrCache::MAX_SETS as u32;
    let mut sent = Vec::new();
    for i in 0..LISTS {
        sent.push(with_med(i, 2 * i, 1));
        sent.push(with_med(i, 2 * i + 1, 1));
        if i % 1000 == 7 {
            sent.push(Message::Keepalive);
            sent.push(with_med(i, 2 * i, 2));
            sent.push(Message::Update(crate::wire::Update {
                withdrawn: vec![prefix(2 * i)],
                ..Default::default()
            }));
            sent.push(with_med(i, 2 * i, 1));
        }
    }
    // A list numbered long ago, then one list more than the cache keeps: it starts
    // over, numbering from 0 again.
    let tail = [
        (3, 9000),
        (LISTS, 0),
        (LISTS, 1),
        (5, 2),
        (5, 3),
        (3, 9001),
        (LISTS, 4),
    ];
    for (med, first) in tail {
        sent.push(with_med(med, first, 1));
    }
    let wire_ctx = EncodeContext {
        four_octet_as: true,
        ..EncodeContext::default()
    };
    let stream = encode(&sent, &wire_ctx);
    let feeder = tokio::spawn(async move {
        client.write_all(&stream).await.expect("write");
        client
    });
    let (mut got, mut given, mut ones) = (Vec::new(), Numbered::default(), 0);
    let mut generations = std::collections::BTreeSet::new();
    while got.len() < sent.len() {
        match next(&mut rx).await {
            ConnEvent::Messages { msgs, .. } => {
                ones += msgs.ones().len();
                if !msgs.ones().is_empty() {
                    generations.insert(msgs.generation());
                }
                got.extend(expand(&mut given, &msgs));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(got == sent, "the same messages in the same order");
    assert!(ones >= LISTS as usize, "{ones} in compact form");
    assert_eq!(generations.len(), 2, "numbers started over once");
    stop_tx.send(()).expect("reader running");
    drop(feeder.await.expect("feeder"));
    task.await.expect("reader ends");
}
