//! BFD beside BGP: `tern agent` with `bfd: { interval: 100ms, multiplier: 3 }` on its peer,
//! against BIRD 2 (`protocol bfd` and `bfd on` in its BGP protocol) and FRR (zebra, bgpd with
//! `neighbor … bfd`, and bfdd). The hosts hang off a Linux bridge in a third namespace;
//! nftables on the bridge silently drops everything between them (the links stay up).
//! With a hold time of 30 s, tern must remove the neighbour's routes from its kernel table
//! within 10 s (BFD sees the silence in ~300 ms), and the neighbour must see tern's BFD
//! go Down too. When the bridge forwards again, BFD and BGP come back by themselves.

mod common;

use std::time::{Duration, Instant};

use common::*;
use testlab::bird::{bird_config, is_established, start_bird, Bird};
use testlab::{wait_for, Lab, Netns};

/// Much less than the 30 s hold time: only BFD can take the routes away this fast.
const FAST: Duration = Duration::from_secs(10);

/// tern's peer line: hold 30 s, BFD 100 ms × 3.
fn tern_peer(addr: &str, asn: u32) -> String {
    format!(
        "peers:\n  - {{ peerIP: \"{addr}\", asNumber: {asn}, holdTime: 30s, connectRetryTime: 1s, \
         bfd: {{ interval: 100ms, multiplier: 3 }} }}\nmetrics: {{ listen: \"127.0.0.1:9469\" }}\n"
    )
}

/// tern (10.0.0.1) and a neighbour (10.0.0.2) on one bridge; returns (tern, neighbour,
/// switch, tern's node).
fn lab_of(lab: &mut Lab, asn: u32) -> (Netns, Netns, Netns, Node) {
    let t = lab.netns("tern");
    let n = lab.netns("peer");
    let sw = switch(lab, &[(&t, &["10.0.0.1/24"]), (&n, &["10.0.0.2/24"])]);
    let extra = tern_peer("10.0.0.2", asn);
    let node = write_node(
        lab,
        &t,
        &NodeSpec {
            blocks: &["10.244.1.0/24"],
            extra: &extra,
            ..NodeSpec::default()
        },
    );
    (t, n, sw, node)
}

/// Drops every frame the bridge would forward (ARP included): the path goes silent.
fn cut(sw: &Netns) {
    let out = sw.sh(
        "nft -f - <<'EOF'\ntable bridge cut {\n  chain silence {\n    type filter hook forward priority 0; policy drop;\n  }\n}\nEOF",
    );
    assert!(out.status.success(), "nft: {out:?}");
}

fn heal(sw: &Netns) {
    sw.ok(&["nft", "delete", "table", "bridge", "cut"]);
}

fn tern_bfd_state(node: &Node) -> Option<String> {
    let s = status_json(node)?;
    s["peers"][0]["bfd"].as_str().map(String::from)
}

fn bird_bfd_state(bird: &Bird) -> Option<String> {
    bird.cli("show bfd sessions")
        .lines()
        .find(|l| l.starts_with("10.0.0.1"))
        .and_then(|l| l.split_whitespace().nth(2).map(String::from))
}

/// Waits until the route is gone from tern's kernel table; returns how long it took.
fn wait_route_gone(t: &Netns, prefix: &str, from: Instant, what: &str) -> Duration {
    wait_for(FAST, what, || {
        kernel_route(t, prefix).is_none().then(|| from.elapsed())
    })
}

fn bird_conf() -> String {
    let c = bird_config("10.0.0.2", 65000, &["10.244.9.0/24"], &[BIRD_TERN4]);
    let c = c.replace("hold time 9;", "hold time 30;\n  bfd on;");
    assert!(c.contains("bfd on"));
    format!("{c}protocol bfd {{\n  interface \"eth0\" {{ interval 100 ms; multiplier 3; }};\n}}\n")
}

#[test]
fn bird_bfd_takes_the_route_out_of_the_fib_long_before_the_hold_time() {
    let mut lab = Lab::new("tbfd");
    let (t, b, sw, node) = lab_of(&mut lab, 65000);
    let bird = start_bird(&mut lab, &b, "bird", &bird_conf());
    start_tern(&mut lab, &node);
    bird.wait_established("tern4");
    wait_established(&node, 1);
    let prefix = "10.244.9.0/24";
    wait_for(CONVERGE, "tern installed BIRD's route", || {
        kernel_route(&t, prefix).map(|_| ())
    });
    wait_for(CONVERGE, "BFD Up on both sides", || {
        (tern_bfd_state(&node).as_deref() == Some("Up")
            && bird_bfd_state(&bird).as_deref() == Some("Up"))
        .then_some(())
    });
    let proto = bird.cli("show protocols all tern4");
    assert!(
        proto.contains("Hold timer") || proto.contains("hold"),
        "{proto}"
    );
    let m = scrape(&t, "127.0.0.1:9469");
    assert!(
        m.contains("tern_bfd_session_up{peer=\"10.0.0.2\"} 1"),
        "{m}"
    );
    let table = String::from_utf8_lossy(&tern_cli(&node, &["status"]).stdout).into_owned();
    assert!(table.contains("BFD") && table.contains("Up"), "{table}");

    // The path goes silent; the links stay up.
    let t0 = Instant::now();
    cut(&sw);
    let took = wait_route_gone(&t, prefix, t0, "BIRD's route left tern's kernel table");
    eprintln!("route left the FIB {} ms after the cut", took.as_millis());
    let s = status_json(&node).expect("status");
    assert_ne!(s["peers"][0]["state"], "Established", "{s}");
    assert!(
        s["peers"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.to_lowercase().contains("bfd")),
        "the session ended with Cease / BFD Down: {s}"
    );
    assert!(lab.log("tern-a").contains("BFD session Down"));
    wait_for(FAST, "BIRD sees tern's BFD go down", || {
        let st = bird_bfd_state(&bird)?;
        (st != "Up").then_some(())
    });
    wait_for(FAST, "BIRD's BGP session to tern goes down", || {
        (!is_established(&bird.cli("show protocols tern4"), "tern4")).then_some(())
    });
    let m = scrape(&t, "127.0.0.1:9469");
    assert!(
        m.contains("tern_bfd_transitions_total{peer=\"10.0.0.2\",to=\"down\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("tern_bfd_session_up{peer=\"10.0.0.2\"} 0"),
        "{m}"
    );

    // The path is back: BFD, BGP and the route return on their own.
    heal(&sw);
    wait_for(CONVERGE, "BFD Up again", || {
        (tern_bfd_state(&node).as_deref() == Some("Up")).then_some(())
    });
    wait_established(&node, 1);
    wait_for(CONVERGE, "BIRD's route back in tern's kernel table", || {
        kernel_route(&t, prefix).map(|_| ())
    });
}

#[test]
fn without_bfd_the_route_stays_until_the_hold_time() {
    // The control: the same cut without BFD leaves the route in place well past the time
    // BFD takes, so the test above measures BFD and not something else.
    let mut lab = Lab::new("tbfdn");
    let (t, b, sw, node) = lab_of(&mut lab, 65000);
    let text = std::fs::read_to_string(&node.config).expect("config");
    std::fs::write(
        &node.config,
        text.replace(", bfd: { interval: 100ms, multiplier: 3 }", ""),
    )
    .expect("config");
    let conf = bird_conf().replace("bfd on;", "");
    let bird = start_bird(&mut lab, &b, "bird", &conf);
    start_tern(&mut lab, &node);
    bird.wait_established("tern4");
    let prefix = "10.244.9.0/24";
    wait_for(CONVERGE, "tern installed BIRD's route", || {
        kernel_route(&t, prefix).map(|_| ())
    });
    assert_eq!(tern_bfd_state(&node), None, "no bfd column without bfd");
    cut(&sw);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        assert!(
            kernel_route(&t, prefix).is_some(),
            "the route left before the hold time without BFD"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
