//! Full-table ingest through the driver over real TCP in a lab namespace: a raw feeder
//! (pre-encoded UPDATEs, ~30 prefixes each, 5,000 attribute sets) sends N IPv4 /24s;
//! the test checks every prefix arrives and prints the time from Established until the
//! Loc-RIB holds them all. The default run uses 100,000 prefixes; the ignored variant
//! uses 1,000,000 (`cargo test --release -p bgp --test speaker_ingest -- --ignored
//! --nocapture`). Timing is reported, never asserted.

mod speaker_common;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp::rib::RouteAction;
use bgp::speaker::Speaker;
use bgp::wire::codec::encode_message;
use bgp::wire::{AsPath, EncodeContext, Message, Nlri, Origin, PathAttributes, Update};
use bgp::wire::{CeaseSubcode, ErrorCode};
use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net};
use speaker_common::*;
use tokio::io::AsyncWriteExt;

const FEEDER_AS: u32 = 65002;
const PER_UPDATE: usize = 30;
const ATTR_SETS: usize = 5000;

/// The feeder's whole table as one byte stream of UPDATEs.
fn table(n: usize) -> Vec<u8> {
    let ctx = EncodeContext {
        four_octet_as: true,
        ..EncodeContext::default()
    };
    let mut out = BytesMut::with_capacity(n * 6);
    let mut i = 0usize;
    let mut set = 0usize;
    while i < n {
        let count = PER_UPDATE.min(n - i);
        let nlri = (i..i + count)
            .map(|k| {
                // 1.0.0.0/24, 1.0.1.0/24, … : unique /24s.
                let base = (1u32 << 24) + ((k as u32) << 8);
                Nlri::new(IpNet::V4(
                    Ipv4Net::new(Ipv4Addr::from(base), 24).expect("/24"),
                ))
            })
            .collect();
        let attributes = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(vec![
                FEEDER_AS,
                100 + (set % ATTR_SETS) as u32,
            ])),
            next_hop: Some(Ipv4Addr::new(10, 0, 0, 2)),
            ..PathAttributes::default()
        };
        let u = Update {
            attributes: attributes.into(),
            nlri,
            ..Update::default()
        };
        encode_message(&Message::Update(u), &ctx, &mut out).expect("encode");
        i += count;
        set += 1;
    }
    out.to_vec()
}

fn ingest(n: usize) {
    let (_lab, ns) = lab_with_loopback("spk-ingest", &["10.0.0.1/32", "10.0.0.2/32"]);
    let bytes = table(n);
    in_netns(&ns, || async move {
        let mut p = passive(peer("10.0.0.2", FEEDER_AS, "10.0.0.1"));
        p.hold_time = Duration::from_secs(90);
        let (h, mut changes) = Speaker::start(speaker(65001, "10.0.0.1", p, &[]))
            .await
            .expect("speaker");
        // The agent's role: pull the changes in batches, count them.
        let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let c2 = counts.clone();
        let counted = tokio::spawn(async move {
            while let Some(batch) = changes.next(4096).await {
                for c in batch {
                    match c.action {
                        RouteAction::Install(_) => c2[0].fetch_add(1, Ordering::Relaxed),
                        RouteAction::Withdraw => c2[1].fetch_add(1, Ordering::Relaxed),
                        RouteAction::Replace(_) => 0,
                    };
                }
            }
        });
        let count = |i: usize| counts[i].load(Ordering::Relaxed);

        // The feeder: OPEN, wait for the speaker's OPEN, KEEPALIVE, then the table.
        let (rd, mut wr, rest) = feeder_session(FEEDER_AS, "10.0.0.2", "10.0.0.1", false).await;
        // Drain whatever the speaker sends from now on (KEEPALIVEs, End-of-RIB).
        let drain = tokio::spawn(drain(rd, rest));
        established(&h, "feeder session established").await;
        let start = Instant::now();
        wr.write_all(&bytes).await.expect("write table");
        let sent = start.elapsed();
        wait_for(
            Duration::from_secs(300),
            "all prefixes in the Loc-RIB",
            || async { (h.rib_size().await.0 >= n).then_some(()) },
        )
        .await;
        let took = start.elapsed();
        let (prefixes, paths) = h.rib_size().await;
        assert_eq!((prefixes, paths), (n, n));
        let st = the_peer(&h).await;
        assert_eq!(st.prefixes_received, n as u64);
        assert_eq!(st.updates_in as usize, n.div_ceil(PER_UPDATE));
        println!(
            "ingest: {n} prefixes in {} UPDATEs ({} KiB) — written in {sent:?}, in the Loc-RIB after {took:?} ({:.0} prefixes/s)",
            st.updates_in,
            bytes.len() / 1024,
            n as f64 / took.as_secs_f64()
        );
        // One Install per prefix, nothing else. (The withdrawals when the session
        // ends are not pulled here: after shutdown the speaker answers no takes.)
        wait_for(
            Duration::from_secs(300),
            "an Install per prefix",
            || async { (count(0) >= n).then_some(()) },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!((count(0), count(1)), (n, 0));
        h.shutdown().await;
        drop(wr);
        let _ = drain.await;
        counted.abort();
    });
}

#[test]
fn ingest_100k_prefixes() {
    ingest(100_000);
}

#[test]
#[ignore = "1M prefixes: run with --release -- --ignored --nocapture"]
fn ingest_1m_prefixes() {
    ingest(1_000_000);
}

#[test]
fn max_prefixes_ends_the_session_with_cease() {
    let (_lab, ns) = lab_with_loopback("spk-maxpfx", &["10.0.0.1/32", "10.0.0.2/32"]);
    let bytes = table(5_000);
    in_netns(&ns, || async move {
        let mut p = passive(peer("10.0.0.2", FEEDER_AS, "10.0.0.1"));
        p.import_limit = Some(bgp::rib::PrefixLimit::restart(1_000));
        let (h, _changes) = Speaker::start(speaker(65001, "10.0.0.1", p, &[]))
            .await
            .expect("speaker");
        let (rd, mut wr, rest) = feeder_session(FEEDER_AS, "10.0.0.2", "10.0.0.1", false).await;
        let drain = tokio::spawn(drain(rd, rest));
        established(&h, "feeder session established").await;
        // The speaker may close while we still write: errors are expected here.
        let _ = wr.write_all(&bytes).await;
        let seen = tokio::time::timeout(Duration::from_secs(30), drain)
            .await
            .expect("speaker closes the session")
            .expect("drain");
        let st = the_peer(&h).await;
        assert_eq!(
            seen.first().map(|n| n.error),
            Some(ErrorCode::Cease(CeaseSubcode::MaximumPrefixesReached)),
            "{seen:?} {st:?}"
        );
        assert_ne!(st.state, "Established");
        assert!(st
            .last_error
            .unwrap_or_default()
            .contains("maximum-number-of-prefixes-reached"));
        // The peer's routes are gone with its session.
        assert_eq!(h.rib_size().await, (0, 0));
        h.shutdown().await;
    });
}
