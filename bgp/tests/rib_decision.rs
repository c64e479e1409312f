//! The RFC 4271 §9.1.2.2 decision process through the public API: each step decides
//! and the loser says why; ECMP sets; import checks with their reasons.

mod rib_common;

use bgp::rib::{LimitAction, LimitKind, PathView, PrefixLimit, RibError, RouteAction};
use rib_common::*;

fn loser(view: &bgp::rib::RouteView) -> &PathView {
    view.paths
        .iter()
        .find(|p| !p.best && !p.ecmp)
        .expect("a losing path")
}

fn best_from(view: &bgp::rib::RouteView) -> std::net::IpAddr {
    view.best.as_ref().expect("a best path").from.unwrap()
}

#[test]
fn highest_local_pref_wins_among_ibgp_paths() {
    let mut rib = rib();
    let a = peer(&mut rib, 1, LOCAL_AS);
    let b = peer(&mut rib, 2, LOCAL_AS);
    let mut hi = attrs(&[]);
    hi.local_pref = Some(200);
    rib.receive(a, &announce(&attrs(&[]), "192.0.2.11", &["10.1.0.0/24"]))
        .unwrap();
    rib.receive(b, &announce(&hi, "192.0.2.12", &["10.1.0.0/24"]))
        .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.12"));
    assert_eq!(v.best.as_ref().unwrap().local_pref, 200);
    assert_eq!(
        loser(&v).reason_lost.as_deref(),
        Some("lower LOCAL_PREF 100 < 200")
    );
    assert_eq!(v.ecmp_next_hops, vec![ip("192.0.2.12")]);
}

#[test]
fn local_pref_from_ebgp_is_ignored() {
    let mut rib = rib();
    let a = peer(&mut rib, 1, 65001);
    let b = peer(&mut rib, 2, 65002);
    let mut hi = attrs(&[65001, 65010]);
    hi.local_pref = Some(500);
    rib.receive(a, &announce(&hi, "192.0.2.11", &["10.1.0.0/24"]))
        .unwrap();
    rib.receive(
        b,
        &announce(&attrs(&[65002]), "192.0.2.12", &["10.1.0.0/24"]),
    )
    .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.12"));
    assert_eq!(loser(&v).local_pref, 100);
    assert_eq!(
        loser(&v).reason_lost.as_deref(),
        Some("longer AS_PATH 2 > 1")
    );
}

#[test]
fn shortest_as_path_wins() {
    let mut rib = rib();
    let a = peer(&mut rib, 1, 65001);
    let b = peer(&mut rib, 2, 65002);
    rib.receive(
        a,
        &announce(
            &attrs(&[65001, 65010, 65020]),
            "192.0.2.11",
            &["10.1.0.0/24"],
        ),
    )
    .unwrap();
    rib.receive(
        b,
        &announce(&attrs(&[65002, 65020]), "192.0.2.12", &["10.1.0.0/24"]),
    )
    .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.12"));
    assert_eq!(
        loser(&v).reason_lost.as_deref(),
        Some("longer AS_PATH 3 > 2")
    );
    assert_eq!(loser(&v).as_path, "65001 65010 65020");
}

#[test]
fn lowest_origin_wins() {
    let mut rib = rib();
    let a = peer(&mut rib, 1, 65001);
    let b = peer(&mut rib, 2, 65002);
    let mut inc = attrs(&[65001]);
    inc.origin = Some(bgp::wire::Origin::Incomplete);
    rib.receive(a, &announce(&inc, "192.0.2.11", &["10.1.0.0/24"]))
        .unwrap();
    rib.receive(
        b,
        &announce(&attrs(&[65002]), "192.0.2.12", &["10.1.0.0/24"]),
    )
    .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.12"));
    assert_eq!(
        loser(&v).reason_lost.as_deref(),
        Some("worse ORIGIN incomplete > igp")
    );
}

#[test]
fn med_is_compared_only_within_the_same_neighbour_as() {
    let mut rib = rib();
    let a = peer(&mut rib, 1, 65001);
    let b = peer(&mut rib, 2, 65001);
    let c = peer(&mut rib, 3, 65003);
    let med = |m| {
        let mut x = attrs(&[65001, 65100]);
        x.med = Some(m);
        x
    };
    rib.receive(a, &announce(&med(20), "192.0.2.11", &["10.1.0.0/24"]))
        .unwrap();
    rib.receive(b, &announce(&med(10), "192.0.2.12", &["10.1.0.0/24"]))
        .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.12"));
    assert_eq!(
        loser(&v).reason_lost.as_deref(),
        Some("higher MED 20 > 10 from neighbour AS 65001")
    );
    // A path from another AS with a higher MED is not beaten by MED: the router ID
    // (10.0.0.2 < 10.0.0.3) decides between b and c.
    let mut other = attrs(&[65003, 65100]);
    other.med = Some(50);
    rib.receive(c, &announce(&other, "192.0.2.13", &["10.1.0.0/24"]))
        .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.12"));
    let from_c = v
        .paths
        .iter()
        .find(|p| p.from == Some(ip("192.0.2.13")))
        .unwrap();
    assert_eq!(
        from_c.reason_lost.as_deref(),
        Some("higher router ID 10.0.0.3 > 10.0.0.2")
    );
}

#[test]
fn ebgp_beats_ibgp() {
    let mut rib = rib();
    let i = peer(&mut rib, 1, LOCAL_AS);
    let e = peer(&mut rib, 2, 65002);
    rib.receive(
        i,
        &announce(&attrs(&[65002]), "192.0.2.11", &["10.1.0.0/24"]),
    )
    .unwrap();
    rib.receive(
        e,
        &announce(&attrs(&[65002]), "192.0.2.12", &["10.1.0.0/24"]),
    )
    .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.12"));
    assert_eq!(
        loser(&v).reason_lost.as_deref(),
        Some("iBGP path, eBGP path preferred")
    );
}

#[test]
fn lowest_router_id_then_originator_id() {
    let mut rib = rib();
    let a = peer(&mut rib, 1, LOCAL_AS);
    let b = peer(&mut rib, 2, LOCAL_AS);
    rib.receive(
        b,
        &announce(&attrs(&[65009]), "192.0.2.12", &["10.1.0.0/24"]),
    )
    .unwrap();
    rib.receive(
        a,
        &announce(&attrs(&[65010]), "192.0.2.11", &["10.1.0.0/24"]),
    )
    .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.11"));
    assert_eq!(
        loser(&v).reason_lost.as_deref(),
        Some("higher router ID 10.0.0.2 > 10.0.0.1")
    );
    // With ORIGINATOR_ID 1.1.1.1 (a reflected route), b's path compares by that.
    let mut refl = attrs(&[65009]);
    refl.originator_id = Some(v4("1.1.1.1"));
    refl.cluster_list = vec![v4("9.9.9.9")];
    rib.receive(b, &announce(&refl, "192.0.2.12", &["10.1.0.0/24"]))
        .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.12"));
    assert_eq!(
        loser(&v).reason_lost.as_deref(),
        Some("higher router ID 10.0.0.1 > 1.1.1.1")
    );
}

#[test]
fn shorter_cluster_list_then_lower_peer_address() {
    let mut rib = rib();
    let a = peer(&mut rib, 1, LOCAL_AS);
    let b = peer(&mut rib, 2, LOCAL_AS);
    let refl = |first_as: u32, clusters: &[&str]| {
        let mut x = attrs(&[first_as]);
        x.originator_id = Some(v4("1.1.1.1"));
        x.cluster_list = clusters.iter().map(|c| v4(c)).collect();
        x
    };
    let long = refl(65008, &["9.9.9.1", "9.9.9.2"]);
    rib.receive(a, &announce(&long, "192.0.2.11", &["10.1.0.0/24"]))
        .unwrap();
    rib.receive(
        b,
        &announce(&refl(65009, &["9.9.9.3"]), "192.0.2.12", &["10.1.0.0/24"]),
    )
    .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.12"));
    assert_eq!(
        loser(&v).reason_lost.as_deref(),
        Some("longer CLUSTER_LIST 2 > 1")
    );
    // Same neighbour AS: both are in the ECMP set; the best of the two is picked by
    // CLUSTER_LIST length, then (equal lengths) by the lower peer address.
    rib.receive(
        a,
        &announce(
            &refl(65009, &["9.9.9.1", "9.9.9.2"]),
            "192.0.2.11",
            &["10.1.0.0/24"],
        ),
    )
    .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.12"));
    assert_eq!(v.ecmp_next_hops, vec![ip("192.0.2.11"), ip("192.0.2.12")]);
    rib.receive(
        a,
        &announce(&refl(65009, &["9.9.9.1"]), "192.0.2.11", &["10.1.0.0/24"]),
    )
    .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.11"));
    assert_eq!(v.ecmp_next_hops, vec![ip("192.0.2.11"), ip("192.0.2.12")]);
}

#[test]
fn peer_address_breaks_the_last_tie() {
    let mut rib = rib();
    let a = peer(&mut rib, 1, 65001);
    let b = peer(&mut rib, 2, 65002);
    let mut x = attrs(&[65001]);
    x.originator_id = Some(v4("1.1.1.1"));
    let mut y = attrs(&[65002]);
    y.originator_id = Some(v4("1.1.1.1"));
    rib.receive(b, &announce(&y, "192.0.2.12", &["10.1.0.0/24"]))
        .unwrap();
    rib.receive(a, &announce(&x, "192.0.2.11", &["10.1.0.0/24"]))
        .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(best_from(&v), ip("192.0.2.11"));
    assert_eq!(
        loser(&v).reason_lost.as_deref(),
        Some("higher peer address 192.0.2.12 > 192.0.2.11")
    );
}

#[test]
fn ibgp_mesh_with_equal_paths_is_ecmp() {
    let mut rib = rib();
    let a = peer(&mut rib, 1, LOCAL_AS);
    let b = peer(&mut rib, 2, LOCAL_AS);
    let c = peer(&mut rib, 3, LOCAL_AS);
    for (p, nh) in [(a, "192.0.2.11"), (b, "192.0.2.12"), (c, "192.0.2.13")] {
        rib.receive(p, &announce(&attrs(&[]), nh, &["10.244.9.0/24"]))
            .unwrap();
    }
    let v = route(&rib, "10.244.9.0/24");
    assert_eq!(
        v.ecmp_next_hops,
        vec![ip("192.0.2.11"), ip("192.0.2.12"), ip("192.0.2.13")]
    );
    assert!(v.paths.iter().all(|p| p.ecmp && p.reason_lost.is_none()));
    assert_eq!(v.paths.iter().filter(|p| p.best).count(), 1);
    let changes = rib.take_route_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].action,
        RouteAction::Install(vec![ip("192.0.2.11"), ip("192.0.2.12"), ip("192.0.2.13")])
    );
    // One member leaves: replace with the remaining two.
    rib.peer_down(b);
    let changes = rib.take_route_changes();
    assert_eq!(
        changes[0].action,
        RouteAction::Replace(vec![ip("192.0.2.11"), ip("192.0.2.13")])
    );
}

#[test]
fn ebgp_ecmp_needs_the_same_neighbour_as() {
    let mut rib = rib();
    let a = peer(&mut rib, 1, 65001);
    let b = peer(&mut rib, 2, 65001);
    let c = peer(&mut rib, 3, 65003);
    rib.receive(
        a,
        &announce(&attrs(&[65001, 65100]), "192.0.2.11", &["10.1.0.0/24"]),
    )
    .unwrap();
    rib.receive(
        b,
        &announce(&attrs(&[65001, 65100]), "192.0.2.12", &["10.1.0.0/24"]),
    )
    .unwrap();
    rib.receive(
        c,
        &announce(&attrs(&[65003, 65100]), "192.0.2.13", &["10.1.0.0/24"]),
    )
    .unwrap();
    let v = route(&rib, "10.1.0.0/24");
    assert_eq!(v.ecmp_next_hops, vec![ip("192.0.2.11"), ip("192.0.2.12")]);
    let from_c = v
        .paths
        .iter()
        .find(|p| p.from == Some(ip("192.0.2.13")))
        .unwrap();
    assert!(!from_c.ecmp);
    assert_eq!(
        from_c.reason_lost.as_deref(),
        Some("higher router ID 10.0.0.3 > 10.0.0.1")
    );
    // Without `all`, only the ECMP set is shown.
    assert_eq!(rib.route(net("10.1.0.0/24"), false).unwrap().paths.len(), 2);
}

#[test]
fn as_loop_and_own_next_hop_are_rejected_and_counted_not_stored() {
    let mut rib = rib();
    let e = peer(&mut rib, 1, 65001);
    rib.receive(
        e,
        &announce(
            &attrs(&[65001, LOCAL_AS, 65002]),
            "192.0.2.11",
            &["10.1.0.0/24"],
        ),
    )
    .unwrap();
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.1", &["10.2.0.0/24"]),
    )
    .unwrap();
    assert!(rib.is_empty());
    assert!(rib.take_route_changes().is_empty());
    assert!(rib.route(net("10.1.0.0/24"), true).is_none());
    assert!(rib.routes(true).is_empty());
    assert_eq!((rib.path_count(), rib.attribute_sets()), (0, 0));
    assert_eq!(
        rib.rejected(e),
        vec![
            ("AS loop: AS_PATH contains our AS", 1),
            ("next hop is our own address", 1)
        ]
    );
    let c = rib.peer_counters(e);
    assert_eq!((c.received, c.accepted, c.rejected), (2, 0, 2));
}

#[test]
fn route_reflection_loops_are_rejected() {
    let mut rib = rib();
    let i = peer(&mut rib, 1, LOCAL_AS);
    let mut own = attrs(&[]);
    own.originator_id = Some(ROUTER_ID);
    rib.receive(i, &announce(&own, "192.0.2.11", &["10.1.0.0/24"]))
        .unwrap();
    let mut looped = attrs(&[]);
    looped.originator_id = Some(v4("10.9.9.9"));
    looped.cluster_list = vec![v4("10.8.8.8"), ROUTER_ID];
    rib.receive(i, &announce(&looped, "192.0.2.11", &["10.2.0.0/24"]))
        .unwrap();
    assert!(rib.is_empty());
    assert_eq!(
        rib.rejected(i),
        vec![
            ("ORIGINATOR_ID is our router ID", 1),
            ("cluster loop: CLUSTER_LIST contains our cluster ID", 1)
        ]
    );
}

#[test]
fn import_policy_outside_pools_and_own_blocks() {
    let mut rib = rib();
    let e = peer_with(&mut rib, 1, 65001, |s| {
        s.import = pools(&["10.244.0.0/16"], &["10.244.1.0/24"]);
    });
    let u = announce(
        &attrs(&[65001]),
        "192.0.2.11",
        &["10.244.2.0/24", "10.244.1.0/24", "172.16.0.0/24"],
    );
    rib.receive(e, &u).unwrap();
    assert_eq!(rib.len(), 1);
    assert_eq!(rib.path_count(), 1);
    assert_eq!(
        rib.rejected(e),
        vec![
            ("prefix outside the pools", 1),
            ("prefix is one of our own blocks", 1)
        ]
    );
    let changes = rib.take_route_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].prefix, net("10.244.2.0/24"));
    let c = rib.peer_counters(e);
    assert_eq!((c.received, c.accepted), (3, 1));
    // Withdrawing a rejected prefix changes nothing; the counts are of this session.
    rib.receive(e, &withdraw(&["172.16.0.0/24"])).unwrap();
    assert!(rib.take_route_changes().is_empty());
    rib.peer_down(e);
    assert!(rib.rejected(e).is_empty());
}

#[test]
fn import_limit_restart_is_reported_once() {
    let mut rib = rib();
    let e = peer_with(&mut rib, 1, 65001, |s| {
        s.import_limit = Some(PrefixLimit::restart(2))
    });
    rib.receive(
        e,
        &announce(
            &attrs(&[65001]),
            "192.0.2.11",
            &["10.1.0.0/24", "10.2.0.0/24"],
        ),
    )
    .unwrap();
    let err = rib
        .receive(
            e,
            &announce(&attrs(&[65001]), "192.0.2.11", &["10.3.0.0/24"]),
        )
        .unwrap_err();
    assert_eq!(
        err,
        RibError::PrefixLimit {
            peer: e,
            kind: LimitKind::Import,
            limit: 2,
            count: 3,
            action: LimitAction::Restart,
        }
    );
    // Reported once per crossing.
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.11", &["10.4.0.0/24"]),
    )
    .unwrap();
    rib.peer_down(e);
    assert!(rib.is_empty());
    assert_eq!(rib.path_count(), 0);
}

#[test]
fn receive_limit_counts_rejected_announcements() {
    let mut rib = rib();
    let e = peer_with(&mut rib, 1, 65001, |s| {
        s.import = pools(&["10.244.0.0/16"], &[]);
        s.import_limit = Some(PrefixLimit::restart(1000));
        s.receive_limit = Some(PrefixLimit::restart(100));
    });
    let outside: Vec<String> = (0..100).map(|i| format!("172.16.{i}.0/24")).collect();
    let refs: Vec<&str> = outside.iter().map(String::as_str).collect();
    rib.receive(e, &announce(&attrs(&[65001]), "192.0.2.11", &refs))
        .unwrap();
    let err = rib
        .receive(
            e,
            &announce(&attrs(&[65001]), "192.0.2.11", &["172.17.0.0/24"]),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            RibError::PrefixLimit {
                kind: LimitKind::Receive,
                limit: 100,
                count: 101,
                ..
            }
        ),
        "{err:?}"
    );
    // Nothing of it is stored.
    assert_eq!((rib.path_count(), rib.attribute_sets()), (0, 0));
}

#[test]
fn block_drops_new_prefixes_beyond_the_limit_and_warn_keeps_them() {
    let mut rib = rib();
    let b = peer_with(&mut rib, 1, 65001, |s| {
        s.import_limit = Some(PrefixLimit {
            max: 2,
            action: LimitAction::Block,
        })
    });
    let w = peer_with(&mut rib, 2, 65002, |s| {
        s.import_limit = Some(PrefixLimit {
            max: 2,
            action: LimitAction::Warn,
        })
    });
    let three = ["10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"];
    let err = rib
        .receive(b, &announce(&attrs(&[65001]), "192.0.2.11", &three))
        .unwrap_err();
    assert!(matches!(
        err,
        RibError::PrefixLimit {
            action: LimitAction::Block,
            count: 3,
            ..
        }
    ));
    assert_eq!(rib.peer_counters(b).accepted, 2);
    assert_eq!(
        rib.rejected(b),
        vec![("import limit reached (action block)", 1)]
    );
    // A prefix it already has may still change.
    rib.receive(
        b,
        &announce(&attrs(&[65001, 65009]), "192.0.2.11", &["10.1.0.0/24"]),
    )
    .unwrap();
    assert_eq!(rib.peer_counters(b).accepted, 2);
    assert!(rib
        .receive(w, &announce(&attrs(&[65002]), "192.0.2.12", &three))
        .is_err());
    assert_eq!(rib.peer_counters(w).accepted, 3);
}

#[test]
fn locally_originated_route_wins_and_is_not_a_fib_route() {
    let mut rib = rib();
    let e = peer(&mut rib, 1, 65001);
    rib.receive(
        e,
        &announce(&attrs(&[65001]), "192.0.2.11", &["10.244.1.0/24"]),
    )
    .unwrap();
    assert_eq!(rib.take_route_changes().len(), 1);
    rib.originate(net("10.244.1.0/24"));
    let v = route(&rib, "10.244.1.0/24");
    assert_eq!(v.best.as_ref().unwrap().peer, None);
    assert!(v.ecmp_next_hops.is_empty());
    assert_eq!(
        loser(&v).reason_lost.as_deref(),
        Some("locally originated route preferred")
    );
    let changes = rib.take_route_changes();
    assert_eq!(changes[0].action, RouteAction::Withdraw);
    rib.withdraw_originated(net("10.244.1.0/24"));
    assert_eq!(
        rib.take_route_changes()[0].action,
        RouteAction::Install(vec![ip("192.0.2.11")])
    );
}

#[test]
fn ipv6_paths_and_treat_as_withdraw() {
    let mut rib = rib();
    let e = peer(&mut rib, 1, 65001);
    rib.receive(
        e,
        &announce6(&attrs(&[65001]), "2001:db8::11", &["fd00:244:1::/64"]),
    )
    .unwrap();
    let v = route(&rib, "fd00:244:1::/64");
    assert_eq!(v.ecmp_next_hops, vec![ip("2001:db8::11")]);
    let mut taw = announce6(&attrs(&[65001]), "2001:db8::11", &["fd00:244:1::/64"]);
    taw.errors.push(bgp::wire::AttributeError {
        type_code: 1,
        action: bgp::wire::ErrorAction::TreatAsWithdraw,
        reason: "test",
        offset: 0,
    });
    rib.receive(e, &taw).unwrap();
    assert!(rib.route(net("fd00:244:1::/64"), true).is_none());
}
