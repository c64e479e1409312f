//! Unit tests of the pure parts of block affinity: each node's search order through a
//! pool, the spread of the starting blocks, and the claim's stored form.

use std::collections::BTreeSet;

use super::*;

fn net(s: &str) -> IpNet {
    s.parse().expect("net")
}

fn pool(cidr: &str, block_size: u8) -> Pool {
    Pool {
        cidr: net(cidr),
        block_size,
    }
}

#[test]
fn the_search_starts_at_the_seed_and_wraps_through_every_block_once() {
    let p = pool("10.244.0.0/24", 26);
    let order: Vec<IpNet> = search_order(&p, 6).collect();
    // 6 mod 4 = 2: the third block first, then the fourth, then the first two.
    assert_eq!(
        order,
        [
            "10.244.0.128/26",
            "10.244.0.192/26",
            "10.244.0.0/26",
            "10.244.0.64/26"
        ]
        .map(net)
    );
    for seed in [0, 1, 3, 4, u64::MAX] {
        let v: Vec<IpNet> = search_order(&p, seed).collect();
        let set: BTreeSet<IpNet> = v.iter().copied().collect();
        assert_eq!(v.len(), 4, "seed {seed}");
        assert_eq!(set, p.blocks().collect(), "seed {seed}");
    }
    // A pool of one block: that block, whatever the seed.
    let one = pool("10.0.0.0/26", 26);
    assert_eq!(
        search_order(&one, 12345).collect::<Vec<_>>(),
        [net("10.0.0.0/26")]
    );
    // A block size below the pool's prefix means the pool as one block.
    let coarse = pool("10.0.0.0/26", 24);
    assert_eq!(
        search_order(&coarse, 7).collect::<Vec<_>>(),
        [net("10.0.0.0/26")]
    );
}

#[test]
fn huge_ipv6_pools_are_searched_lazily_without_overflow() {
    let p = pool("fd00:244::/48", 122);
    // 2^74 blocks: the seed is the index itself.
    let seed = 0x0123_4567_89ab_cdef_u64;
    let first: Vec<IpNet> = search_order(&p, seed).take(2).collect();
    let base = u128::from("fd00:244::".parse::<std::net::Ipv6Addr>().expect("addr"));
    let at = |i: u128| IpNet::V6(Ipv6Net::new((base + (i << 6)).into(), 122).expect("block"));
    assert_eq!(first, [at(u128::from(seed)), at(u128::from(seed) + 1)]);
    // The whole space in /128s: the count saturates, nothing panics.
    let whole = pool("::/0", 128);
    let v: Vec<IpNet> = search_order(&whole, 3).take(2).collect();
    assert_eq!(v, [net("::3/128"), net("::4/128")]);
    let v4all = pool("0.0.0.0/0", 32);
    let v: Vec<IpNet> = search_order(&v4all, u64::MAX).take(2).collect();
    assert_eq!(v, [net("255.255.255.255/32"), net("0.0.0.0/32")]);
}

#[test]
fn similar_node_names_start_far_apart() {
    // 100 nodes named as the benchmark names them, over a /16 of /26s (1024 blocks): a
    // uniform pick would give about 95.3 distinct starting blocks (1024·(1-(1023/1024)^100)).
    let count = 1024u64;
    let starts: BTreeSet<u64> = (0..100)
        .map(|i| name_seed(&format!("n{i}")) % count)
        .collect();
    assert!(
        starts.len() >= 90,
        "{} distinct starts of 100",
        starts.len()
    );
    // Names that differ in one digit do not land next to each other.
    let adjacent = (0..99)
        .filter(|i| {
            let a = name_seed(&format!("n{i}")) % count;
            let b = name_seed(&format!("n{}", i + 1)) % count;
            a.abs_diff(b) <= 1
        })
        .count();
    assert!(
        adjacent <= 2,
        "{adjacent} neighbours start next to each other"
    );
    // Stable: the same name, the same place (a restarted node searches where it did).
    assert_eq!(name_seed("node-a"), name_seed("node-a"));
    assert_ne!(name_seed("node-a"), name_seed("node-b"));
}

#[test]
fn a_claim_is_stored_as_before_and_unaffined_only_when_set() {
    assert_eq!(
        BlockClaim::of("n1").to_value(),
        br#"{"node":"n1"}"#.to_vec()
    );
    let gone = BlockClaim {
        node: "n1".into(),
        unaffined: true,
    };
    assert_eq!(
        gone.to_value(),
        br#"{"node":"n1","unaffined":true}"#.to_vec()
    );
    let back: BlockClaim = serde_json::from_slice(&gone.to_value()).expect("json");
    assert_eq!(back, gone);
    let old: BlockClaim = serde_json::from_slice(br#"{"node":"n2"}"#).expect("json");
    assert_eq!(old, BlockClaim::of("n2"));
}
