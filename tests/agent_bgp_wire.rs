//! `tern agent` against a scripted peer (tests/bgp_peer.py) in a lab namespace, with
//! BGP messages built byte by byte from the RFC layouts:
//! - connections from a configured peer's address that close, or stay idle, do not
//!   keep file descriptors (the agent's /proc/PID/fd count returns to its baseline, and
//!   only a bounded number of idle connections is held), and the real peer still
//!   establishes;
//! - RFC 7607 / RFC 7606 edge cases: AS 0 in AS_PATH is treat-as-withdraw, AS 0 in
//!   AGGREGATOR and a malformed LOCAL_PREF from an eBGP peer are attribute discard, and
//!   an UPDATE with a malformed attribute and no NLRI resets nothing.

mod common;

use std::time::Duration;

use common::*;
use testlab::{wait_for, Lab, Netns};

const PEER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bgp_peer.py");

/// The agent (10.0.0.1, AS 64512) with one eBGP peer 10.0.0.2 (AS 65001) in `p`.
fn lab(name: &str) -> (Lab, Netns, Node, u32) {
    let mut lab = Lab::new(name);
    let a = lab.netns("agent");
    let p = lab.netns("peer");
    lab.veth(&a, "eth0", &["10.0.0.1/24"], &p, "eth0", &["10.0.0.2/24"]);
    let node = write_node(
        &lab,
        &a,
        &NodeSpec {
            peers: &[("10.0.0.2", 65001)],
            extra: "listen: { address: 10.0.0.1, port: 179 }\n",
            ..NodeSpec::default()
        },
    );
    let pid = start_tern(&mut lab, &node);
    (lab, p, node, pid)
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(usize::MAX)
}

/// The agent's fd count, the lowest of several samples (its own connect attempts to
/// the absent peer come and go).
fn settled_fds(pid: u32) -> usize {
    (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            fd_count(pid)
        })
        .min()
        .unwrap_or(usize::MAX)
}

fn peer_state(node: &Node) -> Option<(String, Option<u64>, Option<String>)> {
    let s = status_json(node)?;
    let p = s["peers"].as_array()?.first()?.clone();
    Some((
        p["state"].as_str()?.to_string(),
        p["since_unix"].as_u64(),
        p["last_error"].as_str().map(str::to_string),
    ))
}

#[test]
fn closed_and_idle_connections_from_a_peer_address_do_not_keep_descriptors() {
    let (mut lab, p, node, pid) = lab("twirefd");
    std::thread::sleep(Duration::from_secs(2));
    let baseline = settled_fds(pid);

    // 150 connect + close from the configured peer's address.
    let out = p.ok(&["python3", PEER_SCRIPT, "churn", "10.0.0.1", "150"]);
    assert!(out.contains("done"), "{out}");
    let after = wait_for(
        CONVERGE,
        "fd count back to the baseline after churn",
        || {
            let n = settled_fds(pid);
            (n <= baseline + 1).then_some(n)
        },
    );
    eprintln!("fds: baseline {baseline}, after 150 connect/close {after}");

    // 60 idle connections at once: only the bound (2) is held.
    let _idle = lab.spawn(
        &p,
        &["python3", PEER_SCRIPT, "idle", "10.0.0.1", "60"],
        "idle",
    );
    wait_for(CONVERGE, "idle connections opened", || {
        lab.log("idle").contains("open 60").then_some(())
    });
    let held = wait_for(CONVERGE, "refused idle connections released", || {
        let n = settled_fds(pid);
        (n <= baseline + 3).then_some(n)
    });
    eprintln!("fds with 60 idle connections: {held}");

    // The real peer still gets in (once the extra idle one's short OPEN wait is over).
    let _real = lab.spawn(
        &p,
        &[
            "python3",
            PEER_SCRIPT,
            "session",
            "10.0.0.1",
            "65001",
            "10.0.0.2",
        ],
        "real",
    );
    wait_for(Duration::from_secs(90), "the real peer established", || {
        lab.log("real").contains("established").then_some(())
    });
    wait_established(&node, 1);
}

// Messages built from RFC 4271 §4.1/§4.3 by hand.

fn message(kind: u8, body: &[u8]) -> String {
    let mut m = vec![0xffu8; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    hex::encode(m)
}

fn update(attrs: &[&[u8]], nlri: &[u8]) -> String {
    let attrs = attrs.concat();
    let mut b = vec![0, 0];
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(&attrs);
    b.extend_from_slice(nlri);
    message(2, &b)
}

const ORIGIN_IGP: &[u8] = &[0x40, 1, 1, 0];
const ORIGIN_BAD: &[u8] = &[0x40, 1, 1, 7];
/// AS_SEQUENCE [65001], 4-octet AS.
const AS_PATH: &[u8] = &[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
/// AS_SEQUENCE [65001, 0].
const AS_PATH_0: &[u8] = &[0x40, 2, 10, 2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0];
const NEXT_HOP: &[u8] = &[0x40, 3, 4, 10, 0, 0, 2];
/// AGGREGATOR AS 0, 10.0.0.2.
const AGGREGATOR_0: &[u8] = &[0xc0, 7, 8, 0, 0, 0, 0, 10, 0, 0, 2];
/// LOCAL_PREF of three octets.
const LOCAL_PREF_BAD: &[u8] = &[0x40, 5, 3, 0, 0, 100];

fn nlri(third: u8) -> [u8; 4] {
    [24, 10, 244, third]
}

#[test]
fn rfc7606_and_rfc7607_edge_cases_keep_the_session() {
    let (mut lab, p, node, _pid) = lab("twire7606");
    let good = [ORIGIN_IGP, AS_PATH, NEXT_HOP];
    let msgs = [
        // 10.244.50.0/24 announced, then again with AS 0 in the path: withdrawn.
        update(&good, &nlri(50)),
        update(&[ORIGIN_IGP, AS_PATH_0, NEXT_HOP], &nlri(50)),
        // AS 0 in AGGREGATOR: the attribute goes, the route stays.
        update(&[ORIGIN_IGP, AS_PATH, NEXT_HOP, AGGREGATOR_0], &nlri(51)),
        // Malformed LOCAL_PREF from this eBGP peer: attribute discard.
        update(&[ORIGIN_IGP, AS_PATH, NEXT_HOP, LOCAL_PREF_BAD], &nlri(52)),
        // Malformed attributes and no NLRI at all: nothing to withdraw, no reset (and
        // the second is no End-of-RIB marker either).
        update(&[ORIGIN_BAD, AS_PATH, NEXT_HOP], &[]),
        update(&[ORIGIN_BAD], &[]),
        update(&[AS_PATH_0], &[]),
        // The sentinel: once it is in, everything before it was handled.
        update(&good, &nlri(59)),
    ];
    let mut argv = vec![
        "python3",
        PEER_SCRIPT,
        "session",
        "10.0.0.1",
        "65001",
        "10.0.0.2",
    ];
    argv.extend(msgs.iter().map(String::as_str));
    let _peer = lab.spawn(&p, &argv, "peer");
    wait_established(&node, 1);
    let (_, since, _) = peer_state(&node).expect("status");
    let routes = wait_for(CONVERGE, "the sentinel route", || {
        let r = routes_json(&node, false)?;
        route_row(&r, "10.244.59.0/24").map(|_| r)
    });
    let has = |third: u8| route_row(&routes, &format!("10.244.{third}.0/24")).is_some();
    assert!(!has(50), "AS 0 in AS_PATH must withdraw: {routes}");
    assert!(
        has(51),
        "AS 0 in AGGREGATOR only drops the attribute: {routes}"
    );
    assert!(
        has(52),
        "bad LOCAL_PREF from eBGP only drops the attribute: {routes}"
    );
    // A few keepalive rounds later the session is still the same one.
    std::thread::sleep(Duration::from_secs(3));
    let (state, since_now, error) = peer_state(&node).expect("status");
    assert_eq!(state, "Established", "{error:?}");
    assert_eq!(since_now, since, "the session flapped: {error:?}");
    let log = lab.log("peer");
    assert!(
        !log.contains("NOTIFICATION") && !log.contains("closed"),
        "{log}"
    );
}
