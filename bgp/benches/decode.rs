//! Decode throughput on a full-table-like stream of UPDATEs, beside bgpkit-parser on
//! the same bytes in the same run.
//!
//! The stream is generated here (deterministic PRNG): IPv4 unicast, a realistic
//! prefix-length mix (mostly /24), 20–40 prefixes per UPDATE (~30), AS paths of 2–6
//! hops (some 4-octet ASNs), ~5,000 distinct attribute sets, MED and communities on
//! some, large communities on a few. 1,000,000 prefixes under `cargo bench`; a small
//! stream when run as a test (`cargo test --benches`), where criterion runs each
//! benchmark once.
//!
//! Run: `cargo bench -p bgp --bench decode` (figures in bench/decode/RESULTS.md).

use std::hint::black_box;
use std::net::Ipv4Addr;

use bgp::wire::{
    decode_message, encode_message, AsPath, Community, DecodeContext, EncodeContext,
    LargeCommunity, Message, Nlri, Origin, PathAttributes, Update,
};
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Prefix length by weight (per mille), roughly today's IPv4 table.
const LENGTHS: [(u8, u64); 14] = [
    (24, 600),
    (23, 90),
    (22, 110),
    (21, 50),
    (20, 50),
    (19, 30),
    (18, 20),
    (17, 15),
    (16, 20),
    (15, 3),
    (14, 2),
    (12, 2),
    (25, 4),
    (28, 4),
];

fn prefix_len(rng: &mut Rng) -> u8 {
    let total: u64 = LENGTHS.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(total);
    for (len, w) in LENGTHS {
        if x < w {
            return len;
        }
        x -= w;
    }
    24
}

fn attribute_set(rng: &mut Rng) -> PathAttributes {
    let hops = 2 + rng.below(5) as usize;
    let asns: Vec<u32> = (0..hops)
        .map(|_| {
            if rng.below(10) == 0 {
                4_200_000_000 + rng.below(100_000) as u32
            } else {
                1 + rng.below(64_000) as u32
            }
        })
        .collect();
    let mut a = PathAttributes {
        origin: Some(if rng.below(10) < 8 {
            Origin::Igp
        } else {
            Origin::Incomplete
        }),
        as_path: Some(AsPath::sequence(asns)),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1 + rng.below(8) as u8)),
        ..PathAttributes::default()
    };
    if rng.below(10) < 3 {
        a.med = Some(rng.below(1000) as u32);
    }
    if rng.below(10) < 4 {
        let n = 1 + rng.below(5);
        a.communities = (0..n)
            .map(|_| Community::new(rng.below(65_000) as u16, rng.below(1000) as u16))
            .collect();
    }
    if rng.below(20) == 0 {
        a.large_communities = vec![LargeCommunity {
            global_admin: 4_200_000_000 + rng.below(1000) as u32,
            local_data1: rng.below(100) as u32,
            local_data2: rng.below(100) as u32,
        }];
    }
    a
}

/// The UPDATE stream and its prefix count.
fn stream(prefixes: usize) -> (Bytes, usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let sets: Vec<PathAttributes> = (0..5000).map(|_| attribute_set(&mut rng)).collect();
    let ctx = EncodeContext {
        four_octet_as: true,
        ..EncodeContext::default()
    };
    let mut out = BytesMut::new();
    let mut count = 0;
    while count < prefixes {
        let n = (20 + rng.below(21) as usize).min(prefixes - count);
        let nlri = (0..n)
            .map(|_| {
                let len = prefix_len(&mut rng);
                let addr = Ipv4Addr::from((rng.next() >> 32) as u32);
                Nlri::new(IpNet::V4(Ipv4Net::new(addr, len).unwrap().trunc()))
            })
            .collect();
        let attributes = sets[rng.below(sets.len() as u64) as usize].clone();
        let u = Update {
            attributes: attributes.into(),
            nlri,
            ..Update::default()
        };
        encode_message(&Message::Update(u), &ctx, &mut out).unwrap();
        count += n;
    }
    (out.freeze(), count)
}

/// Decodes the whole stream with tern's decoder; returns prefixes seen.
fn tern_decode(bytes: &[u8]) -> usize {
    let ctx = DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    };
    let mut rest = bytes;
    let mut prefixes = 0;
    while !rest.is_empty() {
        let (msg, used) = decode_message(rest, &ctx).expect("tern decodes the stream");
        if let Message::Update(u) = &msg {
            prefixes += u.nlri.len() + u.withdrawn.len();
        }
        black_box(&msg);
        rest = &rest[used..];
    }
    prefixes
}

/// Decodes the whole stream with bgpkit-parser; returns prefixes seen.
fn bgpkit_decode(bytes: &Bytes) -> usize {
    use bgpkit_parser::models::{AsnLength, BgpMessage};
    use bgpkit_parser::parser::bgp::messages::parse_bgp_message;
    let mut data = bytes.clone();
    let mut prefixes = 0;
    while !data.is_empty() {
        let msg = parse_bgp_message(&mut data, false, &AsnLength::Bits32)
            .expect("bgpkit-parser decodes the stream");
        if let BgpMessage::Update(u) = &msg {
            prefixes += u.announced_prefixes.len() + u.withdrawn_prefixes.len();
        }
        black_box(&msg);
    }
    prefixes
}

fn decode(c: &mut Criterion) {
    // `cargo bench` passes --bench; `cargo test --benches` does not.
    let benching = std::env::args().any(|a| a == "--bench");
    let (bytes, prefixes) = stream(if benching { 1_000_000 } else { 20_000 });
    // Both decoders must see the same prefixes, or the comparison means nothing.
    assert_eq!(tern_decode(&bytes), prefixes);
    assert_eq!(bgpkit_decode(&bytes), prefixes);

    let mut group = c.benchmark_group("decode_full_table");
    group.throughput(Throughput::Elements(prefixes as u64));
    group.sample_size(20);
    group.bench_function("tern", |b| b.iter(|| tern_decode(black_box(&bytes))));
    group.bench_function("bgpkit-parser", |b| {
        b.iter(|| bgpkit_decode(black_box(&bytes)))
    });
    group.finish();
    eprintln!(
        "stream: {prefixes} prefixes, {} UPDATE bytes ({:.1} octets/prefix)",
        bytes.len(),
        bytes.len() as f64 / prefixes as f64
    );
}

criterion_group!(benches, decode);
criterion_main!(benches);
