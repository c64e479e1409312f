//! Unit tests of the writer task: one write for many messages.

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
