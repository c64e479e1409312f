//! `nexthop_objects`: routes via one gateway reference a shared kernel nexthop object.
//! Against the real kernel, inside namespaces made by the test; what an operator checks
//! with `ip nexthop show` and `ip -j route show proto 201`.

use std::collections::BTreeMap;
use std::time::Duration;

use controller::{
    Controller, ControllerConfig, ControllerHandle, ControllerTask, DesiredChange, NextHop, Route,
    TableConfig,
};
use ipnet::IpNet;
use serde_json::Value;
use testlab::{wait_for, Lab, Netns};

mod common;
use common::{gateways, kernel_routes};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn nh(s: &str) -> NextHop {
    NextHop::new(s.parse().unwrap())
}

/// Host `h` and peer `p` joined by d0 (10.0.0.1/24, fd00::1/64 | 10.0.0.2/24, fd00::2/64)
/// and d1 (10.0.1.1/24 | 10.0.1.2/24); `p` has 10.244.9.1 on its loopback.
fn lab(name: &str) -> (Lab, Netns, Netns) {
    let mut lab = Lab::new(name);
    let h = lab.netns("h");
    let p = lab.netns("p");
    lab.veth(
        &h,
        "d0",
        &["10.0.0.1/24", "fd00::1/64"],
        &p,
        "p0",
        &["10.0.0.2/24", "fd00::2/64"],
    );
    lab.veth(&h, "d1", &["10.0.1.1/24"], &p, "p1", &["10.0.1.2/24"]);
    p.ok(&["ip", "addr", "add", "10.244.9.1/32", "dev", "lo"]);
    (lab, h, p)
}

fn config(h: &Netns) -> ControllerConfig {
    ControllerConfig {
        table: TableConfig {
            nexthop_objects: true,
            ..TableConfig::default()
        },
        netns: Some(h.name().to_string()),
        // Long: repairs here must come from the retry or an explicit reconcile.
        resync_interval: Duration::from_secs(3600),
        adopt_grace: Duration::from_secs(3600),
        // Long: a test waits between batches as long as it needs.
        delete_hold: Duration::from_secs(3600),
    }
}

fn spawn(h: &Netns) -> (ControllerHandle, ControllerTask) {
    Controller::spawn(config(h)).expect("controller starts")
}

/// Our routes, IPv4 and IPv6: prefix -> `ip -j route` object.
fn routes(h: &Netns) -> BTreeMap<String, Value> {
    kernel_routes(h, "201")
}

/// Nexthop objects with protocol 201: id -> (gateway, device).
fn objects(h: &Netns) -> BTreeMap<u64, (String, String)> {
    let text = h.ok(&["ip", "-j", "nexthop", "show", "protocol", "201"]);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("ip -j: {e}: {text}"));
    v.as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|o| {
            let s = |k: &str| o[k].as_str().unwrap_or_default().to_string();
            (
                o["id"].as_u64().unwrap_or_default(),
                (s("gateway"), s("dev")),
            )
        })
        .collect()
}

/// The member ids of group object `id`.
fn group(h: &Netns, id: u64) -> Vec<u64> {
    let text = h.ok(&["ip", "-j", "nexthop", "show", "id", &id.to_string()]);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("ip -j: {e}: {text}"));
    let o = v.as_array().and_then(|a| a.first()).cloned().unwrap_or(v);
    o["group"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["id"].as_u64())
        .collect()
}

fn nhid(r: &Value) -> Option<u64> {
    r["nhid"].as_u64()
}

fn many(n: u32, gw: &str) -> Vec<Route> {
    (0..n)
        .map(|i| {
            let p = IpNet::new(std::net::Ipv4Addr::from(0x0b00_0000 + (i << 8)).into(), 24);
            Route::via(p.unwrap(), [nh(gw)])
        })
        .collect()
}

#[tokio::test]
async fn routes_share_objects_and_groups_and_forward() {
    let (_lab, h, p) = lab("nh-share");
    let (ctl, _task) = spawn(&h);
    let mut want = many(100, "10.0.0.2");
    want.extend([
        Route::via(net("10.244.9.1/32"), [nh("10.0.0.2")]),
        Route::via(net("10.244.3.0/24"), [nh("10.0.0.2"), nh("10.0.1.2")]),
        Route::via(net("fd00:244:2::/64"), [nh("fd00::2")]),
        Route::device(net("10.244.1.10/32"), "d0"),
        Route::blackhole(net("10.244.1.0/24")),
    ]);
    ctl.replace_all(want.clone()).await.unwrap();
    ctl.sync().await.unwrap();

    let k = routes(&h);
    assert_eq!(k.len(), 105, "{k:#?}");
    let objs = objects(&h);
    assert_eq!(objs.len(), 4, "one object per gateway, one group: {objs:?}");
    let v4 = nhid(&k["10.244.9.1/32"]).expect("via one gateway: an object");
    assert_eq!(objs[&v4], ("10.0.0.2".to_string(), "d0".to_string()));
    for r in many(100, "10.0.0.2") {
        assert_eq!(nhid(&k[&r.prefix.to_string()]), Some(v4), "{}", r.prefix);
    }
    let v6 = nhid(&k["fd00:244:2::/64"]).expect("IPv6 too");
    assert_eq!(objs[&v6], ("fd00::2".to_string(), "d0".to_string()));
    let ecmp = nhid(&k["10.244.3.0/24"]).expect("ECMP: a group");
    let members = group(&h, ecmp);
    assert_eq!(members.len(), 2);
    assert!(members.contains(&v4));
    let other = members.iter().find(|m| **m != v4).copied().unwrap();
    assert_eq!(objs[&other], ("10.0.1.2".to_string(), "d1".to_string()));
    assert_eq!(
        gateways(&k["10.244.3.0/24"]),
        ["10.0.0.2", "10.0.1.2"],
        "ip route shows the group's gateways"
    );
    for plain in ["10.244.1.10/32", "10.244.1.0/24"] {
        assert_eq!(
            nhid(&k[plain]),
            None,
            "{plain}: device, blackhole as before"
        );
    }
    // Packets follow them: p answers from 10.244.9.1 and 10.244.3.1, reached only
    // through the object and the group.
    p.ok(&["ip", "addr", "add", "10.244.3.1/32", "dev", "lo"]);
    h.ok(&["ping", "-c", "1", "-W", "5", "10.244.9.1"]);
    h.ok(&["ping", "-c", "1", "-W", "5", "10.244.3.1"]);
    let c = ctl.counters();
    assert_eq!((c.netlink_errors, c.routes_installed), (0, 105));
    assert_eq!(c.nexthop_objects, 4, "the gauge counts them");

    // What was installed reads back as desired: nothing to do.
    let ops = ctl.counters().netlink_ops;
    ctl.reconcile().await.unwrap();
    assert_eq!(ctl.counters().netlink_ops, ops);
    // Also when the kernel sends the object id without the gateways.
    h.sysctl("net.ipv4.nexthop_compat_mode", "0");
    ctl.reconcile().await.unwrap();
    assert_eq!(ctl.counters().netlink_ops, ops, "ids map back to next hops");
    h.sysctl("net.ipv4.nexthop_compat_mode", "1");

    // The 100 routes move to the other gateway (its object exists: a group member).
    let moved: Vec<Route> = want
        .iter()
        .map(|r| match r.prefix.to_string().starts_with("11.") {
            true => Route::via(r.prefix, [nh("10.0.1.2")]),
            false => r.clone(),
        })
        .collect();
    ctl.replace_all(moved.clone()).await.unwrap();
    ctl.sync().await.unwrap();
    assert_eq!(objects(&h).len(), 4);
    assert_eq!(nhid(&routes(&h)["11.0.0.0/24"]), Some(other));
    // 10.0.0.2's object stays while its group is used, and goes with it.
    ctl.remove(net("10.244.9.1/32")).await.unwrap();
    ctl.sync().await.unwrap();
    ctl.reconcile().await.unwrap();
    assert!(objects(&h).contains_key(&v4), "a member of a used group");
    ctl.remove(net("10.244.3.0/24")).await.unwrap();
    ctl.sync().await.unwrap();
    ctl.reconcile().await.unwrap();
    let objs = objects(&h);
    assert!(
        !objs.contains_key(&v4) && !objs.contains_key(&ecmp),
        "{objs:?}"
    );
    assert_eq!(objs.len(), 2);
    assert_eq!(ctl.counters().nexthop_objects, 2);
    assert_eq!(routes(&h).len(), 103);
    assert_eq!(ctl.counters().netlink_errors, 0);

    // Flushing removes the routes and then the objects.
    assert_eq!(ctl.shutdown(true).await.unwrap(), 103);
    assert!(routes(&h).is_empty());
    assert!(objects(&h).is_empty(), "{:?}", objects(&h));
}

#[tokio::test]
async fn a_group_that_lost_a_member_is_not_given_to_new_routes() {
    let (_lab, h, _p) = lab("nh-shrink");
    let (ctl, _task) = spawn(&h);
    let ecmp = [nh("10.0.0.2"), nh("10.0.1.2")];
    ctl.replace_all(vec![Route::via(net("10.244.3.0/24"), ecmp.clone())])
        .await
        .unwrap();
    ctl.sync().await.unwrap();
    let old = nhid(&routes(&h)["10.244.3.0/24"]).unwrap();
    // d1's object goes (its interface went down, say): the kernel drops it from the group.
    let d1 = objects(&h)
        .into_iter()
        .find(|(_, (gw, _))| gw == "10.0.1.2")
        .map(|(id, _)| id)
        .unwrap();
    h.ok(&["ip", "nexthop", "del", "id", &d1.to_string()]);
    assert_eq!(group(&h, old).len(), 1);
    // The reconcile sees the route through one gateway and puts both back: a new
    // object for 10.0.1.2, a new group; the shrunk one goes once unused.
    ctl.reconcile().await.unwrap();
    ctl.reconcile().await.unwrap();
    let k = routes(&h);
    assert_eq!(gateways(&k["10.244.3.0/24"]), ["10.0.0.2", "10.0.1.2"]);
    let new = nhid(&k["10.244.3.0/24"]).unwrap();
    assert_ne!(new, old);
    assert_eq!(group(&h, new).len(), 2);
    assert!(!objects(&h).contains_key(&old), "{:?}", objects(&h));
    // Another route through the same two gateways gets the new group.
    ctl.upsert(Route::via(net("10.244.4.0/24"), ecmp))
        .await
        .unwrap();
    ctl.sync().await.unwrap();
    assert_eq!(nhid(&routes(&h)["10.244.4.0/24"]), Some(new));
}

#[tokio::test]
async fn an_object_the_kernel_deleted_is_made_again() {
    let (_lab, h, _p) = lab("nh-down");
    let (ctl, _task) = spawn(&h);
    ctl.replace_all(many(10, "10.0.1.2")).await.unwrap();
    ctl.sync().await.unwrap();
    let first: Vec<u64> = objects(&h).into_keys().collect();
    assert_eq!(first.len(), 1);
    // The object goes (as when its interface goes down, but without a link event that
    // would bring a reconcile): the kernel deletes its routes with it, silently.
    h.ok(&["ip", "nexthop", "del", "id", &first[0].to_string()]);
    wait_for(Duration::from_secs(10), "object and routes gone", || {
        (objects(&h).is_empty() && routes(&h).is_empty()).then_some(())
    });
    // A new route through the same gateway: the add through the old id fails, the id is
    // forgotten, the retry makes a new object.
    ctl.upsert(Route::via(net("10.244.7.0/24"), [nh("10.0.1.2")]))
        .await
        .unwrap();
    ctl.sync().await.unwrap();
    let k = routes(&h);
    let objs = objects(&h);
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert!(!objs.contains_key(&first[0]));
    assert_eq!(nhid(&k["10.244.7.0/24"]), objs.keys().next().copied());
    assert_eq!(ctl.counters().netlink_errors, 0);
    // The reconcile puts the ten silently deleted routes back, through the new object.
    ctl.reconcile().await.unwrap();
    wait_for(Duration::from_secs(10), "routes back", || {
        (routes(&h).len() == 11).then_some(())
    });
    assert_eq!(objects(&h).len(), 1);
}

#[tokio::test]
async fn a_restart_adopts_routes_and_their_object() {
    let (_lab, h, _p) = lab("nh-restart");
    let mut want = many(50, "10.0.0.2");
    want.push(Route::via(
        net("10.244.3.0/24"),
        [nh("10.0.0.2"), nh("10.0.1.2")],
    ));
    {
        let (ctl, task) = spawn(&h);
        ctl.replace_all(want.clone()).await.unwrap();
        ctl.sync().await.unwrap();
        assert_eq!(ctl.shutdown(false).await.unwrap(), 0);
        task.wait().await.unwrap();
    }
    let before = objects(&h);
    assert_eq!(before.len(), 3, "two gateways and their group");
    for compat in ["1", "0"] {
        h.sysctl("net.ipv4.nexthop_compat_mode", compat);
        let (ctl, task) = spawn(&h);
        ctl.reconcile().await.unwrap();
        ctl.replace_all(want.clone()).await.unwrap();
        ctl.upsert(Route::via(net("10.244.8.0/24"), [nh("10.0.0.2")]))
            .await
            .unwrap();
        ctl.sync().await.unwrap();
        // Adopted, not re-added; the new route uses the adopted object.
        assert_eq!(ctl.counters().netlink_ops, 1, "compat mode {compat}");
        assert_eq!(objects(&h), before, "compat mode {compat}");
        let k = routes(&h);
        assert_eq!(nhid(&k["10.244.8.0/24"]), nhid(&k["11.0.0.0/24"]));
        ctl.remove(net("10.244.8.0/24")).await.unwrap();
        ctl.sync().await.unwrap();
        assert_eq!(ctl.shutdown(false).await.unwrap(), 0);
        task.wait().await.unwrap();
    }
}

#[tokio::test]
async fn a_restart_with_many_objects_still_makes_new_ones() {
    let (_lab, h, _p) = lab("nh-many");
    // 80 gateways: more objects than a new one may skip taken ids for.
    let want: Vec<Route> = (0..80u32)
        .map(|i| {
            let p = IpNet::new(std::net::Ipv4Addr::from(0x0b00_0000 + (i << 8)).into(), 24);
            Route::via(p.unwrap(), [nh(&format!("10.0.0.{}", 10 + i))])
        })
        .collect();
    {
        let (ctl, task) = spawn(&h);
        ctl.replace_all(want.clone()).await.unwrap();
        ctl.sync().await.unwrap();
        assert_eq!(ctl.shutdown(false).await.unwrap(), 0);
        task.wait().await.unwrap();
    }
    assert_eq!(objects(&h).len(), 80);
    let (ctl, _task) = spawn(&h);
    ctl.reconcile().await.unwrap();
    ctl.replace_all(want).await.unwrap();
    ctl.upsert(Route::via(net("10.244.8.0/24"), [nh("10.0.0.200")]))
        .await
        .unwrap();
    ctl.sync().await.unwrap();
    let k = routes(&h);
    let id = nhid(&k["10.244.8.0/24"]).expect("a new object after a restart");
    assert_eq!(
        objects(&h)[&id],
        ("10.0.0.200".to_string(), "d0".to_string())
    );
    assert_eq!(objects(&h).len(), 81);
}

fn removes(routes: &[Route]) -> Vec<DesiredChange> {
    routes
        .iter()
        .map(|r| DesiredChange::Remove(r.prefix))
        .collect()
}

/// `routes` as the whole desired table, in the kernel.
async fn install(ctl: &ControllerHandle, routes: Vec<Route>) {
    ctl.replace_all(routes).await.unwrap();
    ctl.sync().await.unwrap();
}

/// Removes `routes` in one batch and waits for the kernel; the netlink operations it took.
async fn remove_batch(ctl: &ControllerHandle, routes: &[Route]) -> u64 {
    let ops = ctl.counters().netlink_ops;
    ctl.changes(removes(routes)).await.unwrap();
    ctl.sync().await.unwrap();
    ctl.counters().netlink_ops - ops
}

#[tokio::test]
async fn a_gateway_s_routes_go_with_its_object_when_all_of_them_go() {
    let (_lab, h, _p) = lab("nh-bulk");
    let (ctl, _task) = spawn(&h);
    let a = many(3000, "10.0.0.2");
    let b = Route::via(net("10.244.9.1/32"), [nh("10.0.1.2")]);
    let ecmp = Route::via(net("10.244.3.0/24"), [nh("10.0.0.2"), nh("10.0.1.2")]);
    let mut want = a.clone();
    want.extend([b.clone(), ecmp.clone()]);
    install(&ctl, want).await;
    assert_eq!(routes(&h).len(), 3002);
    let obj = nhid(&routes(&h)["11.0.0.0/24"]).expect("via an object");

    // A group a route still uses has the object as a member: one delete per route.
    let ops = remove_batch(&ctl, &a).await;
    let k = routes(&h);
    assert_eq!(k.len(), 2, "{k:#?}");
    assert_eq!(gateways(&k["10.244.3.0/24"]), ["10.0.0.2", "10.0.1.2"]);
    assert!(objects(&h).contains_key(&obj));
    assert!(ops >= 3000, "{ops}");

    // Without the group, the routes go in two batches (a peer's, as the agent sends
    // them): the first is held back, then all go with their object in one operation.
    let mut back: Vec<DesiredChange> = a.iter().cloned().map(DesiredChange::Upsert).collect();
    back.push(DesiredChange::Remove(ecmp.prefix));
    ctl.changes(back).await.unwrap();
    ctl.sync().await.unwrap();
    assert_eq!(routes(&h).len(), 3001);
    assert_eq!(nhid(&routes(&h)["11.0.0.0/24"]), Some(obj));
    let ops = ctl.counters().netlink_ops;
    ctl.changes(removes(&a[..1500])).await.unwrap();
    wait_for(Duration::from_secs(30), "the first batch held back", || {
        (ctl.counters().deletes_held == 1500).then_some(())
    });
    assert_eq!(routes(&h).len(), 3001, "held back: still in the kernel");
    ctl.changes(removes(&a[1500..])).await.unwrap();
    ctl.sync().await.unwrap();
    assert_eq!(ctl.counters().deletes_held, 0);
    let k = routes(&h);
    assert_eq!(k.keys().collect::<Vec<_>>(), ["10.244.9.1/32"]);
    assert_eq!(ctl.counters().netlink_ops, ops + 1, "one operation");
    assert!(!objects(&h).contains_key(&obj), "{:?}", objects(&h));
    let c = ctl.counters();
    assert_eq!(
        (c.routes_desired, c.routes_installed, c.netlink_errors),
        (1, 1, 0)
    );
    h.ok(&["ping", "-c", "1", "-W", "5", "10.244.9.1"]);
    ctl.reconcile().await.unwrap();
    assert_eq!(
        ctl.counters().netlink_ops,
        ops + 1,
        "nothing left to repair"
    );
    // The gateway's routes come back through a new object.
    ctl.changes(a.iter().cloned().map(DesiredChange::Upsert).collect())
        .await
        .unwrap();
    ctl.sync().await.unwrap();
    let k = routes(&h);
    assert_eq!(k.len(), 3001);
    let new = nhid(&k["11.0.0.0/24"]).expect("a new object");
    assert_ne!(new, obj);

    // One of them put in place by hand with its gateway (as a run without objects leaves
    // it): the object's routes are not all the ones going, so they go one by one.
    h.ok(&[
        "ip",
        "route",
        "replace",
        "11.0.5.0/24",
        "via",
        "10.0.0.2",
        "dev",
        "d0",
        "proto",
        "201",
    ]);
    let ops = remove_batch(&ctl, &a).await;
    let k = routes(&h);
    assert_eq!(k.keys().collect::<Vec<_>>(), ["10.244.9.1/32"], "{k:#?}");
    assert!(ops >= 3000, "{ops}");
    assert_eq!(ctl.counters().netlink_errors, 0);
}

#[tokio::test]
async fn ipv6_routes_go_with_their_object_too() {
    let (_lab, h, _p) = lab("nh-bulk6");
    let (ctl, _task) = spawn(&h);
    let v6: Vec<Route> = (0..1500u32)
        .map(|i| {
            let p = IpNet::new(
                std::net::Ipv6Addr::from((0xfd00_0244u128 << 96) | (u128::from(i) << 64)).into(),
                64,
            );
            Route::via(p.unwrap(), [nh("fd00::2")])
        })
        .collect();
    let v4 = Route::via(net("10.244.9.1/32"), [nh("10.0.1.2")]);
    let mut want = v6.clone();
    want.push(v4);
    install(&ctl, want).await;
    assert_eq!(routes(&h).len(), 1501);
    let obj = nhid(&routes(&h)["fd00:244::/64"]).expect("via an object");
    assert_eq!(remove_batch(&ctl, &v6).await, 1, "one operation");
    let ops = ctl.counters().netlink_ops;
    let k = routes(&h);
    assert_eq!(k.keys().collect::<Vec<_>>(), ["10.244.9.1/32"], "{k:#?}");
    assert!(!objects(&h).contains_key(&obj));
    // The kernel announces IPv6 routes deleted with their object: nothing comes back.
    ctl.reconcile().await.unwrap();
    assert_eq!(routes(&h).len(), 1);
    assert_eq!(ctl.counters().netlink_ops, ops);
    assert_eq!(ctl.counters().netlink_errors, 0);
}
