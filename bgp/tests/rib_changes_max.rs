//! Bounded takes of the best-path change stream (`Rib::take_route_changes_max`): a
//! consumer that pulls small batches while the table keeps changing ends with exactly
//! the Loc-RIB's next hops, and never sees more than a batch at once. (A consumer that
//! trusted each change as a difference, e.g. a Withdraw only for a prefix it has, or
//! skipped unchanged hops, fails this with batches of 1: see the method's docs.)

mod rib_common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use bgp::rib::RouteAction;
use ipnet::IpNet;
use rib_common::*;

/// Applies changes as a FIB would (Install and Replace both set the next hops).
fn apply(fib: &mut BTreeMap<IpNet, Vec<IpAddr>>, changes: Vec<bgp::rib::RouteChange>) {
    for c in changes {
        match c.action {
            RouteAction::Install(h) | RouteAction::Replace(h) => {
                fib.insert(c.prefix, h);
            }
            RouteAction::Withdraw => {
                fib.remove(&c.prefix);
            }
        }
    }
}

#[test]
fn small_batches_converge_to_the_loc_rib() {
    for batch in [1, 3, 7, 1000] {
        let mut rib = rib();
        let peers = [peer(&mut rib, 1, 65001), peer(&mut rib, 2, 65002)];
        let prefixes: Vec<String> = (0..40)
            .map(|i| format!("10.{}.{}.0/24", i % 5, i))
            .chain((0..10).map(|i| format!("fd00:{i}::/64")))
            .collect();
        let mut fib = BTreeMap::new();
        let mut seed: u64 = 0x7465_726e ^ batch as u64;
        for step in 0..3000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = seed >> 33;
            let p = prefixes[(r % prefixes.len() as u64) as usize].as_str();
            let who = peers[((r >> 8) % 2) as usize];
            let update = match (r >> 12) % 4 {
                0 => withdraw(&[p]),
                k if p.contains(':') => {
                    announce6(&attrs(&[65001 + k as u32]), &format!("2001:db8::{k}"), &[p])
                }
                k => announce(&attrs(&[65001 + k as u32]), &format!("192.0.2.{k}"), &[p]),
            };
            rib.receive(who, &update).unwrap();
            if step % 5 == 0 {
                let taken = rib.take_route_changes_max(batch);
                assert!(
                    taken.len() <= batch,
                    "{} changes for a batch of {batch}",
                    taken.len()
                );
                apply(&mut fib, taken);
            }
        }
        while rib.pending_route_changes() > 0 {
            let taken = rib.take_route_changes_max(batch);
            assert!(taken.len() <= batch);
            apply(&mut fib, taken);
        }
        let want: BTreeMap<IpNet, Vec<IpAddr>> = rib
            .routes(false)
            .into_iter()
            .filter(|r| !r.ecmp_next_hops.is_empty())
            .map(|r| (r.prefix, r.ecmp_next_hops))
            .collect();
        assert!(!want.is_empty());
        assert_eq!(fib, want, "batch {batch}");
        assert!(rib.take_route_changes().is_empty());
    }
}
