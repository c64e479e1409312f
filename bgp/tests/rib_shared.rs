//! Received attribute sets shared between UPDATEs (as a session's reader hands them
//! over when a peer repeats an attribute list, keeping one reference in its cache): the
//! RIB finds such a set by its address and memoises its import checks per set, and must
//! give the same answers as for sets it has to hash and compare.

mod rib_common;

use std::sync::Arc;

use bgp::rib::{Rib, SetHint};
use bgp::wire::{Nlri, Update};
use rib_common::*;

/// An UPDATE announcing `prefixes` with the very attribute set of `u`.
fn sharing(u: &Update, prefixes: &[&str]) -> Update {
    Update {
        attributes: Arc::clone(&u.attributes),
        nlri: prefixes.iter().map(|p| Nlri::new(net(p))).collect(),
        ..Update::default()
    }
}

#[test]
fn updates_sharing_a_set_intern_it_once_and_free_it_with_the_last_path() {
    let mut rib = rib();
    let p = peer(&mut rib, 1, 65001);
    let first = announce(&attrs(&[65001, 65100]), "192.0.2.11", &["10.0.0.0/24"]);
    let _reader_cache = Arc::clone(&first.attributes);
    rib.receive(p, &first).unwrap();
    for i in 1..50 {
        let prefix = format!("10.0.{i}.0/24");
        rib.receive(p, &sharing(&first, &[prefix.as_str()]))
            .unwrap();
    }
    assert_eq!(rib.attribute_sets(), 1);
    assert_eq!(rib.path_count(), 50);
    let r = route(&rib, "10.0.49.0/24");
    assert_eq!(r.paths[0].as_path, "65001 65100");
    assert_eq!(r.paths[0].next_hop, ip("192.0.2.11"));

    let all: Vec<String> = (0..50).map(|i| format!("10.0.{i}.0/24")).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    rib.receive(p, &withdraw(&all)).unwrap();
    assert_eq!(rib.attribute_sets(), 0, "freed with its last path");
    assert_eq!(rib.path_count(), 0);

    // The same allocation again, after its interned set was freed: interned anew.
    rib.receive(p, &sharing(&first, &["10.1.0.0/24"])).unwrap();
    rib.receive(p, &sharing(&first, &["10.1.1.0/24"])).unwrap();
    assert_eq!(rib.attribute_sets(), 1);
    assert_eq!(rib.path_count(), 2);
    assert_eq!(route(&rib, "10.1.1.0/24").paths[0].as_path, "65001 65100");
}

#[test]
fn a_shared_set_is_checked_again_when_our_addresses_change() {
    let mut rib = rib();
    let p = peer(&mut rib, 1, 65001);
    // Next hop 198.51.100.7: nobody's address yet.
    let first = announce(&attrs(&[65001]), "198.51.100.7", &["10.0.0.0/24"]);
    let _reader_cache = Arc::clone(&first.attributes);
    rib.receive(p, &first).unwrap();
    rib.receive(p, &sharing(&first, &["10.0.1.0/24"])).unwrap();
    assert_eq!(rib.path_count(), 2);
    assert!(rib.rejected(p).is_empty());

    // A second session comes up whose local address is that next hop: the same set
    // from peer 1 now points at ourselves.
    let q = peer_with(&mut rib, 2, 65002, |s| {
        s.local_address = Some(ip("198.51.100.7"));
    });
    rib.receive(p, &sharing(&first, &["10.0.2.0/24"])).unwrap();
    assert!(rib.route(net("10.0.2.0/24"), true).is_none());
    assert_eq!(
        rib.rejected(p),
        [("next hop is our own address", 1)],
        "the verdict memoised for the set was not reused"
    );

    // And from another peer the set is checked for that peer (AS loop: peer 2's
    // sets are judged with the same local AS, but its own slot).
    let looped = announce(&attrs(&[65002, LOCAL_AS]), "198.51.100.9", &["10.2.0.0/24"]);
    let _reader_cache_q = Arc::clone(&looped.attributes);
    rib.receive(q, &looped).unwrap();
    rib.receive(q, &sharing(&looped, &["10.2.1.0/24"])).unwrap();
    assert_eq!(rib.rejected(q), [("AS loop: AS_PATH contains our AS", 2)]);
    assert!(rib.route(net("10.2.1.0/24"), true).is_none());
}

/// `receive_one` (a session's reader handing over a one-prefix UPDATE by its shared set,
/// with the caller's hint of where the set was interned) leaves the RIB as `receive` of
/// the whole UPDATE does — also once the hint is stale: its set freed and the slot taken
/// by another set.
#[test]
fn one_prefix_updates_by_set_and_hint_match_whole_updates() {
    let (mut whole, mut ones) = (rib(), rib());
    let (pw, po) = (peer(&mut whole, 1, 65001), peer(&mut ones, 1, 65001));
    let x = announce(&attrs(&[65001, 65100]), "192.0.2.11", &["10.0.0.0/24"]);
    let y = announce(&attrs(&[65001, 65200]), "192.0.2.12", &["10.9.0.0/24"]);
    let z = announce(&attrs(&[65001, 65300]), "192.0.2.13", &["10.8.0.0/24"]);
    // The reader's cache holds one reference on each set.
    let cache = [&x, &y, &z].map(|u| Arc::clone(&u.attributes));
    let mut hints = [SetHint::default(); 3];
    let prefixes = |first: u32, n: u32| -> Vec<String> {
        (first..first + n)
            .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
            .collect()
    };
    let updates = [&x, &y, &z];
    let mut both = |whole: &mut Rib, ones: &mut Rib, set: usize, p: &str| {
        whole.receive(pw, &sharing(updates[set], &[p])).unwrap();
        ones.receive_one(po, &cache[set], &mut hints[set], &Nlri::new(net(p)))
            .unwrap();
        hints[set]
    };
    for p in prefixes(0, 40) {
        both(&mut whole, &mut ones, 0, &p);
    }
    for p in prefixes(40, 20) {
        both(&mut whole, &mut ones, 1, &p);
    }
    // Some of x's prefixes move to y.
    let mut first_hint = SetHint::default();
    for p in prefixes(0, 10) {
        both(&mut whole, &mut ones, 1, &p);
    }
    for p in prefixes(10, 1) {
        first_hint = both(&mut whole, &mut ones, 0, &p);
    }
    // All of x's prefixes withdrawn: x is freed; z takes its slot; x comes back.
    let gone = prefixes(10, 30);
    let gone: Vec<&str> = gone.iter().map(String::as_str).collect();
    whole.receive(pw, &withdraw(&gone)).unwrap();
    ones.receive(po, &withdraw(&gone)).unwrap();
    assert_eq!(ones.attribute_sets(), 1, "x freed");
    let mut z_hint = SetHint::default();
    for p in prefixes(100, 5) {
        z_hint = both(&mut whole, &mut ones, 2, &p);
    }
    assert_eq!(
        z_hint, first_hint,
        "z took x's freed slot: x's hint is stale"
    );
    let mut x_hint = SetHint::default();
    for p in prefixes(200, 5) {
        x_hint = both(&mut whole, &mut ones, 0, &p);
    }
    assert_ne!(x_hint, first_hint, "x interned anew, not found as z");

    assert_eq!(ones.attribute_sets(), whole.attribute_sets());
    assert_eq!(ones.path_count(), whole.path_count());
    for p in prefixes(0, 256) {
        assert_eq!(ones.route(net(&p), true), whole.route(net(&p), true), "{p}");
    }
    assert_eq!(
        route(&ones, "10.0.200.0/24").paths[0].as_path,
        "65001 65100"
    );
    assert_eq!(
        route(&ones, "10.0.100.0/24").paths[0].as_path,
        "65001 65300"
    );
    assert_eq!(ones.take_route_changes(), whole.take_route_changes());
}
