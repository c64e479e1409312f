//! Property: over any sequence of allocate (any or a specific address), release, gc and
//! restore, no address is ever held by two keys, every held address is inside a block and
//! not reserved, the allocator agrees with a plain model of who holds what, and a refused
//! operation changes nothing.

use ipam::{Allocator, AttachmentKey, IpamError, Request};
use ipnet::IpNet;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, Clone)]
enum Op {
    Allocate(u8),
    AllocateV4(u8, u8),
    Release(u8),
    Gc(u16),
    Restore,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..24).prop_map(Op::Allocate),
        2 => (0u8..24, 0u8..16).prop_map(|(k, o)| Op::AllocateV4(k, o)),
        4 => (0u8..24).prop_map(Op::Release),
        1 => any::<u16>().prop_map(Op::Gc),
        1 => Just(Op::Restore),
    ]
}

fn key(k: u8) -> AttachmentKey {
    AttachmentKey::new(format!("c{k}"), if k < 4 { "net1" } else { "eth0" }).unwrap()
}

fn check(a: &Allocator, blocks: &[IpNet], model: &BTreeMap<AttachmentKey, Vec<IpAddr>>) {
    let mut holders: HashMap<IpAddr, &AttachmentKey> = HashMap::new();
    for (k, alloc) in a.iter() {
        for addr in alloc.addrs() {
            if let Some(other) = holders.insert(addr, k) {
                panic!("{addr} held by {other} and {k}");
            }
            let block = blocks
                .iter()
                .find(|b| b.contains(&addr))
                .unwrap_or_else(|| panic!("{addr} outside blocks"));
            assert_ne!(addr, block.network(), "network address handed out");
            if let IpNet::V4(b) = block {
                assert_ne!(addr, IpAddr::V4(b.broadcast()), "broadcast handed out");
            }
            assert_eq!(a.owner(addr), Some(k));
        }
    }
    let got: BTreeMap<AttachmentKey, Vec<IpAddr>> = a
        .iter()
        .map(|(k, al)| (k.clone(), al.addrs().collect()))
        .collect();
    assert_eq!(&got, model);
    let used: u128 = a.usage().iter().map(|u| u.allocated).sum();
    assert_eq!(used as usize, holders.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_address_is_ever_handed_out_twice(ops in proptest::collection::vec(op(), 1..120), dual in any::<bool>()) {
        // Small blocks (14 + 6 IPv4, 15 IPv6 addresses for 24 keys) so exhaustion,
        // wrap-around and rollback happen often.
        let mut blocks: Vec<IpNet> = vec!["10.0.0.0/28".parse().unwrap(), "10.0.1.0/29".parse().unwrap()];
        if dual {
            blocks.push("fd00::/124".parse().unwrap());
        }
        let mut a = Allocator::new(blocks.clone());
        let mut model: BTreeMap<AttachmentKey, Vec<IpAddr>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Allocate(k) | Op::AllocateV4(k, _) => {
                    let req = match op {
                        Op::AllocateV4(_, o) => Request { ipv4: Some(Ipv4Addr::new(10, 0, 0, o)), ..Request::default() },
                        _ => Request::default(),
                    };
                    let before = a.usage();
                    match a.allocate(&key(k), &req) {
                        Ok(al) => {
                            let addrs: Vec<IpAddr> = al.addrs().collect();
                            if let Some(prev) = model.get(&key(k)) {
                                prop_assert_eq!(prev, &addrs, "idempotent");
                            }
                            if let Some(want) = req.ipv4 {
                                prop_assert_eq!(al.ipv4, Some(want));
                            }
                            prop_assert_eq!(al.ipv6.is_some(), dual);
                            model.insert(key(k), addrs);
                        }
                        Err(e) => {
                            prop_assert!(matches!(e, IpamError::Exhausted { .. } | IpamError::InUse { .. } | IpamError::Reserved { .. } | IpamError::Conflict { .. }), "{}", e);
                            prop_assert_eq!(a.usage(), before, "a refused allocation changed nothing");
                        }
                    }
                }
                Op::Release(k) => {
                    let got = a.release(&key(k)).map(|al| al.addrs().collect::<Vec<_>>());
                    prop_assert_eq!(got, model.remove(&key(k)));
                }
                Op::Gc(mask) => {
                    let keep = |k: &AttachmentKey| mask & (1 << (k.container_id[1..].parse::<u8>().unwrap() % 16)) != 0;
                    let freed = a.gc(keep);
                    for (k, al) in freed {
                        prop_assert!(!keep(&k));
                        prop_assert_eq!(model.remove(&k), Some(al.addrs().collect::<Vec<_>>()));
                    }
                    prop_assert!(model.keys().all(keep));
                }
                Op::Restore => {
                    let (b, problems) = Allocator::restore(blocks.clone(), a.records());
                    prop_assert!(problems.is_empty(), "{:?}", problems);
                    a = b;
                }
            }
            check(&a, &blocks, &model);
        }
        // Whatever happened, every free address can still be handed out, once.
        let v6_cap = if dual { 15 } else { usize::MAX };
        let free_v4 = 14 + 6 - model.len();
        let free_v6 = v6_cap.saturating_sub(model.len());
        for i in 0..free_v4.min(free_v6) {
            let k = AttachmentKey::new(format!("fill{i}"), "eth0").unwrap();
            let al = a.allocate(&k, &Request::default()).unwrap();
            model.insert(k, al.addrs().collect());
        }
        check(&a, &blocks, &model);
    }
}
