//! Live reload of the node config (files mode): `tern agent` with two BIRD peers in lab
//! namespaces. SIGHUP with a peer added (it comes Established, BIRD learns the block),
//! a peer removed (BIRD's session ends with Cease / Peer De-configured, the routes go on
//! both sides), a changed peer (Cease / Other Configuration Change, back with the new
//! config) and an unchanged peer (no flap: BIRD's and tern's "since" stay the same, and
//! its transition counter), a block added and removed (BIRD learns and loses it, the
//! kernel blackhole comes and goes);
//! a broken file and a key that needs a restart change nothing and are reported (log
//! with FILE:LINE:COL, `tern status`, `tern reload`'s exit code, the metrics).

mod common;

use common::*;
use testlab::bird::{bird_config, start_bird, Bird, BirdPeer};
use testlab::{wait_for, Lab, Netns};

/// BIRD 1 (AS 65000, 10.0.0.2) announces this; BIRD 2 (AS 65001, 10.0.1.2) the other.
const NET1: &str = "10.244.65.0/24";
const NET2: &str = "10.244.66.0/24";
/// tern's block.
const BLOCK: &str = "10.244.1.0/24";
/// A block added and removed by a reload.
const BLOCK2: &str = "10.244.2.0/24";

const B1: BirdPeer<'static> = BirdPeer {
    name: "tern4",
    local: "10.0.0.2",
    neighbor: "10.0.0.1",
    asn: 64512,
    family: "ipv4",
};
const B2: BirdPeer<'static> = BirdPeer {
    name: "tern4",
    local: "10.0.1.2",
    neighbor: "10.0.1.1",
    asn: 64512,
    family: "ipv4",
};

/// One peer line of tern's config: (address, AS, description, hold time in s).
type P<'a> = (&'a str, u32, &'a str, u32);

const P1: P = ("10.0.0.2", 65000, "bird one", 9);
const P2: P = ("10.0.1.2", 65001, "bird two", 9);

struct Rig {
    lab: Lab,
    node: Node,
    pid: u32,
    bird1: Bird,
    bird2: Bird,
    _ns: (Netns, Netns),
}

/// tern's whole config with these peers; everything else the same every time.
fn node_yaml(node: &Node, peers: &[P], as_number: u32) -> String {
    let mut y = format!(
        "nodeName: a\nasNumber: {as_number}\nrouterId: 10.0.0.1\nblocks: [\"{BLOCK}\"]\n\
         pools: [\"10.244.0.0/16\"]\n"
    );
    if !peers.is_empty() {
        y.push_str("peers:\n");
        for (addr, asn, descr, hold) in peers {
            y.push_str(&format!(
                "  - {{ peerIP: \"{addr}\", asNumber: {asn}, description: \"{descr}\", \
                 holdTime: {hold}s, connectRetryTime: 1s }}\n"
            ));
        }
    }
    y.push_str(&format!(
        "endpoints: [\"{}\"]\ncontrol: {{ socket: \"{}\" }}\nmetrics: {{ listen: \"10.0.0.1:9469\" }}\n",
        node.endpoints.display(),
        node.socket.display()
    ));
    y
}

fn write(node: &Node, text: &str) {
    std::fs::write(&node.config, text).expect("write node config");
}

/// tern (10.0.0.1 toward BIRD 1, 10.0.1.1 toward BIRD 2) started with `peers`; both
/// BIRDs configured for tern from the start.
fn rig(name: &str, peers: &[P]) -> Rig {
    let mut lab = Lab::new(name);
    let t = lab.netns("tern");
    let b1 = lab.netns("b1");
    let b2 = lab.netns("b2");
    lab.veth(&t, "eth0", &["10.0.0.1/24"], &b1, "eth0", &["10.0.0.2/24"]);
    lab.veth(&t, "eth1", &["10.0.1.1/24"], &b2, "eth0", &["10.0.1.2/24"]);
    let node = write_node(&lab, &t, &NodeSpec::default());
    write(&node, &node_yaml(&node, peers, 64512));
    let bird1 = start_bird(
        &mut lab,
        &b1,
        "bird1",
        &bird_config("10.0.0.2", 65000, &[NET1], &[B1]),
    );
    let bird2 = start_bird(
        &mut lab,
        &b2,
        "bird2",
        &bird_config("10.0.1.2", 65001, &[NET2], &[B2]),
    );
    let pid = start_tern(&mut lab, &node);
    Rig {
        lab,
        node,
        pid,
        bird1,
        bird2,
        _ns: (b1, b2),
    }
}

impl Rig {
    fn hup(&mut self) {
        assert!(self.lab.signal(self.pid, libc::SIGHUP), "SIGHUP sent");
    }

    fn log(&self) -> String {
        self.lab.log("tern-a")
    }

    /// Waits until the agent's log has `n` lines containing `what`.
    fn wait_log(&self, what: &str, n: usize) {
        wait_for(CONVERGE, &format!("{n}× {what:?} in the log"), || {
            (self.log().matches(what).count() >= n).then_some(())
        });
    }

    fn alive(&mut self) {
        assert!(
            self.lab.alive(self.pid),
            "tern agent exited:\n{}",
            self.log()
        );
    }
}

/// The status row of `addr`.
fn peer_row(node: &Node, addr: &str) -> Option<serde_json::Value> {
    status_json(node)?["peers"]
        .as_array()?
        .iter()
        .find(|p| p["address"] == addr)
        .cloned()
}

/// A per-peer series (`NAME{...peer="ADDR"...} VALUE`).
fn peer_metric(text: &str, name: &str, peer: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(&format!("peer=\"{peer}\"")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `tern status PEER --json`'s uptime.
fn uptime(node: &Node, peer: &str) -> Option<u64> {
    let out = tern_cli(node, &["status", peer, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["uptime_secs"].as_u64()
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// How many threads `pid` has, and those whose signal mask lets `sig` through (read
/// from /proc's `SigBlk`; a thread that ends meanwhile is left out).
fn threads_taking(pid: u32, sig: i32) -> (usize, Vec<String>) {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the agent's threads");
    let mut seen = 0;
    let mut taking = Vec::new();
    for t in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(t.path().join("status")) else {
            continue;
        };
        let field = |k: &str| {
            let line = status.lines().find_map(|l| l.strip_prefix(k));
            line.unwrap_or_else(|| panic!("no {k} in {}", t.path().display()))
        };
        let blocked = u64::from_str_radix(field("SigBlk:").trim(), 16).expect("SigBlk is hex");
        seen += 1;
        if blocked & (1 << (sig - 1)) == 0 {
            taking.push(format!(
                "{} ({})",
                field("Name:").trim(),
                t.path().display()
            ));
        }
    }
    (seen, taking)
}

#[test]
fn sighup_changes_peers_and_blocks_and_leaves_the_unchanged_peer_alone() {
    let mut r = rig("agent-reload", &[P1]);
    wait_established(&r.node, 1);
    // SIGHUP waits for the agent's signalfd: every thread blocks it (one that did not
    // would take it in the handler and then have to wake the runtime).
    let (threads, taking) = threads_taking(r.pid, libc::SIGHUP);
    assert!(threads >= 3, "the agent's runtime threads: {threads}");
    assert!(taking.is_empty(), "threads that take SIGHUP: {taking:?}");
    r.bird1.wait_established("tern4");
    wait_for(CONVERGE, "tern's block at BIRD 1", || {
        r.bird1.has_route(BLOCK).then_some(())
    });
    let b1_before = r.bird1.settled_protocol_line("tern4");
    let p1_before = peer_row(&r.node, "10.0.0.2").expect("peer 1");
    let up_before = uptime(&r.node, "10.0.0.2").expect("peer 1's uptime");
    let m = scrape(&r.node.ns, "10.0.0.1:9469");
    let transitions = "tern_bgp_established_transitions_total";
    assert_eq!(peer_metric(&m, transitions, "10.0.0.2"), Some(1.0), "{m}");

    // Added: BIRD 2.
    write(&r.node, &node_yaml(&r.node, &[P1, P2], 64512));
    r.hup();
    wait_established(&r.node, 2);
    r.bird2.wait_established("tern4");
    wait_for(CONVERGE, "tern's block at BIRD 2", || {
        r.bird2.has_route(BLOCK).then_some(())
    });
    wait_for(CONVERGE, "BIRD 2's route in tern's kernel table", || {
        kernel_route(&r.node.ns, NET2)
    });
    r.wait_log(
        "config reloaded: peers added [10.0.1.2] removed [] changed []",
        1,
    );
    // Unchanged: BIRD 1's session did not flap, on either side.
    r.bird1.assert_same_session("tern4", &b1_before, "BIRD 1");
    let p1_after = peer_row(&r.node, "10.0.0.2").expect("peer 1");
    assert_eq!(p1_after["since_unix"], p1_before["since_unix"]);
    assert_eq!(p1_after["state"], "Established");
    assert!(uptime(&r.node, "10.0.0.2").expect("uptime") >= up_before);
    let m = scrape(&r.node.ns, "10.0.0.1:9469");
    assert_eq!(peer_metric(&m, transitions, "10.0.0.2"), Some(1.0), "{m}");
    assert_eq!(peer_metric(&m, transitions, "10.0.1.2"), Some(1.0), "{m}");

    // Removed: BIRD 1 gets Cease / Peer De-configured; the routes go both ways.
    write(&r.node, &node_yaml(&r.node, &[P2], 64512));
    r.hup();
    wait_for(CONVERGE, "tern has one peer", || {
        let s = status_json(&r.node)?;
        (s["peers"].as_array()?.len() == 1).then_some(())
    });
    wait_for(
        CONVERGE,
        "BIRD 1 received Cease / Peer De-configured",
        || {
            r.lab
                .log("bird1")
                .contains("tern4: Received: Peer de-configured")
                .then_some(())
        },
    );
    assert!(!r.bird1.cli("show protocols tern4").contains("Established"));
    wait_for(CONVERGE, "tern's block gone from BIRD 1", || {
        (!r.bird1.has_route(BLOCK)).then_some(())
    });
    wait_for(CONVERGE, "BIRD 1's route gone from tern's kernel", || {
        kernel_route(&r.node.ns, NET1).is_none().then_some(())
    });
    assert!(
        kernel_route(&r.node.ns, NET2).is_some(),
        "BIRD 2's route stays"
    );
    let b2_before = r.bird2.settled_protocol_line("tern4");

    // Changed (hold time and description): Cease / Other Configuration Change, back up.
    let p2_changed: P = ("10.0.1.2", 65001, "bird two, rack 2", 12);
    write(&r.node, &node_yaml(&r.node, &[p2_changed], 64512));
    r.hup();
    wait_for(
        CONVERGE,
        "BIRD 2 received Cease / Other Configuration Change",
        || {
            // Not `show protocols all`: its "Last error" is gone as soon as the new
            // session is up, which may be at once.
            r.lab
                .log("bird2")
                .contains("tern4: Received: Other configuration change")
                .then_some(())
        },
    );
    wait_for(CONVERGE, "tern re-established with BIRD 2", || {
        let p = peer_row(&r.node, "10.0.1.2")?;
        (p["state"] == "Established" && p["description"] == "bird two, rack 2").then_some(())
    });
    r.bird2.wait_established("tern4");
    assert_ne!(
        r.bird2.protocol_line("tern4"),
        b2_before,
        "BIRD 2's session restarted"
    );
    wait_for(CONVERGE, "BIRD 2's route back in tern's kernel", || {
        kernel_route(&r.node.ns, NET2)
    });

    // A block added: originated (BIRD 2 learns it) and blackholed in the kernel; then
    // removed again. The session stays up throughout.
    let b2_up = r.bird2.settled_protocol_line("tern4");
    let one_block = node_yaml(&r.node, &[p2_changed], 64512);
    let blocks = format!("blocks: [\"{BLOCK}\"]");
    assert!(one_block.contains(&blocks));
    let two_blocks = one_block.replace(&blocks, &format!("blocks: [\"{BLOCK}\", \"{BLOCK2}\"]"));
    write(&r.node, &two_blocks);
    r.hup();
    wait_for(CONVERGE, "the new block at BIRD 2", || {
        r.bird2.has_route(BLOCK2).then_some(())
    });
    wait_for(
        CONVERGE,
        "the new block blackholed in tern's kernel",
        || kernel_route(&r.node.ns, BLOCK2).filter(|k| k["type"] == "blackhole"),
    );
    // The routes task answered that the blackhole was written before the block was
    // announced (a missing answer delays the announcement and says so).
    assert!(
        !r.log().contains("announcing them anyway"),
        "the announcement waited for an answer that did not come:\n{}",
        r.log()
    );
    let routes = routes_json(&r.node, false).expect("tern routes");
    let row = route_row(&routes, BLOCK2).expect("the new block in tern routes");
    assert_eq!(row["source"], "block", "{row}");
    write(&r.node, &one_block);
    r.hup();
    wait_for(CONVERGE, "the block withdrawn from BIRD 2", || {
        (!r.bird2.has_route(BLOCK2)).then_some(())
    });
    wait_for(CONVERGE, "the block's blackhole removed", || {
        kernel_route(&r.node.ns, BLOCK2).is_none().then_some(())
    });
    assert!(r.bird2.has_route(BLOCK), "the first block stays");
    r.bird2.assert_same_session("tern4", &b2_up, "BIRD 2");

    let m = scrape(&r.node.ns, "10.0.0.1:9469");
    assert_eq!(metric(&m, "tern_config_reloads_total"), Some(5.0), "{m}");
    assert_eq!(metric(&m, "tern_config_reload_failures_total"), Some(0.0));
    assert!(metric(&m, "tern_config_last_reload_success_timestamp_seconds").unwrap_or(0.0) > 0.0);
    r.alive();
}

#[test]
fn broken_file_and_restart_only_keys_change_nothing_and_are_reported() {
    let mut r = rig("agent-reload-bad", &[P1]);
    wait_established(&r.node, 1);
    r.bird1.wait_established("tern4");
    let b1_before = r.bird1.settled_protocol_line("tern4");
    let good = node_yaml(&r.node, &[P1], 64512);
    let config = r.node.config.display().to_string();

    // A broken file (line 7 holds the peer): SIGHUP.
    write(
        &r.node,
        &good.replace("peerIP: \"10.0.0.2\"", "peerIP: \"10.0.0.299\""),
    );
    r.hup();
    r.wait_log("config reload failed", 1);
    let log = r.log();
    let line = log
        .lines()
        .find(|l| l.contains("config reload failed"))
        .unwrap_or_default();
    assert!(
        line.contains(&format!("{config}:7:")),
        "the error is located (FILE:LINE:COL): {line}"
    );
    r.alive();
    let out = tern_cli(&r.node, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Config reload failed at "), "{text}");
    assert!(text.contains(&format!("{config}:7:")), "{text}");
    let s = status_json(&r.node).expect("status");
    assert_eq!(s["config_reload"]["ok"], false);
    assert_eq!(s["peers"].as_array().map(Vec::len), Some(1));

    // The same through `tern reload`: exit 1 with the located error.
    let out = tern_cli(&r.node, &["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{config}:7:")), "{err}");

    // A key that needs a restart: refused by name, with a peer change in the same file.
    write(&r.node, &node_yaml(&r.node, &[P1, P2], 64513));
    let out = tern_cli(&r.node, &["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("asNumber cannot change at run time; restart the agent"),
        "{err}"
    );
    assert_eq!(
        status_json(&r.node).expect("status")["peers"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "peer 2 was not added"
    );
    r.bird1.assert_same_session("tern4", &b1_before, "BIRD 1");

    let m = scrape(&r.node.ns, "10.0.0.1:9469");
    assert_eq!(metric(&m, "tern_config_reloads_total"), Some(3.0), "{m}");
    assert_eq!(metric(&m, "tern_config_reload_failures_total"), Some(3.0));

    // Fixed, with peer 2 added: `tern reload` succeeds and says what changed.
    write(&r.node, &node_yaml(&r.node, &[P1, P2], 64512));
    let out = tern_cli(&r.node, &["reload"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("config reloaded: peers added [10.0.1.2] removed [] changed []"),
        "{said}"
    );
    wait_established(&r.node, 2);
    r.bird2.wait_established("tern4");
    let text = String::from_utf8_lossy(&tern_cli(&r.node, &["status"]).stdout).into_owned();
    assert!(text.contains("Config reloaded at "), "{text}");
    r.bird1.assert_same_session("tern4", &b1_before, "BIRD 1");
    let m = scrape(&r.node.ns, "10.0.0.1:9469");
    assert_eq!(metric(&m, "tern_config_reload_failures_total"), Some(3.0));
    assert_eq!(metric(&m, "tern_config_reloads_total"), Some(4.0));
    r.alive();
}
