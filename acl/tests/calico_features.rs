//! Calico policy features beyond selectors and ports, through `explain`: service accounts
//! (`serviceAccountSelector`, `serviceAccounts` in rules) and what tern refuses with a
//! message that says why (HTTP matches, domains, Services, preDNAT and friends).

use std::path::Path;

use acl::explain::{explain, Outcome, Packet};
use acl::loader::load_str;
use acl::model::Action::Allow;
use acl::model::Protocol;
use acl::{compile, Bundle, CompileOptions, Ir};

const ENDPOINTS: &str = "
apiVersion: v1
kind: ServiceAccount
metadata: { name: api, namespace: shop, labels: { team: payments } }
secrets: [ { name: api-token } ]
---
kind: WorkloadEndpoint
name: api
namespace: shop
interface: wapi
ips: [10.0.0.1/32]
serviceAccount: api
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: { name: batch, namespace: shop }
spec:
  interfaceName: wbatch
  ipNetworks: [10.0.0.2/32]
  serviceAccountName: batch
---
kind: WorkloadEndpoint
name: db
namespace: shop
interface: wdb
ips: [10.0.0.3/32]
labels: { app: db }
";

fn setup(policy: &str) -> (Bundle, Ir) {
    let text = format!("{ENDPOINTS}\n---\n{policy}");
    let b = load_str(Path::new("t.yaml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let ir = compile(&b, &CompileOptions::default());
    (b, ir)
}

fn last(b: &Bundle, ir: &Ir, src: &str, dst: &str) -> Outcome {
    let e = explain(
        b,
        ir,
        &Packet {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol: Protocol::Tcp,
            sport: 40000,
            dport: 5432,
            icmp_type: 8,
            icmp_code: 0,
        },
    );
    e.steps.last().expect("a step").outcome.clone()
}

fn allow(policy: &str, index: usize) -> Outcome {
    Outcome::Rule {
        policy: policy.into(),
        index,
        action: Allow,
    }
}

#[test]
fn service_account_names_and_labels_select_sources() {
    let by_name = "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: db, namespace: shop }
spec:
  selector: app == 'db'
  ingress:
  - action: Allow
    source: { serviceAccounts: { names: [batch] } }
";
    let (b, ir) = setup(by_name);
    assert_eq!(last(&b, &ir, "10.0.0.2", "10.0.0.3"), allow("shop/db", 0));
    assert_eq!(last(&b, &ir, "10.0.0.1", "10.0.0.3"), Outcome::DefaultDeny);
    // By the account's labels (from the ServiceAccount document).
    let (b, ir) = setup(&by_name.replace("names: [batch]", "selector: team == 'payments'"));
    assert_eq!(last(&b, &ir, "10.0.0.1", "10.0.0.3"), allow("shop/db", 0));
    assert_eq!(last(&b, &ir, "10.0.0.2", "10.0.0.3"), Outcome::DefaultDeny);
}

#[test]
fn service_account_selector_picks_the_endpoints_a_policy_applies_to() {
    let (b, ir) = setup(
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: payments-in }
spec:
  serviceAccountSelector: team == 'payments'
  ingress:
  - action: Allow
    source: { nets: [10.0.0.3/32] }
",
    );
    // api runs as a payments account: under policy.
    assert_eq!(
        last(&b, &ir, "10.0.0.3", "10.0.0.1"),
        allow("payments-in", 0)
    );
    assert_eq!(last(&b, &ir, "10.0.0.2", "10.0.0.1"), Outcome::DefaultDeny);
    // batch does not: no policy selects it.
    assert_eq!(last(&b, &ir, "10.0.0.1", "10.0.0.2"), Outcome::NoPolicy);
}

fn err(text: &str) -> String {
    let e = load_str(Path::new("t.yaml"), text).expect_err("must fail");
    let v: Vec<String> = e.located().iter().map(ToString::to_string).collect();
    assert_eq!(v.len(), 1, "{v:?}");
    v[0].clone()
}

const GNP: &str =
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: a}\nspec:\n";

#[test]
fn l7_dns_and_service_matches_are_refused_saying_why() {
    let e = err(&format!(
        "{GNP}  ingress:\n  - action: Allow\n    http: {{methods: [GET]}}\n"
    ));
    assert!(
        e.starts_with("t.yaml:7:11: spec.ingress[0].http: not supported by tern: HTTP matches (methods, paths) need an L7 proxy"),
        "{e}"
    );
    let e = err(&format!(
        "{GNP}  egress:\n  - action: Allow\n    destination: {{domains: [example.com]}}\n"
    ));
    assert!(
        e.starts_with("t.yaml:7:28: spec.egress[0].destination.domains: not supported by tern: domain names in policy need DNS snooping"),
        "{e}"
    );
    let e = err(&format!(
        "{GNP}  egress:\n  - action: Allow\n    destination: {{services: {{name: kubernetes, namespace: default}}}}\n"
    ));
    assert!(
        e.contains("destination.services: not supported by tern: matching a Kubernetes Service needs its endpoints"),
        "{e}"
    );
}

#[test]
fn pre_dnat_is_spelled_as_calico_spells_it() {
    let b = load_str(
        Path::new("t.yaml"),
        &format!("{GNP}  preDNAT: false\n  applyOnForward: false\n  doNotTrack: false\n"),
    )
    .expect("false is accepted");
    assert_eq!(b.policies.len(), 1);
}

#[test]
fn staged_policies_are_evaluated_apart_and_never_enforced() {
    let (b, ir) = setup(
        "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: db, namespace: shop }
spec:
  selector: app == 'db'
  ingress: [ { action: Allow } ]
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: { name: db, namespace: shop }
spec:
  stagedAction: Delete
---
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: { name: db-closed, namespace: shop }
spec:
  podSelector: { matchLabels: { app: db } }
  policyTypes: [Ingress]
",
    );
    assert_eq!(b.staged.len(), 2);
    assert_eq!(b.warnings.len(), 2);
    // Enforced: the Calico policy allows.
    assert_eq!(last(&b, &ir, "10.0.0.1", "10.0.0.3"), allow("shop/db", 0));
    // Staged: the Calico policy deleted, the Kubernetes one (no rules) in force.
    let s = acl::explain::with_staged(&b).expect("staged");
    let sir = compile(&s, &CompileOptions::default());
    assert_eq!(last(&s, &sir, "10.0.0.1", "10.0.0.3"), Outcome::DefaultDeny);
    let e = err(&format!("{GNP}  stagedAction: Set\n"));
    assert!(e.contains("stagedAction is for StagedNetworkPolicy"), "{e}");
}
