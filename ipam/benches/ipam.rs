//! Benchmarks: allocate+release on a /16 (sans-IO), and the store's write latency with
//! fsync (put and remove of one record in a temporary directory under the target directory).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ipam::store::StateDir;
use ipam::{Allocation, Allocator, Attachment, AttachmentKey, Request};
use std::hint::black_box;

fn keys(n: usize) -> Vec<AttachmentKey> {
    (0..n)
        .map(|i| AttachmentKey::new(format!("{i:064x}"), "eth0").expect("valid key"))
        .collect()
}

fn alloc_release_16(c: &mut Criterion) {
    let blocks = [
        "10.128.0.0/16".parse().expect("net"),
        "fd00:128::/112".parse().expect("net"),
    ];
    let req = Request::default();
    let mut g = c.benchmark_group("allocator");
    // A /16 filled to 75 % (49,152 allocations), then one allocate + release per
    // iteration: the cost at scale, cursor wrapping through fragmented runs.
    let ks = keys(65_536);
    let mut a = Allocator::new(blocks);
    for k in &ks[..49_152] {
        a.allocate(k, &req).expect("room");
    }
    // Free every third one so the free space is fragmented.
    for k in ks[..49_152].iter().step_by(3) {
        a.release(k);
    }
    // Keys 49,152.. hold nothing: every iteration is one allocate and one release.
    let mut i = 0;
    g.bench_function("allocate+release /16 (v4+v6, fragmented, 2/3 full)", |b| {
        b.iter(|| {
            let k = &ks[49_152 + i % 16_384];
            i += 1;
            black_box(a.allocate(k, &req).expect("room"));
            a.release(k)
        })
    });
    g.sample_size(10);
    g.bench_function("fill an empty /16 (65,534 allocations)", |b| {
        b.iter_batched(
            || Allocator::new(["10.128.0.0/16".parse().expect("net")]),
            |mut a| {
                for k in &ks[..65_534] {
                    a.allocate(k, &req).expect("room");
                }
                a
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn store_write(c: &mut Criterion) {
    // On the disk of the target directory (not /tmp, which may be tmpfs where fsync is free).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let store = StateDir::open(dir.path()).expect("open");
    let alloc = Allocation {
        ipv4: Some("10.128.0.7".parse().expect("addr")),
        ipv6: Some("fd00:128::7".parse().expect("addr")),
        attachment: Attachment {
            netns: "/run/netns/cni-0123".into(),
            host_ifname: "tern0123456789a".into(),
            namespace: "default".into(),
            name: "web-1".into(),
            ..Default::default()
        },
    };
    let ks = keys(1);
    let mut g = c.benchmark_group("store");
    g.sample_size(30);
    g.bench_function("put (write, fsync, rename, fsync dir)", |b| {
        b.iter(|| store.put(&ks[0], &alloc).expect("put"))
    });
    g.bench_function("put + remove (an ADD and a DEL)", |b| {
        b.iter(|| {
            store.put(&ks[0], &alloc).expect("put");
            store.remove(&ks[0]).expect("remove")
        })
    });
    g.finish();
}

criterion_group!(benches, alloc_release_16, store_write);
criterion_main!(benches);
