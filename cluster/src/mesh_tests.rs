//! Unit tests of the mesh computation: resources as an operator writes them (YAML,
//! loaded as `tern apply` loads them), the peers that come out.

use std::net::IpAddr;
use std::path::Path;

use super::*;
use crate::Items;

fn items(yaml: &str) -> Items {
    resources::load_text(Path::new("t.yaml"), yaml)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|r| (r.key(), r))
        .collect()
}

fn node(name: &str, v4: &str, extra: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{ name: {name}{extra} }}\nspec:\n  bgp: {{ ipv4Address: {v4}/24 }}\n---\n"
    )
}

fn local(name: &str, addr: &str) -> Local {
    Local {
        name: name.into(),
        addresses: vec![addr.parse().unwrap()],
        ..Local::default()
    }
}

fn addrs(peers: &[PeerConfig]) -> Vec<String> {
    peers.iter().map(|p| p.address.to_string()).collect()
}

fn none(_: &str) -> Option<String> {
    None
}

#[test]
fn full_mesh_with_every_other_node_and_the_default_as() {
    let nodes = items(&format!(
        "{}{}{}",
        node("a", "10.0.0.1", ""),
        node("b", "10.0.0.2", ""),
        node("c", "10.0.0.3", "")
    ));
    let empty = Items::new();
    let me = local("a", "10.0.0.1");
    let (peers, notes) = desired_peers(&me, &nodes, &empty, &empty, &PeerDefaults::default(), none);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(addrs(&peers), ["10.0.0.2", "10.0.0.3"]);
    assert!(peers
        .iter()
        .all(|p| p.asn == 64512 && p.kind == PeerKind::Mesh));
    assert_eq!(local_as(&me, &nodes, &empty), 64512);
    assert_eq!(peers[0].description.as_deref(), Some("Node b"));
}

#[test]
fn cluster_as_node_as_and_file_as_in_that_order() {
    let nodes = items(&format!(
        "{}apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{ name: b }}\nspec:\n  bgp: {{ ipv4Address: 10.0.0.2/24, asNumber: 65002 }}\n",
        node("a", "10.0.0.1", "")
    ));
    let cfg = items("apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: { name: default }\nspec: { asNumber: 65000 }\n");
    let me = local("a", "10.0.0.1");
    assert_eq!(local_as(&me, &nodes, &cfg), 65000);
    let (peers, _) = desired_peers(
        &me,
        &nodes,
        &cfg,
        &Items::new(),
        &PeerDefaults::default(),
        none,
    );
    assert_eq!(peers[0].asn, 65002, "b's own AS");
    let b = local("b", "10.0.0.2");
    assert_eq!(local_as(&b, &nodes, &cfg), 65002);
    let mut f = local("b", "10.0.0.2");
    f.file_as = Some(65099);
    assert_eq!(local_as(&f, &nodes, &cfg), 65099);
}

#[test]
fn mesh_off_leaves_only_bgp_peers_that_apply() {
    let nodes = items(&format!(
        "{}{}{}",
        node("a", "10.0.0.1", ", labels: { rack: r1 }"),
        node("rr", "10.0.0.9", ", labels: { role: rr }"),
        node("c", "10.0.0.3", ", labels: { rack: r2 }")
    ));
    let cfg = items("apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: { name: default }\nspec: { nodeToNodeMeshEnabled: false }\n");
    let peers_yaml = "\
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: tor-r1 }
spec: { peerIP: 192.0.2.1, asNumber: 65100, nodeSelector: rack == 'r1' }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: tor-r2 }
spec: { peerIP: 192.0.2.2, asNumber: 65100, nodeSelector: rack == 'r2' }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: to-rr }
spec: { peerSelector: role == 'rr' }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: only-c }
spec: { peerIP: 192.0.2.3, asNumber: 65100, node: c }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: global }
spec: { peerIP: \"[2001:db8::1]:1179\", asNumber: 65200 }
";
    let bgp_peers = items(peers_yaml);
    let mut me = local("a", "10.0.0.1");
    me.labels.insert("rack".into(), "r9".into()); // the Node's labels win
    let (peers, notes) = desired_peers(
        &me,
        &nodes,
        &cfg,
        &bgp_peers,
        &PeerDefaults::default(),
        none,
    );
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(addrs(&peers), ["10.0.0.9", "192.0.2.1", "2001:db8::1"]);
    assert_eq!(peers[0].asn, 64512);
    assert!(!peers[0].route_reflector_client);
    assert_eq!(peers[1].asn, 65100);
    assert_eq!(peers[2].port, 1179);
    assert!(peers.iter().all(|p| p.kind == PeerKind::Global));
}

#[test]
fn a_route_reflector_has_its_selected_nodes_as_clients() {
    let nodes = items(&format!(
        "{}{}apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{ name: rr, labels: {{ role: rr }} }}\nspec:\n  bgp: {{ ipv4Address: 10.0.0.9/24, routeReflectorClusterID: 224.0.0.1 }}\n",
        node("a", "10.0.0.1", ""),
        node("b", "10.0.0.2", "")
    ));
    let cfg = items("apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: { name: default }\nspec: { nodeToNodeMeshEnabled: false }\n");
    let bgp_peers = items("apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: rr-clients }\nspec: { nodeSelector: role == 'rr', peerSelector: \"!has(role)\" }\n");
    let rr = local("rr", "10.0.0.9");
    let (peers, _) = desired_peers(
        &rr,
        &nodes,
        &cfg,
        &bgp_peers,
        &PeerDefaults::default(),
        none,
    );
    assert_eq!(addrs(&peers), ["10.0.0.1", "10.0.0.2"]);
    assert!(peers.iter().all(|p| p.route_reflector_client));
}

#[test]
fn own_addresses_duplicates_and_unreadable_passwords() {
    let nodes = items(&format!(
        "{}{}",
        node("a", "10.0.0.1", ""),
        node("b", "10.0.0.2", "")
    ));
    let bgp_peers = items(
        "\
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: a-self }
spec: { peerIP: 10.0.0.1, asNumber: 65000 }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: b-explicit }
spec: { peerIP: 10.0.0.2, asNumber: 64512, password: { file: /etc/k } }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: c-nokey }
spec: { peerIP: 10.0.0.3, asNumber: 64512, password: { file: /missing } }
",
    );
    let me = local("a", "10.0.0.1");
    let key = |f: &str| (f == "/etc/k").then(|| "s3cret".to_string());
    let (peers, notes) = desired_peers(
        &me,
        &nodes,
        &Items::new(),
        &bgp_peers,
        &PeerDefaults::default(),
        key,
    );
    assert_eq!(addrs(&peers), ["10.0.0.2"]);
    assert_eq!(
        peers[0].kind,
        PeerKind::Global,
        "the BGPPeer wins over the mesh"
    );
    assert_eq!(peers[0].password.as_deref(), Some("s3cret"));
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("c-nokey"), "{notes:?}");
}

#[test]
fn families_pair_up_and_output_is_stable() {
    let nodes = items(
        "\
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: a }
spec: { bgp: { ipv4Address: 10.0.0.1/24, ipv6Address: fd00::1/64 } }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: b }
spec: { bgp: { ipv4Address: 10.0.0.2/24, ipv6Address: fd00::2/64 } }
",
    );
    let v4_only = local("a", "10.0.0.1");
    let (p, _) = desired_peers(
        &v4_only,
        &nodes,
        &Items::new(),
        &Items::new(),
        &PeerDefaults::default(),
        none,
    );
    assert_eq!(addrs(&p), ["10.0.0.2"]);
    let mut both = local("a", "10.0.0.1");
    both.addresses.push("fd00::1".parse::<IpAddr>().unwrap());
    let (p1, _) = desired_peers(
        &both,
        &nodes,
        &Items::new(),
        &Items::new(),
        &PeerDefaults::default(),
        none,
    );
    let (p2, _) = desired_peers(
        &both,
        &nodes,
        &Items::new(),
        &Items::new(),
        &PeerDefaults::default(),
        none,
    );
    assert_eq!(addrs(&p1), ["10.0.0.2", "fd00::2"]);
    assert_eq!(p1, p2, "same input, same peers: nothing flaps");
}

#[test]
fn own_node_resource_round_trips() {
    let mut me = local("a", "10.0.0.1");
    me.addresses.push("fd00::1".parse().unwrap());
    me.labels.insert("rack".into(), "r1".into());
    me.file_as = Some(65001);
    let r = own_node(&me, None);
    let back = resources::Resource::from_json(&r.to_json()).expect("valid Node");
    let Spec::Node(n) = &back.spec else { panic!() };
    assert_eq!(n.ipv4(), Some("10.0.0.1".parse().unwrap()));
    assert_eq!(n.ipv6(), Some("fd00::1".parse().unwrap()));
    assert_eq!(n.as_number(), Some(65001));
    assert_eq!(
        back.metadata.labels.get("rack").map(String::as_str),
        Some("r1")
    );
}

#[test]
fn the_node_files_mesh_settings_reach_the_mesh_from_the_node_list() {
    use std::time::Duration;
    let nodes = items(&format!(
        "{}{}",
        node("a", "10.0.0.1", ""),
        node("b", "10.0.0.2", "")
    ));
    let bgp_peers = items(
        "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: tor }\nspec: { peerIP: 192.0.2.1, asNumber: 65100 }\n",
    );
    let mut mesh = PeerConfig::new(IpAddr::from([0, 0, 0, 0]), 0);
    mesh.port = 1179;
    mesh.hold_time = Duration::from_secs(9);
    mesh.keepalive = Some(Duration::from_secs(2));
    mesh.connect_retry = Duration::from_secs(5);
    mesh.password = Some("s3cret".into());
    mesh.import_limit = Some(bgp::rib::PrefixLimit::restart(100));
    mesh.add_path = Some(bgp::wire::AddPathMode::Both);
    let defaults = PeerDefaults::from_mesh(&mesh);
    let empty = Items::new();
    let me = local("a", "10.0.0.1");
    let (peers, notes) = desired_peers(&me, &nodes, &empty, &bgp_peers, &defaults, none);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(addrs(&peers), ["10.0.0.2", "192.0.2.1"]);
    let (b, tor) = (&peers[0], &peers[1]);
    assert_eq!(b.kind, PeerKind::Mesh);
    assert_eq!(
        (b.port, b.hold_time, b.keepalive, b.connect_retry),
        (
            1179,
            Duration::from_secs(9),
            Some(Duration::from_secs(2)),
            Duration::from_secs(5)
        )
    );
    assert_eq!(b.password.as_deref(), Some("s3cret"));
    assert_eq!(b.import_limit, Some(bgp::rib::PrefixLimit::restart(100)));
    assert_eq!(b.add_path, Some(bgp::wire::AddPathMode::Both));
    assert_eq!(tor.add_path, None);
    // A BGPPeer takes the timers, not the mesh's password, limits or port (its own
    // peerIP port, 179 by default).
    assert_eq!(tor.hold_time, Duration::from_secs(9));
    assert_eq!(tor.password, None);
    assert_eq!(tor.import_limit, None);
    assert_eq!(tor.port, 179);
}
