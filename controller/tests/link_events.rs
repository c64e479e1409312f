//! Routes the kernel deletes silently when an interface goes down come back as soon as
//! it is up again, not at the periodic resync; a new interface coming up costs nothing.
//! Against the real kernel, inside namespaces made by the test.

use std::time::Duration;

use controller::{Controller, ControllerConfig, NextHop, Route, TableConfig};
use ipnet::IpNet;
use testlab::{wait_for, Lab, Netns};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn nh(s: &str) -> NextHop {
    NextHop::new(s.parse().unwrap())
}

fn ours(h: &Netns) -> usize {
    h.ok(&["ip", "-4", "route", "show", "proto", "201"])
        .lines()
        .count()
}

async fn flap(name: &str, nexthop_objects: bool) {
    let mut lab = Lab::new(name);
    let h = lab.netns("h");
    let p = lab.netns("p");
    lab.veth(&h, "d0", &["10.0.0.1/24"], &p, "p0", &["10.0.0.2/24"]);
    lab.veth(&h, "d1", &["10.0.1.1/24"], &p, "p1", &["10.0.1.2/24"]);
    let (ctl, _task) = Controller::spawn(ControllerConfig {
        table: TableConfig {
            nexthop_objects,
            ..TableConfig::default()
        },
        netns: Some(h.name().to_string()),
        // Never within the test: what brings the routes back is the link event.
        resync_interval: Duration::from_secs(3600),
        adopt_grace: Duration::from_secs(3600),
        ..ControllerConfig::default()
    })
    .unwrap();
    ctl.replace_all(vec![
        Route::via(net("10.244.5.0/24"), [nh("10.0.1.2")]),
        Route::via(net("10.244.6.0/24"), [nh("10.0.1.2")]),
        Route::via(net("10.244.7.0/24"), [nh("10.0.0.2")]),
    ])
    .await
    .unwrap();
    ctl.sync().await.unwrap();
    assert_eq!(ours(&h), 3);

    // A new interface coming up is not a reason to read the whole table.
    let reconciles = ctl.counters().reconciles;
    lab.veth(&h, "d2", &["10.0.2.1/24"], &p, "p2", &["10.0.2.2/24"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ctl.sync().await.unwrap();
    assert_eq!(
        ctl.counters().reconciles,
        reconciles,
        "no reconcile for a new link"
    );

    h.ok(&["ip", "link", "set", "d1", "down"]);
    wait_for(Duration::from_secs(10), "routes via d1 gone", || {
        (ours(&h) == 1).then_some(())
    });
    h.ok(&["ip", "link", "set", "d1", "up"]);
    wait_for(Duration::from_secs(15), "routes back after link up", || {
        (ours(&h) == 3).then_some(())
    });
    assert_eq!(ctl.counters().reconciles, reconciles + 1);
    assert_eq!(ctl.counters().routes_installed, 3);
    // Forwarding works again through d1.
    p.ok(&["ip", "addr", "add", "10.244.5.1/32", "dev", "lo"]);
    h.ok(&["ping", "-c", "1", "-W", "5", "10.244.5.1"]);
}

#[tokio::test]
async fn routes_come_back_when_the_link_does() {
    flap("link-via", false).await;
}

#[tokio::test]
async fn routes_through_objects_come_back_when_the_link_does() {
    flap("link-nh", true).await;
}
