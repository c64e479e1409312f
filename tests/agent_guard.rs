//! Learned routes never take over the host's own: with `pools: [0.0.0.0/0]` a BIRD
//! peer advertises a default route, a more specific copy of one of the host's
//! connected subnets and a more specific of the subnet it shares with the host. tern
//! installs none of them (its host keeps its own default route and connected
//! subnets), installs an ordinary prefix, and `tern routes` says why; with
//! `fib.allowDefault` the default route goes in.

mod common;

use common::*;
use testlab::bird::{bird_config, start_bird};
use testlab::{wait_for, Lab};

const STATICS: [&str; 4] = [
    "0.0.0.0/0",
    "192.168.50.128/25",
    "10.0.0.0/25",
    "10.244.9.0/24",
];

/// tern in `t` (eth0 10.0.0.1/24 toward BIRD, lan0 192.168.50.1/24 toward a LAN, a static
/// default route via BIRD with metric 100 as NetworkManager writes it).
fn lab(name: &str, extra: &str) -> (Lab, Node, testlab::bird::Bird) {
    let mut lab = Lab::new(name);
    let t = lab.netns("tern");
    let b = lab.netns("bird");
    lab.veth(&t, "eth0", &["10.0.0.1/24"], &b, "eth0", &["10.0.0.2/24"]);
    // The host's second network (a LAN with another machine on it).
    let l = lab.netns("lan");
    lab.veth(
        &t,
        "lan0",
        &["192.168.50.1/24"],
        &l,
        "eth0",
        &["192.168.50.2/24"],
    );
    t.ok(&[
        "ip", "route", "add", "default", "via", "10.0.0.2", "dev", "eth0", "metric", "100",
        "proto", "static",
    ]);
    let node = write_node(
        &lab,
        &t,
        &NodeSpec {
            blocks: &["10.244.1.0/24"],
            pools: &["0.0.0.0/0"],
            peers: &[("10.0.0.2", 65000)],
            extra,
            ..NodeSpec::default()
        },
    );
    let bird = start_bird(
        &mut lab,
        &b,
        "bird",
        &bird_config("10.0.0.2", 65000, &STATICS, &[BIRD_TERN4]),
    );
    let _tern = start_tern(&mut lab, &node);
    bird.wait_established("tern4");
    wait_established(&node, 1);
    (lab, node, bird)
}

/// The kernel's default routes in the node's namespace (`ip -j route show default`).
fn default_routes(node: &Node) -> Vec<serde_json::Value> {
    let out = node
        .ns
        .run(&["ip", "-4", "-j", "-d", "route", "show", "default"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

#[test]
fn learned_routes_do_not_take_over_the_hosts_own() {
    let (_lab, node, _bird) = lab("tguard", "");
    // An ordinary prefix goes in: the FIB works.
    let r = wait_for(CONVERGE, "10.244.9.0/24 in the kernel", || {
        kernel_route(&node.ns, "10.244.9.0/24")
    });
    assert_eq!(kernel_gateways(&r), ["10.0.0.2"], "{r}");
    // Every route arrived (all four rows listed) before looking at what is missing.
    let routes = wait_for(CONVERGE, "the refused routes listed", || {
        let routes = routes_json(&node, false)?;
        STATICS
            .iter()
            .all(|p| route_row(&routes, p).is_some())
            .then_some(routes)
    });
    for (prefix, why) in [
        ("0.0.0.0/0", "fib.allowDefault is false"),
        ("192.168.50.128/25", "connected subnet 192.168.50.0/24"),
        ("10.0.0.0/25", "connected subnet 10.0.0.0/24"),
    ] {
        let row = route_row(&routes, prefix).expect("row");
        assert_eq!(row["fib"], "no", "{row}");
        let reason = row["fib_reason"].as_str().unwrap_or_default();
        assert!(reason.contains(why), "{prefix}: {row}");
        if prefix != "0.0.0.0/0" {
            // (The default route is checked below: the host has its own.)
            assert_eq!(
                kernel_route(&node.ns, prefix),
                None,
                "{prefix} in the kernel"
            );
        }
    }
    // Give a (wrongly) installing FIB time to act, then look again.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(kernel_route(&node.ns, "192.168.50.128/25"), None);
    assert_eq!(kernel_route(&node.ns, "10.0.0.0/25"), None);
    let defaults = default_routes(&node);
    assert_eq!(defaults.len(), 1, "{defaults:?}");
    assert_eq!(kernel_protocol(&defaults[0]), "static", "{defaults:?}");
    // The host's address goes away: its subnet is no longer protected and the learned
    // more specific is installed (the addresses are read again every few seconds).
    node.ns
        .ok(&["ip", "addr", "del", "192.168.50.1/24", "dev", "lan0"]);
    let r = wait_for(CONVERGE, "192.168.50.128/25 installed", || {
        kernel_route(&node.ns, "192.168.50.128/25")
    });
    assert_eq!(kernel_gateways(&r), ["10.0.0.2"], "{r}");
}

#[test]
fn allow_default_installs_the_learned_default_route() {
    let (_lab, node, _bird) = lab("tguarddef", "fib: { allowDefault: true }\n");
    let r = wait_for(CONVERGE, "a default route of tern's", || {
        default_routes(&node)
            .into_iter()
            .find(|r| kernel_protocol(r) != "static")
    });
    assert_eq!(kernel_gateways(&r), ["10.0.0.2"], "{r}");
    // With the default metric the host's own default route (metric 100) stays preferred.
    assert_eq!(r["metric"], 2048, "{r}");
    // The connected subnet's more specific stays out all the same.
    wait_for(CONVERGE, "10.244.9.0/24 in the kernel", || {
        kernel_route(&node.ns, "10.244.9.0/24")
    });
    assert_eq!(kernel_route(&node.ns, "192.168.50.128/25"), None);
}
