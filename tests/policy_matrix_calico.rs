//! Calico policy features on real traffic (the companion of policy_matrix): tiers with
//! Pass (security → platform → default), a GlobalNetworkSet as a source, a named port
//! resolved on the destination, a service account as a source, and a staged policy that denies everything but is not
//! enforced (its deny counters move). A "host" namespace routes between four container namespaces; the policy is
//! applied with `tern policy apply` for nftables and for iptables, a matrix of TCP
//! connects must give exactly the expected cells, and `tern policy explain` must agree
//! with every cell.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use testlab::{container, Lab, Netns};

/// (name, endpoint or address for explain, host interface, address).
const CONTAINERS: [(&str, &str, &str, &str); 4] = [
    ("web", "shop/web-1", "tw-web1", "10.65.0.10"),
    ("cli", "shop/client-1", "tw-cli1", "10.65.0.30"),
    ("bad", "shop/bad-1", "tw-bad1", "10.65.0.31"),
    // No endpoint document: only its address, in the monitoring network set.
    ("mon", "10.65.0.200", "tw-mon1", "10.65.0.200"),
];

const PORTS: [u16; 3] = [80, 9100, 9200];

const ENDPOINTS: &str = "
kind: WorkloadEndpoint
name: web-1
namespace: shop
interface: tw-web1
ips: [10.65.0.10/32]
labels: { app: web }
ports: [ { name: metrics, port: 9100 } ]
---
kind: WorkloadEndpoint
name: client-1
namespace: shop
interface: tw-cli1
ips: [10.65.0.30/32]
labels: { app: client }
serviceAccount: frontend
---
kind: WorkloadEndpoint
name: bad-1
namespace: shop
interface: tw-bad1
ips: [10.65.0.31/32]
labels: { app: client, quarantine: 'true' }
";

const POLICIES: &str = "
apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: security }
spec: { order: 100 }
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: platform }
spec: { order: 200, defaultAction: Pass }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: { name: monitoring, labels: { role: monitoring } }
spec: { nets: [10.65.0.200/32] }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: security.quarantine }
spec:
  tier: security
  selector: app == 'web'
  types: [Ingress]
  ingress:
  - action: Deny
    source: { selector: quarantine == 'true' }
  - action: Pass
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: platform.monitoring }
spec:
  tier: platform
  selector: app == 'web'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: { selector: role == 'monitoring' }
    destination: { ports: [metrics] }
  - action: Allow
    protocol: TCP
    source: { serviceAccounts: { names: [frontend] } }
    destination: { ports: [9200] }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  podSelector: { matchLabels: { app: web } }
  ingress:
  - ports: [ { port: 80 } ]
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: { name: deny-everything }
spec:
  selector: all()
  ingress: [ { action: Deny } ]
  egress: [ { action: Deny } ]
";

/// What the policies allow, worked out by hand (only connections to web are policed).
fn expected(src: &str, port: u16) -> bool {
    match (src, port) {
        ("bad", _) => false,   // security tier: Deny
        ("mon", 9100) => true, // platform tier: network set + named port
        ("cli", 9200) => true, // platform tier: service account frontend
        (_, 80) => true,       // security Pass, platform Pass, default tier allows 80
        _ => false,            // end of the default tier
    }
}

fn tern() -> String {
    env!("CARGO_BIN_EXE_tern").to_string()
}

fn files(lab: &Lab) -> Vec<String> {
    let dir: PathBuf = lab.dir().join("policy");
    std::fs::create_dir_all(&dir).expect("policy dir");
    std::fs::write(dir.join("endpoints.yaml"), ENDPOINTS).expect("write");
    std::fs::write(dir.join("policies.yaml"), POLICIES).expect("write");
    vec![dir.display().to_string()]
}

fn build(prefix: &str) -> (Lab, Netns, BTreeMap<&'static str, Netns>) {
    let mut lab = Lab::new(prefix);
    let host = lab.netns("host");
    container::gateway(&host);
    let mut ctr = BTreeMap::new();
    for (name, _, iface, ip) in CONTAINERS {
        let addr = format!("{ip}/32");
        let ns = container::container(&mut lab, &host, name, iface, &[&addr]);
        container::host_side(&host, iface, &[&addr]);
        if name == "web" {
            for port in PORTS {
                lab.spawn(
                    &ns,
                    &["nc", "-lk", &port.to_string()],
                    &format!("tcp-{port}"),
                );
            }
        }
        ctr.insert(name, ns);
    }
    testlab::wait_for(Duration::from_secs(20), "web reachable from mon", || {
        ctr["mon"]
            .run(&["nc", "-z", "-w", "2", "10.65.0.10", "80"])
            .status
            .success()
            .then_some(())
    });
    (lab, host, ctr)
}

fn explain(files: &[String], from: &str, port: u16) -> bool {
    let out = Command::new(tern())
        .args(["policy", "explain", "--from", from, "--to", "shop/web-1"])
        .args(["--protocol", "tcp", "--port", &port.to_string()])
        .args(files)
        .output()
        .expect("run tern");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    match (text.lines().next(), out.status.code()) {
        (Some("verdict: allow"), Some(0)) => true,
        (Some("verdict: deny"), Some(3)) => false,
        _ => panic!(
            "unexpected explain result {:?}: {text}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn check(ctr: &BTreeMap<&'static str, Netns>, backend: &str, files: &[String]) {
    let cells: Vec<(&str, &str, u16)> = CONTAINERS
        .iter()
        .filter(|c| c.0 != "web")
        .flat_map(|c| PORTS.iter().map(move |p| (c.0, c.1, *p)))
        .collect();
    let got: Vec<((&str, u16), bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = cells
            .iter()
            .map(|&(s, _, port)| {
                let ns = ctr[s].clone();
                scope.spawn(move || {
                    let ok = ns
                        .run(&["nc", "-z", "-w", "2", "10.65.0.10", &port.to_string()])
                        .status
                        .success();
                    ((s, port), ok)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("probe"))
            .collect()
    });
    let mut wrong = Vec::new();
    for (&(s, from, port), ((_, _), ok)) in cells.iter().zip(&got) {
        let want = expected(s, port);
        let said = explain(files, from, port);
        if *ok != want || said != want {
            wrong.push(format!(
                "{s} -> web:{port}: probe {ok}, expected {want}, explain {said}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{backend}: wrong cells:\n{}",
        wrong.join("\n")
    );
    assert_eq!(got.len(), 9);
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn tiers_network_sets_named_ports_and_staged_policies_on_real_traffic() {
    let (lab, host, ctr) = build("pmc");
    let files = files(&lab);
    for backend in ["nftables", "iptables"] {
        let mut argv = vec![
            tern(),
            "policy".into(),
            "apply".into(),
            "--backend".into(),
            backend.into(),
        ];
        argv.extend(files.iter().cloned());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let stderr = ok(host.run(&argv));
        // The staged policy is reported as not enforced, and is not.
        assert!(
            stderr.contains(
                "staged policy deny-everything is evaluated by `tern policy explain` and not enforced"
            ),
            "{stderr}"
        );
        check(&ctr, backend, &files);
        // ... but its verdicts are counted (and logged with prefix tern-staged): the
        // staged deny-everything saw the probes that were allowed and denied.
        let denied = staged_denies(&host, backend);
        assert!(denied >= 9, "{backend}: staged deny counters {denied}");
        // `tern policy stats` reports the same counts, per staged rule and verdict.
        let stats = host.ok(&[&tern(), "policy", "stats", "--backend", backend, "--json"]);
        let reported: u64 = stats
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json row"))
            .filter(|v| {
                v["verdict"] == "deny"
                    && v["policy"]
                        .as_str()
                        .unwrap_or("")
                        .contains("deny-everything")
            })
            .map(|v| v["packets"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(reported, denied, "{backend}: {stats}");
        ok(host.run(&[&tern(), "policy", "flush", "--backend", backend]));
    }
}

/// The packets the staged policies' Deny rules counted: nft `counter` on the rules that
/// log `tern-staged deny`, or the iptables packet counters of those LOG rules.
fn staged_denies(host: &Netns, backend: &str) -> u64 {
    let text = if backend == "nftables" {
        host.ok(&["nft", "list", "table", "inet", "tern"])
    } else {
        host.ok(&["iptables-save", "-c", "-t", "filter"])
    };
    text.lines()
        .filter(|l| l.contains("\"tern-staged deny "))
        .map(|l| {
            let n = if backend == "nftables" {
                l.split("counter packets ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
            } else {
                l.strip_prefix('[').and_then(|r| r.split(':').next())
            };
            n.and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no counter in {l}"))
        })
        .sum()
}

/// The `mon` side's interface as a host endpoint whose GlobalNetworkPolicy has
/// `applyOnForward: true`: traffic forwarded in through it is policed too (only TCP 80
/// passes), on top of everything above. (`explain` models host-bound traffic only, so
/// the forwarded cells are checked by probes alone.)
const UPLINK: &str = "
kind: HostEndpoint
name: uplink
interface: tw-mon1
labels: { role: uplink }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: uplink-in }
spec:
  selector: role == 'uplink'
  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    destination: { ports: [80] }
";

#[test]
fn apply_on_forward_polices_traffic_forwarded_through_a_host_endpoint() {
    let (lab, host, ctr) = build("pmf");
    let mut files = files(&lab);
    let extra = lab.dir().join("uplink.yaml");
    std::fs::write(&extra, UPLINK).expect("write");
    files.push(extra.display().to_string());
    for backend in ["nftables", "iptables"] {
        let mut argv = vec![
            tern(),
            "policy".into(),
            "apply".into(),
            "--backend".into(),
            backend.into(),
        ];
        argv.extend(files.iter().cloned());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        ok(host.run(&argv));
        for (port, want) in [(80, true), (9100, false), (9200, false)] {
            let got = ctr["mon"]
                .run(&["nc", "-z", "-w", "2", "10.65.0.10", &port.to_string()])
                .status
                .success();
            assert_eq!(got, want, "{backend}: mon -> web:{port}");
        }
        // Not through the host endpoint: cli is untouched by it.
        assert!(ctr["cli"]
            .run(&["nc", "-z", "-w", "2", "10.65.0.10", "80"])
            .status
            .success());
        ok(host.run(&[&tern(), "policy", "flush", "--backend", backend]));
    }
}
