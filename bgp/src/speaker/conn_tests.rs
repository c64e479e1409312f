//! Unit tests of the reader and writer tasks over in-memory streams: batching, the
//! pause after the peer's OPEN, malformed input, one write for many messages.

use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::wire::codec::decode_message;
use crate::wire::{AsPath, ErrorCode, MessageHeaderError, Nlri, Open, PathAttributes, Update};

fn encode(msgs: &[Message], ctx: &EncodeContext) -> Vec<u8> {
    let mut out = BytesMut::new();
    for m in msgs {
        encode_message(m, ctx, &mut out).expect("encode");
    }
    out.to_vec()
}

fn four_octet_update() -> Update {
    Update {
        attributes: PathAttributes {
            origin: Some(crate::wire::Origin::Igp),
            as_path: Some(AsPath::sequence(vec![4_200_000_000])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..PathAttributes::default()
        }
        .into(),
        nlri: [Nlri::new("10.1.0.0/16".parse().expect("prefix"))].into(),
        ..Update::default()
    }
}

async fn next(rx: &mut mpsc::Receiver<ConnEvent>) -> ConnEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event in time")
        .expect("reader alive")
}

#[tokio::test]
async fn reader_pauses_after_open_then_decodes_with_the_negotiated_context() {
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let (tx, mut rx) = mpsc::channel(16);
    let (ctx_tx, ctx_rx) = oneshot::channel();
    let (_stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(reader(7, ConnId(3), server, tx, budget(), ctx_rx, stop_rx));

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
            assert_eq!(msgs, vec![Message::Open(open)], "the OPEN alone");
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
            assert_eq!(msgs.last(), Some(&Message::Update(four_octet_update())));
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
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let (tx, mut rx) = mpsc::channel(16);
    let (_ctx_tx, ctx_rx) = oneshot::channel();
    let (_stop_tx, stop_rx) = oneshot::channel();
    tokio::spawn(reader(0, ConnId(0), server, tx, budget(), ctx_rx, stop_rx));
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

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<(Vec<u8>, usize, bool)>>);

impl AsyncWrite for Recorder {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut g = self.0.lock().expect("lock");
        g.0.extend_from_slice(buf);
        g.1 += 1;
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.0.lock().expect("lock").2 = true;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn writer_encodes_queued_batches_into_one_write_and_closes() {
    let rec = Recorder::default();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, _ev_rx) = mpsc::channel(16);
    let queued = Queued::default();
    let four = EncodeContext {
        four_octet_as: true,
        ..EncodeContext::default()
    };
    // Everything is queued before the writer runs: 10 batches of 100 UPDATEs.
    cmd_tx.send(WriterCmd::Context(four)).expect("send");
    for _ in 0..10 {
        let msgs = vec![Message::Update(four_octet_update()); 100];
        queued.add(msgs.len());
        cmd_tx.send(WriterCmd::Send(msgs)).expect("send");
    }
    cmd_tx.send(WriterCmd::Close).expect("send");
    writer(
        rec.clone(),
        cmd_rx,
        queued.clone(),
        ev_tx,
        "192.0.2.1".parse().expect("ip"),
    )
    .await;

    let (bytes, writes, shut) = rec.0.lock().expect("lock").clone();
    assert_eq!(writes, 1, "1,000 UPDATEs in one write");
    assert!(shut, "closed after writing");
    assert_eq!(queued.get(), 0);
    let ctx = DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    };
    let (mut at, mut n) = (0, 0);
    while at < bytes.len() {
        let (msg, used) = decode_message(&bytes[at..], &ctx).expect("decodes");
        assert_eq!(msg, Message::Update(four_octet_update()));
        at += used;
        n += 1;
    }
    assert_eq!(n, 1000);
}

fn budget() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(READ_BUDGET))
}
