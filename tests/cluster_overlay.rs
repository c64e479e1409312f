//! etcd mode: an IPPool's `vxlanMode` changed in the datastore (`tern apply`) is followed
//! by the running agents, without a reload or a restart: with `Always` the routes to the
//! other host's blocks go through `tern.vxlan` (made then; its packet counter moves
//! with the containers' pings), with `Never` again natively (the device removed). The
//! mesh session between the agents never restarts.
//!
//! Topology: as tests/cluster_etcd.rs (hosts h1, h2 on one bridge, 10.1.0.0/24; etcd in
//! its own namespace); one CNI container per host.

mod cluster_support;
mod cni_support;
mod common;

use cluster_support::*;
use common::{tx_packets, CONVERGE};
use testlab::{wait_for, Netns};

const DEV: &str = "tern.vxlan";

fn pool_with(mode: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{ name: pool-1 }}\nspec: {{ cidr: 10.244.0.0/16, blockSize: 26, vxlanMode: {mode} }}\n"
    )
}

/// `dev` of tern's route for `prefix` in `ns`, if there is one.
fn route_dev(ns: &Netns, prefix: &str) -> Option<String> {
    let out = ns.ok(&["ip", "-4", "route", "show", "exact", prefix, "proto", "201"]);
    let mut w = out.split_whitespace();
    w.find(|t| *t == "dev")
        .and_then(|_| w.next())
        .map(str::to_string)
}

fn has_device(ns: &Netns) -> bool {
    ns.run(&["ip", "link", "show", DEV]).status.success()
}

#[test]
fn ippool_vxlan_mode_is_followed_without_a_reload() {
    let mut c = Cluster::new("cl-ovl");
    c.apply("pool.yaml", &pool_with("Never"));
    let h1 = c.host(1);
    let h2 = c.host(2);
    c.start(h1);
    c.start(h2);
    let ctr1 = c.etcd.lab.netns("c1");
    let ctr2 = c.etcd.lab.netns("c2");
    let hosts = [&c.hosts[h1], &c.hosts[h2]];
    wait_mesh(&hosts);
    let blocks = wait_blocks_learned(&hosts);
    let _a1 = add(hosts[0], "c1", &ctr1);
    let a2 = add(hosts[1], "c2", &ctr2);
    wait_for(CONVERGE, "c1 pings c2", || ping(&ctr1, &a2).then_some(()));
    let sessions: Vec<_> = hosts.iter().map(|h| established(h)).collect();
    // Each host's view of the other's first block.
    let other = |i: usize| blocks[&hosts[1 - i].addr][0].clone();
    for (i, h) in hosts.iter().enumerate() {
        assert_eq!(route_dev(&h.node.ns, &other(i)).as_deref(), Some("eth0"));
        assert!(!has_device(&h.node.ns));
    }

    // Always: both hosts move the routes into tern.vxlan on their own.
    c.apply("pool.yaml", &pool_with("Always"));
    for (i, h) in hosts.iter().enumerate() {
        wait_for(
            CONVERGE,
            &format!("{}: route through {DEV}", h.node.name),
            || (route_dev(&h.node.ns, &other(i)).as_deref() == Some(DEV)).then_some(()),
        );
    }
    wait_for(CONVERGE, "c1 pings c2 through the tunnel", || {
        ping(&ctr1, &a2).then_some(())
    });
    let ns1 = &hosts[0].node.ns;
    let before = tx_packets(ns1, DEV);
    for _ in 0..3 {
        assert!(ping(&ctr1, &a2));
    }
    assert!(tx_packets(ns1, DEV) >= before + 3, "not encapsulated");

    // Never again: native routes, the device gone, the pings still answered.
    c.apply("pool.yaml", &pool_with("Never"));
    for (i, h) in hosts.iter().enumerate() {
        wait_for(CONVERGE, &format!("{}: native route", h.node.name), || {
            (route_dev(&h.node.ns, &other(i)).as_deref() == Some("eth0") && !has_device(&h.node.ns))
                .then_some(())
        });
    }
    wait_for(CONVERGE, "c1 pings c2 natively", || {
        ping(&ctr1, &a2).then_some(())
    });
    let after: Vec<_> = hosts.iter().map(|h| established(h)).collect();
    assert_eq!(after, sessions, "a mesh session restarted");
}
