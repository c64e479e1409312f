//! Unit tests of the reconcile logic against the in-memory FIB.

use std::sync::Arc;

use super::push::REBORN_MAX;
use super::*;
use crate::memory::{MemoryTable, Owner};
use crate::route::{NextHop, RouteKind};
use crate::status::CountersSnapshot;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn nh(s: &str) -> NextHop {
    NextHop::new(s.parse().unwrap())
}

fn lab() -> MemoryTable {
    MemoryTable::new(&[
        ("10.0.0.0/24", "eth0"),
        ("10.0.1.0/24", "eth1"),
        ("fd00::/64", "eth0"),
    ])
}

fn rec(table: MemoryTable, deletes_allowed: bool) -> Reconciler<MemoryTable> {
    Reconciler::new(
        TableConfig::default(),
        table,
        Arc::new(Counters::default()),
        deletes_allowed,
    )
}

fn snap(r: &Reconciler<MemoryTable>) -> CountersSnapshot {
    r.counters().snapshot()
}

fn sample() -> Vec<Route> {
    vec![
        Route::via(net("10.244.2.0/24"), [nh("10.0.0.2")]),
        Route::via(net("10.244.3.0/24"), [nh("10.0.0.3"), nh("10.0.1.3")]),
        Route::device(net("10.244.1.10/32"), "eth0"),
        Route::blackhole(net("10.244.1.0/24")),
        Route::via(net("fd00:244:2::/64"), [nh("fd00::2")]),
        Route::blackhole(net("fd00:244:1::/64")),
    ]
}

fn state(r: &Reconciler<MemoryTable>, p: &str) -> RouteState {
    r.status(net(p)).expect("desired").state
}

#[test]
fn installs_all_kinds_in_batches_and_is_idempotent() {
    let mut r = rec(lab(), true);
    r.change(DesiredChange::ReplaceAll(sample()));
    r.push().unwrap();
    assert_eq!(r.table().ours().len(), 6);
    let s = snap(&r);
    assert_eq!(
        (
            s.netlink_ops,
            s.netlink_errors,
            s.routes_desired,
            s.routes_installed
        ),
        (6, 0, 6, 6)
    );
    for row in r.routes() {
        assert_eq!(row.state, RouteState::Installed, "{}", row.route);
    }
    // The kernel reports the device it chose for a via route; that still matches.
    let via = r
        .table()
        .routes
        .get(&net("10.244.2.0/24"))
        .unwrap()
        .1
        .clone();
    assert_eq!(
        via,
        RouteKind::Via(vec![NextHop::with_dev("10.0.0.2".parse().unwrap(), "eth0")])
    );
    r.reconcile().unwrap();
    r.reconcile().unwrap();
    assert_eq!(
        snap(&r).netlink_ops,
        6,
        "a matching kernel table causes no operations"
    );
    assert_eq!(snap(&r).reconciles, 2);
}

#[test]
fn unreachable_next_hop_fails_alone_and_is_retried_only_on_reconcile() {
    let mut r = rec(lab(), true);
    let mut routes = sample();
    routes.push(Route::via(net("10.244.9.0/24"), [nh("10.9.9.9")]));
    r.change(DesiredChange::ReplaceAll(routes));
    r.push().unwrap();
    assert_eq!(r.table().ours().len(), 6);
    match state(&r, "10.244.9.0/24") {
        RouteState::Failed(reason) => {
            assert_eq!(reason, "next hop 10.9.9.9 not directly reachable")
        }
        s => panic!("expected failed, got {s:?}"),
    }
    let s = snap(&r);
    assert_eq!(
        (s.netlink_errors, s.routes_failed, s.routes_installed),
        (1, 1, 6)
    );
    // Pushing again (more changes arriving) does not retry it.
    r.change(DesiredChange::Upsert(Route::blackhole(net(
        "10.244.8.0/24",
    ))));
    r.push().unwrap();
    assert_eq!(snap(&r).netlink_ops, 8);
    // The periodic reconcile retries it once; when the next hop becomes reachable it is installed.
    r.reconcile().unwrap();
    assert_eq!(snap(&r).netlink_ops, 9);
    r.table_mut()
        .connected
        .push((net("10.9.9.0/24"), "eth2".into()));
    r.reconcile().unwrap();
    assert_eq!(state(&r, "10.244.9.0/24"), RouteState::Installed);
    assert_eq!(snap(&r).routes_failed, 0);
    assert!(
        r.reasons.is_empty(),
        "the reason of a route now installed is forgotten"
    );
}

#[test]
fn other_protocols_route_is_never_overwritten_or_deleted() {
    let mut t = lab();
    t.routes.insert(
        net("10.244.2.0/24"),
        (Owner::Other(4), RouteKind::Blackhole),
    );
    t.routes.insert(
        net("192.168.0.0/16"),
        (Owner::Other(3), RouteKind::Blackhole),
    );
    let mut r = rec(t, true);
    r.change(DesiredChange::ReplaceAll(sample()));
    r.push().unwrap();
    assert!(
        matches!(state(&r, "10.244.2.0/24"), RouteState::Failed(m) if m.contains("another protocol"))
    );
    assert_eq!(
        r.table().routes.get(&net("10.244.2.0/24")).unwrap().0,
        Owner::Other(4)
    );
    r.change(DesiredChange::ReplaceAll(vec![]));
    r.push().unwrap();
    r.flush().unwrap();
    let left: Vec<_> = r.table().routes.keys().map(|p| p.to_string()).collect();
    assert_eq!(left, ["10.244.2.0/24", "192.168.0.0/16"]);
}

#[test]
fn route_deleted_or_changed_by_someone_else_is_put_back() {
    let mut r = rec(lab(), true);
    r.change(DesiredChange::ReplaceAll(sample()));
    r.push().unwrap();
    // Deleted by hand; found by the periodic reconcile.
    r.table_mut().routes.remove(&net("10.244.1.10/32"));
    r.reconcile().unwrap();
    assert_eq!(r.table().ours().len(), 6);
    // Deleted by hand; the event repairs it without a dump.
    let gone = r
        .table_mut()
        .routes
        .remove(&net("fd00:244:2::/64"))
        .unwrap();
    let gone = Route {
        prefix: net("fd00:244:2::/64"),
        kind: gone.1,
    };
    r.events([RouteEvent::Del(gone)]);
    assert_eq!(state(&r, "fd00:244:2::/64"), RouteState::Pending);
    r.push().unwrap();
    assert_eq!(state(&r, "fd00:244:2::/64"), RouteState::Installed);
    assert!(r.table().routes.contains_key(&net("fd00:244:2::/64")));
    // Changed by hand (same protocol, other next hop): replaced.
    let changed = Route::via(
        net("10.244.2.0/24"),
        [NextHop::with_dev("10.0.1.7".parse().unwrap(), "eth1")],
    );
    r.table_mut()
        .routes
        .insert(changed.prefix, (Owner::Us, changed.kind.clone()));
    r.events([RouteEvent::New(changed)]);
    r.push().unwrap();
    let k = &r.table().routes.get(&net("10.244.2.0/24")).unwrap().1;
    assert_eq!(
        k,
        &RouteKind::Via(vec![NextHop::with_dev("10.0.0.2".parse().unwrap(), "eth0")])
    );
    // Our own changes echoed back as events cause no operations.
    let before = snap(&r).netlink_ops;
    let echo: Vec<RouteEvent> = r.table().ours().into_iter().map(RouteEvent::New).collect();
    r.events(echo);
    r.push().unwrap();
    assert_eq!(snap(&r).netlink_ops, before);
}

#[test]
fn restart_adopts_existing_routes_without_churn() {
    let mut first = rec(lab(), true);
    first.change(DesiredChange::ReplaceAll(sample()));
    first.push().unwrap();
    let mut table = std::mem::take(first.table_mut());
    table.log.clear();
    table
        .routes
        .insert(net("10.244.99.0/24"), (Owner::Us, RouteKind::Blackhole)); // stale
    let mut r = rec(table, false);
    r.reconcile().unwrap();
    assert!(
        r.table().log.is_empty(),
        "nothing deleted before the desired set is known"
    );
    for route in sample() {
        r.change(DesiredChange::Upsert(route));
    }
    r.push().unwrap();
    assert!(
        r.table().log.is_empty(),
        "adopted routes are not re-added: {:?}",
        r.table().log
    );
    assert_eq!(snap(&r).routes_installed, 6);
    // The complete set arrives: only the stale route goes.
    r.change(DesiredChange::ReplaceAll(sample()));
    r.push().unwrap();
    assert_eq!(r.table().log, ["delete 10.244.99.0/24"]);
}

#[test]
fn changes_replace_and_remove() {
    let mut r = rec(lab(), true);
    r.change(DesiredChange::ReplaceAll(sample()));
    r.push().unwrap();
    r.table_mut().log.clear();
    r.change(DesiredChange::Upsert(Route::via(
        net("10.244.2.0/24"),
        [nh("10.0.1.2")],
    )));
    r.change(DesiredChange::Remove(net("10.244.1.10/32")));
    r.change(DesiredChange::Upsert(Route::blackhole(net(
        "10.244.1.0/24",
    )))); // unchanged
    r.push().unwrap();
    assert_eq!(
        r.table().log,
        [
            "delete 10.244.1.10/32",
            "replace 10.244.2.0/24 via 10.0.1.2"
        ]
    );
    assert!(r.status(net("10.244.1.10/32")).is_none());
    assert_eq!(snap(&r).routes_desired, 5);
}

#[test]
fn deletes_go_to_the_kernel_longest_prefix_first_highest_address_first() {
    let mut r = rec(lab(), true);
    let mut routes: Vec<Route> = (0..5)
        .map(|i| Route::via(net(&format!("10.244.{i}.0/24")), [nh("10.0.0.2")]))
        .collect();
    routes.push(Route::via(net("10.244.0.0/16"), [nh("10.0.0.2")]));
    routes.push(Route::via(net("10.244.1.128/25"), [nh("10.0.0.2")]));
    r.change(DesiredChange::ReplaceAll(routes));
    r.push().unwrap();
    r.table_mut().log.clear();
    for p in [
        "10.244.1.0/24",
        "10.244.0.0/16",
        "10.244.3.0/24",
        "10.244.1.128/25",
    ] {
        r.change(DesiredChange::Remove(net(p)));
    }
    r.change(DesiredChange::Remove(net("10.244.0.0/24")));
    r.change(DesiredChange::Remove(net("10.244.4.0/24")));
    r.push().unwrap();
    assert_eq!(
        r.table().log,
        [
            "delete 10.244.1.128/25",
            "delete 10.244.4.0/24",
            "delete 10.244.3.0/24",
            "delete 10.244.1.0/24",
            "delete 10.244.0.0/24",
            "delete 10.244.0.0/16"
        ]
    );
}

#[test]
fn ecmp_off_installs_first_next_hop_only() {
    let cfg = TableConfig {
        ecmp: false,
        ..TableConfig::default()
    };
    let mut r = Reconciler::new(cfg, lab(), Arc::new(Counters::default()), true);
    r.change(DesiredChange::Upsert(Route::via(
        net("10.244.3.0/24"),
        [nh("10.0.1.3"), nh("10.0.0.3")],
    )));
    r.push().unwrap();
    let k = &r.table().routes.get(&net("10.244.3.0/24")).unwrap().1;
    assert_eq!(
        k,
        &RouteKind::Via(vec![NextHop::with_dev("10.0.1.3".parse().unwrap(), "eth1")])
    );
}

#[test]
fn invalid_route_is_reported_and_never_sent() {
    let mut r = rec(lab(), true);
    r.change(DesiredChange::Upsert(Route::via(
        net("fd00:244:5::/64"),
        [nh("fe80::1")],
    )));
    r.push().unwrap();
    r.reconcile().unwrap();
    assert!(
        matches!(state(&r, "fd00:244:5::/64"), RouteState::Failed(m) if m.contains("needs a device"))
    );
    assert_eq!(snap(&r).netlink_ops, 0);
    assert_eq!(snap(&r).routes_failed, 1);
}

#[test]
fn many_routes_pass_through_small_batches() {
    let mut r = rec(lab(), true);
    let routes: Vec<Route> = (0..1000u32)
        .map(|i| {
            Route::via(
                IpNet::new(std::net::Ipv4Addr::from(0x0b00_0000 + (i << 8)).into(), 24).unwrap(),
                [nh("10.0.0.2")],
            )
        })
        .collect();
    r.change(DesiredChange::ReplaceAll(routes));
    r.push().unwrap();
    assert_eq!(r.table().ours().len(), 1000);
    assert_eq!(snap(&r).routes_installed, 1000);
    for i in 0..100u32 {
        r.change(DesiredChange::Remove(
            IpNet::new(std::net::Ipv4Addr::from(0x0b00_0000 + (i << 8)).into(), 24).unwrap(),
        ));
    }
    r.push().unwrap();
    assert_eq!(r.table().ours().len(), 900);
    assert_eq!(r.flush().unwrap(), 900);
    assert!(r.table().ours().is_empty());
    assert_eq!(snap(&r).routes_desired, 0);
}

/// `n` /24s from 11.0.0.0 on (after `skip` of them) via `hop`.
fn block(skip: u32, n: u32, hop: NextHop) -> Vec<Route> {
    (skip..skip + n)
        .map(|i| {
            let p = IpNet::new(std::net::Ipv4Addr::from(0x0b00_0000 + (i << 8)).into(), 24);
            Route::via(p.unwrap(), [hop.clone()])
        })
        .collect()
}

/// A reconciler over a table with shared objects, `routes` installed, the log emptied.
fn installed(routes: Vec<Route>, shared: bool) -> Reconciler<MemoryTable> {
    let mut t = lab();
    t.shared = shared;
    t.batch = 512;
    let mut r = rec(t, true);
    r.change(DesiredChange::ReplaceAll(routes));
    r.push().unwrap();
    assert_eq!(snap(&r).netlink_errors, 0);
    r.table_mut().log.clear();
    r
}

fn remove_all(r: &mut Reconciler<MemoryTable>, routes: &[Route]) {
    for x in routes {
        r.change(DesiredChange::Remove(x.prefix));
    }
    r.push().unwrap();
}

fn deletes_logged(r: &Reconciler<MemoryTable>) -> usize {
    r.table()
        .log
        .iter()
        .filter(|l| l.starts_with("delete 1"))
        .count()
}

#[test]
fn a_kind_that_goes_entirely_goes_with_its_shared_object() {
    let a = block(0, 2000, nh("10.0.0.2"));
    let b = block(2000, 100, nh("10.0.1.3"));
    let mut r = installed([a.clone(), b.clone()].concat(), true);
    let ops = snap(&r).netlink_ops;
    remove_all(&mut r, &a);
    assert_eq!(
        r.table().log,
        ["delete 2000 routes through via 10.0.0.2 dev eth0"],
        "one operation, no route deleted on its own"
    );
    assert_eq!(snap(&r).netlink_ops, ops + 1);
    assert_eq!(
        r.table().ours(),
        b.iter()
            .map(|x| {
                Route::via(
                    x.prefix,
                    [NextHop::with_dev("10.0.1.3".parse().unwrap(), "eth1")],
                )
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(r.kinds.len(), 1, "the gone kind's references are released");
    assert_eq!(
        (snap(&r).routes_desired, snap(&r).routes_installed),
        (100, 100)
    );
    // Fewer than SHARED_MIN go one by one.
    r.table_mut().log.clear();
    remove_all(&mut r, &b);
    assert_eq!(deletes_logged(&r), 100);
    assert!(r.table().ours().is_empty());
    assert_eq!(r.kinds.len(), 0);
}

#[test]
fn routes_of_a_kind_something_else_still_uses_are_deleted_one_by_one() {
    let a = block(0, 2000, nh("10.0.0.2"));
    // One route of the kind stays desired.
    let mut r = installed(a.clone(), true);
    remove_all(&mut r, &a[1..]);
    assert_eq!(deletes_logged(&r), 1999);
    assert_eq!(r.table().ours().len(), 1);

    // Another kind that reaches the same object (the same gateway named with its device).
    let same = vec![Route::via(
        net("12.0.0.0/24"),
        [NextHop::with_dev("10.0.0.2".parse().unwrap(), "eth0")],
    )];
    let mut r = installed([a.clone(), same].concat(), true);
    remove_all(&mut r, &a);
    assert_eq!(deletes_logged(&r), 2000);
    assert_eq!(r.table().ours().len(), 1);

    // A route of ours through the object that the reconciler does not know of (changed
    // behind its back): the object's routes are not exactly the ones going.
    let mut r = installed(a.clone(), true);
    let moved = net("11.0.5.0/24");
    r.table_mut().routes.insert(
        moved,
        (
            Owner::Us,
            RouteKind::Via(vec![NextHop::with_dev("10.0.1.3".parse().unwrap(), "eth1")]),
        ),
    );
    r.table_mut().routes.insert(
        net("13.0.0.0/24"),
        (
            Owner::Us,
            RouteKind::Via(vec![NextHop::with_dev("10.0.0.2".parse().unwrap(), "eth0")]),
        ),
    );
    remove_all(&mut r, &a);
    assert_eq!(deletes_logged(&r), 2000);
    assert_eq!(r.table().ours().len(), 1, "{:?}", r.table().ours());

    // Too small a share of the table: the object's check would read it all.
    let b = block(2000, 20_000, nh("10.0.1.3"));
    let mut r = installed([a.clone(), b].concat(), true);
    remove_all(&mut r, &a);
    assert_eq!(deletes_logged(&r), 2000);
    assert_eq!(r.table().ours().len(), 20_000);
}

#[test]
fn without_shared_objects_a_kind_that_goes_is_deleted_route_by_route() {
    let a = block(0, 2000, nh("10.0.0.2"));
    let mut r = installed(a.clone(), false);
    remove_all(&mut r, &a);
    assert_eq!(deletes_logged(&r), 2000);
    assert!(r.table().ours().is_empty());
    assert_eq!(r.kinds.len(), 0, "references released");
    // A full reconcile with deletes of whole kinds queued releases them too.
    let mut r = installed(a.clone(), true);
    for x in &a {
        r.change(DesiredChange::Remove(x.prefix));
    }
    r.reconcile().unwrap();
    assert!(r.table().ours().is_empty());
    assert_eq!(r.kinds.len(), 0);
}

fn remove_holding(r: &mut Reconciler<MemoryTable>, routes: &[Route]) {
    for x in routes {
        r.change(DesiredChange::Remove(x.prefix));
    }
    r.push_holding().unwrap();
}

#[test]
fn a_kind_going_in_batches_is_held_back_then_goes_with_its_object() {
    let a = block(0, 3000, nh("10.0.0.2"));
    let b = block(3000, 100, nh("10.0.1.3"));
    let mut r = installed([a.clone(), b.clone()].concat(), true);
    remove_holding(&mut r, &a[..1500]);
    assert_eq!(r.held(), 1500);
    assert!(r.has_work());
    assert!(r.table().log.is_empty(), "{:?}", r.table().log);
    assert_eq!(r.table().ours().len(), 3100);
    assert_eq!(snap(&r).routes_desired, 1600);
    remove_holding(&mut r, &a[1500..]);
    assert_eq!(r.held(), 0);
    assert_eq!(
        r.table().log,
        ["delete 3000 routes through via 10.0.0.2 dev eth0"]
    );
    assert_eq!(r.table().ours().len(), 100);
    assert_eq!(r.kinds.len(), 1);

    // Batches that stop short: a plain push sends what was held, one by one.
    let mut r = installed([a.clone(), b.clone()].concat(), true);
    remove_holding(&mut r, &a[..1500]);
    assert_eq!(r.held(), 1500);
    r.push().unwrap();
    assert_eq!(r.held(), 0);
    assert_eq!(deletes_logged(&r), 1500);
    assert_eq!(r.table().ours().len(), 1600);
    // Fewer than SHARED_MIN are never held.
    remove_holding(&mut r, &a[1500..2000]);
    assert_eq!((r.held(), deletes_logged(&r)), (0, 2000));
}

#[test]
fn a_held_delete_whose_prefix_comes_back_goes_before_its_add() {
    let a = block(0, 3000, nh("10.0.0.2"));
    let b_hop = nh("10.0.1.3");
    let mut r = installed(a.clone(), true);
    remove_holding(&mut r, &a[..1500]);
    assert_eq!(r.held(), 1500);
    let back = Route::via(a[7].prefix, [b_hop.clone()]);
    r.change(DesiredChange::Upsert(back.clone()));
    r.push_holding().unwrap();
    assert_eq!(r.held(), 1499);
    let p = back.prefix;
    assert_eq!(
        r.table().log,
        [format!("delete {p}"), format!("add {p} via 10.0.1.3")]
    );
    assert_eq!(state(&r, &p.to_string()), RouteState::Installed);
    // The rest of the kind goes: with the object, the route that came back stays.
    remove_holding(&mut r, &a[1500..]);
    assert_eq!(r.held(), 0);
    assert_eq!(
        r.table().log.last().map(String::as_str),
        Some("delete 2999 routes through via 10.0.0.2 dev eth0")
    );
    assert_eq!(r.table().ours().len(), 1);
    assert_eq!(snap(&r).netlink_errors, 0);

    // Many prefixes back at once: everything held goes, one by one.
    let mut r = installed(a.clone(), true);
    remove_holding(&mut r, &a[..1500]);
    for x in &a[..REBORN_MAX + 1] {
        r.change(DesiredChange::Upsert(Route::via(x.prefix, [b_hop.clone()])));
    }
    r.push_holding().unwrap();
    assert_eq!(r.held(), 0);
    assert_eq!(deletes_logged(&r), 1500);
    assert_eq!(r.table().ours().len(), 1500 + REBORN_MAX + 1);
    assert_eq!(snap(&r).netlink_errors, 0);
}
