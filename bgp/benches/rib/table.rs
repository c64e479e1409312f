//! A synthetic full table, deterministic: 1,000,000 distinct IPv4 prefixes with a
//! realistic length mix (about 60 % /24, the rest /16–/23 weighted like today's
//! Internet table), packed ~30 per UPDATE, with ~5,000 distinct attribute sets whose
//! AS paths are 2–6 hops long. Shared by `benches/rib.rs` and `examples/feeder.rs`.
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use bgp::wire::{AsPath, Community, Nlri, Origin, PathAttributes, Update};
use ipnet::{IpNet, Ipv4Net};

/// Parameters of the table.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub prefixes: usize,
    pub per_update: usize,
    pub attribute_sets: usize,
    pub feeder_as: u32,
    pub next_hop: Ipv4Addr,
    pub seed: u64,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            prefixes: 1_000_000,
            per_update: 30,
            attribute_sets: 5_000,
            feeder_as: 65001,
            next_hop: Ipv4Addr::new(10, 255, 0, 1),
            seed: 0x7e51_2026,
        }
    }
}

/// xorshift64*: small, fast and deterministic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Prefix-length weights (per mille), roughly the IPv4 DFZ: /24 dominates.
const LENGTHS: [(u8, u64); 9] = [
    (24, 600),
    (23, 95),
    (22, 120),
    (21, 45),
    (20, 50),
    (19, 30),
    (18, 20),
    (17, 15),
    (16, 25),
];

fn pick_len(rng: &mut Rng) -> u8 {
    let mut r = rng.below(1000);
    for (len, w) in LENGTHS {
        if r < w {
            return len;
        }
        r -= w;
    }
    24
}

/// `n` distinct prefixes in unicast space (1.0.0.0–223.255.255.255 without 127/8).
pub fn prefixes(n: usize, rng: &mut Rng) -> Vec<Ipv4Net> {
    let mut seen: HashSet<(u32, u8)> = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = pick_len(rng);
        let addr = (1u32 << 24) + rng.below(223 << 24) as u32;
        let mask = u32::MAX << (32 - u32::from(len));
        let net = addr & mask;
        // 127/8 is loopback: BIRD (rightly) refuses it, so it is left out.
        if net >> 24 == 127 {
            continue;
        }
        if seen.insert((net, len)) {
            out.push(Ipv4Net::new(Ipv4Addr::from(net), len).expect("valid length"));
        }
    }
    out
}

/// `n` distinct attribute sets from `feeder_as`.
pub fn attribute_sets(shape: &Shape, rng: &mut Rng) -> Vec<PathAttributes> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(shape.attribute_sets);
    while out.len() < shape.attribute_sets {
        let hops = 2 + rng.below(5) as usize; // 2..=6
        let mut path = vec![shape.feeder_as];
        for _ in 1..hops {
            path.push(if rng.below(4) == 0 {
                4_200_000_000 + rng.below(1000) as u32
            } else {
                1 + rng.below(64_000) as u32
            });
        }
        let origin = match rng.below(10) {
            0 => Origin::Incomplete,
            1 => Origin::Egp,
            _ => Origin::Igp,
        };
        let communities = (0..rng.below(4))
            .map(|_| Community::new(shape.feeder_as as u16, rng.below(1000) as u16))
            .collect();
        let a = PathAttributes {
            origin: Some(origin),
            as_path: Some(AsPath::sequence(path)),
            next_hop: Some(shape.next_hop),
            med: (rng.below(3) == 0).then(|| rng.below(1000) as u32),
            communities,
            ..PathAttributes::default()
        };
        if seen.insert(a.clone()) {
            out.push(a);
        }
    }
    out
}

/// The table as UPDATEs. Those with the same attribute set share it, as a session's
/// reader hands them over (`bgp::wire::AttrCache`).
pub fn updates(shape: &Shape) -> Vec<Update> {
    let mut rng = Rng::new(shape.seed);
    let sets: Vec<Arc<PathAttributes>> = attribute_sets(shape, &mut rng)
        .into_iter()
        .map(Arc::new)
        .collect();
    let nets = prefixes(shape.prefixes, &mut rng);
    nets.chunks(shape.per_update.max(1))
        .map(|chunk| {
            let a = &sets[rng.below(sets.len() as u64) as usize];
            Update {
                attributes: Arc::clone(a),
                nlri: chunk.iter().map(|n| Nlri::new(IpNet::V4(*n))).collect(),
                ..Update::default()
            }
        })
        .collect()
}
