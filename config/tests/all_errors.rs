//! A node config is checked in one pass: every error of the file (serde's and the
//! semantic checks'), each at its FILE:LINE:COL, sorted, in YAML's words; and the
//! workload endpoints it names are checked for shared and out-of-block addresses.

use std::path::{Path, PathBuf};

use config::{check_workloads, NodeConfig};

fn errs(text: &str) -> Vec<String> {
    match NodeConfig::from_str(Path::new("n.yaml"), text) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_error_of_the_file_in_one_pass_sorted() {
    // Ten problems of every kind: before, only the first serde error was reported
    // (three runs to see them all).
    let text = "\
nodeName: a
asNumber: 0
routerId: 10.0.0.1x
listen: { port: 70000 }
blocks: [10.244.1.1/24]
pools: [10.244.0.0/16]
peers:
  - { peerIP: 10.0.0.2, asNumber: -1, holdTime: 2s }
  - { peerIp: 10.0.0.3, asNumber: 65000 }
  - { peerIP: 10.0.0.4 }
fib: { table: mian, ecmp: yes }
policy: { backend: nft }
metrics: { listen: 1 }
";
    assert_eq!(
        errs(text),
        [
            "n.yaml:2:11: asNumber: 0: AS 0 is reserved (RFC 7607)",
            "n.yaml:3:11: routerId: invalid IP address syntax",
            "n.yaml:4:17: listen.port: invalid value: integer `70000`, expected a whole number from 0 to 65535",
            "n.yaml:5:10: blocks[0]: 10.244.1.1/24 has host bits set; did you mean 10.244.1.0/24?",
            "n.yaml:8:35: peers[0].asNumber: invalid type: integer `-1`, expected a whole number (0 or more)",
            "n.yaml:8:49: peers[0].holdTime: 2s is not allowed: the hold time is 0 (no keepalives) or at least 3s (RFC 4271 §4.2)",
            "n.yaml:9:7: peers[1]: unknown field `peerIp` (did you mean `peerIP`?)",
            "n.yaml:10:5: peers[2]: missing field `asNumber`",
            "n.yaml:11:15: fib.table: unknown routing table `mian`: use `main`, `default` or a number",
            "n.yaml:11:27: fib.ecmp: invalid type: string \"yes\", expected true or false",
            "n.yaml:12:20: policy.backend: unknown variant `nft`, expected `nftables` or `iptables`",
            "n.yaml:13:20: metrics.listen: invalid socket address syntax",
        ]
    );
}

#[test]
fn a_misspelt_key_is_checked_under_its_meant_name() {
    // `peerIp` is read as `peerIP`: no second "missing field `peerIP`", and its bad
    // value is still found.
    let e = errs("nodeName: a\nasNumber: 1\nrouterId: 10.0.0.1\npeers:\n  - { peerIp: 10.0.0.300, asNumber: 65000 }\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(
        e[0],
        "n.yaml:5:7: peers[0]: unknown field `peerIp` (did you mean `peerIP`?)"
    );
    assert_eq!(
        e[1],
        "n.yaml:5:15: peers[0].peerIP: invalid IP address syntax"
    );
}

#[test]
fn messages_speak_yaml_not_rust() {
    let e = errs(
        "nodeName: a\nasNumber: 1\nrouterId: 10.0.0.1\nlisten: [1]\npeers: { a: 1 }\nblocks: 5\n",
    )
    .join("\n");
    for rust in [
        "u64", "u32", "u16", "usize", "..=", "sequence", "struct ", "Raw",
    ] {
        assert!(!e.contains(rust), "{rust:?} in:\n{e}");
    }
    assert!(
        e.contains("n.yaml:4:9: listen: invalid type: a list, expected a mapping"),
        "{e}"
    );
    assert!(
        e.contains("n.yaml:5:8: peers: invalid type: a mapping, expected a list"),
        "{e}"
    );
    let e = errs("nodeName: a\nasNumber: 4294967296\nrouterId: 10.0.0.1\n").join("\n");
    assert!(!e.contains("..="), "{e}");
    assert!(e.contains("a whole number from 1 to 4294967295"), "{e}");
}

#[test]
fn api_version_in_a_node_file_is_explained() {
    let e = errs(
        "apiVersion: projectcalico.org/v3\nkind: Node\nnodeName: a\nasNumber: 1\nrouterId: 10.0.0.1\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("n.yaml:1:1: apiVersion: a node config has no apiVersion or kind"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("n.yaml:2:1: kind: a node config has no apiVersion or kind"),
        "{e:?}"
    );
}

#[test]
fn syntax_errors_and_several_documents_stay_one_error() {
    let e = errs("nodeName: a\nblocks: [10.0.0.0/8\n");
    assert_eq!(e.len(), 1, "{e:?}");
    let e = errs("nodeName: a\nasNumber: 1\nrouterId: 10.0.0.1\n---\nnodeName: b\n");
    assert_eq!(e.len(), 1, "{e:?}");
}

#[test]
fn many_errors_are_capped_and_fast() {
    let mut text = String::from("nodeName: a\nasNumber: 1\nrouterId: 10.0.0.1\npeers:\n");
    for i in 0..500 {
        text.push_str(&format!(
            "  - {{ peerIP: 10.0.{}.{}, asNumber: x{i} }}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    let t = std::time::Instant::now();
    let e = errs(&text);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        t.elapsed()
    );
    assert!(
        e.len() >= 2 && e.len() <= config::yaml::MAX_ERRORS,
        "{}",
        e.len()
    );
    assert!(e[1].starts_with("n.yaml:6:"), "{e:?}");
}

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let d =
            std::env::temp_dir().join(format!("config-workloads-{}-{name}", std::process::id()));
        std::fs::create_dir_all(d.join("endpoints/more")).unwrap();
        Scratch(d)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let f = self.0.join(name);
        std::fs::write(&f, text).unwrap();
        f
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn shared_and_out_of_block_workload_addresses_are_warnings() {
    let s = Scratch::new("warn");
    let a = s.write(
        "endpoints/a.yaml",
        "\
kind: WorkloadEndpoint
name: web-1
namespace: shop
interface: tw-web1
ips: [10.244.1.10/32, \"fd00:244:0:1::10/128\"]
---
kind: WorkloadEndpoint
name: stray
namespace: shop
interface: tw-stray
ips: [10.65.0.10/32]
",
    );
    let b = s.write(
        "endpoints/more/b.yaml",
        "\
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: { name: web-2, namespace: shop }
spec:
  interfaceName: tw-web2
  ipNetworks: [10.244.1.10/32]
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: { name: remote, namespace: shop }
spec:
  node: host-b
  interfaceName: tw-remote
  ipNetworks: [10.244.2.7/32]
",
    );
    let node = s.write(
        "node.yaml",
        "nodeName: host-a\nasNumber: 64512\nrouterId: 192.0.2.1\n\
         blocks: [10.244.1.0/24, \"fd00:244:0:1::/64\"]\npools: [10.244.0.0/16, \"fd00:244::/48\"]\n\
         endpoints: [endpoints]\n",
    );
    let cfg = NodeConfig::load(&node).expect("valid config");
    let w: Vec<String> = check_workloads(&cfg)
        .iter()
        .map(ToString::to_string)
        .collect();
    let (a, b) = (a.display(), b.display());
    assert_eq!(
        w,
        [
            format!("{a}:11:7: warning: ips[0]: 10.65.0.10/32 is outside this node's blocks (10.244.1.0/24, fd00:244:0:1::/64): the other hosts get no route to it (only blocks are advertised)"),
            format!("{b}:6:16: warning: spec.ipNetworks[0]: 10.244.1.10/32 is also the address of workload shop/web-1 ({a}:5:7): only one of them gets the route and the policy"),
        ]
    );
}

#[test]
fn a_list_item_of_the_wrong_shape_does_not_hide_the_rest() {
    let e = errs(
        "nodeName: a\nasNumber: 1\nrouterId: 10.0.0.1\npeers:\n  - [1, 2]\n  - ~\nfib: { ecmp: 2 }\n\"x[1]\": 3\n",
    );
    assert_eq!(e.len(), 4, "{e:?}");
    assert_eq!(
        e[0],
        "n.yaml:5:5: peers[0]: invalid type: a list, expected a mapping"
    );
    assert_eq!(
        e[1],
        "n.yaml:6:5: peers[1]: invalid type: an empty value, expected a mapping"
    );
    assert_eq!(
        e[2],
        "n.yaml:7:14: fib.ecmp: invalid type: integer `2`, expected true or false"
    );
    assert!(
        e[3].starts_with("n.yaml:8:1: unknown field `x[1]`"),
        "{e:?}"
    );
}
