//! Full-table ingest into the RIB: 1,000,000 IPv4 prefixes in ~33,000 decoded UPDATEs
//! (~5,000 attribute sets), from one eBGP peer, including draining the FIB change
//! stream as the speaker does. Also the same from wire bytes (decode + ingest).
//!
//! Besides criterion's timing it prints the heap the RIB holds per route, measured
//! with a counting global allocator (live bytes after ingest minus before).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};

use bgp::rib::{LocalSettings, PeerId, PeerSettings, PeerUp, Rib};
use bgp::wire::{decode_message, encode_message, DecodeContext, EncodeContext, Message, Update};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

#[path = "rib/table.rs"]
mod table;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            if new > l.size() {
                let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const PEER: PeerId = PeerId(1);

fn fresh_rib() -> Rib {
    let mut rib = Rib::new(LocalSettings {
        asn: 64512,
        router_id: Ipv4Addr::new(10, 255, 0, 2),
        cluster_id: None,
    });
    let feeder = IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1));
    rib.add_peer(PEER, PeerSettings::new(feeder, 65001))
        .expect("new peer");
    bring_up(&mut rib, PEER, Ipv4Addr::new(10, 255, 0, 1));
    rib
}

/// The session with `id` (BGP identifier `router_id`) is Established.
fn bring_up(rib: &mut Rib, id: PeerId, router_id: Ipv4Addr) {
    let local = IpAddr::V4(Ipv4Addr::new(10, 255, 0, 2));
    rib.peer_up(id, PeerUp::new(router_id, local))
        .expect("peer up");
}

fn ingest(rib: &mut Rib, updates: &[Update]) -> usize {
    let mut changes = 0;
    for u in updates {
        rib.receive(PEER, u).expect("no limit");
        changes += rib.take_route_changes().len();
    }
    changes
}

fn encode(updates: &[Update]) -> Vec<u8> {
    let ctx = EncodeContext {
        four_octet_as: true,
        ..EncodeContext::default()
    };
    let mut out = BytesMut::new();
    for u in updates {
        encode_message(&Message::Update(u.clone()), &ctx, &mut out).expect("encodes");
    }
    out.to_vec()
}

fn ingest_wire(rib: &mut Rib, mut bytes: &[u8]) -> usize {
    let ctx = DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    };
    let mut changes = 0;
    while !bytes.is_empty() {
        let (msg, n) = decode_message(bytes, &ctx).expect("valid stream");
        if let Message::Update(u) = msg {
            rib.receive(PEER, &u).expect("no limit");
            changes += rib.take_route_changes().len();
        }
        bytes = bytes.get(n..).unwrap_or_default();
    }
    changes
}

fn report_memory(updates: &[Update]) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let mut rib = fresh_rib();
    ingest(&mut rib, updates);
    let after = LIVE.load(Ordering::Relaxed);
    let peak = PEAK.load(Ordering::Relaxed);
    let n = rib.len();
    eprintln!(
        "rib memory: {} prefixes, {} attribute sets; heap held {:.1} MiB = {:.1} bytes/route \
         (tables {:.1} MiB); peak during ingest {:.1} MiB above start",
        n,
        rib.attribute_sets(),
        (after - before) as f64 / 1048576.0,
        (after - before) as f64 / n as f64,
        rib.table_bytes() as f64 / 1048576.0,
        (peak - before) as f64 / 1048576.0,
    );
    drop(rib);
}

fn bench(c: &mut Criterion) {
    let shape = table::Shape::default();
    let updates = table::updates(&shape);
    let wire = encode(&updates);
    eprintln!(
        "table: {} prefixes in {} UPDATEs, {} octets on the wire",
        shape.prefixes,
        updates.len(),
        wire.len()
    );
    report_memory(&updates);

    let mut g = c.benchmark_group("rib_ingest_1m");
    g.sample_size(10);
    g.throughput(Throughput::Elements(shape.prefixes as u64));
    g.bench_function("decoded_updates", |b| {
        b.iter_batched(
            fresh_rib,
            |mut rib| {
                let n = ingest(&mut rib, &updates);
                assert_eq!(n, shape.prefixes);
                rib
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("wire_bytes_decode_and_ingest", |b| {
        b.iter_batched(
            fresh_rib,
            |mut rib| {
                let n = ingest_wire(&mut rib, &wire);
                assert_eq!(n, shape.prefixes);
                rib
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("peer_down_1m", |b| {
        b.iter_batched(
            || {
                let mut rib = fresh_rib();
                ingest(&mut rib, &updates);
                rib
            },
            |mut rib| {
                rib.peer_down(PEER);
                assert_eq!(rib.take_route_changes().len(), shape.prefixes);
                rib
            },
            BatchSize::PerIteration,
        )
    });
    // A second peer comes up while the table is full: its whole initial export is
    // queued (`peer_up` lists and orders every exportable prefix).
    const LATE: PeerId = PeerId(2);
    g.bench_function("peer_up_1m", |b| {
        b.iter_batched(
            || {
                let mut rib = fresh_rib();
                ingest(&mut rib, &updates);
                let addr = IpAddr::V4(Ipv4Addr::new(10, 255, 0, 3));
                rib.add_peer(LATE, PeerSettings::new(addr, 65002))
                    .expect("new peer");
                rib
            },
            |mut rib| {
                bring_up(&mut rib, LATE, Ipv4Addr::new(10, 255, 0, 3));
                rib
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
