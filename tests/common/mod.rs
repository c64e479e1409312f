//! Helpers shared by the agent integration tests: node configs, BIRD and GoBGP configs,
//! starting `tern agent` in a namespace and reading it back through `tern routes --json`,
//! `birdc` and `gobgp`. Every lab is a `testlab::Lab` (removed on drop, also on panic).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use testlab::bird::BirdPeer;
use testlab::{Lab, Netns};

/// Generous time-out for a session or a route to appear.
pub const CONVERGE: Duration = Duration::from_secs(45);

/// A TCP server for the lab tests (`python3 tests/tcp_server.py ADDRESS PORT`): answers
/// every connection with `pong-from-server` before it reads, then logs what the client
/// sent. A one-shot `nc -l -N` server exits without its line when it reads the client's
/// FIN before its own stdin, and then leaves the client's retries without a listener.
pub const TCP_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tcp_server.py");

/// Starts [`TCP_SERVER`] in `ns` on `port` (the family of `address`; it listens on all
/// addresses), logging to `logname`; returns its PID.
pub fn spawn_tcp_server(
    lab: &mut Lab,
    ns: &Netns,
    address: &str,
    port: &str,
    logname: &str,
) -> u32 {
    lab.spawn(ns, &["python3", TCP_SERVER, address, port], logname)
}

/// One tern node of a lab.
#[derive(Clone, Debug)]
pub struct Node {
    /// Its namespace.
    pub ns: Netns,
    /// Short name (log name `tern-NAME`).
    pub name: String,
    /// Config file.
    pub config: PathBuf,
    /// Control socket.
    pub socket: PathBuf,
    /// Endpoint folder.
    pub endpoints: PathBuf,
}

/// Settings of a node config.
pub struct NodeSpec<'a> {
    pub name: &'a str,
    pub asn: u32,
    pub router_id: &'a str,
    pub blocks: &'a [&'a str],
    pub pools: &'a [&'a str],
    pub mesh: &'a [&'a str],
    /// (address, AS) of global peers.
    pub peers: &'a [(&'a str, u32)],
    /// Extra top-level YAML (e.g. `metrics: {listen: ...}`).
    pub extra: &'a str,
}

impl Default for NodeSpec<'_> {
    fn default() -> Self {
        NodeSpec {
            name: "a",
            asn: 64512,
            router_id: "10.0.0.1",
            blocks: &[],
            pools: &["10.244.0.0/16", "fd00:244::/48"],
            mesh: &[],
            peers: &[],
            extra: "",
        }
    }
}

fn quoted(items: &[&str]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", q.join(", "))
}

/// Writes the node's config (short timers: hold 9 s, connect retry 1 s) and its endpoint
/// folder into the lab's directory.
pub fn write_node(lab: &Lab, ns: &Netns, spec: &NodeSpec) -> Node {
    let dir = lab.dir().join(spec.name);
    let endpoints = dir.join("endpoints");
    std::fs::create_dir_all(&endpoints).expect("create node dir");
    let socket = dir.join("tern.sock");
    let mut y = format!(
        "nodeName: {}\nasNumber: {}\nrouterId: {}\nblocks: {}\npools: {}\n",
        spec.name,
        spec.asn,
        spec.router_id,
        quoted(spec.blocks),
        quoted(spec.pools)
    );
    if !spec.mesh.is_empty() {
        y.push_str(&format!(
            "nodeToNodeMesh: {{ enabled: true, peers: {}, holdTime: 9s, connectRetryTime: 1s }}\n",
            quoted(spec.mesh)
        ));
    }
    if !spec.peers.is_empty() {
        y.push_str("peers:\n");
        for (addr, asn) in spec.peers {
            y.push_str(&format!(
                "  - {{ peerIP: \"{addr}\", asNumber: {asn}, holdTime: 9s, connectRetryTime: 1s }}\n"
            ));
        }
    }
    y.push_str(&format!(
        "endpoints: [\"{}\"]\ncontrol: {{ socket: \"{}\" }}\n{}",
        endpoints.display(),
        socket.display(),
        spec.extra
    ));
    let config = dir.join("node.yaml");
    std::fs::write(&config, y).expect("write node config");
    Node {
        ns: ns.clone(),
        name: spec.name.to_string(),
        config,
        socket,
        endpoints,
    }
}

/// Starts `tern agent` for `node` inside its namespace; returns the PID.
pub fn start_tern(lab: &mut Lab, node: &Node) -> u32 {
    start_tern_with(lab, node, &[])
}

/// Starts `tern agent` for `node` with extra arguments (e.g. `--graceful-restart`).
pub fn start_tern_with(lab: &mut Lab, node: &Node, extra: &[&str]) -> u32 {
    let tern = testlab::tern_bin();
    let tern = tern.to_string_lossy().into_owned();
    let config = node.config.to_string_lossy().into_owned();
    let mut argv = vec!["env", "RUST_LOG=info", &tern, "agent", "--config", &config];
    argv.extend_from_slice(extra);
    let pid = lab.spawn(&node.ns, &argv, &format!("tern-{}", node.name));
    let log = format!("tern-{}", node.name);
    testlab::wait_for(CONVERGE, "tern control socket", || {
        if !lab.alive(pid) {
            panic!("tern agent exited:\n{}", lab.log(&log));
        }
        node.socket.exists().then_some(())
    });
    pid
}

/// Runs the `tern` CLI (status/routes) against `node`'s socket.
pub fn tern_cli(node: &Node, args: &[&str]) -> Output {
    Command::new(testlab::tern_bin())
        .args(args)
        .arg("--socket")
        .arg(&node.socket)
        .output()
        .expect("run tern")
}

/// `tern routes --json [--all]`, parsed; `None` while the agent does not answer.
pub fn routes_json(node: &Node, all: bool) -> Option<Value> {
    let mut args = vec!["routes", "--json"];
    if all {
        args.push("--all");
    }
    let out = tern_cli(node, &args);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Of `tern routes --all --json` output: the announcements from `peer` rejected for a
/// reason containing `what` (case-insensitive). Rejected routes are counted, not stored.
pub fn rejected(all: &Value, peer: &str, what: &str) -> u64 {
    let what = what.to_lowercase();
    all["rejected"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter(|r| r["peer"] == peer)
                .filter(|r| {
                    r["reason"]
                        .as_str()
                        .is_some_and(|s| s.to_lowercase().contains(&what))
                })
                .filter_map(|r| r["count"].as_u64())
                .sum()
        })
        .unwrap_or(0)
}

/// `tern status --json`, parsed.
pub fn status_json(node: &Node) -> Option<Value> {
    let out = tern_cli(node, &["status", "--json"]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The row of `prefix` in `tern routes --json` output.
pub fn route_row(routes: &Value, prefix: &str) -> Option<Value> {
    routes["routes"]
        .as_array()?
        .iter()
        .find(|r| r["prefix"] == prefix)
        .cloned()
}

/// The best next hops of a BGP route that is in the FIB (`fib: yes`), sorted.
pub fn installed_next_hops(node: &Node, prefix: &str) -> Option<Vec<String>> {
    let routes = routes_json(node, false)?;
    let row = route_row(&routes, prefix)?;
    if row["fib"] != "yes" {
        return None;
    }
    let mut hops: Vec<String> = row["next_hops"]
        .as_array()?
        .iter()
        .filter_map(|h| h.as_str().map(String::from))
        .collect();
    hops.sort();
    Some(hops)
}

/// Waits until every peer of `node` is Established.
pub fn wait_established(node: &Node, peers: usize) {
    testlab::wait_for(
        CONVERGE,
        &format!("{}: {peers} peers Established", node.name),
        || {
            let s = status_json(node)?;
            let list = s["peers"].as_array()?;
            (list.len() == peers && list.iter().all(|p| p["state"] == "Established")).then_some(())
        },
    );
}

/// Waits until at least `n` peers of `node` are Established.
pub fn wait_peers_up(node: &Node, n: usize) {
    testlab::wait_for(
        CONVERGE,
        &format!("{}: {n} peers Established", node.name),
        || {
            let s = status_json(node)?;
            let up = s["peers"]
                .as_array()?
                .iter()
                .filter(|p| p["state"] == "Established")
                .count();
            (up >= n).then_some(())
        },
    );
}

/// `ip -j route show PREFIX` in `ns` (table main), parsed.
pub fn kernel_route(ns: &Netns, prefix: &str) -> Option<Value> {
    let fam = if prefix.contains(':') { "-6" } else { "-4" };
    let out = ns.run(&["ip", fam, "-j", "-d", "route", "show", "exact", prefix]);
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v.as_array()?.first().cloned()
}

/// Next hops (gateways) of a kernel route, sorted; handles multipath routes.
pub fn kernel_gateways(route: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(g) = route["gateway"].as_str() {
        out.push(g.to_string());
    }
    if let Some(hops) = route["nexthops"].as_array() {
        for h in hops {
            if let Some(g) = h["gateway"].as_str() {
                out.push(g.to_string());
            }
        }
    }
    out.sort();
    out
}

/// The protocol of a kernel route as `ip -j -d` prints it (a name or a number).
pub fn kernel_protocol(route: &Value) -> String {
    match &route["protocol"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// BIRD's side of the IPv4 session with tern in [`tern_and_bird`]'s lab.
pub const BIRD_TERN4: BirdPeer<'static> = BirdPeer {
    name: "tern4",
    local: "10.0.0.2",
    neighbor: "10.0.0.1",
    asn: 64512,
    family: "ipv4",
};

/// The one-link lab of an IPv4 eBGP session: namespaces `tern` (10.0.0.1/24 on eth0,
/// AS 64512, block 10.244.1.0/24) and `bird` (10.0.0.2/24 on eth0, AS 65000, peered as
/// [`BIRD_TERN4`]). Writes tern's node config; starts nothing. Returns (tern, bird, node).
pub fn tern_and_bird(lab: &mut Lab) -> (Netns, Netns, Node) {
    tern_and_bird_with(lab, "")
}

/// [`tern_and_bird`] with `extra` lines appended to tern's node config.
pub fn tern_and_bird_with(lab: &mut Lab, extra: &str) -> (Netns, Netns, Node) {
    let t = lab.netns("tern");
    let b = lab.netns("bird");
    lab.veth(&t, "eth0", &["10.0.0.1/24"], &b, "eth0", &["10.0.0.2/24"]);
    let node = write_node(
        lab,
        &t,
        &NodeSpec {
            blocks: &["10.244.1.0/24"],
            peers: &[("10.0.0.2", 65000)],
            extra,
            ..NodeSpec::default()
        },
    );
    (t, b, node)
}

/// Starts gobgpd in `ns` with a TOML config; its API on 127.0.0.1:50051 of that namespace.
pub fn start_gobgp(lab: &mut Lab, ns: &Netns, name: &str, config: &str) -> u32 {
    let path = lab.dir().join(format!("{name}.toml"));
    std::fs::write(&path, config).expect("write gobgp config");
    let pid = lab.spawn(
        ns,
        &[
            "gobgpd",
            "-t",
            "toml",
            "-f",
            &path.to_string_lossy(),
            "--log-level",
            "info",
        ],
        name,
    );
    testlab::wait_for(CONVERGE, "gobgpd API", || {
        ns.run(&["gobgp", "global"]).status.success().then_some(())
    });
    pid
}

/// A gobgpd config with one neighbour, short timers, IPv4 and IPv6 unicast.
pub fn gobgp_config(asn: u32, router_id: &str, neighbor: &str, peer_as: u32) -> String {
    format!(
        "[global.config]\n  as = {asn}\n  router-id = \"{router_id}\"\n  port = 179\n\n\
         [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{neighbor}\"\n    peer-as = {peer_as}\n\
         \x20 [neighbors.timers.config]\n    hold-time = 9\n    keepalive-interval = 3\n    connect-retry = 1\n\
         \x20 [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n\
         \x20 [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv6-unicast\"\n"
    )
}

/// `gobgp global rib -a FAMILY` output in `ns`.
pub fn gobgp_rib(ns: &Netns, family: &str) -> String {
    String::from_utf8_lossy(&ns.run(&["gobgp", "global", "rib", "-a", family]).stdout).into_owned()
}

/// Joins `hosts` to one layer-2 segment through a bridge in a switch namespace; host
/// `i` gets interface `eth0` with the given addresses. The bridge itself has
/// 10.0.0.254/24 and fd00:1::fe/64 and is every host's default gateway (as a real host
/// has one: proxy ARP answers only for addresses the host has a route to, and a
/// container's gateway 169.254.1.1 is covered by the default route, as with Calico).
pub fn switch(lab: &mut Lab, hosts: &[(&Netns, &[&str])]) -> Netns {
    let sw = lab.netns("sw");
    sw.ok(&["ip", "link", "add", "br0", "type", "bridge"]);
    sw.ok(&["sysctl", "-qw", "net.ipv6.conf.br0.accept_dad=0"]);
    sw.ok(&["ip", "addr", "add", "10.0.0.254/24", "dev", "br0"]);
    sw.ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        "fd00:1::fe/64",
        "dev",
        "br0",
        "nodad",
    ]);
    sw.ok(&["ip", "link", "set", "br0", "up"]);
    for (i, (ns, addrs)) in hosts.iter().enumerate() {
        let port = format!("p{i}");
        lab.veth(ns, "eth0", addrs, &sw, &port, &[]);
        sw.ok(&["ip", "link", "set", &port, "master", "br0"]);
        ns.ok(&["ip", "route", "add", "default", "via", "10.0.0.254"]);
        if addrs.iter().any(|a| a.contains(':')) {
            ns.ok(&["ip", "-6", "route", "add", "default", "via", "fd00:1::fe"]);
        }
    }
    sw
}

/// Namespaces named `names` on one [`switch`], host `i` at 10.0.0.(i+1)/24.
pub fn switched_hosts(lab: &mut Lab, names: &[&str]) -> Vec<Netns> {
    let ns: Vec<Netns> = names.iter().map(|n| lab.netns(n)).collect();
    let addrs: Vec<String> = (1..=ns.len()).map(|i| format!("10.0.0.{i}/24")).collect();
    let pairs: Vec<(&Netns, [&str; 1])> = ns
        .iter()
        .zip(&addrs)
        .map(|(n, a)| (n, [a.as_str()]))
        .collect();
    let list: Vec<(&Netns, &[&str])> = pairs.iter().map(|(n, a)| (*n, &a[..])).collect();
    switch(lab, &list);
    ns
}

/// [`write_node`] of node `name` with router ID `router_id` and the top-level YAML
/// `extra`, everything else as [`NodeSpec::default`].
pub fn write_node_extra(lab: &Lab, ns: &Netns, name: &str, router_id: &str, extra: &str) -> Node {
    write_node(
        lab,
        ns,
        &NodeSpec {
            name,
            router_id,
            extra,
            ..NodeSpec::default()
        },
    )
}

/// A container namespace wired the Calico way to `host`: `eth0` holds the addresses
/// (/32, /128), default routes via 169.254.1.1 and fe80::1 on eth0; the host side
/// `host_if` has no address. Also writes the WorkloadEndpoint file into the node's
/// endpoint folder.
pub fn container(lab: &mut Lab, node: &Node, name: &str, host_if: &str, ips: &[&str]) -> Netns {
    let c = testlab::container::container(lab, &node.ns, name, host_if, ips);
    let yaml = format!(
        "kind: WorkloadEndpoint\nname: {name}\nnamespace: default\ninterface: {host_if}\nips: {}\nlabels: {{ app: {name} }}\n",
        quoted(ips)
    );
    std::fs::write(node.endpoints.join(format!("{name}.yaml")), yaml).expect("write endpoint");
    c
}

/// Scrapes `/metrics` of an agent listening on `addr` inside `ns`.
pub fn scrape(ns: &Netns, addr: &str) -> String {
    // nc (netcat-openbsd) is among the test dependencies; curl is not.
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "9469"));
    let out = ns.sh(&format!(
        "printf 'GET /metrics HTTP/1.1\\r\\nHost: {addr}\\r\\n\\r\\n' | nc -N -w 5 {host} {port}"
    ));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.starts_with("HTTP/1.1 200 OK"),
        "metrics endpoint answered: {text}"
    );
    text
}

/// Packets sent by `dev` in `ns`.
pub fn tx_packets(ns: &Netns, dev: &str) -> u64 {
    let out = ns.ok(&["ip", "-j", "-s", "link", "show", "dev", dev]);
    let v: Value = serde_json::from_str(&out).expect("ip -j link");
    v[0]["stats64"]["tx"]["packets"]
        .as_u64()
        .expect("tx packets")
}
