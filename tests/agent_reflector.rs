//! `tern agent` as an RFC 4456 route reflector next to real daemons: tern and BIRD 2
//! clients, iBGP non-clients, and two reflectors of one cluster. Checks what an operator
//! would: each client's kernel routes with the originating client as next hop,
//! ORIGINATOR_ID and CLUSTER_LIST as BIRD shows them, what reaches a non-client and what
//! does not, cluster-loop rejects in `tern status PEER` and `tern routes --all`,
//! withdrawals, a reflector killed with SIGKILL, and pings between containers on two
//! clients through the reflected routes.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use testlab::bird::{start_bird, Bird};
use testlab::{wait_for, Lab, Netns};

const AS: u32 = 64512;
const CLUSTER: &str = "10.0.255.1";

/// A BIRD config for an iBGP speaker of AS 64512 at `rid` (also its session address):
/// static blackholes exported, everything imported and put into the kernel, next hops
/// resolved through the connected subnet (`protocol direct`, `gateway recursive`: what
/// Calico's BIRD does). `neighbors` are (protocol name, address, `rr client` extra).
fn bird_ibgp(rid: &str, statics: &[&str], neighbors: &[(&str, &str, &str)]) -> String {
    let mut c = format!(
        "router id {rid};\nlog stderr all;\nprotocol device {{ scan time 2; }}\n\
         protocol direct {{ ipv4; interface \"eth0\"; }}\n\
         protocol kernel {{ ipv4 {{ export where source = RTS_BGP; }}; }}\n\
         protocol static static4 {{\n  ipv4;\n"
    );
    for s in statics {
        c.push_str(&format!("  route {s} blackhole;\n"));
    }
    c.push_str("}\n");
    for (name, addr, extra) in neighbors {
        c.push_str(&format!(
            "protocol bgp {name} {{\n  local {rid} as {AS};\n  neighbor {addr} as {AS};\n  \
             hold time 9;\n  keepalive time 3;\n  connect retry time 1;\n  error wait time 1, 5;\n  \
             {extra}\n  ipv4 {{ import all; export where source = RTS_STATIC; }};\n}}\n"
        ));
    }
    c
}

/// `peers:` YAML of iBGP sessions; `clients` are marked `routeReflectorClient`.
fn peers_yaml(clients: &[&str], others: &[&str]) -> String {
    let mut y = String::from("peers:\n");
    for (list, client) in [(clients, true), (others, false)] {
        for a in list {
            y.push_str(&format!(
                "  - {{ peerIP: \"{a}\", asNumber: {AS}, routeReflectorClient: {client}, \
                 holdTime: 9s, connectRetryTime: 1s }}\n"
            ));
        }
    }
    y
}

/// Writes the config of a tern reflector at `addr` (router ID = address).
fn reflector(
    lab: &Lab,
    ns: &Netns,
    name: &str,
    addr: &str,
    clients: &[&str],
    others: &[&str],
    extra: &str,
) -> Node {
    let y = format!(
        "routeReflector: {{ clusterId: {CLUSTER} }}\n{}{extra}",
        peers_yaml(clients, others)
    );
    write_node_extra(lab, ns, name, addr, &y)
}

/// Writes the config of a plain tern iBGP speaker at `addr` peering with `peers`.
fn plain(lab: &Lab, ns: &Netns, name: &str, addr: &str, blocks: &[&str], peers: &[&str]) -> Node {
    let peers: Vec<(&str, u32)> = peers.iter().map(|p| (*p, AS)).collect();
    write_node(
        lab,
        ns,
        &NodeSpec {
            name,
            router_id: addr,
            blocks,
            peers: &peers,
            ..NodeSpec::default()
        },
    )
}

/// Waits until `prefix` is in `ns`'s kernel table via exactly `via`.
fn wait_kernel_via(ns: &Netns, prefix: &str, via: &str) {
    let want = [via.to_string()];
    wait_for(
        CONVERGE,
        &format!("{prefix} via {via} in {}", ns.name()),
        || {
            kernel_route(ns, prefix)
                .filter(|r| kernel_gateways(r) == want)
                .map(|_| ())
        },
    );
}

/// Waits until BIRD has `prefix` via `via` and returns `show route all PREFIX`.
fn wait_bird_route(bird: &Bird, prefix: &str, via: &str) -> String {
    wait_for(
        CONVERGE,
        &format!("BIRD {} has {prefix} via {via}", bird.name),
        || {
            bird.has_route_via(prefix, via)
                .then(|| bird.cli(&format!("show route all {prefix}")))
        },
    )
}

/// The BGP attribute `BGP.NAME:` of BIRD's `show route all` output (first path).
fn bird_attr(show: &str, name: &str) -> String {
    let key = format!("BGP.{name}:");
    show.lines()
        .find_map(|l| l.trim().strip_prefix(&key))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in {show}"))
}

/// Paths BIRD has for `prefix` (one line per path in `show route`).
fn bird_paths(bird: &Bird, prefix: &str) -> usize {
    bird.cli(&format!("show route {prefix}"))
        .lines()
        .filter(|l| l.contains("unicast ["))
        .count()
}

/// `from` of every path tern has for `prefix` (`tern routes --all`), sorted.
fn tern_paths(node: &Node, prefix: &str) -> Vec<String> {
    let Some(all) = routes_json(node, true) else {
        return Vec::new();
    };
    let mut v: Vec<String> = route_row(&all, prefix)
        .and_then(|r| r["paths"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p["from"].as_str().map(String::from))
        .collect();
    v.sort();
    v
}

/// `tern status PEER --json`, parsed.
fn peer_json(node: &Node, peer: &str) -> Option<Value> {
    let o = tern_cli(node, &["status", peer, "--json"]);
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).ok())
        .flatten()
}

fn ping(from: &Netns, to: &str) -> bool {
    from.run(&["ping", "-c1", "-W1", to]).status.success()
}

fn wait_ping(from: &Netns, to: &str) {
    wait_for(CONVERGE, &format!("ping {to}"), || {
        ping(from, to).then_some(())
    });
}

/// One tern reflector (10.0.0.1, cluster 10.0.255.1) with three clients — tern c1
/// (10.0.0.2, 10.244.2.0/24), tern c2 (10.0.0.3, 10.244.3.0/24), BIRD bc (10.0.0.4,
/// 10.244.4.0/24) — and two non-clients: tern n1 (10.0.0.5, 10.244.5.0/24) and BIRD n2
/// (10.0.0.6, 10.244.6.0/24), which are not meshed with each other.
#[test]
fn reflector_between_tern_and_bird_clients() {
    let mut lab = Lab::new("trr");
    let ns = switched_hosts(&mut lab, &["rr", "c1", "c2", "bc", "n1", "n2"]);
    let (rr_ns, c1_ns, c2_ns, bc_ns, n1_ns, n2_ns) =
        (&ns[0], &ns[1], &ns[2], &ns[3], &ns[4], &ns[5]);

    let rr = reflector(
        &lab,
        rr_ns,
        "rr",
        "10.0.0.1",
        &["10.0.0.2", "10.0.0.3", "10.0.0.4"],
        &["10.0.0.5", "10.0.0.6"],
        "",
    );
    let c1 = plain(
        &lab,
        c1_ns,
        "c1",
        "10.0.0.2",
        &["10.244.2.0/24"],
        &["10.0.0.1"],
    );
    let c2 = plain(
        &lab,
        c2_ns,
        "c2",
        "10.0.0.3",
        &["10.244.3.0/24"],
        &["10.0.0.1"],
    );
    let n1 = plain(
        &lab,
        n1_ns,
        "n1",
        "10.0.0.5",
        &["10.244.5.0/24"],
        &["10.0.0.1"],
    );
    let w1 = container(&mut lab, &c1, "w1", "tw-w1", &["10.244.2.10/32"]);
    container(&mut lab, &c2, "w2", "tw-w2", &["10.244.3.10/32"]);
    // BIRD's hosts: an address of its block on lo stands for its containers.
    bc_ns.ok(&["ip", "addr", "add", "10.244.4.10/32", "dev", "lo"]);
    let bc = start_bird(
        &mut lab,
        bc_ns,
        "bc",
        &bird_ibgp("10.0.0.4", &["10.244.4.0/24"], &[("refl", "10.0.0.1", "")]),
    );
    let n2 = start_bird(
        &mut lab,
        n2_ns,
        "n2",
        &bird_ibgp("10.0.0.6", &["10.244.6.0/24"], &[("refl", "10.0.0.1", "")]),
    );
    for node in [&rr, &c1, &c2, &n1] {
        start_tern(&mut lab, node);
    }
    wait_established(&rr, 5);
    for node in [&c1, &c2, &n1] {
        wait_established(node, 1);
    }
    bc.wait_established("refl");
    n2.wait_established("refl");

    // Every client learns every other client's block with the originating client as
    // next hop, and the non-clients' blocks too.
    for (ns, own) in [(c1_ns, 2), (c2_ns, 3)] {
        for i in [2, 3, 4, 5, 6] {
            if i != own {
                wait_kernel_via(ns, &format!("10.244.{i}.0/24"), &format!("10.0.0.{i}"));
            }
        }
    }
    let row = route_row(&routes_json(&c2, false).expect("routes"), "10.244.2.0/24").expect("row");
    assert_eq!(row["learned_from"], "10.0.0.1", "{row}");
    assert_eq!(row["as_path"], "", "{row}");
    // BIRD's view of a reflected route: next hop, ORIGINATOR_ID, CLUSTER_LIST.
    for (i, origin) in [(2, "10.0.0.2"), (3, "10.0.0.3"), (5, "10.0.0.5")] {
        let prefix = format!("10.244.{i}.0/24");
        let show = wait_bird_route(&bc, &prefix, origin);
        assert_eq!(bird_attr(&show, "next_hop"), origin, "{show}");
        assert_eq!(bird_attr(&show, "originator_id"), origin, "{show}");
        assert_eq!(bird_attr(&show, "cluster_list"), CLUSTER, "{show}");
        assert_eq!(bird_attr(&show, "as_path"), "", "{show}");
        wait_kernel_via(bc_ns, &prefix, origin);
    }
    wait_bird_route(&bc, "10.244.6.0/24", "10.0.0.6");

    // Traffic: container on c1 → container on c2, and → BIRD's host, through the
    // reflected routes (and back through the ones the others learned).
    wait_ping(&w1, "10.244.3.10");
    wait_ping(&w1, "10.244.4.10");
    let got = c1_ns.ok(&["ip", "route", "get", "10.244.3.10"]);
    assert!(got.contains("via 10.0.0.3"), "{got}");

    // The non-clients get the clients' routes (tern n1: kernel; BIRD n2: its table) ...
    for i in [2, 3, 4] {
        wait_kernel_via(n1_ns, &format!("10.244.{i}.0/24"), &format!("10.0.0.{i}"));
        wait_bird_route(&n2, &format!("10.244.{i}.0/24"), &format!("10.0.0.{i}"));
    }
    // ... but not each other's: a non-client's path goes to clients only.
    let advertised =
        |peer: &str| peer_json(&rr, peer).and_then(|p| p["peer"]["advertised"].as_u64());
    assert_eq!(
        advertised("10.0.0.5"),
        Some(3),
        "to n1: the three client blocks"
    );
    assert_eq!(
        advertised("10.0.0.6"),
        Some(3),
        "to n2: the three client blocks"
    );
    assert_eq!(advertised("10.0.0.2"), Some(4), "to c1: c2, bc, n1, n2");
    assert!(!n2.has_route("10.244.5.0/24"), "{}", n2.cli("show route"));
    assert!(kernel_route(n1_ns, "10.244.6.0/24").is_none());
    assert!(route_row(&routes_json(&n1, false).expect("routes"), "10.244.6.0/24").is_none());

    // The reflector's own view: every block, each from its originator.
    let all = routes_json(&rr, true).expect("routes");
    for i in 2..=6 {
        let row = route_row(&all, &format!("10.244.{i}.0/24")).expect("reflector row");
        assert_eq!(row["learned_from"], format!("10.0.0.{i}"), "{row}");
    }

    // A withdrawal from the BIRD client reaches tern clients and the tern non-client.
    bc.reconfigure(&bird_ibgp("10.0.0.4", &[], &[("refl", "10.0.0.1", "")]));
    wait_for(CONVERGE, "BIRD's block withdrawn everywhere", || {
        [c1_ns, c2_ns, n1_ns]
            .iter()
            .all(|ns| kernel_route(ns, "10.244.4.0/24").is_none())
            .then_some(())
    });
    wait_for(CONVERGE, "n2 drops BIRD's block", || {
        (!n2.has_route("10.244.4.0/24")).then_some(())
    });
}

/// Two tern reflectors of one cluster (rr1 10.0.0.1, rr2 10.0.0.2, peered with each
/// other as non-clients) and three clients peered with both: tern c1 (10.0.0.3,
/// 10.244.3.0/24 and 10.244.33.0/24), tern c2 (10.0.0.4, 10.244.4.0/24), BIRD bc
/// (10.0.0.5, 10.244.5.0/24). rr1 advertises a short restart time (5 s), so after it is
/// killed its stale paths leave the clients soon.
#[test]
fn two_reflectors_in_one_cluster() {
    let mut lab = Lab::new("trr2");
    let ns = switched_hosts(&mut lab, &["rr1", "rr2", "c1", "c2", "bc"]);
    let (rr1_ns, rr2_ns, c1_ns, c2_ns, bc_ns) = (&ns[0], &ns[1], &ns[2], &ns[3], &ns[4]);
    let clients = ["10.0.0.3", "10.0.0.4", "10.0.0.5"];
    let rr1 = reflector(
        &lab,
        rr1_ns,
        "rr1",
        "10.0.0.1",
        &clients,
        &["10.0.0.2"],
        "gracefulRestart: { restartTime: 5s }\n",
    );
    let rr2 = reflector(&lab, rr2_ns, "rr2", "10.0.0.2", &clients, &["10.0.0.1"], "");
    let rrs = ["10.0.0.1", "10.0.0.2"];
    let c1_blocks = ["10.244.3.0/24", "10.244.33.0/24"];
    let c1 = plain(&lab, c1_ns, "c1", "10.0.0.3", &c1_blocks, &rrs);
    let c2 = plain(&lab, c2_ns, "c2", "10.0.0.4", &["10.244.4.0/24"], &rrs);
    let w1 = container(&mut lab, &c1, "w1", "tw-w1", &["10.244.3.10/32"]);
    container(&mut lab, &c2, "w2", "tw-w2", &["10.244.4.10/32"]);
    bc_ns.ok(&["ip", "addr", "add", "10.244.5.10/32", "dev", "lo"]);
    let bc_conf = |statics: &[&str]| {
        bird_ibgp(
            "10.0.0.5",
            statics,
            &[("rr1", "10.0.0.1", ""), ("rr2", "10.0.0.2", "")],
        )
    };
    let bc = start_bird(&mut lab, bc_ns, "bc", &bc_conf(&["10.244.5.0/24"]));
    let rr1_pid = start_tern(&mut lab, &rr1);
    for node in [&rr2, &c1, &c2] {
        start_tern(&mut lab, node);
    }
    wait_established(&rr1, 4);
    wait_established(&rr2, 4);
    wait_established(&c1, 2);
    wait_established(&c2, 2);
    bc.wait_established("rr1");
    bc.wait_established("rr2");

    // Each client has every other client's block once per reflector, next hop the
    // originating client.
    let both = vec!["10.0.0.1".to_string(), "10.0.0.2".to_string()];
    let remote = [
        (&c1, c1_ns, &["10.244.4.0/24", "10.244.5.0/24"][..]),
        (
            &c2,
            c2_ns,
            &["10.244.3.0/24", "10.244.33.0/24", "10.244.5.0/24"][..],
        ),
    ];
    for (node, ns, prefixes) in remote {
        for p in prefixes {
            let origin = origin_of(p);
            wait_kernel_via(ns, p, origin);
            wait_for(
                CONVERGE,
                &format!("{}: {p} from both reflectors", node.name),
                || (tern_paths(node, p) == both).then_some(()),
            );
        }
    }
    for p in ["10.244.3.0/24", "10.244.33.0/24", "10.244.4.0/24"] {
        let origin = origin_of(p);
        let show = wait_bird_route(&bc, p, origin);
        wait_for(
            CONVERGE,
            &format!("BIRD has {p} from both reflectors"),
            || (bird_paths(&bc, p) == 2).then_some(()),
        );
        assert_eq!(bird_attr(&show, "originator_id"), origin, "{show}");
        assert_eq!(bird_attr(&show, "cluster_list"), CLUSTER, "{show}");
        wait_kernel_via(bc_ns, p, origin);
    }

    // Each reflector drops the other's reflections: their CLUSTER_LIST holds the
    // cluster ID they share. What a reflector keeps of a client's block is the client's
    // own path.
    for (rr, other) in [(&rr1, "10.0.0.2"), (&rr2, "10.0.0.1")] {
        let loops = wait_for(
            CONVERGE,
            &format!("{}: cluster loops from {other}", rr.name),
            || {
                let all = routes_json(rr, true)?;
                let n = rejected(&all, other, "cluster loop");
                (n >= 4).then_some(n)
            },
        );
        let detail = peer_json(rr, other).expect("tern status PEER");
        let from_detail: u64 = detail["peer"]["rejected"].as_u64().unwrap_or(0);
        assert!(from_detail >= loops, "{detail}");
        let reasons = detail["rejected"].to_string();
        assert!(reasons.contains("cluster loop"), "{detail}");
        for p in ["10.244.3.0/24", "10.244.4.0/24", "10.244.5.0/24"] {
            assert_eq!(tern_paths(rr, p), [origin_of(p)], "{}: {p}", rr.name);
        }
    }

    wait_ping(&w1, "10.244.4.10");
    wait_ping(&w1, "10.244.5.10");

    // A withdrawal by a tern client (a block removed, config reloaded) and by the BIRD
    // client reaches every other client.
    let reload = plain(&lab, c1_ns, "c1", "10.0.0.3", &["10.244.3.0/24"], &rrs);
    assert_eq!(reload.config, c1.config);
    let out = tern_cli(&c1, &["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bc.reconfigure(&bc_conf(&[]));
    wait_for(CONVERGE, "withdrawals reach the clients", || {
        let gone = kernel_route(c2_ns, "10.244.33.0/24").is_none()
            && kernel_route(c2_ns, "10.244.5.0/24").is_none()
            && kernel_route(c1_ns, "10.244.5.0/24").is_none()
            && !bc.has_route("10.244.33.0/24")
            && tern_paths(&c2, "10.244.33.0/24").is_empty()
            && tern_paths(&rr1, "10.244.33.0/24").is_empty()
            && tern_paths(&rr2, "10.244.33.0/24").is_empty();
        gone.then_some(())
    });
    bc.reconfigure(&bc_conf(&["10.244.5.0/24"]));
    wait_kernel_via(c1_ns, "10.244.5.0/24", "10.0.0.5");

    // rr1 dies (SIGKILL): the clients keep every route, now through rr2 alone, and
    // traffic between two clients' containers flows on.
    let pinger = lab.spawn(
        &w1,
        &[
            "ping",
            "-n",
            "-q",
            "-i",
            "0.02",
            "-W",
            "1",
            "-c",
            "1000",
            "10.244.4.10",
        ],
        "ping",
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(lab.signal(rr1_pid, 9), "rr1 is a child of the lab");
    let only_rr2 = vec!["10.0.0.2".to_string()];
    for (node, ns, prefixes) in [
        (&c1, c1_ns, &["10.244.4.0/24", "10.244.5.0/24"][..]),
        (&c2, c2_ns, &["10.244.3.0/24", "10.244.5.0/24"][..]),
    ] {
        wait_for(
            CONVERGE,
            &format!("{}: rr1's paths gone", node.name),
            || {
                prefixes
                    .iter()
                    .all(|p| tern_paths(node, p) == only_rr2)
                    .then_some(())
            },
        );
        for p in prefixes {
            let k = kernel_route(ns, p).unwrap_or_else(|| panic!("{p} left {}", node.name));
            assert_eq!(kernel_gateways(&k), [origin_of(p)], "{k}");
        }
        let peer = peer_json(node, "10.0.0.1").expect("status rr1");
        assert_ne!(peer["peer"]["state"], "Established", "{peer}");
    }
    wait_for(CONVERGE, "BIRD: rr1's paths gone", || {
        (bird_paths(&bc, "10.244.3.0/24") == 1
            && !testlab::bird::is_established(&bc.cli("show protocols rr1"), "rr1"))
        .then_some(())
    });
    assert!(bc.has_route_via("10.244.4.0/24", "10.0.0.4"));
    wait_kernel_via(bc_ns, "10.244.3.0/24", "10.0.0.3");
    wait_for(Duration::from_secs(120), "ping finished", || {
        (!lab.alive(pinger)).then_some(())
    });
    let log = lab.log("ping");
    let summary = log
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary: {log}"));
    eprintln!("ping across rr1's death: {summary}");
    assert!(summary.contains(" 0% packet loss"), "{summary}");
}

/// The client that originates a test block: 10.244.N.0/24 and 10.244.NN.0/24 are
/// 10.0.0.N's.
fn origin_of(prefix: &str) -> &'static str {
    match prefix.split('.').nth(2) {
        Some("3") | Some("33") => "10.0.0.3",
        Some("4") => "10.0.0.4",
        Some("5") => "10.0.0.5",
        other => panic!("no origin for {other:?}"),
    }
}
