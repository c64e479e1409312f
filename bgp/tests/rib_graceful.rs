//! RFC 4724 receiving speaker in the RIB: a restarting peer's paths stay (stale) with
//! no FIB change, re-announced ones become fresh, the rest go on flush.

mod rib_common;

use bgp::rib::{PeerUp, RouteAction};
use bgp::wire::AddressFamily;
use rib_common::*;

#[test]
fn stale_paths_stay_until_reannounced_or_flushed() {
    let mut rib = rib();
    let e = peer(&mut rib, 1, 65001);
    let i = peer(&mut rib, 2, LOCAL_AS);
    rib.take_updates(i, usize::MAX);
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
        e,
        &announce6(&attrs(&[65001]), "2001:db8::11", &["fd00:1::/64"]),
    )
    .unwrap();
    assert_eq!(rib.take_route_changes().len(), 3);
    assert_eq!(announced(&rib.take_updates(i, usize::MAX)).len(), 3);

    // Restart covering IPv4 only: IPv4 paths stay, IPv6 goes.
    rib.peer_down_graceful(e, &[AddressFamily::IPV4_UNICAST]);
    assert_eq!(rib.stale_count(e), 2);
    let changes = rib.take_route_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].prefix, net("fd00:1::/64"));
    assert_eq!(changes[0].action, RouteAction::Withdraw);
    assert_eq!(rib.len(), 2);
    assert_eq!(
        withdrawn(&rib.take_updates(i, usize::MAX)),
        vec![net("fd00:1::/64")]
    );

    // Back: one prefix re-announced (fresh again), with a new next hop.
    let mut up = PeerUp::new(v4("10.0.0.1"), std::net::IpAddr::V4(ROUTER_ID));
    up.local_ipv6 = Some("2001:db8::1".parse().unwrap());
    rib.peer_up(e, up).unwrap();
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.99", &["10.1.0.0/24"]),
    )
    .unwrap();
    assert_eq!(rib.stale_count(e), 1);
    assert_eq!(
        rib.take_route_changes()[0].action,
        RouteAction::Replace(vec![ip("192.0.2.99")])
    );
    // End-of-RIB: what is still stale goes.
    rib.flush_stale(e, &[AddressFamily::IPV4_UNICAST]);
    assert_eq!(rib.stale_count(e), 0);
    let changes = rib.take_route_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].prefix, net("10.2.0.0/24"));
    assert_eq!(changes[0].action, RouteAction::Withdraw);
    assert_eq!(
        route(&rib, "10.1.0.0/24").ecmp_next_hops,
        vec![ip("192.0.2.99")]
    );
    let ups = rib.take_updates(i, usize::MAX);
    assert_eq!(withdrawn(&ups), vec![net("10.2.0.0/24")]);
    assert_eq!(rib.peer_counters(e).received, 1);
}

#[test]
fn stale_paths_still_compete_and_a_hard_down_removes_them() {
    let mut rib = rib();
    let e = peer(&mut rib, 1, 65001);
    let f = peer(&mut rib, 2, 65002);
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.11", &["10.1.0.0/24"]),
    )
    .unwrap();
    rib.receive(
        f,
        &announce(&attrs(&[65002, 65009]), "192.0.2.12", &["10.1.0.0/24"]),
    )
    .unwrap();
    rib.take_route_changes();
    rib.peer_down_graceful(e, &[AddressFamily::IPV4_UNICAST]);
    // Still the best (shorter AS_PATH), nothing changes in the FIB.
    assert!(rib.take_route_changes().is_empty());
    assert_eq!(
        route(&rib, "10.1.0.0/24").ecmp_next_hops,
        vec![ip("192.0.2.11")]
    );
    // Restart timer expired without the peer: plain peer down removes them.
    rib.peer_down(e);
    assert_eq!(
        rib.take_route_changes()[0].action,
        RouteAction::Replace(vec![ip("192.0.2.12")])
    );
    assert_eq!(rib.path_count(), 1);
}
