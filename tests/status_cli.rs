//! `tern status PEER` and `tern routes PREFIX` against a real BIRD peer (issue 12, "CLI
//! details"): one peer in detail as `birdc show protocols all` shows it — capabilities
//! of both OPENs, timers configured and negotiated, graceful restart, errors with their
//! times, messages by type, prefixes — and the most specific route covering an address
//! with all its paths, as `birdc show route for`.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;
use testlab::bird::{bird_config, start_bird};
use testlab::{wait_for, Lab};

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn peer_json(node: &Node, peer: &str) -> Option<Value> {
    let o = tern_cli(node, &["status", peer, "--json"]);
    if !o.status.success() {
        return None;
    }
    serde_json::from_slice(&o.stdout).ok()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[test]
fn status_peer_shows_what_was_negotiated_and_what_went_wrong() {
    let mut lab = Lab::new("stpeer");
    let (_t, b, node) = tern_and_bird(&mut lab);
    let started = now();
    start_tern(&mut lab, &node);
    // No BIRD yet: the session tries, and the failed connections are errors with times.
    let d = wait_for(CONVERGE, "a connection error", || {
        let d = peer_json(&node, "10.0.0.2")?;
        (!d["errors"].as_array()?.is_empty()).then_some(d)
    });
    let e = &d["errors"][0];
    let at = e["at_unix"].as_u64().expect("at_unix");
    assert!(at >= started.saturating_sub(2) && at <= now() + 2, "{d}");
    assert!(!e["message"].as_str().unwrap_or("").is_empty(), "{d}");
    assert!(d["capabilities"].as_array().unwrap().is_empty(), "{d}");

    let mut bird = start_bird(
        &mut lab,
        &b,
        "bird",
        &bird_config("10.0.0.2", 65000, &["10.244.9.0/24"], &[BIRD_TERN4]),
    );
    bird.wait_established("tern4");
    wait_established(&node, 1);
    // Keepalives flow (BIRD: keepalive time 3).
    let d = wait_for(CONVERGE, "keepalives counted", || {
        let d = peer_json(&node, "10.0.0.2")?;
        let ka = d["messages"]
            .as_array()?
            .iter()
            .find(|m| m["type"] == "KEEPALIVE")?
            .clone();
        (ka["received"].as_u64()? >= 2 && ka["sent"].as_u64()? >= 1).then_some(d)
    });
    assert_eq!(d["peer"]["state"], "Established", "{d}");
    assert_eq!(d["peer"]["asn"], 65000, "{d}");
    assert_eq!(d["router_id"], "10.0.0.2", "{d}");
    assert_eq!(d["families"], serde_json::json!(["ipv4-unicast"]), "{d}");
    // Timers: tern's config says 9 s (tests/common), BIRD's too.
    assert_eq!(d["timers"]["hold_configured"], 9, "{d}");
    assert_eq!(d["timers"]["hold_peer"], 9, "{d}");
    assert_eq!(d["timers"]["hold_negotiated"], 9, "{d}");
    assert_eq!(d["timers"]["keepalive_negotiated"], 3, "{d}");
    // Capabilities: both sides' 4-octet AS with their own AS, BIRD's route refresh.
    let cap = |name: &str| -> Value {
        d["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(cap("4-octet-as")["local"], "AS 64512", "{d}");
    assert_eq!(cap("4-octet-as")["peer"], "AS 65000", "{d}");
    assert_eq!(cap("multiprotocol")["peer"], "ipv4-unicast", "{d}");
    assert!(cap("route-refresh")["peer"].is_string(), "{d}");
    let m = |t: &str, dir: &str| -> u64 {
        d["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["type"] == t)
            .and_then(|m| m[dir].as_u64())
            .unwrap_or(0)
    };
    assert!(m("OPEN", "received") >= 1 && m("OPEN", "sent") >= 1, "{d}");
    assert!(m("UPDATE", "received") >= 1, "{d}");
    assert!(m("total", "received") > m("KEEPALIVE", "received"), "{d}");
    assert_eq!(d["peer"]["accepted"], 1, "{d}");

    // The human form, as birdc's.
    let text = out(&tern_cli(&node, &["status", "10.0.0.2"]));
    for want in [
        "Peer 10.0.0.2",
        "State:            Established since",
        "Router ID:        10.0.0.2",
        "Hold time:        configured 9 s, peer 9, negotiated 9",
        "4-octet-as",
        "AS 64512",
        "AS 65000",
        "KEEPALIVE",
        "1 accepted",
        "Errors (oldest first):",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }

    // BIRD restarts: the session's end is an error with its time.
    let before = now();
    bird.restart(&mut lab);
    bird.wait_established("tern4");
    let d = wait_for(CONVERGE, "the restart among the errors", || {
        let d = peer_json(&node, "10.0.0.2")?;
        let last = d["errors"].as_array()?.last()?.clone();
        (last["at_unix"].as_u64()? >= before.saturating_sub(1)).then_some(d)
    });
    assert!(d["errors"].as_array().unwrap().len() >= 2, "{d}");

    // An unknown peer: exit 2 and the peers there are.
    let o = tern_cli(&node, &["status", "192.0.2.99"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no peer") && err.contains("10.0.0.2"), "{err}");
}

#[test]
fn routes_prefix_is_the_longest_match_with_all_paths() {
    let mut lab = Lab::new("stroute");
    let (_t, b, node) = tern_and_bird(&mut lab);
    start_tern(&mut lab, &node);
    let bird = start_bird(
        &mut lab,
        &b,
        "bird",
        &bird_config(
            "10.0.0.2",
            65000,
            &["10.244.9.0/24", "10.244.9.128/25"],
            &[BIRD_TERN4],
        ),
    );
    bird.wait_established("tern4");
    wait_for(CONVERGE, "both prefixes learned", || {
        installed_next_hops(&node, "10.244.9.128/25")?;
        installed_next_hops(&node, "10.244.9.0/24")
    });
    // An address in the /25: the /25, not the /24, with its path.
    let o = tern_cli(&node, &["routes", "10.244.9.200", "--json"]);
    assert!(o.status.success(), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let rows = v["routes"].as_array().expect("routes");
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(rows[0]["prefix"], "10.244.9.128/25", "{v}");
    assert_eq!(rows[0]["paths"][0]["from"], "10.0.0.2", "{v}");
    assert_eq!(rows[0]["paths"][0]["best"], true, "{v}");
    // An address in the /24 only.
    let t = out(&tern_cli(&node, &["routes", "10.244.9.5"]));
    assert!(t.contains("10.244.9.0/24"), "{t}");
    assert!(!t.contains("10.244.9.128/25"), "{t}");
    assert!(t.contains("* from 10.0.0.2"), "{t}");
    // This node's own block, as BIRD sees it from the other side.
    let t = out(&tern_cli(&node, &["routes", "10.244.1.7"]));
    assert!(t.contains("10.244.1.0/24") && t.contains("block"), "{t}");
    assert!(bird
        .cli("show route for 10.244.1.7")
        .contains("10.244.1.0/24"));
    // Nothing covers it: no row, exit 0.
    let o = tern_cli(&node, &["routes", "192.0.2.1", "--json"]);
    assert!(o.status.success(), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["routes"], serde_json::json!([]), "{v}");
    let o = tern_cli(&node, &["routes", "192.0.2.1"]);
    assert!(o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no route covers 192.0.2.1/32"), "{err}");
    // A positional prefix and --prefix together are a usage error.
    let o = tern_cli(&node, &["routes", "10.244.9.5", "--prefix", "10.0.0.0/8"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}
