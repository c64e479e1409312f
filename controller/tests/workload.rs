//! A container namespace behind a veth, wired the Calico way: real pings from the container
//! through the host, answered by proxy ARP / proxy NDP and routed back over tern's device
//! routes.

use std::time::Duration;

use controller::{
    configure_workload_interface, Controller, ControllerConfig, Ipv6Setup, Route, RouteState,
};
use testlab::container::container;
use testlab::{wait_for, Lab};

#[tokio::test]
async fn container_reaches_the_network_through_proxy_arp_and_proxy_ndp() {
    let mut lab = Lab::new("ctl-workload");
    let h = lab.netns("h");
    let r = lab.netns("r");
    // The host's uplink to a router, with the default route that proxy ARP relies on.
    lab.veth(
        &h,
        "up0",
        &["10.0.0.1/24", "fd00::1/64"],
        &r,
        "eth0",
        &["10.0.0.254/24", "fd00::fe/64"],
    );
    h.ok(&["ip", "route", "add", "default", "via", "10.0.0.254"]);
    h.ok(&["ip", "-6", "route", "add", "default", "via", "fd00::fe"]);
    r.ok(&["ip", "route", "add", "10.244.0.0/16", "via", "10.0.0.1"]);
    r.ok(&[
        "ip",
        "-6",
        "route",
        "add",
        "fd00:244::/32",
        "via",
        "fd00::1",
    ]);
    // The container: its /32 and /128, default routes to the link-local gateways.
    let c = container(
        &mut lab,
        &h,
        "c",
        "tw0",
        &["10.244.1.10/32", "fd00:244:1::10/128"],
    );

    assert_eq!(
        configure_workload_interface("tw0", Some(h.name())).unwrap(),
        Ipv6Setup::ProxyNdp
    );
    // Idempotent.
    configure_workload_interface("tw0", Some(h.name())).unwrap();
    for (key, want) in [
        ("/proc/sys/net/ipv4/conf/tw0/proxy_arp", "1"),
        ("/proc/sys/net/ipv4/conf/tw0/forwarding", "1"),
        ("/proc/sys/net/ipv6/conf/tw0/proxy_ndp", "1"),
        ("/proc/sys/net/ipv6/conf/tw0/forwarding", "1"),
    ] {
        assert_eq!(h.ok(&["cat", key]).trim(), want, "{key}");
    }
    assert!(h
        .ok(&["ip", "-6", "neigh", "show", "proxy"])
        .contains("fe80::1 dev tw0 proxy"));
    assert!(configure_workload_interface("nosuch0", Some(h.name())).is_err());
    assert!(configure_workload_interface("../x", Some(h.name())).is_err());

    let (ctl, _task) = Controller::spawn(ControllerConfig {
        netns: Some(h.name().to_string()),
        ..ControllerConfig::default()
    })
    .unwrap();
    ctl.upsert(Route::device("10.244.1.10/32".parse().unwrap(), "tw0"))
        .await
        .unwrap();
    ctl.upsert(Route::device("fd00:244:1::10/128".parse().unwrap(), "tw0"))
        .await
        .unwrap();
    ctl.sync().await.unwrap();
    for row in ctl.routes().await.unwrap() {
        assert_eq!(row.state, RouteState::Installed, "{}", row.route);
    }

    for (ping, dst) in [
        ("ping", "10.0.0.1"),
        ("ping", "10.0.0.254"),
        ("ping6", "fd00::1"),
        ("ping6", "fd00::fe"),
    ] {
        let args: Vec<&str> = if ping == "ping6" {
            vec!["ping", "-6", "-c", "1", "-W", "1", dst]
        } else {
            vec!["ping", "-4", "-c", "1", "-W", "1", dst]
        };
        wait_for(
            Duration::from_secs(20),
            &format!("container pings {dst}"),
            || c.run(&args).status.success().then_some(()),
        );
    }
    // The container's gateway was answered by the host's veth (proxy ARP).
    let host_mac = h.ok(&["cat", "/sys/class/net/tw0/address"]);
    let neigh = c.ok(&["ip", "neigh", "show", "169.254.1.1"]);
    assert!(neigh.contains(host_mac.trim()), "{neigh} vs {host_mac}");
}
