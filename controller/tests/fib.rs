//! The controller against the real kernel, inside network namespaces made by the test:
//! what an operator checks with `ip -j route show proto 201`.

use std::time::Duration;

use controller::{
    Controller, ControllerConfig, ControllerHandle, ControllerTask, DesiredChange, NextHop, Route,
    RouteState, TableConfig, DEFAULT_PROTOCOL,
};
use ipnet::IpNet;
use testlab::{wait_for, Lab, Netns};

mod common;
use common::{gateways, kernel_routes};

const PROTO: &str = "201";

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn nh(s: &str) -> NextHop {
    NextHop::new(s.parse().unwrap())
}

/// Runs `ip ARGS` in `ns` (ARGS split on white space); panics when it fails.
fn ip(ns: &Netns, args: &str) -> String {
    let argv: Vec<&str> = std::iter::once("ip")
        .chain(args.split_whitespace())
        .collect();
    ns.ok(&argv)
}

/// A namespace `h` with two veth interfaces to a peer namespace:
/// d0 10.0.0.1/24 fd00::1/64, d1 10.0.1.1/24 fd01::1/64.
fn host(lab: &mut Lab) -> Netns {
    let h = lab.netns("h");
    let peer = lab.netns("p");
    lab.veth(
        &h,
        "d0",
        &["10.0.0.1/24", "fd00::1/64"],
        &peer,
        "p0",
        &["10.0.0.254/24", "fd00::fe/64"],
    );
    lab.veth(
        &h,
        "d1",
        &["10.0.1.1/24", "fd01::1/64"],
        &peer,
        "p1",
        &["10.0.1.254/24", "fd01::fe/64"],
    );
    h
}

fn config(h: &Netns) -> ControllerConfig {
    ControllerConfig {
        table: TableConfig::default(),
        netns: Some(h.name().to_string()),
        // Long: repairs in these tests must come from events, not from the timer.
        resync_interval: Duration::from_secs(3600),
        adopt_grace: Duration::from_secs(3600),
        ..ControllerConfig::default()
    }
}

fn spawn(h: &Netns) -> (ControllerHandle, ControllerTask) {
    Controller::spawn(config(h)).expect("controller starts")
}

fn sample() -> Vec<Route> {
    vec![
        Route::via(net("10.244.2.0/24"), [nh("10.0.0.2")]),
        Route::via(net("10.244.3.0/24"), [nh("10.0.0.3"), nh("10.0.1.3")]),
        Route::device(net("10.244.1.10/32"), "d0"),
        Route::blackhole(net("10.244.1.0/24")),
        Route::via(net("fd00:244:2::/64"), [nh("fd00::2")]),
        Route::via(net("fd00:244:3::/64"), [nh("fd00::3"), nh("fd01::3")]),
        Route::via(
            net("fd00:244:4::/64"),
            [NextHop::with_dev("fe80::4".parse().unwrap(), "d1")],
        ),
        Route::device(net("fd00:244:1::10/128"), "d0"),
        Route::blackhole(net("fd00:244:1::/64")),
    ]
}

#[tokio::test]
async fn installs_via_device_blackhole_and_ecmp_for_v4_and_v6() {
    let mut lab = Lab::new("ctl-install");
    let h = host(&mut lab);
    let (ctl, _task) = spawn(&h);
    ctl.replace_all(sample()).await.unwrap();
    ctl.sync().await.unwrap();

    let k = kernel_routes(&h, PROTO);
    assert_eq!(k.len(), 9, "{k:#?}");
    let r = &k["10.244.2.0/24"];
    assert_eq!(
        (gateways(r), r["dev"].as_str()),
        (vec!["10.0.0.2".to_string()], Some("d0"))
    );
    assert_eq!(
        gateways(&k["10.244.3.0/24"]),
        ["10.0.0.3", "10.0.1.3"],
        "one multipath route"
    );
    assert_eq!(k["10.244.1.10/32"]["dev"], "d0");
    assert_eq!(k["10.244.1.10/32"]["scope"], "link");
    assert_eq!(k["10.244.1.0/24"]["type"], "blackhole");
    assert_eq!(gateways(&k["fd00:244:2::/64"]), ["fd00::2"]);
    assert_eq!(
        gateways(&k["fd00:244:3::/64"]),
        ["fd00::3", "fd01::3"],
        "one multipath route"
    );
    assert_eq!(
        (
            gateways(&k["fd00:244:4::/64"]),
            k["fd00:244:4::/64"]["dev"].as_str()
        ),
        (vec!["fe80::4".to_string()], Some("d1"))
    );
    assert_eq!(k["fd00:244:1::10/128"]["dev"], "d0");
    assert_eq!(k["fd00:244:1::/64"]["type"], "blackhole");

    for row in ctl.routes().await.unwrap() {
        assert_eq!(row.state, RouteState::Installed, "{}", row.route);
    }
    let c = ctl.counters();
    assert_eq!(
        (
            c.netlink_ops,
            c.netlink_errors,
            c.routes_installed,
            c.routes_desired
        ),
        (9, 0, 9, 9)
    );

    // What we installed reads back as what we asked for: a reconcile changes nothing.
    ctl.reconcile().await.unwrap();
    assert_eq!(ctl.counters().netlink_ops, 9);
    assert!(ctl.counters().reconciles >= 2);

    // A change of next hop is one replace.
    ctl.upsert(Route::via(net("10.244.2.0/24"), [nh("10.0.1.2")]))
        .await
        .unwrap();
    ctl.sync().await.unwrap();
    assert_eq!(
        gateways(&kernel_routes(&h, PROTO)["10.244.2.0/24"]),
        ["10.0.1.2"]
    );
    ctl.remove(net("fd00:244:2::/64")).await.unwrap();
    ctl.sync().await.unwrap();
    assert!(!kernel_routes(&h, PROTO).contains_key("fd00:244:2::/64"));
    assert_eq!(ctl.counters().netlink_ops, 11);
    // IPv6 multipath changes: other next hops, then down to one, then back to two.
    for hops in [
        vec!["fd00::5", "fd01::5"],
        vec!["fd01::6"],
        vec!["fd00::7", "fd01::7"],
    ] {
        let route = Route::via(net("fd00:244:3::/64"), hops.iter().map(|a| nh(a)));
        ctl.upsert(route).await.unwrap();
        ctl.sync().await.unwrap();
        assert_eq!(gateways(&kernel_routes(&h, PROTO)["fd00:244:3::/64"]), hops);
    }
    ctl.reconcile().await.unwrap();
    assert_eq!(
        ctl.counters().netlink_ops,
        14,
        "what was replaced reads back as desired"
    );
    assert_eq!(ctl.counters().routes_installed, 8);
}

#[tokio::test]
async fn route_deleted_or_changed_by_hand_is_put_back_by_events() {
    let mut lab = Lab::new("ctl-putback");
    let h = host(&mut lab);
    let (ctl, _task) = spawn(&h);
    ctl.replace_all(sample()).await.unwrap();
    ctl.sync().await.unwrap();
    let reconciles = ctl.counters().reconciles;

    ip(&h, "route del 10.244.2.0/24");
    ip(&h, "-6 route del fd00:244:1::10/128");
    wait_for(Duration::from_secs(30), "deleted routes put back", || {
        let k = kernel_routes(&h, PROTO);
        (k.contains_key("10.244.2.0/24") && k.contains_key("fd00:244:1::10/128")).then_some(())
    });
    // Someone replaces our blackhole with another route of our protocol.
    ip(
        &h,
        &format!("route replace 10.244.1.0/24 via 10.0.0.9 proto {PROTO}"),
    );
    wait_for(Duration::from_secs(30), "changed route put back", || {
        (kernel_routes(&h, PROTO)["10.244.1.0/24"]["type"] == "blackhole").then_some(())
    });
    assert_eq!(
        ctl.counters().reconciles,
        reconciles,
        "repaired from events, not by a resync"
    );
    assert!(ctl.counters().events > 0);
    assert_eq!(kernel_routes(&h, PROTO).len(), 9);
}

#[tokio::test]
async fn our_own_changes_do_not_come_back_as_events_but_others_do() {
    let mut lab = Lab::new("ctl-echo");
    let h = host(&mut lab);
    let (ctl, _task) = spawn(&h);
    ctl.replace_all(sample()).await.unwrap();
    ctl.sync().await.unwrap();
    // The kernel queued a notification of each of our nine installs before answering
    // them; one change made behind our back is queued after those.
    ip(
        &h,
        &format!("route add 10.244.9.0/24 via 10.0.0.9 proto {PROTO}"),
    );
    wait_for(Duration::from_secs(30), "the stray route removed", || {
        (!kernel_routes(&h, PROTO).contains_key("10.244.9.0/24")).then_some(())
    });
    let c = ctl.counters();
    assert!(c.events >= 1, "the stray route was seen: {c:?}");
    assert!(
        c.events < 9,
        "our installs (and the delete of the stray) are not read back: {c:?}"
    );
    assert_eq!(kernel_routes(&h, PROTO).len(), 9);
}

#[tokio::test]
async fn other_protocols_routes_are_left_alone() {
    let mut lab = Lab::new("ctl-otherproto");
    let h = host(&mut lab);
    ip(&h, "route add 10.99.0.0/24 via 10.0.0.5 proto static");
    ip(&h, "route add 10.244.2.0/24 via 10.0.0.6 proto bird");
    ip(&h, "-6 route add blackhole fd00:99::/64 proto 4");
    let (ctl, _task) = spawn(&h);
    ctl.replace_all(sample()).await.unwrap();
    ctl.sync().await.unwrap();
    // Our route for a prefix that BIRD already routes is refused, not overwritten.
    match ctl
        .route_status(net("10.244.2.0/24"))
        .await
        .unwrap()
        .unwrap()
        .state
    {
        RouteState::Failed(reason) => assert!(reason.contains("exists"), "{reason}"),
        s => panic!("expected failed, got {s:?}"),
    }
    // Routes added with another protocol while we run are not touched either.
    ip(&h, "route add 10.98.0.0/24 via 10.0.0.7 proto 202");
    ctl.reconcile().await.unwrap();
    assert_eq!(ctl.flush().await.unwrap(), 8);
    assert!(kernel_routes(&h, PROTO).is_empty());
    let all = ip(&h, "route show") + &ip(&h, "-6 route show");
    for want in [
        "10.99.0.0/24 via 10.0.0.5",
        "10.244.2.0/24 via 10.0.0.6",
        "10.98.0.0/24 via 10.0.0.7",
        "blackhole fd00:99::/64",
    ] {
        assert!(all.contains(want), "{want} missing from\n{all}");
    }
}

#[tokio::test]
async fn unreachable_next_hop_is_reported_and_the_rest_installed() {
    let mut lab = Lab::new("ctl-unreach");
    let h = host(&mut lab);
    let (ctl, _task) = spawn(&h);
    let mut routes = sample();
    routes.push(Route::via(net("10.244.9.0/24"), [nh("10.0.9.9")]));
    routes.push(Route::via(net("fd00:244:9::/64"), [nh("fd09::9")]));
    routes.push(Route::device(net("10.244.1.11/32"), "nosuchif"));
    ctl.replace_all(routes).await.unwrap();
    ctl.sync().await.unwrap();
    assert_eq!(kernel_routes(&h, PROTO).len(), 9);
    for (p, want) in [
        ("10.244.9.0/24", "next hop 10.0.9.9 not directly reachable"),
        ("fd00:244:9::/64", "next hop fd09::9 not directly reachable"),
        ("10.244.1.11/32", "interface nosuchif not found"),
    ] {
        match ctl.route_status(net(p)).await.unwrap().unwrap().state {
            RouteState::Failed(reason) => assert_eq!(reason, want, "{p}"),
            s => panic!("{p}: expected failed, got {s:?}"),
        }
    }
    let c = ctl.counters();
    assert_eq!((c.routes_failed, c.routes_installed), (3, 9));
    assert!(c.netlink_errors >= 2);
    // Not retried in a loop: nothing more happens until the next reconcile.
    let ops = c.netlink_ops;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ctl.counters().netlink_ops, ops);
    // Once the next hop is reachable, the next reconcile installs it.
    ip(&h, "addr add 10.0.9.1/24 dev d1");
    ctl.reconcile().await.unwrap();
    assert_eq!(
        ctl.route_status(net("10.244.9.0/24"))
            .await
            .unwrap()
            .unwrap()
            .state,
        RouteState::Installed
    );
    assert_eq!(
        gateways(&kernel_routes(&h, PROTO)["10.244.9.0/24"]),
        ["10.0.9.9"]
    );
}

#[tokio::test]
async fn restart_adopts_routes_without_churn_and_flush_removes_only_ours() {
    let mut lab = Lab::new("ctl-restart");
    let h = host(&mut lab);
    ip(&h, "route add 10.99.0.0/24 via 10.0.0.5 proto static");
    let mut routes = sample();
    for i in 0..200u32 {
        let p = IpNet::new(std::net::Ipv4Addr::from(0x0b00_0000 + (i << 8)).into(), 24).unwrap();
        routes.push(Route::via(p, [nh("10.0.0.2")]));
    }
    {
        let (ctl, task) = spawn(&h);
        ctl.replace_all(routes.clone()).await.unwrap();
        ctl.upsert(Route::blackhole(net("10.244.77.0/24")))
            .await
            .unwrap(); // will be stale
        ctl.sync().await.unwrap();
        assert_eq!(ctl.shutdown(false).await.unwrap(), 0);
        task.wait().await.unwrap();
    }
    let before = kernel_routes(&h, PROTO);
    assert_eq!(before.len(), 210, "routes stay after shutdown");

    let (ctl, _task) = spawn(&h);
    // The start reconcile adopts: nothing deleted while the desired set is incomplete.
    ctl.reconcile().await.unwrap();
    ctl.upsert(routes[0].clone()).await.unwrap();
    ctl.sync().await.unwrap();
    assert_eq!(ctl.counters().netlink_ops, 0, "adopted, not re-added");
    assert_eq!(kernel_routes(&h, PROTO), before);
    // The complete set: only the stale route goes, in one operation.
    ctl.replace_all(routes.clone()).await.unwrap();
    ctl.sync().await.unwrap();
    assert_eq!(ctl.counters().netlink_ops, 1);
    let after = kernel_routes(&h, PROTO);
    assert_eq!(after.len(), 209);
    assert!(!after.contains_key("10.244.77.0/24"));
    assert_eq!(ctl.counters().routes_installed, 209);

    assert_eq!(ctl.shutdown(true).await.unwrap(), 209);
    assert!(kernel_routes(&h, PROTO).is_empty());
    assert!(ip(&h, "route show proto static").contains("10.99.0.0/24"));
}

#[tokio::test]
async fn protocol_and_table_are_configurable() {
    let mut lab = Lab::new("ctl-table");
    let h = host(&mut lab);
    let mut cfg = config(&h);
    cfg.table = TableConfig {
        table: 1000,
        protocol: 77,
        ecmp: false,
        metric: 0,
        nexthop_objects: false,
    };
    let (ctl, _task) = Controller::spawn(cfg).unwrap();
    ctl.replace_all(vec![Route::via(
        net("10.244.3.0/24"),
        [nh("10.0.1.3"), nh("10.0.0.3")],
    )])
    .await
    .unwrap();
    ctl.sync().await.unwrap();
    let text = ip(&h, "route show table 1000 proto 77");
    assert_eq!(
        text.trim(),
        "10.244.3.0/24 via 10.0.1.3 dev d1",
        "ECMP off: first next hop only"
    );
    assert!(ip(&h, &format!("route show proto {DEFAULT_PROTOCOL}")).is_empty());
    assert_eq!(ctl.flush().await.unwrap(), 1);
}

#[tokio::test]
async fn stray_routes_with_our_protocol_are_removed_even_in_bulk() {
    let mut lab = Lab::new("ctl-stray");
    let h = host(&mut lab);
    let (ctl, _task) = spawn(&h);
    ctl.replace_all(sample()).await.unwrap();
    ctl.sync().await.unwrap();
    // 20,000 routes with our protocol number added behind our back, faster than a small
    // event buffer may hold: removed either from the events or by the resync an event
    // overrun triggers.
    let batch = lab.dir().join("stray.batch");
    let mut text = String::new();
    for i in 0..20_000u32 {
        let a = std::net::Ipv4Addr::from((12u32 << 24) + (i << 8));
        text.push_str(&format!("route add {a}/24 via 10.0.0.9 proto {PROTO}\n"));
    }
    std::fs::write(&batch, text).unwrap();
    h.ok(&["ip", "-batch", batch.to_str().unwrap()]);
    wait_for(Duration::from_secs(60), "stray routes removed", || {
        (kernel_routes(&h, PROTO).len() == 9).then_some(())
    });
    let c = ctl.counters();
    assert!(c.events + c.event_overruns > 0, "{c:?}");
    assert_eq!(kernel_routes(&h, PROTO).len(), 9);
}

#[tokio::test]
async fn routes_the_kernel_drops_silently_come_back_with_the_periodic_resync() {
    let mut lab = Lab::new("ctl-resync");
    let h = host(&mut lab);
    let mut cfg = config(&h);
    cfg.resync_interval = Duration::from_secs(1);
    let (ctl, _task) = Controller::spawn(cfg).unwrap();
    ctl.replace_all(vec![
        Route::device(net("10.244.1.20/32"), "d1"),
        Route::via(net("10.244.5.0/24"), [nh("10.0.1.5")]),
        Route::blackhole(net("10.244.1.0/24")),
    ])
    .await
    .unwrap();
    ctl.sync().await.unwrap();
    assert_eq!(kernel_routes(&h, PROTO).len(), 3);
    // d1's last IPv4 address gone: the kernel removes the IPv4 routes through d1 without
    // telling anyone (and, unlike a link going down and up, without a link event).
    ip(&h, "addr del 10.0.1.1/24 dev d1");
    wait_for(Duration::from_secs(10), "routes via d1 gone", || {
        (kernel_routes(&h, PROTO).len() == 1).then_some(())
    });
    ip(&h, "addr add 10.0.1.1/24 dev d1");
    wait_for(Duration::from_secs(30), "routes back after resync", || {
        (kernel_routes(&h, PROTO).len() == 3).then_some(())
    });
    wait_for(
        Duration::from_secs(30),
        "all three reported installed",
        || (ctl.counters().routes_installed == 3).then_some(()),
    );
    assert!(ctl.counters().reconciles >= 2);
}

#[tokio::test]
async fn routes_carry_the_metric_and_a_changed_metric_replaces_them() {
    let mut lab = Lab::new("ctl-metric");
    let h = host(&mut lab);
    let routes = || {
        vec![
            Route::via(net("10.244.3.0/24"), [nh("10.0.0.3")]),
            Route::via(net("fd00:244:3::/64"), [nh("fd00::3")]),
        ]
    };
    let lines = |fam: &str| {
        h.ok(&["ip", fam, "route", "show", "proto", PROTO])
            .lines()
            .map(|l| l.trim().to_string())
            .collect::<Vec<_>>()
    };
    let mut cfg = config(&h);
    cfg.table.metric = 3000;
    let (ctl, task) = Controller::spawn(cfg).unwrap();
    ctl.replace_all(routes()).await.unwrap();
    ctl.sync().await.unwrap();
    let k = kernel_routes(&h, PROTO);
    assert_eq!(k["10.244.3.0/24"]["metric"], 3000, "{k:?}");
    assert_eq!(k["fd00:244:3::/64"]["metric"], 3000, "{k:?}");
    // A host route for the same prefix with a lower metric wins over ours.
    ip(&h, "route add 10.244.3.0/24 via 10.0.1.3 metric 100");
    let got = ip(&h, "route get 10.244.3.7");
    assert!(got.contains("via 10.0.1.3"), "{got}");
    ip(&h, "route del 10.244.3.0/24 via 10.0.1.3 metric 100");
    ctl.shutdown(false).await.unwrap();
    task.wait().await.unwrap();

    // The next run uses the kernel's default metric: the routes at 3000 are replaced,
    // not duplicated.
    let (ctl, _task) = spawn(&h);
    ctl.replace_all(routes()).await.unwrap();
    ctl.sync().await.unwrap();
    ctl.reconcile().await.unwrap();
    assert_eq!(lines("-4"), ["10.244.3.0/24 via 10.0.0.3 dev d0"]);
    let v6 = lines("-6");
    assert_eq!(v6.len(), 1, "{v6:?}");
    assert!(v6[0].contains("metric 1024"), "{v6:?}");
    let k = kernel_routes(&h, PROTO);
    assert!(k["10.244.3.0/24"].get("metric").is_none(), "{k:?}");
}

#[tokio::test]
async fn interface_made_again_under_the_same_name_gets_its_route_without_a_failure() {
    // A container re-added with the same id gets a veth of the same name and a new index:
    // the controller's name -> index list is stale, the kernel answers ENODEV. The route
    // must go in at once (names learnt again), not fail and wait for the next reconcile.
    let mut lab = Lab::new("ctl-samename");
    let h = host(&mut lab);
    let (ctl, _task) = spawn(&h);
    let p = net("10.244.1.20/32");
    for round in 0..3 {
        ip(&h, "link add w0 type veth peer name w0p");
        ip(&h, "link set w0 up");
        let errors = ctl.counters().netlink_errors;
        ctl.upsert(Route::device(p, "w0")).await.unwrap();
        ctl.sync().await.unwrap();
        let state = ctl.route_status(p).await.unwrap().unwrap().state;
        assert_eq!(state, RouteState::Installed, "round {round}");
        assert_eq!(ctl.counters().netlink_errors, errors, "round {round}");
        assert_eq!(kernel_routes(&h, PROTO)["10.244.1.20/32"]["dev"], "w0");
        // As a CNI DEL does: the route first, then the interface.
        ctl.remove(p).await.unwrap();
        ctl.sync().await.unwrap();
        ip(&h, "link del w0");
    }
    // An interface that is really gone is still reported, with the kernel's reason.
    ip(&h, "link add w1 type veth peer name w1p");
    ip(&h, "link set w1 up");
    ctl.upsert(Route::device(net("10.244.1.21/32"), "w1"))
        .await
        .unwrap();
    ctl.sync().await.unwrap();
    ctl.remove(net("10.244.1.21/32")).await.unwrap();
    ctl.sync().await.unwrap();
    ip(&h, "link del w1");
    ctl.upsert(Route::device(p, "w1")).await.unwrap();
    ctl.sync().await.unwrap();
    match ctl.route_status(p).await.unwrap().unwrap().state {
        RouteState::Failed(reason) => assert!(reason.contains("w1 not found"), "{reason}"),
        s => panic!("expected failed, got {s:?}"),
    }
}

/// A /26 blackhole route, the `i`th of 10.60.0.0/16 onwards.
fn blackhole_26(i: u32) -> Route {
    let a = std::net::Ipv4Addr::from((10u32 << 24) + (60 << 16) + (i << 6));
    Route::blackhole(IpNet::new(a.into(), 26).expect("valid prefix"))
}

/// A controller in an empty namespace `h` that deletes strays at once, started and idle.
async fn spawn_running(h: &Netns) -> (ControllerHandle, ControllerTask) {
    let (ctl, task) = Controller::spawn(ControllerConfig {
        adopt_grace: Duration::ZERO,
        ..config(h)
    })
    .expect("controller starts");
    ctl.sync().await.unwrap();
    (ctl, task)
}

/// Small batches of changes that find the controller thread idle are applied by the
/// caller itself (no hand-over to the thread): in the kernel in the order sent, also
/// behind a large batch still queued for the thread.
#[tokio::test]
async fn small_batches_land_in_order_behind_queued_ones() {
    let mut lab = Lab::new("ctl-direct");
    let h = lab.netns("h");
    let (ctl, _task) = spawn_running(&h).await;

    // One route at a time with the thread idle in between (an `ip` run per step).
    for i in 0..20 {
        ctl.changes(vec![DesiredChange::Upsert(blackhole_26(i))])
            .await
            .unwrap();
        ctl.sync().await.unwrap();
        let p = blackhole_26(i).prefix.to_string();
        assert!(kernel_routes(&h, PROTO).contains_key(&p), "{p} missing");
    }
    assert!(
        ctl.counters().direct_pushes > 0,
        "no batch was applied by the caller"
    );

    // A large batch goes to the thread; a one-route batch sent right behind it removes a
    // route the large one adds: it must not be applied first, or the route would stay.
    for round in 0..5u32 {
        let base = 100 + round * 1000;
        let big: Vec<DesiredChange> = (base..base + 900)
            .map(|i| DesiredChange::Upsert(blackhole_26(i)))
            .collect();
        let last = blackhole_26(base + 899).prefix;
        ctl.changes(big).await.unwrap();
        ctl.changes(vec![DesiredChange::Remove(last)])
            .await
            .unwrap();
        ctl.sync().await.unwrap();
        let k = kernel_routes(&h, PROTO);
        assert!(
            !k.contains_key(&last.to_string()),
            "round {round}: the removal overtook the batch before it"
        );
        assert!(k.contains_key(&blackhole_26(base + 898).prefix.to_string()));
        assert_eq!(k.len(), 20 + 899 * (round as usize + 1), "round {round}");
    }

    // Once the controller has stopped, nothing more reaches the kernel.
    ctl.shutdown(false).await.unwrap();
    let late = blackhole_26(9_999).prefix;
    let _ = ctl.changes(vec![DesiredChange::Remove(late)]).await;
    let _ = ctl
        .changes(vec![DesiredChange::Upsert(blackhole_26(9_999))])
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!kernel_routes(&h, PROTO).contains_key(&late.to_string()));
}

/// `desired_of` sees every change sent before it: read on the caller's thread when the
/// controller is idle, asked of the thread behind a batch still queued.
#[tokio::test]
async fn desired_of_sees_every_change_sent_before_it() {
    let mut lab = Lab::new("ctl-desof");
    let h = lab.netns("h");
    let (ctl, _task) = spawn_running(&h).await;
    ctl.changes(vec![DesiredChange::Upsert(blackhole_26(0))])
        .await
        .unwrap();
    let got = ctl
        .desired_of(vec![blackhole_26(1).prefix, blackhole_26(0).prefix])
        .await
        .unwrap();
    assert_eq!(got, vec![blackhole_26(0)], "only the prefixes it has");

    for round in 0..5u32 {
        let base = 100 + round * 1000;
        let big: Vec<DesiredChange> = (base..base + 900)
            .map(|i| DesiredChange::Upsert(blackhole_26(i)))
            .collect();
        let last = blackhole_26(base + 899);
        ctl.changes(big).await.unwrap();
        let got = ctl.desired_of(vec![last.prefix]).await.unwrap();
        assert_eq!(
            got,
            vec![last],
            "round {round}: read before the batch was applied"
        );
    }
}
