//! Unit tests of the node config: defaults, and every check with its exact
//! `LINE:COL`.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::*;

const HEAD: &str = "\
nodeName: a
asNumber: 64512
routerId: 192.0.2.1
listen: { address: 192.0.2.1 }
";

fn load(text: &str) -> Result<NodeConfig, Vec<String>> {
    NodeConfig::from_str(Path::new("n.yaml"), text)
        .map_err(|e| e.iter().map(ToString::to_string).collect())
}

/// The errors of `text`, which must fail.
fn errs(text: &str) -> Vec<String> {
    match load(text) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e,
    }
}

/// `HEAD` followed by `rest`: its lines start at line 5.
fn with_head(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

#[test]
fn minimal_config_gets_defaults() {
    let c = load(HEAD).unwrap();
    assert_eq!(c.node_name, "a");
    assert_eq!(c.as_number, 64512);
    assert_eq!(c.router_id.to_string(), "192.0.2.1");
    assert_eq!(c.listen.port, 179);
    assert_eq!(
        c.fib,
        Fib {
            table: 254,
            protocol: 201,
            ecmp: true,
            enabled: true,
            allow_default: false,
            metric: DEFAULT_FIB_METRIC,
            nexthop_objects: true
        }
    );
    assert_eq!(c.policy.backend, Backend::Nftables);
    assert_eq!(
        c.policy.failsafe_inbound_host_ports,
        DEFAULT_FAILSAFE_INBOUND.to_vec()
    );
    assert_eq!(
        c.policy.failsafe_outbound_host_ports,
        DEFAULT_FAILSAFE_OUTBOUND.to_vec()
    );
    assert_eq!(c.control.socket, Path::new("/run/tern/tern.sock"));
    assert_eq!(c.state_dir, Path::new("/var/lib/tern"));
    assert_eq!(c.metrics, None);
    assert!(c.peers.is_empty());
    assert!(!c.node_to_node_mesh);
    let c = load("nodeName: a\nasNumber: 1\nrouterId: 10.0.0.1\nmetrics: {}\n").unwrap();
    assert_eq!(c.listen.address, "::".parse::<IpAddr>().unwrap());
    assert_eq!(c.metrics.unwrap().listen.to_string(), "127.0.0.1:9469");
}

#[test]
fn peers_mesh_and_timer_defaults() {
    let c = load(&with_head(
        "\
nodeToNodeMesh: { peers: [192.0.2.2, 192.0.2.3], holdTime: 9s }
peers:
  - { peerIP: 192.0.2.254, asNumber: 65000, holdTime: 1m, keepaliveTime: 15s, port: 1179 }
  - { peerIP: 192.0.2.10, asNumber: 64512, routeReflectorClient: true, passive: true, holdTime: 0 }
",
    ))
    .unwrap();
    assert!(c.node_to_node_mesh);
    let kinds: Vec<_> = c
        .peers
        .iter()
        .map(|p| (p.kind, p.address.to_string()))
        .collect();
    assert_eq!(
        kinds,
        [
            (PeerKind::Mesh, "192.0.2.2".into()),
            (PeerKind::Mesh, "192.0.2.3".into()),
            (PeerKind::Global, "192.0.2.254".into()),
            (PeerKind::Global, "192.0.2.10".into()),
        ]
    );
    let mesh = &c.peers[0];
    assert_eq!(mesh.as_number, 64512);
    assert_eq!(mesh.hold_time, Duration::from_secs(9));
    assert_eq!(mesh.keepalive_time, Duration::from_secs(3));
    assert_eq!(mesh.connect_retry_time, DEFAULT_CONNECT_RETRY_TIME);
    assert!(mesh.is_ibgp(c.as_number));
    let tor = &c.peers[2];
    assert_eq!(
        (tor.hold_time, tor.keepalive_time),
        (Duration::from_secs(60), Duration::from_secs(15))
    );
    assert_eq!(tor.port, 1179);
    assert!(!tor.is_ibgp(c.as_number));
    let rr = &c.peers[3];
    assert!(rr.route_reflector_client && rr.passive);
    assert_eq!(
        (rr.hold_time, rr.keepalive_time),
        (Duration::ZERO, Duration::ZERO)
    );
    // Default hold 90s, keepalive a third.
    let c = load(&with_head(
        "peers: [{ peerIP: 192.0.2.9, asNumber: 65001 }]\n",
    ))
    .unwrap();
    assert_eq!(
        (c.peers[0].hold_time, c.peers[0].keepalive_time),
        (Duration::from_secs(90), Duration::from_secs(30))
    );
    // A disabled mesh contributes no peers.
    let c = load(&with_head(
        "nodeToNodeMesh: { enabled: false, peers: [192.0.2.2] }\n",
    ))
    .unwrap();
    assert!(c.peers.is_empty());
}

#[test]
fn unknown_field_is_located_with_suggestion() {
    assert_eq!(
        errs(&with_head(
            "peers:\n  - peerIp: 192.0.2.9\n    asNumber: 1\n"
        )),
        ["n.yaml:6:5: peers[0]: unknown field `peerIp` (did you mean `peerIP`?)"]
    );
    assert_eq!(
        errs(&with_head("nodeToNodeMesh: { enable: true }\n")),
        ["n.yaml:5:19: nodeToNodeMesh: unknown field `enable` (did you mean `enabled`?)"]
    );
    assert_eq!(
        errs(&with_head("policy: { backend: nftable }\n")),
        ["n.yaml:5:20: policy.backend: unknown variant `nftable` (did you mean `nftables`?)"]
    );
}

#[test]
fn missing_required_fields() {
    assert_eq!(
        errs("asNumber: 1\nrouterId: 10.0.0.1\n"),
        ["n.yaml:1:1: missing field `nodeName`"]
    );
    assert_eq!(
        errs(&with_head("peers:\n  - peerIP: 192.0.2.9\n")),
        ["n.yaml:6:5: peers[0]: missing field `asNumber`"]
    );
}

#[test]
fn router_id_checks() {
    assert_eq!(
        errs("nodeName: a\nasNumber: 1\n"),
        ["n.yaml:1:1: routerId: missing: set the BGP identifier, an IPv4 address (usually the node's own)"]
    );
    assert_eq!(
        errs("nodeName: a\nasNumber: 1\nrouterId: 2001:db8::1\n"),
        ["n.yaml:3:11: routerId: must be an IPv4 address (the BGP identifier is 32 bits), not 2001:db8::1"]
    );
    assert_eq!(
        errs("nodeName: a\nasNumber: 1\nrouterId: 0.0.0.0\n"),
        ["n.yaml:3:11: routerId: 0.0.0.0 is not a valid BGP identifier"]
    );
    let e = errs("nodeName: a\nasNumber: 1\nrouterId: 10.0.0.256\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("n.yaml:3:11: routerId: "), "{e:?}");
}

#[test]
fn as_number_checks() {
    let text = "\
nodeName: a
asNumber: 23456
routerId: 10.0.0.1
peers:
  - { peerIP: 10.0.0.2, asNumber: 0 }
  - { peerIP: 10.0.0.3, asNumber: 4294967296 }
  - { peerIP: 10.0.0.4, asNumber: 65535 }
  - { peerIP: 10.0.0.5, asNumber: 4294967294 }
";
    assert_eq!(
        errs(text),
        [
            "n.yaml:2:11: asNumber: 23456: AS 23456 is AS_TRANS (RFC 6793), which stands in for 4-octet AS numbers; use the real AS number",
            "n.yaml:5:35: peers[0].asNumber: 0: AS 0 is reserved (RFC 7607)",
            "n.yaml:6:35: peers[1].asNumber: 4294967296: an AS number is a whole number from 1 to 4294967295",
            "n.yaml:7:35: peers[2].asNumber: 65535: this AS number is reserved (RFC 7300)",
        ]
    );
}

#[test]
fn bad_prefixes_say_what_was_meant() {
    let text = with_head(
        "\
blocks: [10.244.1.1/24, 10.244.2.0, banana, \"fd00:244::1/64\"]
pools: [10.244.0.0/16, \"fd00:244::/48\"]
",
    );
    assert_eq!(
        errs(&text),
        [
            "n.yaml:5:10: blocks[0]: 10.244.1.1/24 has host bits set; did you mean 10.244.1.0/24?",
            "n.yaml:5:25: blocks[1]: `10.244.2.0` is not a CIDR prefix like 10.244.0.0/16; for one address write 10.244.2.0/32",
            "n.yaml:5:37: blocks[2]: `banana` is not a CIDR prefix like 10.244.0.0/16",
            "n.yaml:5:45: blocks[3]: fd00:244::1/64 has host bits set; did you mean fd00:244::/64?",
        ]
    );
}

#[test]
fn overlapping_blocks_and_pools() {
    let text = with_head(
        "\
blocks:
  - 10.244.1.0/24
  - 10.244.1.128/25
  - 10.244.1.0/24
pools:
  - 10.244.0.0/16
  - 10.0.0.0/8
",
    );
    assert_eq!(
        errs(&text),
        [
            "n.yaml:7:5: blocks[1]: 10.244.1.128/25 overlaps blocks[0] (10.244.1.0/24)",
            "n.yaml:8:5: blocks[2]: 10.244.1.0/24 duplicates blocks[0] (10.244.1.0/24)",
            "n.yaml:11:5: pools[1]: 10.0.0.0/8 overlaps pools[0] (10.244.0.0/16)",
        ]
    );
    assert_eq!(
        errs(&with_head(
            "blocks: [10.1.0.0/24, 10.1.0.0/24]\npools: [10.1.0.0/16]\n"
        )),
        ["n.yaml:5:23: blocks[1]: 10.1.0.0/24 duplicates blocks[0] (10.1.0.0/24)"]
    );
    // IPv4 and IPv6 never overlap.
    load(&with_head(
        "blocks: [0.0.0.0/0, \"::/0\"]\npools: [0.0.0.0/0, \"::/0\"]\n",
    ))
    .unwrap();
}

#[test]
fn blocks_outside_pools() {
    assert_eq!(
        errs(&with_head("blocks: [10.244.1.0/24, 10.9.0.0/24]\npools: [10.244.0.0/16]\n")),
        ["n.yaml:5:25: blocks[1]: 10.9.0.0/24 is not inside any of the pools (routes outside the pools are never installed)"]
    );
    assert_eq!(
        errs(&with_head("blocks: [10.244.1.0/24]\n")),
        ["n.yaml:5:10: blocks[0]: 10.244.1.0/24 is not inside any of the pools (`pools` is empty)"]
    );
    // A broken pool list does not also make every block "outside".
    assert_eq!(
        errs(&with_head(
            "blocks: [10.244.1.0/24]\npools: [10.244.0.1/16]\n"
        ))
        .len(),
        1
    );
}

#[test]
fn duplicate_and_own_peers() {
    let text = with_head(
        "\
nodeToNodeMesh:
  peers: [192.0.2.2, 192.0.2.2, 192.0.2.1]
peers:
  - peerIP: 192.0.2.2
    asNumber: 64512
  - peerIP: 224.0.0.5
    asNumber: 64512
",
    );
    assert_eq!(
        errs(&text),
        [
            "n.yaml:6:22: nodeToNodeMesh.peers[1]: 192.0.2.2 is already a peer (nodeToNodeMesh.peers[0])",
            "n.yaml:8:13: peers[0].peerIP: 192.0.2.2 is already a peer (nodeToNodeMesh.peers[0])",
            "n.yaml:10:13: peers[1].peerIP: 224.0.0.5 is not a usable peer address",
        ]
    );
    let text = "nodeName: a\nasNumber: 1\nrouterId: 10.0.0.1\nlisten: { address: \"2001:db8::1\" }\npeers: [{ peerIP: \"2001:db8::1\", asNumber: 2 }]\n";
    assert_eq!(
        errs(text),
        ["n.yaml:5:19: peers[0].peerIP: 2001:db8::1 is this node's own listen.address"]
    );
}

#[test]
fn timer_checks() {
    let text = with_head(
        "\
peers:
  - { peerIP: 10.0.0.1, asNumber: 1, holdTime: 2s }
  - { peerIP: 10.0.0.2, asNumber: 1, holdTime: 30s, keepaliveTime: 30s }
  - { peerIP: 10.0.0.3, asNumber: 1, holdTime: 0, keepaliveTime: 5s }
  - { peerIP: 10.0.0.4, asNumber: 1, holdTime: 70000 }
  - { peerIP: 10.0.0.5, asNumber: 1, holdTime: 1500ms, connectRetryTime: 0s }
  - { peerIP: 10.0.0.6, asNumber: 1, holdTime: 9s, keepaliveTime: 0 }
nodeToNodeMesh: { holdTime: 1s }
",
    );
    assert_eq!(
        errs(&text),
        [
            "n.yaml:6:48: peers[0].holdTime: 2s is not allowed: the hold time is 0 (no keepalives) or at least 3s (RFC 4271 §4.2)",
            "n.yaml:7:68: peers[1].keepaliveTime: 30s must be less than the hold time (30s); a third of it is usual",
            "n.yaml:8:66: peers[2].keepaliveTime: must be 0 when holdTime is 0 (no keepalives are sent)",
            "n.yaml:9:48: peers[3].holdTime: is at most 65535s (it is a 16-bit field in OPEN)",
            "n.yaml:10:48: peers[4].holdTime: must be whole seconds",
            "n.yaml:10:74: peers[4].connectRetryTime: must be more than 0",
            "n.yaml:11:67: peers[5].keepaliveTime: must be at least 1s with a hold time of 9s",
            "n.yaml:12:29: nodeToNodeMesh.holdTime: 1s is not allowed: the hold time is 0 (no keepalives) or at least 3s (RFC 4271 §4.2)",
        ]
    );
    let e = errs(&with_head(
        "peers: [{ peerIP: 10.0.0.1, asNumber: 1, holdTime: 9x }]\n",
    ));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("n.yaml:5:52: peers[0].holdTime: invalid duration `9x`"),
        "{e:?}"
    );
}

#[test]
fn peer_option_checks() {
    let text = with_head(
        "\
peers:
  - peerIP: 10.0.0.1
    asNumber: 65000
    routeReflectorClient: true
    port: 0
    ttlSecurity: 0
    sourceAddress: \"2001:db8::1\"
    maxPrefixes: 0
",
    );
    assert_eq!(
        errs(&text),
        [
            "n.yaml:8:27: peers[0].routeReflectorClient: route reflection is for iBGP peers, and AS 65000 is not this node's AS 64512",
            "n.yaml:9:11: peers[0].port: port 0 is not usable; BGP uses 179",
            "n.yaml:10:18: peers[0].ttlSecurity: the hop count is a whole number from 1 to 255",
            "n.yaml:11:20: peers[0].sourceAddress: 2001:db8::1 is not of the same address family as peerIP 10.0.0.1",
            "n.yaml:12:18: peers[0].maxPrefixes: must be at least 1 (leave it out for no limit)",
        ]
    );
}

#[test]
fn prefix_limit_checks() {
    let text = with_head(
        "\
nodeToNodeMesh:
  peers: [10.0.0.2]
  receiveLimit: {maxPrefixes: 0}
peers:
  - peerIP: 10.0.0.1
    asNumber: 65000
    maxPrefixes: 5
    importLimit: {maxPrefixes: 5, action: block}
",
    );
    assert_eq!(
        errs(&text),
        [
            "n.yaml:7:31: nodeToNodeMesh.receiveLimit.maxPrefixes: must be at least 1 (leave the limit out for none)",
            "n.yaml:11:18: peers[0].maxPrefixes: is the short form of importLimit; set one of them",
        ]
    );
    let e = errs(&with_head(
        "peers: [{ peerIP: 10.0.0.1, asNumber: 1, receiveLimit: {maxPrefixes: 9, action: reboot} }]\n",
    ));
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("n.yaml:5:"), "{e:?}");
    assert!(e[0].contains("reboot"), "{e:?}");
}

#[test]
fn passwords_are_read_trimmed_and_hidden() {
    let dir = std::env::temp_dir().join(format!("tern-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tor.key"), "s3cret\r\n").unwrap();
    std::fs::write(dir.join("empty.key"), "\n").unwrap();
    std::fs::write(dir.join("long.key"), "x".repeat(81)).unwrap();
    let file = dir.join("node.yaml");
    let text = with_head(
        "\
peers:
  - { peerIP: 10.0.0.1, asNumber: 1, password: { file: tor.key } }
  - { peerIP: 10.0.0.2, asNumber: 1, password: { file: missing.key } }
  - { peerIP: 10.0.0.3, asNumber: 1, password: { file: empty.key } }
  - { peerIP: 10.0.0.4, asNumber: 1, password: { file: long.key } }
",
    );
    let e: Vec<String> = NodeConfig::from_str(&file, &text)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    let f = file.display();
    let d = dir.display();
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(
        e[0].starts_with(&format!(
            "{f}:7:56: peers[1].password.file: cannot read password file {d}/missing.key: "
        )),
        "{e:?}"
    );
    assert_eq!(
        e[1],
        format!("{f}:8:56: peers[2].password.file: password file {d}/empty.key is empty")
    );
    assert_eq!(
        e[2],
        format!("{f}:9:56: peers[3].password.file: password file {d}/long.key holds 81 bytes; TCP-MD5 keys are at most 80")
    );
    let good =
        with_head("peers:\n  - { peerIP: 10.0.0.1, asNumber: 1, password: { file: tor.key } }\n");
    let c = NodeConfig::from_str(&file, &good).unwrap();
    let pw = c.peers[0].password.as_ref().unwrap();
    assert_eq!(pw.as_bytes(), b"s3cret");
    assert!(!format!("{c:?}").contains("s3cret"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fib_can_be_turned_off() {
    let c = load(&format!("{HEAD}fib: {{ enabled: false }}\n")).unwrap();
    assert!(!c.fib.enabled);
    assert_eq!(c.fib.table, 254, "the other fib fields keep their defaults");
    assert_eq!(
        errs("nodeName: a\nasNumber: 1\nrouterId: 10.0.0.1\nfib: { enabled: no-thanks }\n"),
        ["n.yaml:4:17: fib.enabled: invalid type: string \"no-thanks\", expected true or false"]
    );
}

#[test]
fn fib_policy_and_paths() {
    let text = "\
nodeName: a
asNumber: 1
routerId: 10.0.0.1
fib: { table: 100, protocol: 77, ecmp: false, allowDefault: true, metric: 0, nexthopObjects: false }
endpoints: [eps, /abs/eps]
policy:
  backend: iptables
  paths: [pol]
  failsafeInboundHostPorts: [22, \"udp:68\", { protocol: tcp, port: 179, net: 10.0.0.0/8 }]
  failsafeOutboundHostPorts: []
control: { socket: tern.sock }
routeReflector: { clusterId: 1.2.3.4 }
stateDir: state
";
    let c = NodeConfig::from_str(Path::new("/etc/tern/node.yaml"), text).unwrap();
    assert_eq!(
        c.fib,
        Fib {
            table: 100,
            protocol: 77,
            ecmp: false,
            enabled: true,
            allow_default: true,
            metric: 0,
            nexthop_objects: false
        }
    );
    assert_eq!(
        c.endpoints,
        [Path::new("/etc/tern/eps"), Path::new("/abs/eps")]
    );
    assert_eq!(c.policy.backend, Backend::Iptables);
    assert_eq!(c.policy.paths, [Path::new("/etc/tern/pol")]);
    assert_eq!(c.policy.failsafe_inbound_host_ports.len(), 3);
    assert_eq!(
        c.policy.failsafe_inbound_host_ports[1],
        FailsafePort::udp(68)
    );
    assert!(c.policy.failsafe_outbound_host_ports.is_empty());
    assert_eq!(c.control.socket, Path::new("/etc/tern/tern.sock"));
    assert_eq!(c.state_dir, Path::new("/etc/tern/state"));
    assert_eq!(c.route_reflector.unwrap().cluster_id.to_string(), "1.2.3.4");

    assert_eq!(
        errs("nodeName: a\nasNumber: 1\nrouterId: 10.0.0.1\nfib: { protocol: 4 }\n"),
        ["n.yaml:4:18: fib.protocol: 4 is one of the kernel's own (unspec, redirect, kernel, boot, static); pick an unused number such as 201"]
    );
    assert_eq!(
        errs("nodeName: a\nasNumber: 1\nrouterId: 10.0.0.1\nfib: { table: local }\n"),
        ["n.yaml:4:15: fib.table: table `local` (255) holds the kernel's own local routes; use `main` or another number"]
    );
}

#[test]
fn many_errors_are_all_reported_in_file_order() {
    let text = "\
nodeName: a
asNumber: 0
routerId: 0.0.0.0
blocks: [10.0.0.1/8]
peers:
  - { peerIP: 10.0.0.9, asNumber: 65535, holdTime: 1s }
";
    let e = errs(text);
    let at: Vec<&str> = e
        .iter()
        .map(|s| s.split(": ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        at,
        [
            "n.yaml:2:11",
            "n.yaml:3:11",
            "n.yaml:4:10",
            "n.yaml:6:35",
            "n.yaml:6:52"
        ]
    );
}

#[test]
fn mesh_list_shared_by_all_nodes_skips_this_node() {
    let text = "nodeName: a\nasNumber: 64512\nrouterId: 192.0.2.1\nnodeToNodeMesh: { peers: [192.0.2.1, 192.0.2.2, 192.0.2.3] }\n";
    let cfg = NodeConfig::from_str(Path::new("n.yaml"), text).expect("valid");
    let addrs: Vec<String> = cfg.peers.iter().map(|p| p.address.to_string()).collect();
    assert_eq!(addrs, ["192.0.2.2", "192.0.2.3"]);
}

#[test]
fn graceful_restart_defaults_settings_and_bad_restart_time() {
    let cfg = load(&with_head("")).expect("valid");
    assert_eq!(cfg.graceful_restart, GracefulRestart::default());
    assert!(cfg.graceful_restart.enabled);
    assert_eq!(cfg.graceful_restart.restart_time, Duration::from_secs(120));

    let cfg = load(&with_head(
        "gracefulRestart: { enabled: false, restartTime: 300s }\n",
    ))
    .expect("valid");
    assert!(!cfg.graceful_restart.enabled);
    assert_eq!(cfg.graceful_restart.restart_time, Duration::from_secs(300));

    assert_eq!(
        errs(&with_head("gracefulRestart:\n  restartTime: 2h\n")),
        ["n.yaml:6:16: gracefulRestart.restartTime: must be whole seconds from 1s to 4095s (a 12-bit field, RFC 4724)"]
    );
    let e = errs(&with_head("gracefulRestart: { restartTme: 5s }\n"));
    assert!(e[0].contains("restartTme"), "{e:?}");
}
