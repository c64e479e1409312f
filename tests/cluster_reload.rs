//! SIGHUP and `tern reload` in etcd mode, against a real etcd (Debian's etcd-server) in
//! a lab namespace: two agents mesh from their `Node` resources and claim blocks of an
//! IPPool; then a BIRD peer and a block are added to one node's file and a SIGHUP makes
//! them live (BIRD comes Established and learns both the claimed block and the file's),
//! `tern reload` with the peer's description changed restarts that session only (Cease /
//! Other Configuration Change), a second SIGHUP removes them (BIRD receives Cease / Peer De-configured, the claimed
//! block stays), and a broken file and a restart-only key change nothing and are
//! reported (FILE:LINE:COL in the log and `tern status`, the failure metric). The mesh
//! session between the agents never restarts: its `since_unix` and its Established
//! transition count are the same at the end.
//!
//! Topology: as tests/cluster_etcd.rs (hosts on one bridge, 10.1.0.0/24), plus BIRD
//! (AS 65000) on the bridge at 10.1.0.50.

mod cluster_support;
mod cni_support;
mod common;

use cluster_support::*;
use common::{scrape, status_json, tern_cli, CONVERGE};
use testlab::bird::{bird_config, start_bird, BirdPeer};
use testlab::wait_for;

/// BIRD's address on the bridge.
const BIRD: &str = "10.1.0.50";
/// A block the reload adds to h1's file (inside the file's own pool).
const FILE_BLOCK: &str = "10.245.1.0/24";

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A per-peer series (`NAME{...peer="ADDR"...} VALUE`).
fn peer_metric(text: &str, name: &str, peer: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(&format!("peer=\"{peer}\"")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn sighup_in_etcd_mode_adds_and_removes_a_file_peer_keeps_the_mesh_and_refuses_a_broken_file() {
    let mut c = Cluster::new("cl-reload");
    c.apply("pool.yaml", &pool("10.244.0.0/16", 26));
    // h1's file also has a pool of its own (for the block a reload adds) and metrics.
    let h1 = c.host_with(
        1,
        "metrics: { listen: 10.1.0.1:9469 }\npools: [\"10.245.0.0/16\"]\n",
    );
    let h2 = c.host_with(2, "metrics: { listen: 10.1.0.2:9469 }\n");
    let lab = &mut c.etcd.lab;
    let bns = lab.netns("bird");
    lab.veth(&bns, "eth0", &[&format!("{BIRD}/24")], &c.sw, "pbird", &[]);
    c.sw.ok(&["ip", "link", "set", "pbird", "master", "br0"]);
    let peer = BirdPeer {
        name: "tern1",
        local: BIRD,
        neighbor: "10.1.0.1",
        asn: 64512,
        family: "ipv4",
    };
    let bird = start_bird(
        lab,
        &bns,
        "bird",
        &bird_config(BIRD, 65000, &["10.250.0.0/24"], &[peer]),
    );
    let pid1 = c.start(h1);
    c.start(h2);
    let (a, b) = (&c.hosts[h1], &c.hosts[h2]);
    wait_mesh(&[a, b]);
    let blocks = wait_blocks_learned(&[a, b]);
    let claimed = blocks[&a.addr].clone();
    let mesh_before = (established(a), established(b));
    let m = scrape(&a.node.ns, "10.1.0.1:9469");
    let transitions = "tern_bgp_established_transitions_total";
    let t_before = peer_metric(&m, transitions, &b.addr);
    assert_eq!(t_before, Some(1.0), "{m}");
    // (since_unix has a resolution of a second: the transition counts on both sides are
    // what proves the mesh session never restarted.)
    let t2 = |b: &Host| {
        peer_metric(
            &scrape(&b.node.ns, "10.1.0.2:9469"),
            transitions,
            "10.1.0.1",
        )
    };
    assert_eq!(t2(b), Some(1.0));
    let base = std::fs::read_to_string(&a.node.config).expect("node file");
    let config = a.node.config.display().to_string();
    let hup = |c: &mut Cluster| assert!(c.etcd.lab.signal(pid1, libc::SIGHUP), "SIGHUP sent");

    // Added by SIGHUP: a peer and a block of the file.
    let with_peer = format!(
        "{base}blocks: [\"{FILE_BLOCK}\"]\npeers:\n  - {{ peerIP: \"{BIRD}\", asNumber: 65000, connectRetryTime: 1s }}\n"
    );
    std::fs::write(&a.node.config, &with_peer).expect("node file");
    hup(&mut c);
    let a = &c.hosts[h1];
    bird.wait_established("tern1");
    for blk in claimed.iter().map(String::as_str).chain([FILE_BLOCK]) {
        wait_for(CONVERGE, &format!("BIRD learns {blk}"), || {
            bird.has_route_via(blk, "10.1.0.1").then_some(())
        });
    }
    wait_for(
        CONVERGE,
        "h1 holds the claimed and the file's blocks",
        || {
            let own = own_blocks(&a.node.ns);
            (claimed.iter().all(|x| own.contains(x)) && own.iter().any(|x| x == FILE_BLOCK))
                .then_some(())
        },
    );
    // (h2 does not take the file's block: it is outside every pool h2 knows.)
    let s = status_json(&a.node).expect("status");
    assert_eq!(s["config_reload"]["ok"], true, "{s}");
    wait_for(CONVERGE, "h1 has BIRD Established", || {
        established(a).contains_key(BIRD).then_some(())
    });
    // The cluster task recomputes the peers on every datastore change and every second;
    // a few rounds later (and after a datastore write) the file's peer is still there:
    // the datastore follower does not undo the reload.
    let bird_up = bird.settled_protocol_line("tern1");
    c.apply(
        "bgpconfig.yaml",
        "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: { name: default }\nspec: { nodeToNodeMeshEnabled: true, asNumber: 64512 }\n",
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    let a = &c.hosts[h1];
    bird.assert_same_session("tern1", &bird_up, "BIRD");
    assert!(established(a).contains_key(BIRD));

    // Changed by `tern reload` (description): Cease / Other Configuration Change, back
    // up with the new settings.
    let changed = with_peer.replace(
        "connectRetryTime: 1s",
        "connectRetryTime: 1s, description: tor",
    );
    std::fs::write(&a.node.config, &changed).expect("node file");
    let out = tern_cli(&a.node, &["reload"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("peers added [] removed [] changed [{BIRD}]")),
        "{said}"
    );
    wait_for(
        CONVERGE,
        "BIRD received Cease / Other Configuration Change",
        || {
            c.etcd
                .lab
                .log("bird")
                .contains("tern1: Received: Other configuration change")
                .then_some(())
        },
    );
    bird.wait_established("tern1");
    wait_for(CONVERGE, "the peer's new description", || {
        let s = status_json(&a.node)?;
        let row = s["peers"]
            .as_array()?
            .iter()
            .find(|p| p["address"] == BIRD)?
            .clone();
        (row["state"] == "Established" && row["description"] == "tor").then_some(())
    });

    // Removed by SIGHUP: BIRD gets Cease / Peer De-configured; the claimed block stays.
    std::fs::write(&a.node.config, &base).expect("node file");
    hup(&mut c);
    let (a, b) = (&c.hosts[h1], &c.hosts[h2]);
    wait_for(CONVERGE, "BIRD received Cease / Peer De-configured", || {
        c.etcd
            .lab
            .log("bird")
            .contains("tern1: Received: Peer de-configured")
            .then_some(())
    });
    wait_for(
        CONVERGE,
        "h1 drops the file's block, keeps the claimed",
        || (own_blocks(&a.node.ns) == claimed).then_some(()),
    );
    wait_for(CONVERGE, "BIRD forgets the file's block", || {
        (!bird.has_route(FILE_BLOCK)).then_some(())
    });
    for blk in &claimed {
        assert_eq!(via(&b.node.ns, blk).as_deref(), Some("10.1.0.1"), "{blk}");
    }

    // A broken file: nothing changes, the error is located.
    let bad = format!("{base}peers:\n  - {{ peerIP: \"10.1.0.299\", asNumber: 65000 }}\n");
    let line = base.lines().count() + 2;
    std::fs::write(&a.node.config, &bad).expect("node file");
    hup(&mut c);
    let (a, b) = (&c.hosts[h1], &c.hosts[h2]);
    let log = wait_for(CONVERGE, "the reload failure in h1's log", || {
        let log = c.etcd.lab.log("tern-h1");
        log.contains("config reload failed").then_some(log)
    });
    let failed = log
        .lines()
        .find(|l| l.contains("config reload failed"))
        .unwrap_or_default();
    assert!(
        failed.contains(&format!("{config}:{line}:")),
        "the error is located (FILE:LINE:COL): {failed}"
    );
    assert!(c.etcd.lab.alive(pid1), "h1 is alive");
    let text = String::from_utf8_lossy(&tern_cli(&a.node, &["status"]).stdout).into_owned();
    assert!(text.contains("Config reload failed at "), "{text}");
    assert!(text.contains(&format!("{config}:{line}:")), "{text}");

    // A key that cannot change in etcd mode: refused by name through `tern reload`.
    std::fs::write(&a.node.config, base.replace("nodeName: h1", "nodeName: h9"))
        .expect("node file");
    let out = tern_cli(&a.node, &["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nodeName cannot change at run time; restart the agent"),
        "{err}"
    );
    std::fs::write(&a.node.config, &base).expect("node file");

    let m = scrape(&a.node.ns, "10.1.0.1:9469");
    assert_eq!(metric(&m, "tern_config_reloads_total"), Some(5.0), "{m}");
    assert_eq!(metric(&m, "tern_config_reload_failures_total"), Some(2.0));
    assert_eq!(own_blocks(&a.node.ns), claimed, "blocks unchanged");
    assert!(!established(a).contains_key("10.1.0.299"));

    // The mesh session never restarted.
    assert_eq!(peer_metric(&m, transitions, &b.addr), t_before, "{m}");
    assert_eq!(t2(&c.hosts[h2]), Some(1.0));
    for (log, peer) in [("tern-h1", "10.1.0.2"), ("tern-h2", "10.1.0.1")] {
        let text = c.etcd.lab.log(log);
        let up = format!("BGP session established peer={peer} ");
        assert_eq!(
            text.matches(&up).count(),
            1,
            "{log}: one session with {peer}"
        );
    }
    assert_eq!((established(a), established(b)), mesh_before);
}
