//! ADD-PATH (RFC 7911) between `tern agent` and real daemons: an anycast block announced
//! by two hosts (BIRD) stays ECMP through a route reflector.
//!
//! - Receiving: a BIRD reflector with `add paths tx` and a GoBGP reflector with
//!   `add-paths send-max` pass both paths to tern (`addPaths: receive`), whose kernel
//!   then has one route with both hosts as next hops; a tern without ADD-PATH behind the
//!   same BIRD reflector gets one next hop.
//! - Sending: tern as the reflector (`addPaths: send`) passes both paths to a BIRD
//!   client with `add paths rx` and to a GoBGP client with `add-paths receive`, and
//!   withdraws one path by its path id when its host stops announcing it.

mod common;

use common::*;
use testlab::bird::{start_bird, Bird};
use testlab::{wait_for, Lab, Netns};

const AS: u32 = 64512;
const ANYCAST: &str = "10.244.9.0/26";

/// A BIRD config of an iBGP speaker of AS 64512 at `rid` (also its session address):
/// `statics` as blackholes, next hops resolved through the connected subnet (`protocol
/// direct`), no kernel export. `neighbors` are (name, address, protocol lines, channel
/// lines); every channel imports all and exports static and BGP routes.
fn bird_ibgp(rid: &str, statics: &[&str], neighbors: &[(&str, &str, &str, &str)]) -> String {
    let mut c = format!(
        "router id {rid};\nlog stderr all;\nprotocol device {{ scan time 2; }}\n\
         protocol direct {{ ipv4; interface \"eth0\"; }}\n\
         protocol static static4 {{\n  ipv4;\n"
    );
    for s in statics {
        c.push_str(&format!("  route {s} blackhole;\n"));
    }
    c.push_str("}\n");
    for (name, addr, proto, channel) in neighbors {
        c.push_str(&format!(
            "protocol bgp {name} {{\n  local {rid} as {AS};\n  neighbor {addr} as {AS};\n  \
             hold time 9;\n  keepalive time 3;\n  connect retry time 1;\n  error wait time 1, 5;\n  \
             {proto}\n  ipv4 {{ import all; export where source = RTS_STATIC || source = RTS_BGP; \
             {channel} }};\n}}\n"
        ));
    }
    c
}

/// One `[[neighbors]]` of a GoBGP config: iBGP, short timers, IPv4 unicast, optionally
/// a route-reflector client, with the given `add-paths` settings (TOML lines, or "").
fn gobgp_neighbor(addr: &str, rr_client: Option<&str>, add_paths: &str) -> String {
    let mut n = format!(
        "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{addr}\"\n    peer-as = {AS}\n\
         \x20 [neighbors.timers.config]\n    hold-time = 9\n    keepalive-interval = 3\n    connect-retry = 1\n"
    );
    if let Some(cluster) = rr_client {
        n.push_str(&format!(
            "  [neighbors.route-reflector.config]\n    route-reflector-client = true\n    \
             route-reflector-cluster-id = \"{cluster}\"\n"
        ));
    }
    n.push_str(
        "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n",
    );
    if !add_paths.is_empty() {
        n.push_str(&format!(
            "    [neighbors.afi-safis.add-paths.config]\n{add_paths}"
        ));
    }
    n
}

fn gobgp_global(rid: &str) -> String {
    format!("[global.config]\n  as = {AS}\n  router-id = \"{rid}\"\n  port = 179\n\n")
}

/// A tern node at `addr` with iBGP `peers` (address, extra YAML of the entry).
fn tern(lab: &Lab, ns: &Netns, name: &str, addr: &str, peers: &[(&str, &str)], top: &str) -> Node {
    let mut y = String::from(top);
    y.push_str("peers:\n");
    for (a, extra) in peers {
        y.push_str(&format!(
            "  - {{ peerIP: \"{a}\", asNumber: {AS}, holdTime: 9s, connectRetryTime: 1s{extra} }}\n"
        ));
    }
    write_node_extra(lab, ns, name, addr, &y)
}

/// Polls `f` every 100 ms until it returns `Some` or `timeout` passes (then `None`, so
/// the caller can say what it saw last).
fn poll<T>(timeout: std::time::Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// BIRD on hosts h1 (10.0.0.2, `ns[1]`) and h2 (10.0.0.3, `ns[2]`), each announcing
/// [`ANYCAST`] to `neighbors`.
fn anycast_hosts(lab: &mut Lab, ns: &[Netns], neighbors: &[(&str, &str, &str, &str)]) -> Vec<Bird> {
    [(1, "h1", "10.0.0.2"), (2, "h2", "10.0.0.3")]
        .into_iter()
        .map(|(i, name, addr)| {
            start_bird(lab, &ns[i], name, &bird_ibgp(addr, &[ANYCAST], neighbors))
        })
        .collect()
}

/// Waits until `ns`'s kernel has `prefix` with exactly the next hops `via` (sorted).
fn wait_kernel_hops(ns: &Netns, prefix: &str, via: &[&str]) {
    let want: Vec<String> = via.iter().map(|s| s.to_string()).collect();
    let mut last = None;
    let found = poll(CONVERGE, || {
        let r = kernel_route(ns, prefix)?;
        let got = kernel_gateways(&r);
        let ok = got == want;
        last = Some(got);
        ok.then_some(())
    });
    assert!(
        found.is_some(),
        "{prefix} in {}: want next hops {want:?}, last seen {last:?}",
        ns.name()
    );
}

/// Next hops of BIRD's paths for `prefix` (the `via` of each path, which BIRD 2.0
/// prints on the line after the path's), sorted.
fn bird_hops(bird: &Bird, prefix: &str) -> Vec<String> {
    let out = bird.cli(&format!("show route {prefix}"));
    let mut v: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once("via ")?;
            rest.split_whitespace().next().map(String::from)
        })
        .collect();
    v.sort();
    v
}

/// Next hops of GoBGP's paths for `prefix` in `gobgp global rib -a ipv4`, sorted.
fn gobgp_hops(ns: &Netns, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = gobgp_rib(ns, "ipv4")
        .lines()
        .filter(|l| l.contains(prefix))
        .filter_map(|l| {
            let mut w = l.split_whitespace().skip_while(|w| *w != prefix);
            w.next()?;
            w.next().map(String::from)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn reflectors_with_add_path_send_make_an_ecmp_route_in_terns_kernel() {
    let mut lab = Lab::new("tapr");
    // 1: BIRD reflector, 2 and 3: BIRD hosts announcing the anycast block, 4: tern with
    // ADD-PATH receive from the BIRD reflector, 5: GoBGP reflector, 6: tern with ADD-PATH
    // receive from GoBGP, 7: tern without ADD-PATH behind the BIRD reflector.
    let ns = switched_hosts(&mut lab, &["rrb", "h1", "h2", "t1", "rrg", "t2", "t3"]);
    let rr = start_bird(
        &mut lab,
        &ns[0],
        "rrb",
        &bird_ibgp(
            "10.0.0.1",
            &[],
            &[
                ("h1", "10.0.0.2", "rr client;", ""),
                ("h2", "10.0.0.3", "rr client;", ""),
                ("t1", "10.0.0.4", "rr client;", "add paths tx;"),
                ("t3", "10.0.0.7", "rr client;", ""),
            ],
        ),
    );
    let hosts_bird = anycast_hosts(
        &mut lab,
        &ns,
        &[("rrb", "10.0.0.1", "", ""), ("rrg", "10.0.0.5", "", "")],
    );
    let mut g = gobgp_global("10.0.0.5");
    g.push_str(&gobgp_neighbor("10.0.0.2", Some("10.0.0.5"), ""));
    g.push_str(&gobgp_neighbor("10.0.0.3", Some("10.0.0.5"), ""));
    g.push_str(&gobgp_neighbor(
        "10.0.0.6",
        Some("10.0.0.5"),
        "      receive = true\n      send-max = 8\n",
    ));
    start_gobgp(&mut lab, &ns[4], "rrg", &g);
    let t1 = tern(
        &lab,
        &ns[3],
        "t1",
        "10.0.0.4",
        &[("10.0.0.1", ", addPaths: receive")],
        "",
    );
    let t2 = tern(
        &lab,
        &ns[5],
        "t2",
        "10.0.0.6",
        &[("10.0.0.5", ", addPaths: rx")],
        "",
    );
    let t3 = tern(&lab, &ns[6], "t3", "10.0.0.7", &[("10.0.0.1", "")], "");
    for n in [&t1, &t2, &t3] {
        start_tern(&mut lab, n);
    }
    for n in [&t1, &t2, &t3] {
        wait_established(n, 1);
    }
    rr.wait_established("t1");
    // The BIRD reflector has both paths; tern behind it gets both next hops.
    let both = poll(CONVERGE, || {
        (bird_hops(&rr, ANYCAST) == ["10.0.0.2", "10.0.0.3"]).then_some(())
    });
    assert!(
        both.is_some(),
        "BIRD reflector:\n{}\n{}",
        rr.cli("show protocols"),
        rr.cli("show route all")
    );
    wait_kernel_hops(&t1.ns, ANYCAST, &["10.0.0.2", "10.0.0.3"]);
    assert_eq!(
        installed_next_hops(&t1, ANYCAST),
        Some(vec!["10.0.0.2".to_string(), "10.0.0.3".to_string()])
    );
    // `tern routes --all` shows both paths with the reflector's path ids.
    let all = routes_json(&t1, true).expect("tern routes --all --json");
    let row = route_row(&all, ANYCAST).expect("anycast row");
    let ids: Vec<u64> = row["paths"]
        .as_array()
        .map(|v| v.iter().filter_map(|p| p["path_id"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(ids.len(), 2, "{row}");
    assert_ne!(ids[0], ids[1], "{row}");
    let caps = tern_cli(&t1, &["status", "10.0.0.1"]);
    let caps = String::from_utf8_lossy(&caps.stdout);
    assert!(caps.contains("add-path"), "{caps}");
    // From the GoBGP reflector too.
    wait_kernel_hops(&t2.ns, ANYCAST, &["10.0.0.2", "10.0.0.3"]);
    // Without ADD-PATH the reflector passes on its best path only: one next hop.
    wait_for(CONVERGE, "t3 has the anycast block", || {
        kernel_route(&t3.ns, ANYCAST).map(|_| ())
    });
    let one = kernel_gateways(&kernel_route(&t3.ns, ANYCAST).unwrap());
    assert_eq!(one.len(), 1, "{one:?}");
    // One host stops announcing: its path is withdrawn by path id, the other stays.
    hosts_bird[1].reconfigure(&bird_ibgp(
        "10.0.0.3",
        &[],
        &[("rrb", "10.0.0.1", "", ""), ("rrg", "10.0.0.5", "", "")],
    ));
    wait_kernel_hops(&t1.ns, ANYCAST, &["10.0.0.2"]);
    wait_kernel_hops(&t2.ns, ANYCAST, &["10.0.0.2"]);
}

#[test]
fn tern_reflector_with_add_path_send_passes_both_paths_to_bird_and_gobgp() {
    let mut lab = Lab::new("taps");
    // 1: tern reflector, 2 and 3: BIRD hosts with the anycast block, 4: BIRD client with
    // `add paths rx`, 5: GoBGP client with add-paths receive.
    let ns = switched_hosts(&mut lab, &["rr", "h1", "h2", "bc", "gc"]);
    let clients = [("10.0.0.2", ""), ("10.0.0.3", "")];
    let receivers = [("10.0.0.4", ""), ("10.0.0.5", "")];
    let mut peers: Vec<(&str, &str)> = Vec::new();
    for (a, _) in clients.iter().chain(&receivers) {
        peers.push((a, ", routeReflectorClient: true, addPaths: send"));
    }
    let rr = tern(
        &lab,
        &ns[0],
        "rr",
        "10.0.0.1",
        &peers,
        "routeReflector: { clusterId: 10.0.255.1 }\n",
    );
    start_tern(&mut lab, &rr);
    let hosts_bird = anycast_hosts(&mut lab, &ns, &[("refl", "10.0.0.1", "", "")]);
    let bc = start_bird(
        &mut lab,
        &ns[3],
        "bc",
        &bird_ibgp(
            "10.0.0.4",
            &[],
            &[("refl", "10.0.0.1", "", "add paths rx;")],
        ),
    );
    let mut g = gobgp_global("10.0.0.5");
    g.push_str(&gobgp_neighbor("10.0.0.1", None, "      receive = true\n"));
    start_gobgp(&mut lab, &ns[4], "gc", &g);
    let up = poll(CONVERGE, || {
        let st = status_json(&rr)?;
        let list = st["peers"].as_array()?;
        (list.iter().filter(|p| p["state"] == "Established").count() == 4).then_some(())
    });
    assert!(
        up.is_some(),
        "{}\nBIRD client: {}",
        String::from_utf8_lossy(&tern_cli(&rr, &["status"]).stdout),
        bc.cli("show protocols all refl")
    );
    wait_for(CONVERGE, "BIRD client has both paths", || {
        (bird_hops(&bc, ANYCAST) == ["10.0.0.2", "10.0.0.3"]).then_some(())
    });
    let ok = poll(CONVERGE, || {
        (gobgp_hops(&ns[4], ANYCAST) == ["10.0.0.2", "10.0.0.3"]).then_some(())
    });
    let adj_in = String::from_utf8_lossy(
        &ns[4]
            .run(&["gobgp", "neighbor", "10.0.0.1", "adj-in", "-a", "ipv4"])
            .stdout,
    )
    .into_owned();
    assert!(
        ok.is_some(),
        "GoBGP rib:\n{}\nadj-in:\n{adj_in}",
        gobgp_rib(&ns[4], "ipv4")
    );
    // A host without ADD-PATH gets the best path only, and never its own back: h2
    // (higher router ID) gets h1's, h1 gets none from the reflector.
    wait_for(CONVERGE, "h2 has h1's path", || {
        bird_hops(&hosts_bird[1], ANYCAST)
            .contains(&"10.0.0.2".to_string())
            .then_some(())
    });
    // h2 stops announcing: the clients keep only h1's path.
    hosts_bird[1].reconfigure(&bird_ibgp("10.0.0.3", &[], &[("refl", "10.0.0.1", "", "")]));
    wait_for(CONVERGE, "BIRD client has one path", || {
        (bird_hops(&bc, ANYCAST) == ["10.0.0.2"]).then_some(())
    });
    wait_for(CONVERGE, "GoBGP client has one path", || {
        (gobgp_hops(&ns[4], ANYCAST) == ["10.0.0.2"]).then_some(())
    });
}
