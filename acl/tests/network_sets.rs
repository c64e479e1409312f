//! `NetworkSet` / `GlobalNetworkSet` as Calico evaluates them, through `explain`: a set's
//! nets are selectable by its labels like an endpoint's addresses (namespaced sets in
//! their namespace, global sets by global policies and `namespaceSelector: global()`),
//! and a selector or notSelector naming a set that does not exist behaves as an empty
//! set: `selector` matches nothing, `notSelector` matches everything.

use std::path::Path;

use acl::explain::{explain, Outcome, Packet};
use acl::loader::load_str;
use acl::model::Protocol;
use acl::{compile, Bundle, CompileOptions, Ir};

const ENDPOINTS: &str = "
kind: WorkloadEndpoint
name: app
namespace: mon
interface: wapp
ips: [10.0.0.1/32, 'fd00::1/128']
labels: { app: exporter }
---
kind: WorkloadEndpoint
name: other
namespace: shop
interface: wother
ips: [10.0.0.2/32]
labels: { app: exporter }
";

const PROMETHEUS: &str = "
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: prometheus
  labels: { role: prometheus }
spec:
  nets: [198.51.100.0/28, '2001:db8:9::/64']
";

const SCRAPERS: &str = "
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata:
  name: scrapers
  namespace: mon
  labels: { role: scraper }
spec:
  nets: [203.0.113.7/32]
";

/// As in Calico's documentation: only the Prometheus network may scrape, everything else
/// on the metrics port is denied.
const GNP: &str = "
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: metrics-from-prometheus }
spec:
  selector: app == 'exporter'
  ingress:
  - action: Allow
    protocol: TCP
    source: { selector: role == 'prometheus' }
    destination: { ports: [9100] }
  - action: Deny
    protocol: TCP
    source: { notSelector: role == 'prometheus' }
    destination: { ports: [9100] }
  - action: Allow
";

fn setup(docs: &[&str]) -> (Bundle, Ir) {
    let text = docs.join("\n---\n");
    let b = load_str(Path::new("t.yaml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let ir = compile(&b, &CompileOptions::default());
    (b, ir)
}

fn check(b: &Bundle, ir: &Ir, src: &str, dst: &str, port: u16) -> Outcome {
    let e = explain(
        b,
        ir,
        &Packet {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol: Protocol::Tcp,
            sport: 40000,
            dport: port,
            icmp_type: 8,
            icmp_code: 0,
        },
    );
    e.steps.last().expect("a step").outcome.clone()
}

fn rule(policy: &str, index: usize, action: acl::model::Action) -> Outcome {
    Outcome::Rule {
        policy: policy.into(),
        index,
        action,
    }
}

use acl::model::Action::{Allow, Deny};

#[test]
fn a_global_set_is_a_source_for_a_global_policy() {
    let (b, ir) = setup(&[ENDPOINTS, PROMETHEUS, GNP]);
    assert_eq!(b.network_sets.len(), 1);
    let p = "metrics-from-prometheus";
    assert_eq!(
        check(&b, &ir, "198.51.100.5", "10.0.0.1", 9100),
        rule(p, 0, Allow)
    );
    assert_eq!(
        check(&b, &ir, "2001:db8:9::5", "fd00::1", 9100),
        rule(p, 0, Allow)
    );
    assert_eq!(
        check(&b, &ir, "198.51.100.20", "10.0.0.1", 9100),
        rule(p, 1, Deny)
    );
    assert_eq!(
        check(&b, &ir, "198.51.100.20", "10.0.0.1", 80),
        rule(p, 2, Allow)
    );
}

#[test]
fn a_missing_set_selects_nothing_and_its_negation_everything() {
    // As Calico: the allow never matches, the notSelector deny matches every source.
    let (b, ir) = setup(&[ENDPOINTS, GNP]);
    let p = "metrics-from-prometheus";
    assert_eq!(
        check(&b, &ir, "198.51.100.5", "10.0.0.1", 9100),
        rule(p, 1, Deny)
    );
    assert_eq!(
        check(&b, &ir, "10.0.0.2", "10.0.0.1", 9100),
        rule(p, 1, Deny)
    );
    assert_eq!(
        check(&b, &ir, "198.51.100.5", "10.0.0.1", 80),
        rule(p, 2, Allow)
    );
}

#[test]
fn namespaced_sets_are_seen_from_their_namespace_and_by_namespace_selectors() {
    let allow_scrapers = |ns: &str, extra: &str| {
        format!(
            "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {{ name: scrape, namespace: {ns} }}
spec:
  selector: app == 'exporter'
  ingress:
  - action: Allow
    source: {{ selector: role == 'scraper'{extra} }}
"
        )
    };
    // Same namespace: the set's nets are the source.
    let (b, ir) = setup(&[ENDPOINTS, SCRAPERS, &allow_scrapers("mon", "")]);
    assert_eq!(
        check(&b, &ir, "203.0.113.7", "10.0.0.1", 80),
        rule("mon/scrape", 0, Allow)
    );
    // Another namespace's policy does not see it...
    let (b, ir) = setup(&[ENDPOINTS, SCRAPERS, &allow_scrapers("shop", "")]);
    assert_eq!(
        check(&b, &ir, "203.0.113.7", "10.0.0.2", 80),
        Outcome::DefaultDeny
    );
    // ...unless a namespace selector names the set's namespace.
    let (b, ir) = setup(&[
        ENDPOINTS,
        SCRAPERS,
        &allow_scrapers(
            "shop",
            ", namespaceSelector: projectcalico.org/name == 'mon'",
        ),
    ]);
    assert_eq!(
        check(&b, &ir, "203.0.113.7", "10.0.0.2", 80),
        rule("shop/scrape", 0, Allow)
    );
    // A global set is outside every namespace: only `global()` reaches it from a
    // namespaced policy.
    let prom = |ns_sel: &str| {
        format!(
            "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {{ name: prom, namespace: mon }}
spec:
  selector: app == 'exporter'
  ingress:
  - action: Allow
    source: {{ selector: role == 'prometheus'{ns_sel} }}
"
        )
    };
    let (b, ir) = setup(&[ENDPOINTS, PROMETHEUS, &prom("")]);
    assert_eq!(
        check(&b, &ir, "198.51.100.5", "10.0.0.1", 80),
        Outcome::DefaultDeny
    );
    let (b, ir) = setup(&[
        ENDPOINTS,
        PROMETHEUS,
        &prom(", namespaceSelector: global()"),
    ]);
    assert_eq!(
        check(&b, &ir, "198.51.100.5", "10.0.0.1", 80),
        rule("mon/prom", 0, Allow)
    );
}

#[test]
fn network_set_documents_are_checked() {
    let err = |text: &str| {
        load_str(Path::new("t.yaml"), text)
            .expect_err("must fail")
            .located()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        err("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: a}\nspec:\n  nets: [10.0.0.0/33]\n"),
        ["t.yaml:5:10: spec.nets[0]: bad CIDR `10.0.0.0/33`"]
    );
    let e = err("apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata: {name: a, namespace: x}\nspec:\n  allowedEgressDomains: [example.com]\n");
    assert!(e[0].starts_with("t.yaml:5:25: spec.allowedEgressDomains: not supported by tern: domain names in policy need DNS snooping"), "{e:?}");
    let e = err("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: a, namespace: x}\n");
    assert!(
        e[0].contains("a GlobalNetworkSet has no namespace"),
        "{e:?}"
    );
    let e = err("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: a}\n---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: a}\n");
    assert!(
        e[0].contains("GlobalNetworkSet a is already defined"),
        "{e:?}"
    );
}
