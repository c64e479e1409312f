//! The best-path change stream: explicit install / replace / withdraw, coalesced per
//! prefix between two takes, only real changes.

mod rib_common;

use bgp::rib::{RouteAction, RouteChange};
use rib_common::*;

fn changes(rib: &mut bgp::rib::Rib) -> Vec<(String, RouteAction)> {
    rib.take_route_changes()
        .into_iter()
        .map(|RouteChange { prefix, action }| (prefix.to_string(), action))
        .collect()
}

#[test]
fn install_replace_withdraw() {
    let mut rib = rib();
    let e = peer(&mut rib, 1, 65001);
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.11", &["10.1.0.0/24"]),
    )
    .unwrap();
    assert_eq!(
        changes(&mut rib),
        vec![(
            "10.1.0.0/24".into(),
            RouteAction::Install(vec![ip("192.0.2.11")])
        )]
    );
    assert!(changes(&mut rib).is_empty(), "taken once");
    // New attributes, same next hop: no FIB change.
    rib.receive(
        e,
        &announce(&attrs(&[65001, 65002]), "192.0.2.11", &["10.1.0.0/24"]),
    )
    .unwrap();
    assert!(changes(&mut rib).is_empty());
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.99", &["10.1.0.0/24"]),
    )
    .unwrap();
    assert_eq!(
        changes(&mut rib),
        vec![(
            "10.1.0.0/24".into(),
            RouteAction::Replace(vec![ip("192.0.2.99")])
        )]
    );
    rib.receive(e, &withdraw(&["10.1.0.0/24"])).unwrap();
    assert_eq!(
        changes(&mut rib),
        vec![("10.1.0.0/24".into(), RouteAction::Withdraw)]
    );
    // Withdrawing what is not there changes nothing.
    rib.receive(e, &withdraw(&["10.1.0.0/24", "10.7.0.0/24"]))
        .unwrap();
    assert!(changes(&mut rib).is_empty());
}

#[test]
fn changes_between_takes_are_coalesced() {
    let mut rib = rib();
    let e = peer(&mut rib, 1, 65001);
    let f = peer(&mut rib, 2, 65002);
    // Announced and withdrawn again: nothing.
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.11", &["10.1.0.0/24"]),
    )
    .unwrap();
    rib.receive(e, &withdraw(&["10.1.0.0/24"])).unwrap();
    assert!(changes(&mut rib).is_empty());
    // Announced, replaced twice, by two peers: one install with the final next hop.
    rib.receive(
        e,
        &announce(&attrs(&[65001, 65009]), "192.0.2.11", &["10.2.0.0/24"]),
    )
    .unwrap();
    rib.receive(
        e,
        &announce(&attrs(&[65001, 65009]), "192.0.2.21", &["10.2.0.0/24"]),
    )
    .unwrap();
    rib.receive(
        f,
        &announce(&attrs(&[65002]), "192.0.2.12", &["10.2.0.0/24"]),
    )
    .unwrap();
    assert_eq!(
        changes(&mut rib),
        vec![(
            "10.2.0.0/24".into(),
            RouteAction::Install(vec![ip("192.0.2.12")])
        )]
    );
    // Best moves away and back before the take: nothing.
    rib.receive(f, &withdraw(&["10.2.0.0/24"])).unwrap();
    rib.receive(
        f,
        &announce(&attrs(&[65002]), "192.0.2.12", &["10.2.0.0/24"]),
    )
    .unwrap();
    assert!(changes(&mut rib).is_empty());
    // Withdrawn, then re-announced with another next hop: a replace.
    rib.receive(f, &withdraw(&["10.2.0.0/24"])).unwrap();
    rib.receive(e, &withdraw(&["10.2.0.0/24"])).unwrap();
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.31", &["10.2.0.0/24"]),
    )
    .unwrap();
    assert_eq!(
        changes(&mut rib),
        vec![(
            "10.2.0.0/24".into(),
            RouteAction::Replace(vec![ip("192.0.2.31")])
        )]
    );
    assert_eq!(rib.pending_route_changes(), 0);
}

#[test]
fn rejected_paths_never_reach_the_fib() {
    let mut rib = rib();
    let e = peer_with(&mut rib, 1, 65001, |s| {
        s.import = pools(&["10.244.0.0/16"], &[])
    });
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.11", &["10.9.0.0/24"]),
    )
    .unwrap();
    rib.receive(
        e,
        &announce(&attrs(&[65001, LOCAL_AS]), "192.0.2.11", &["10.244.3.0/24"]),
    )
    .unwrap();
    assert!(changes(&mut rib).is_empty());
    // A rejected path replacing an accepted one withdraws it.
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.11", &["10.244.4.0/24"]),
    )
    .unwrap();
    assert_eq!(changes(&mut rib).len(), 1);
    rib.receive(
        e,
        &announce(&attrs(&[65001, LOCAL_AS]), "192.0.2.11", &["10.244.4.0/24"]),
    )
    .unwrap();
    assert_eq!(
        changes(&mut rib),
        vec![("10.244.4.0/24".into(), RouteAction::Withdraw)]
    );
    // Rejected paths are counted, not stored.
    assert_eq!(rib.path_count(), 0);
    assert_eq!(rib.peer_counters(e).rejected, 3);
}

#[test]
fn peer_down_withdraws_everything_it_sent() {
    let mut rib = rib();
    let e = peer(&mut rib, 1, 65001);
    let f = peer(&mut rib, 2, 65002);
    rib.receive(
        e,
        &announce(
            &attrs(&[65001]),
            "192.0.2.11",
            &["10.1.0.0/24", "10.2.0.0/24"],
        ),
    )
    .unwrap();
    rib.receive(
        f,
        &announce(&attrs(&[65002, 65009]), "192.0.2.12", &["10.2.0.0/24"]),
    )
    .unwrap();
    rib.receive(
        e,
        &announce6(&attrs(&[65001]), "2001:db8::11", &["fd00:1::/64"]),
    )
    .unwrap();
    changes(&mut rib);
    rib.peer_down(e);
    let mut got = changes(&mut rib);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("10.1.0.0/24".into(), RouteAction::Withdraw),
            (
                "10.2.0.0/24".into(),
                RouteAction::Replace(vec![ip("192.0.2.12")])
            ),
            ("fd00:1::/64".into(), RouteAction::Withdraw),
        ]
    );
    assert_eq!(rib.path_count(), 1);
    assert_eq!(rib.peer_counters(e).received, 0);
}

#[test]
fn stopped_stream_logs_nothing_and_keeps_the_rib_working() {
    let mut rib = rib();
    let e = peer(&mut rib, 1, 65001);
    let f = peer(&mut rib, 2, 65002);
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.11", &["10.1.0.0/24"]),
    )
    .unwrap();
    // A change with its FIB snapshot (an attribute reference) waits in the log.
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.99", &["10.1.0.0/24"]),
    )
    .unwrap();
    assert_eq!(rib.pending_route_changes(), 1);
    rib.stop_route_changes();
    assert_eq!(rib.pending_route_changes(), 0);
    // New prefixes, an ECMP pair, a replaced best path, IPv6: nothing is logged.
    rib.receive(
        f,
        &announce(
            &attrs(&[65002]),
            "192.0.2.12",
            &["10.1.0.0/24", "10.2.0.0/24"],
        ),
    )
    .unwrap();
    rib.receive(
        e,
        &announce6(&attrs(&[65001]), "2001:db8::11", &["fd00:1::/64"]),
    )
    .unwrap();
    rib.receive(e, &withdraw(&["10.1.0.0/24"])).unwrap();
    assert_eq!(rib.pending_route_changes(), 0);
    assert!(changes(&mut rib).is_empty());
    // The RIB itself is whole: best paths and what the peers are sent.
    assert_eq!(route(&rib, "10.1.0.0/24").paths.len(), 1);
    assert_eq!(route(&rib, "10.2.0.0/24").paths.len(), 1);
    let to_e = rib.take_updates(e, usize::MAX);
    let sent: Vec<ipnet::IpNet> = announced(&to_e).into_iter().map(|(p, ..)| p).collect();
    assert!(sent.contains(&net("10.1.0.0/24")), "{sent:?}");
    assert!(sent.contains(&net("10.2.0.0/24")), "{sent:?}");
    // No reference is held for the stopped log: everything goes with the peers.
    rib.peer_down(e);
    rib.peer_down(f);
    assert_eq!(rib.path_count(), 0);
    assert!(
        rib.attribute_sets() <= 1,
        "{} sets left",
        rib.attribute_sets()
    );
    assert!(changes(&mut rib).is_empty());
}
