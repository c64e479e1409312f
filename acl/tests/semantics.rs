//! Calico and Kubernetes policy semantics, checked through `explain` on the compiled IR
//! (deterministic, no kernel): ordering, default deny, Pass, Log, unselected endpoints,
//! Kubernetes additivity, namespace selectors, ipBlock except, endPort,
//! matchExpressions, failsafe ports, `global()`.

use std::fs;
use std::path::PathBuf;

use acl::explain::{addresses, explain, Outcome, Packet};
use acl::model::{Action, Protocol};
use acl::{compile, load_paths, Bundle, CompileOptions, Ir};

const ENDPOINTS: &str = "
kind: Namespace
name: prod
labels: { env: prod }
---
kind: Namespace
name: dev
labels: { env: dev }
---
kind: WorkloadEndpoint
name: a
namespace: prod
interface: wa
ips: [10.0.0.1/32]
labels: { app: a, tier: web }
---
kind: WorkloadEndpoint
name: b
namespace: prod
interface: wb
ips: [10.0.0.2/32]
labels: { app: b }
---
kind: WorkloadEndpoint
name: c
namespace: dev
interface: wc
ips: [10.0.0.3/32]
labels: { app: c, debug: 'yes' }
---
kind: HostEndpoint
name: node
interface: eth0
expectedIPs: [192.0.2.1]
labels: { role: node }
";

fn setup(name: &str, policies: &str) -> (Bundle, Ir) {
    let dir = std::env::temp_dir().join(format!("acl-sem-{name}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("endpoints.yaml"), ENDPOINTS).unwrap();
    fs::write(dir.join("policies.yaml"), policies).unwrap();
    let bundle = load_paths(&[PathBuf::from(&dir)]).unwrap_or_else(|e| panic!("{e}"));
    let _ = fs::remove_dir_all(&dir);
    let ir = compile(&bundle, &CompileOptions::default());
    (bundle, ir)
}

fn verdict(
    b: &Bundle,
    ir: &Ir,
    from: &str,
    to: &str,
    proto: Protocol,
    port: u16,
) -> acl::explain::Explanation {
    let (src, dst) = addresses(b, from, to).unwrap();
    explain(
        b,
        ir,
        &Packet {
            src,
            dst,
            protocol: proto,
            sport: 40000,
            dport: port,
            icmp_type: 8,
            icmp_code: 0,
        },
    )
}

fn allowed(b: &Bundle, ir: &Ir, from: &str, to: &str, proto: Protocol, port: u16) -> bool {
    verdict(b, ir, from, to, proto, port).allowed
}

const TCP: Protocol = Protocol::Tcp;

#[test]
fn order_then_name_decides() {
    let (b, ir) = setup(
        "order",
        "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: z-allow, namespace: prod }
spec: { order: 10, selector: app == 'a', ingress: [ { action: Allow } ] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: deny, namespace: prod }
spec: { order: 20, selector: app == 'a', ingress: [ { action: Deny } ] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: b-deny, namespace: prod }
spec: { order: 5, selector: app == 'b', ingress: [ { action: Deny, protocol: TCP, destination: { ports: [22] } } ] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: a-allow, namespace: prod }
spec: { order: 5, selector: app == 'b', ingress: [ { action: Allow } ] }
",
    );
    // Lower order first.
    let e = verdict(&b, &ir, "prod/b", "prod/a", TCP, 80);
    assert!(e.allowed);
    assert_eq!(e.steps[0].outcome, Outcome::NoPolicy);
    assert_eq!(
        e.steps[1].outcome,
        Outcome::Rule {
            policy: "prod/z-allow".into(),
            index: 0,
            action: Action::Allow
        }
    );
    // Same order: by name, so a-allow (allow all) comes before b-deny.
    assert!(allowed(&b, &ir, "prod/a", "prod/b", TCP, 22));
}

#[test]
fn default_deny_pass_log_and_unselected() {
    let (b, ir) = setup(
        "pass",
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: g }
spec:
  order: 1
  selector: app == 'a'
  ingress:
    - { action: Log, protocol: TCP }
    - { action: Pass, protocol: TCP, destination: { ports: [443] } }
    - { action: Allow, protocol: TCP, destination: { ports: [80] } }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: h }
spec: { order: 2, selector: app == 'a', ingress: [ { action: Allow, protocol: TCP, destination: { ports: [443] } } ] }
",
    );
    let e = verdict(&b, &ir, "prod/b", "prod/a", TCP, 80);
    assert!(e.allowed);
    assert_eq!(e.steps[1].logged, vec![("g".to_string(), 0)]);
    // Pass skips the later policy that would allow 443.
    let e = verdict(&b, &ir, "prod/b", "prod/a", TCP, 443);
    assert!(!e.allowed);
    assert_eq!(
        e.steps[1].outcome,
        Outcome::Pass {
            policy: "g".into(),
            index: 1
        }
    );
    // Selected, nothing matches: default deny.
    assert_eq!(
        verdict(&b, &ir, "prod/b", "prod/a", TCP, 8080).steps[1].outcome,
        Outcome::DefaultDeny
    );
    // Egress not selected: allowed; b not selected at all: allowed.
    assert!(allowed(&b, &ir, "prod/a", "prod/b", TCP, 1));
    assert!(allowed(&b, &ir, "dev/c", "prod/b", Protocol::Udp, 1));
}

#[test]
fn kubernetes_policies_are_additive() {
    let (b, ir) = setup(
        "k8s",
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: one, namespace: prod }
spec:
  podSelector: { matchLabels: { app: a } }
  ingress: [ { ports: [ { port: 80 } ] } ]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: two, namespace: prod }
spec:
  podSelector: { matchExpressions: [ { key: tier, operator: In, values: [web] } ] }
  ingress:
    - from: [ { ipBlock: { cidr: 10.0.0.0/24, except: [10.0.0.3/32] } } ]
      ports: [ { protocol: TCP, port: 6000, endPort: 6010 }, { protocol: UDP, port: 53 } ]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: egress-only, namespace: dev }
spec:
  podSelector: { matchExpressions: [ { key: debug, operator: Exists } ] }
  policyTypes: [Egress]
  egress:
    - to: [ { namespaceSelector: { matchLabels: { projectcalico.org/name: prod } }, podSelector: { matchExpressions: [ { key: tier, operator: DoesNotExist } ] } } ]
",
    );
    assert!(allowed(&b, &ir, "prod/b", "prod/a", TCP, 80));
    assert!(allowed(&b, &ir, "prod/b", "prod/a", TCP, 6005));
    assert!(allowed(&b, &ir, "prod/b", "prod/a", Protocol::Udp, 53));
    assert!(!allowed(&b, &ir, "prod/b", "prod/a", TCP, 6011));
    assert!(!allowed(&b, &ir, "prod/b", "prod/a", TCP, 22));
    // except 10.0.0.3; c's egress policy allows only prod pods without a tier label.
    assert!(!allowed(&b, &ir, "dev/c", "prod/a", TCP, 6005));
    assert!(allowed(&b, &ir, "dev/c", "prod/b", TCP, 1234));
    assert!(!allowed(&b, &ir, "dev/c", "192.0.2.99", TCP, 1234));
    // egress-only: c's ingress stays open.
    assert!(allowed(&b, &ir, "prod/b", "dev/c", TCP, 9));
}

#[test]
fn calico_entity_matches() {
    let (b, ir) = setup(
        "entity",
        "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: p, namespace: prod }
spec:
  selector: app == 'a'
  ingress:
    - action: Allow
      protocol: TCP
      source: { namespaceSelector: env == 'dev', notSelector: app == 'zzz' }
      destination: { ports: ['7000:7005'], notPorts: [7003] }
    - action: Allow
      protocol: UDP
      source: { notNets: [10.0.0.2/32], selector: all() }
    - action: Allow
      protocol: ICMP
      icmp: { type: 8 }
",
    );
    assert!(allowed(&b, &ir, "dev/c", "prod/a", TCP, 7001));
    assert!(!allowed(&b, &ir, "dev/c", "prod/a", TCP, 7003));
    assert!(!allowed(&b, &ir, "prod/b", "prod/a", TCP, 7001)); // b is in prod
                                                               // `selector` without namespaceSelector in a namespaced policy: same namespace only.
    assert!(!allowed(&b, &ir, "prod/b", "prod/a", Protocol::Udp, 5)); // notNets
    assert!(!allowed(&b, &ir, "dev/c", "prod/a", Protocol::Udp, 5)); // other namespace
    assert!(allowed(&b, &ir, "dev/c", "prod/a", Protocol::Icmp, 0));
}

#[test]
fn host_endpoints_failsafe_and_global() {
    let (b, ir) = setup(
        "host",
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: lock-node }
spec:
  selector: role == 'node'
  ingress: [ { action: Deny } ]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: from-nodes }
spec:
  selector: app == 'b'
  ingress:
    - { action: Allow, source: { namespaceSelector: global(), selector: role == 'node' } }
",
    );
    assert!(allowed(&b, &ir, "203.0.113.5", "node", TCP, 22));
    assert!(allowed(&b, &ir, "203.0.113.5", "node", TCP, 6443));
    assert!(!allowed(&b, &ir, "203.0.113.5", "node", TCP, 80));
    let e = verdict(&b, &ir, "203.0.113.5", "node", TCP, 179);
    assert_eq!(e.steps[0].outcome, Outcome::Failsafe);
    // The node's address is in the set `global()` selects.
    assert!(allowed(&b, &ir, "node", "prod/b", TCP, 80));
    assert!(!allowed(&b, &ir, "prod/a", "prod/b", TCP, 80));
}
