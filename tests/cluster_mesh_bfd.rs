//! The node file's `nodeToNodeMesh` section in etcd mode: two agents whose files have
//! only a name, an address, the datastore and `nodeToNodeMesh: { holdTime, keepaliveTime,
//! bfd }` (no `peers`) build their mesh from the `Node` list with those timers and a BFD
//! session beside it; BFD comes Up on both sides, and when the path goes silent the
//! mesh session ends with Cease / BFD Down and the other node's block leaves the FIB
//! (before the 30 s hold time and the node's 10 s lease could have done it). Once the
//! path is back, a reload that drops `bfd` from the section ends the BFD session and
//! leaves the mesh session as it was.
//!
//! Topology as tests/cluster_etcd.rs (hosts on one bridge, etcd at 10.0.0.1).

mod cluster_support;
mod cni_support;
mod common;

use cluster_support::*;
use common::{status_json, tern_cli, CONVERGE};
use testlab::wait_for;

const MESH: &str =
    "nodeToNodeMesh: { holdTime: 30s, keepaliveTime: 7s, connectRetryTime: 1s, bfd: { interval: 100ms, multiplier: 3 } }\n";

fn bfd_of(h: &Host, peer: &str) -> Option<String> {
    let s = status_json(&h.node)?;
    s["peers"]
        .as_array()?
        .iter()
        .find(|p| p["address"] == peer)?["bfd"]
        .as_str()
        .map(String::from)
}

#[test]
fn an_etcd_mode_mesh_takes_the_files_timers_and_bfd() {
    let mut c = Cluster::new("cl-mbfd");
    c.apply("pool.yaml", &pool("10.244.0.0/16", 26));
    for n in 1..=2 {
        c.host_with(n, MESH);
    }
    for i in 0..2 {
        c.start(i);
    }
    let hosts: Vec<&Host> = c.hosts.iter().collect();
    wait_mesh(&hosts);
    let blocks = wait_blocks_learned(&hosts);
    let (h1, h2) = (&c.hosts[0], &c.hosts[1]);
    for (h, other) in [(h1, &h2.addr), (h2, &h1.addr)] {
        wait_for(
            CONVERGE,
            &format!("{}: BFD Up with {other}", h.node.name),
            || (bfd_of(h, other).as_deref() == Some("Up")).then_some(()),
        );
        let out = tern_cli(&h.node, &["status", other, "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(d["peer"]["kind"], "mesh", "{d}");
        assert_eq!(d["timers"]["hold_configured"], 30, "{d}");
        assert_eq!(d["timers"]["hold_negotiated"], 30, "{d}");
        assert_eq!(d["timers"]["keepalive_configured"], 7, "{d}");
    }

    // h2's path goes silent (its bridge port down; its link stays up).
    let h2_block = blocks[&h2.addr][0].clone();
    c.sw.ok(&["ip", "link", "set", "p2", "down"]);
    wait_for(CONVERGE, "h2's block left h1's FIB", || {
        via(&h1.node.ns, &h2_block).is_none().then_some(())
    });
    let log = c.etcd.lab.log("tern-h1");
    assert!(log.contains("BFD session Down"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("BGP session down") && l.to_lowercase().contains("bfd")),
        "the mesh session ended with Cease / BFD Down: {log}"
    );

    // The path is back: the mesh and BFD come up again. A reload of h1 without `bfd`
    // ends h1's BFD session (h2 hears AdminDown, RFC 5882: its BGP stays) and leaves
    // the mesh session as it was.
    c.sw.ok(&["ip", "link", "set", "p2", "up"]);
    let hosts: Vec<&Host> = c.hosts.iter().collect();
    wait_mesh(&hosts);
    let (h1, h2) = (&c.hosts[0], &c.hosts[1]);
    wait_for(CONVERGE, "h1: BFD Up with h2 again", || {
        (bfd_of(h1, &h2.addr).as_deref() == Some("Up")).then_some(())
    });
    let before = established(h1);
    let file = std::fs::read_to_string(&h1.node.config).expect("node file");
    let without = file.replace(
        MESH,
        "nodeToNodeMesh: { holdTime: 30s, keepaliveTime: 7s, connectRetryTime: 1s }\n",
    );
    assert_ne!(file, without);
    std::fs::write(&h1.node.config, without).expect("node file");
    let out = tern_cli(&h1.node, &["reload"]);
    assert!(
        out.status.success(),
        "tern reload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(CONVERGE, "h1: no BFD with h2", || {
        bfd_of(h1, &h2.addr).is_none().then_some(())
    });
    assert_eq!(established(h1), before, "the mesh session was not reset");
    assert!(established(h2).contains_key(&h1.addr));
}

#[test]
fn a_node_cut_off_from_etcd_stays_in_the_mesh_while_bfd_is_up() {
    let mut c = Cluster::new("cl-mbfd-cut");
    c.apply("pool.yaml", &pool("10.244.0.0/16", 26));
    for n in 1..=3 {
        c.host_with(n, MESH);
    }
    for i in 0..3 {
        c.start(i);
    }
    let hosts: Vec<&Host> = c.hosts.iter().collect();
    wait_mesh(&hosts);
    let blocks = wait_blocks_learned(&hosts);
    let (h1, h2, h3) = (&c.hosts[0], &c.hosts[1], &c.hosts[2]);
    for h in [h1, h3] {
        wait_for(
            CONVERGE,
            &format!("{}: BFD Up with h2", h.node.name),
            || (bfd_of(h, &h2.addr).as_deref() == Some("Up")).then_some(()),
        );
    }
    let before = [established(h1), established(h3)];
    // h2 loses etcd, not its neighbours: its lease expires and its Node goes.
    cut_off_etcd(&h2.node.ns, true);
    wait_for(
        std::time::Duration::from_secs(60),
        "h2's Node gone from etcd",
        || {
            let out = c.tern_ds(&["get", "node", "-o", "json"]);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            (out.status.success() && !text.contains("\"h2\"")).then_some(())
        },
    );
    // Past the gone-node grace (30 s) and the sweep spread (5 s): h2 stays in h1's and
    // h3's mesh, its block stays routed to it and nobody frees it.
    std::thread::sleep(std::time::Duration::from_secs(40));
    let h2_block = &blocks[&h2.addr][0];
    for h in [h1, h3] {
        assert_eq!(
            via(&h.node.ns, h2_block).as_deref(),
            Some(h2.addr.as_str()),
            "{}",
            h.node.name
        );
        let log = c.etcd.lab.log(&format!("tern-{}", h.node.name));
        assert!(
            log.contains("is gone from the datastore but its BFD session is Up: kept"),
            "{log}"
        );
        assert!(!log.contains("block of a gone node freed"), "{log}");
    }
    assert_eq!(
        [established(h1), established(h3)],
        before,
        "no session was reset"
    );
    // etcd is back: h2 registers again, keeps its block, and nothing flapped.
    cut_off_etcd(&h2.node.ns, false);
    wait_for(CONVERGE, "h2's Node back in etcd", || {
        let out = c.tern_ds(&["get", "node", "h2", "-o", "json"]);
        out.status.success().then_some(())
    });
    assert_eq!(own_blocks(&h2.node.ns), blocks[&h2.addr]);
    assert_eq!(
        [established(h1), established(h3)],
        before,
        "no session was reset"
    );
}
