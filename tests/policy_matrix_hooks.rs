//! Host endpoints' `preDNAT` and `doNotTrack` policies on real traffic (nftables). A
//! "host" namespace owns the host endpoint `eth-h` (192.0.2.1) facing a "client"
//! namespace (192.0.2.2), with listeners on the host itself.
//!
//! - preDNAT: the host DNATs (redirects) TCP 8080 to its listener on 9090. A pre-DNAT
//!   Deny of TCP 8080 blocks connections to 8080, which the DNAT would have let through
//!   to 9090 (after DNAT the port is 9090, so the rule must have seen the packet before
//!   it); 9090 itself stays reachable.
//! - doNotTrack: a normal policy denies all ingress to the host endpoint; an untracked
//!   Allow of TCP 8081 (and of its replies) lets connections to 8081 through without a
//!   conntrack entry (a probe chain after tern's counts `ct state untracked` packets and
//!   no tracked ones), while 8082 stays denied.
//! - The iptables backend refuses both, saying why, and changes nothing.

use std::process::Command;
use std::time::Duration;

use testlab::{Lab, Netns};

const HEP: &str = "
kind: HostEndpoint
name: host-edge
interface: eth-h
expectedIPs: [192.0.2.1]
labels: { role: edge }
";

const PRE_DNAT: &str = "
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: no-8080 }
spec:
  selector: role == 'edge'
  preDNAT: true
  applyOnForward: true
  ingress:
  - action: Deny
    protocol: TCP
    destination: { ports: [8080] }
";

const UNTRACKED: &str = "
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: edge-closed }
spec:
  selector: role == 'edge'
  types: [Ingress]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: untracked-8081 }
spec:
  selector: role == 'edge'
  doNotTrack: true
  applyOnForward: true
  ingress:
  - action: Allow
    protocol: TCP
    destination: { ports: [8081] }
  egress:
  - action: Allow
    protocol: TCP
    source: { ports: [8081] }
";

fn tern() -> String {
    env!("CARGO_BIN_EXE_tern").to_string()
}

fn build(prefix: &str) -> (Lab, Netns, Netns) {
    let mut lab = Lab::new(prefix);
    let host = lab.netns("host");
    let client = lab.netns("cli");
    lab.veth(
        &host,
        "eth-h",
        &["192.0.2.1/24"],
        &client,
        "eth-c",
        &["192.0.2.2/24"],
    );
    for port in ["8081", "8082", "9090"] {
        lab.spawn(&host, &["nc", "-lk", port], &format!("tcp-{port}"));
    }
    testlab::wait_for(Duration::from_secs(20), "host listeners", || {
        ["8081", "8082", "9090"]
            .iter()
            .all(|p| connects(&client, p))
            .then_some(())
    });
    (lab, host, client)
}

fn connects(client: &Netns, port: &str) -> bool {
    client
        .run(&["nc", "-z", "-w", "2", "192.0.2.1", port])
        .status
        .success()
}

fn write(lab: &Lab, name: &str, docs: &[&str]) -> String {
    let path = lab.dir().join(name);
    std::fs::write(&path, docs.join("---\n")).expect("write");
    path.display().to_string()
}

fn tern_in(ns: &Netns, args: &[&str]) -> std::process::Output {
    let mut argv = vec![tern()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    ns.run(&argv)
}

fn applied(ns: &Netns, file: &str) {
    let out = tern_in(ns, &["policy", "apply", "--backend", "nftables", file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pre_dnat_deny_blocks_what_a_later_dnat_would_let_through() {
    let (lab, host, client) = build("pmh-dnat");
    host.ok(&[
        "nft",
        "add table ip labnat; add chain ip labnat pre { type nat hook prerouting priority dstnat; }; add rule ip labnat pre tcp dport 8080 redirect to :9090",
    ]);
    assert!(connects(&client, "8080"), "the DNAT works without policy");
    let file = write(&lab, "prednat.yaml", &[HEP, PRE_DNAT]);
    applied(&host, &file);
    assert!(!connects(&client, "8080"), "8080 denied before DNAT");
    assert!(
        connects(&client, "9090"),
        "9090 (the DNAT target) still open"
    );
    assert!(
        connects(&client, "8082"),
        "no filter-hook policy on the endpoint"
    );
    // The rule is in the prerouting chain at mangle priority, i.e. before DNAT.
    let table = host.ok(&["nft", "list", "table", "inet", "tern"]);
    assert!(
        table.contains("type filter hook prerouting priority mangle; policy accept;"),
        "{table}"
    );
    tern_in(&host, &["policy", "flush", "--backend", "nftables"]);
    assert!(connects(&client, "8080"), "flushed: open again");
}

#[test]
fn do_not_track_allow_passes_without_conntrack() {
    let (lab, host, client) = build("pmh-untr");
    let file = write(&lab, "untracked.yaml", &[HEP, UNTRACKED]);
    applied(&host, &file);
    // After tern's input chains: count what reaches the host on 8081, by ct state.
    host.ok(&[
        "nft",
        "add table inet probe; add chain inet probe in { type filter hook input priority 10; }; add rule inet probe in tcp dport 8081 ct state untracked counter; add rule inet probe in tcp dport 8081 ct state != untracked counter",
    ]);
    assert!(
        connects(&client, "8081"),
        "untracked allow lets 8081 through"
    );
    assert!(
        !connects(&client, "8082"),
        "the normal policy still denies 8082"
    );
    let probe = host.ok(&["nft", "list", "chain", "inet", "probe", "in"]);
    let counts: Vec<u64> = probe
        .lines()
        .filter_map(|l| l.split("counter packets ").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(counts.len(), 2, "{probe}");
    assert!(counts[0] >= 2, "untracked packets seen: {probe}");
    assert_eq!(counts[1], 0, "no tracked packet on 8081: {probe}");
    // conntrack's own table (the host namespace's) has no entry for the port, where
    // the kernel exposes it.
    let ct = host.run(&["cat", "/proc/net/nf_conntrack"]);
    if ct.status.success() {
        let ct = String::from_utf8_lossy(&ct.stdout);
        assert!(!ct.contains("dport=8081"), "{ct}");
    }
    tern_in(&host, &["policy", "flush", "--backend", "nftables"]);
}

#[test]
fn iptables_refuses_pre_dnat_and_do_not_track_and_changes_nothing() {
    let (lab, host, client) = build("pmh-ipt");
    let file = write(&lab, "both.yaml", &[HEP, PRE_DNAT, UNTRACKED]);
    let out = tern_in(&host, &["policy", "apply", "--backend", "iptables", &file]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the iptables backend does not support preDNAT / doNotTrack policies (no-8080, untracked-8081)"),
        "{err}"
    );
    let out = Command::new(tern())
        .args(["policy", "render", "--backend", "iptables", &file])
        .output()
        .expect("run tern");
    assert_eq!(out.status.code(), Some(2));
    // `tern policy check` with a node file naming the iptables backend refuses too.
    let node = lab.dir().join("node.yaml");
    std::fs::write(
        &node,
        format!(
            "nodeName: a\nasNumber: 64512\nrouterId: 192.0.2.1\npolicy:\n  backend: iptables\n  paths: [{file}]\n"
        ),
    )
    .expect("write");
    let node = node.display().to_string();
    let out = Command::new(tern())
        .args(["policy", "check", "--config", &node])
        .output()
        .expect("run tern");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("policy.backend iptables: the iptables backend does not support preDNAT"),
        "{err}"
    );
    assert!(connects(&client, "8082"), "nothing was applied");
    let saved = host.ok(&["iptables-save"]);
    assert!(!saved.contains("tern-"), "{saved}");
}
