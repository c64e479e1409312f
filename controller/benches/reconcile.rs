//! Benchmark: the controller's own work in a full-table load, without the kernel. A
//! million routes (a DFZ-like mix of prefix lengths, all through one next hop, as the
//! FIB end-to-end bench's feeder sends them) go through `Reconciler::change_ref` in
//! batches and a push after every 65,536 changes (the controller thread's drain size),
//! into a table that accepts every operation at once. What is left is the reconcile
//! logic: the desired table, the next-hop interner, collecting and recording the
//! operations — the user time `tern-fib` spends beside the kernel's route inserts.

use std::net::{IpAddr, Ipv4Addr};

use controller::{
    Counters, DesiredChange, DumpInfo, NextHop, Op, OpError, Reconciler, Route, RouteTable,
    TableConfig, TableError,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ipnet::{IpNet, Ipv4Net};

/// Accepts every operation; dumps nothing.
struct NullTable;

impl RouteTable for NullTable {
    fn dump(&mut self, _each: &mut dyn FnMut(Route)) -> Result<DumpInfo, TableError> {
        Ok(DumpInfo::default())
    }

    fn apply(
        &mut self,
        ops: &[Op<'_>],
        results: &mut Vec<Result<(), OpError>>,
    ) -> Result<(), TableError> {
        results.extend(ops.iter().map(|_| Ok(())));
        Ok(())
    }
}

/// `n` distinct IPv4 prefixes, ~60 % /24 and the rest /16–/23, scattered over the space
/// (a multiplicative step, so consecutive changes do not hit neighbouring buckets).
fn prefixes(n: usize) -> Vec<IpNet> {
    let mut out = Vec::with_capacity(n);
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut x: u32 = 0x0100_0000;
    let mut i: u32 = 0;
    while out.len() < n {
        i = i.wrapping_add(1);
        x = x.wrapping_mul(2_654_435_761).wrapping_add(0x9e37_79b9);
        let len = match i % 10 {
            0..=5 => 24,
            6 => 23,
            7 => 22,
            8 => 20,
            _ => 16 + (i / 10 % 4) as u8,
        };
        let Ok(net) = Ipv4Net::new(Ipv4Addr::from(x), len) else {
            continue;
        };
        let net = IpNet::V4(net.trunc());
        if seen.insert(net) {
            out.push(net);
        }
    }
    out
}

fn full_table(c: &mut Criterion) {
    let hop = NextHop::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    // The agent hands batches of best-path changes; 1,024 per batch here.
    let batches: Vec<Vec<DesiredChange>> = prefixes(1_000_000)
        .chunks(1024)
        .map(|c| {
            c.iter()
                .map(|p| DesiredChange::Upsert(Route::via(*p, [hop.clone()])))
                .collect()
        })
        .collect();
    let mut g = c.benchmark_group("reconcile");
    g.sample_size(10);
    g.bench_function("1M routes in, pushes of 65,536 (no kernel)", |b| {
        b.iter_batched(
            || {
                Reconciler::new(
                    TableConfig::default(),
                    NullTable,
                    std::sync::Arc::new(Counters::default()),
                    true,
                )
            },
            |mut rec| {
                for group in batches.chunks(64) {
                    for batch in group {
                        batch.iter().for_each(|c| rec.change_ref(c));
                    }
                    rec.push().expect("null table");
                }
                rec
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// What the agent asks when a block or an endpoint becomes local: the desired route of
/// that one prefix among a full table's, by walking the table with a filter (as before)
/// and by looking it up.
fn one_prefix_among_a_full_table(c: &mut Criterion) {
    let hop = NextHop::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let all = prefixes(1_000_000);
    let mut rec = Reconciler::new(
        TableConfig::default(),
        NullTable,
        std::sync::Arc::new(Counters::default()),
        true,
    );
    for p in &all {
        rec.change_ref(&DesiredChange::Upsert(Route::via(*p, [hop.clone()])));
    }
    rec.push().expect("null table");
    let wanted = all[all.len() / 2];
    let mut g = c.benchmark_group("desired");
    g.sample_size(20);
    g.bench_function("one prefix of 1M: walk with a filter", |b| {
        b.iter(|| rec.desired_where(&|p| *p == wanted))
    });
    g.bench_function("one prefix of 1M: look up", |b| {
        b.iter(|| rec.desired_of(&[wanted]))
    });
    g.finish();
}

criterion_group!(benches, full_table, one_prefix_among_a_full_table);
criterion_main!(benches);
