//! Unit tests of [`super::diff`]: which changes a reload applies and which it refuses.

use std::path::Path;

use super::*;

const BASE: &str = "\
nodeName: host-a
asNumber: 64512
routerId: 192.0.2.1
listen: { address: 192.0.2.1 }
blocks: [10.244.1.0/24]
pools: [10.244.0.0/16]
nodeToNodeMesh: { enabled: true, peers: [192.0.2.2, 192.0.2.3] }
peers:
  - { peerIP: 192.0.2.254, asNumber: 65000, description: tor }
control: { socket: /tmp/tern-reload-test.sock }
stateDir: /tmp/tern-reload-test
";

fn cfg(text: &str) -> NodeConfig {
    NodeConfig::from_str(Path::new("/etc/tern/node.yaml"), text).expect("valid config")
}

/// BASE with one line replaced.
fn with(old: &str, new: &str) -> NodeConfig {
    assert!(BASE.contains(old), "{old}");
    cfg(&BASE.replace(old, new))
}

#[test]
fn same_file_is_an_empty_plan() {
    let plan = diff(&cfg(BASE), &cfg(BASE)).expect("plan");
    assert!(plan.is_empty(), "{plan:?}");
}

#[test]
fn peers_mesh_and_blocks_change_at_run_time() {
    let old = cfg(BASE);
    let added = with("192.0.2.3]", "192.0.2.3, 192.0.2.4]");
    assert_eq!(
        diff(&old, &added),
        Ok(Plan {
            peers: true,
            blocks: None,
            overlay: None,
        })
    );
    let changed = with("description: tor", "description: tor-2");
    assert!(diff(&old, &changed).expect("plan").peers);
    let mesh_off = with("enabled: true", "enabled: false");
    assert!(diff(&old, &mesh_off).expect("plan").peers);
    let blocks = with("[10.244.1.0/24]", "[10.244.1.0/24, 10.244.9.0/24]");
    let plan = diff(&old, &blocks).expect("plan");
    assert!(!plan.peers);
    assert_eq!(
        plan.blocks,
        Some(vec![
            "10.244.1.0/24".parse().expect("net"),
            "10.244.9.0/24".parse().expect("net")
        ])
    );
}

#[test]
fn keys_that_need_a_restart_are_refused_by_name() {
    let old = cfg(BASE);
    let cases = [
        ("asNumber: 64512", "asNumber: 64513", "asNumber"),
        ("nodeName: host-a", "nodeName: host-b", "nodeName"),
        ("routerId: 192.0.2.1", "routerId: 192.0.2.9", "routerId"),
        (
            "{ address: 192.0.2.1 }",
            "{ address: 192.0.2.1, port: 1179 }",
            "listen",
        ),
        ("[10.244.0.0/16]", "[10.244.0.0/16, 10.250.0.0/16]", "pools"),
        (
            "/tmp/tern-reload-test.sock",
            "/tmp/tern-reload-other.sock",
            "control",
        ),
        (
            "stateDir: /tmp/tern-reload-test",
            "stateDir: /tmp/tern-reload-other",
            "stateDir",
        ),
    ];
    for (from, to, key) in cases {
        let err = diff(&old, &with(from, to)).expect_err(key);
        assert!(
            err.starts_with(&format!(
                "{key} cannot change at run time; restart the agent"
            )),
            "{key}: {err}"
        );
    }
    // A refused key wins over allowed changes in the same file.
    let both = cfg(&BASE
        .replace("asNumber: 64512", "asNumber: 64999")
        .replace("description: tor", "description: x"));
    assert!(diff(&old, &both)
        .expect_err("asNumber")
        .starts_with("asNumber"));
}

#[test]
fn a_metrics_listener_cannot_appear_at_run_time() {
    let old = cfg(BASE);
    let new = cfg(&format!(
        "{BASE}metrics: {{ listen: \"127.0.0.1:9469\" }}\n"
    ));
    let err = diff(&old, &new).expect_err("metrics");
    assert!(err.starts_with("metrics cannot change"), "{err}");
}

/// An etcd-mode file: peers and blocks change; the datastore and the node's name are
/// refused by name (the reload compares the file with the file, not with what the
/// cluster merged in at start).
#[test]
fn etcd_mode_file_peers_change_datastore_and_name_refused() {
    const ETCD: &str = "\
nodeName: h1
routerId: 10.1.0.1
datastore: { type: etcd, endpoints: [\"http://10.0.0.1:2379\"] }
control: { socket: /tmp/tern-reload-test.sock }
";
    let old = cfg(ETCD);
    let peer = cfg(&format!(
        "{ETCD}peers:\n  - {{ peerIP: 10.1.0.50, asNumber: 65000 }}\n"
    ));
    assert_eq!(
        diff(&old, &peer),
        Ok(Plan {
            peers: true,
            blocks: None,
            overlay: None,
        })
    );
    assert!(diff(&peer, &old).expect("plan").peers);
    let moved = cfg(&ETCD.replace("10.0.0.1:2379", "10.0.0.2:2379"));
    assert!(diff(&old, &moved)
        .expect_err("datastore")
        .starts_with("datastore cannot change at run time"));
    let renamed = cfg(&ETCD.replace("nodeName: h1", "nodeName: h2"));
    assert!(diff(&old, &renamed)
        .expect_err("nodeName")
        .starts_with("nodeName cannot change at run time"));
}

#[test]
fn pool_tunnel_modes_change_at_run_time_but_not_their_cidrs_or_mtus() {
    use config::node::{EncapMode, PoolOverlay};
    let old = cfg(BASE);
    let cross = with(
        "pools: [10.244.0.0/16]",
        "pools: [{ cidr: 10.244.0.0/16, vxlanMode: CrossSubnet }]",
    );
    let want = vec![PoolOverlay {
        cidr: "10.244.0.0/16".parse().expect("cidr"),
        ipip: EncapMode::Never,
        vxlan: EncapMode::CrossSubnet,
    }];
    assert_eq!(
        diff(&old, &cross),
        Ok(Plan {
            overlay: Some(want),
            ..Plan::default()
        })
    );
    // Back to Never: no pool with a mode.
    assert_eq!(
        diff(&cross, &old),
        Ok(Plan {
            overlay: Some(Vec::new()),
            ..Plan::default()
        })
    );
    let mtu = cfg(&format!(
        "{}overlay: {{ vxlanMtu: 1400 }}\n",
        BASE.replace(
            "pools: [10.244.0.0/16]",
            "pools: [{ cidr: 10.244.0.0/16, vxlanMode: CrossSubnet }]"
        )
    ));
    assert!(diff(&cross, &mtu)
        .expect_err("overlay")
        .starts_with("overlay cannot change at run time"));
    let wider = with(
        "pools: [10.244.0.0/16]",
        "pools: [{ cidr: 10.244.0.0/15, vxlanMode: CrossSubnet }]",
    );
    assert!(diff(&old, &wider)
        .expect_err("pools")
        .starts_with("pools cannot change at run time"));
}

#[test]
fn a_reload_names_the_blocks_it_added_and_removed() {
    let nets = |v: &[&str]| -> Vec<IpNet> { v.iter().map(|s| s.parse().unwrap()).collect() };
    let before = nets(&["10.96.0.0/26", "10.96.0.64/26", "10.96.0.128/26"]);
    let now = nets(&["10.96.0.128/26", "10.96.0.0/26", "10.96.1.0/26"]);
    assert_eq!(
        blocks_said(&before, &now),
        "blocks added [10.96.1.0/26] removed [10.96.0.64/26], 3 in all"
    );
    assert_eq!(
        blocks_said(&before, &[]),
        "blocks added [] removed [10.96.0.0/26 10.96.0.64/26 10.96.0.128/26], 0 in all"
    );
}
