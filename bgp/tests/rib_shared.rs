//! Received attribute sets shared between UPDATEs (as a session's reader hands them
//! over when a peer repeats an attribute list, keeping one reference in its cache): the
//! RIB finds such a set by its address and memoises its import checks per set, and must
//! give the same answers as for sets it has to hash and compare.

mod rib_common;

use std::sync::Arc;

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
