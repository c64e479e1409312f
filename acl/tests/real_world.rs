//! Policy YAML as users already have it: `kubectl get -o yaml` dumps (lists, server-set
//! metadata, `status`), manifests that mix policies with other kinds, Calico's own
//! `HostEndpoint` / `WorkloadEndpoint`, retired API versions, string orders, bad labels.

use std::path::{Path, PathBuf};

use acl::loader::load_str;
use acl::{load_paths, LoadError};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn errors(e: LoadError) -> Vec<String> {
    e.located().iter().map(ToString::to_string).collect()
}

fn load_err(text: &str) -> Vec<String> {
    errors(load_str(Path::new("t.yaml"), text).expect_err("must fail"))
}

#[test]
fn a_kubectl_dump_of_networkpolicies_loads() {
    let f = data("kubectl-networkpolicies.yaml");
    let b = load_paths(std::slice::from_ref(&f)).expect("loads");
    let ids: Vec<String> = b.policies.iter().map(|p| p.id.to_string()).collect();
    assert_eq!(
        ids,
        [
            "knp.shop/default-deny-ingress",
            "knp.shop/api-allow-web",
            "knp.kube-system/allow-dns-egress"
        ]
    );
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
}

#[test]
fn errors_inside_list_items_are_located_in_the_file() {
    let text = std::fs::read_to_string(data("kubectl-networkpolicies.yaml")).expect("read");
    // Line 68 holds `port: 8080` of the second item.
    let bad = text.replace("      - port: 8080", "      - port: 80800");
    assert_ne!(bad, text);
    assert_eq!(
        load_err(&bad),
        ["t.yaml:68:15: spec.ingress[0].ports[0].port: bad port `80800` (expected 0-65535 or a:b)"]
    );
    // An unknown field inside an item: serde's message, at the item's line.
    let bad = text.replace(
        "    podSelector: {}\n    policyTypes:\n    - Egress",
        "    podSelector: {}\n    policyTypo:\n    - Egress",
    );
    let e = load_err(&bad);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("t.yaml:106:5: "), "{e:?}");
    assert!(e[0].contains("policyTypo"), "{e:?}");
}

#[test]
fn other_kinds_in_a_manifest_are_skipped_with_located_warnings() {
    let f = data("mixed-manifest.yaml");
    let b = load_paths(std::slice::from_ref(&f)).expect("loads");
    assert_eq!(b.policies.len(), 1);
    let w: Vec<String> = b.warnings.iter().map(ToString::to_string).collect();
    let file = f.display();
    assert_eq!(
        w,
        [
            format!("{file}:3:7: kind: Deployment (apps/v1) skipped: not a policy kind"),
            format!("{file}:23:7: kind: Service (v1) skipped: not a policy kind"),
            format!("{file}:46:7: kind: ConfigMap (v1) skipped: not a policy kind"),
        ]
    );
}

#[test]
fn a_typo_in_a_calico_kind_is_still_an_error() {
    let e = load_err(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolcy\nmetadata: {name: a}\n",
    );
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("t.yaml:2:7: kind: unknown kind `GlobalNetworkPolcy`"),
        "{e:?}"
    );
}

#[test]
fn retired_and_internal_api_versions_say_what_to_write() {
    for api in ["extensions/v1beta1", "networking.k8s.io/v1beta1"] {
        let e = load_err(&format!(
            "apiVersion: {api}\nkind: NetworkPolicy\nmetadata: {{name: a}}\nspec:\n  podSelector: {{}}\n"
        ));
        assert_eq!(
            e,
            [format!("t.yaml:1:13: apiVersion: API version {api} is retired; use networking.k8s.io/v1 (the spec is the same)")]
        );
    }
    let e = load_err("apiVersion: crd.projectcalico.org/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: default.a}\nspec: {}\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(
            "t.yaml:1:13: apiVersion: `crd.projectcalico.org/v1` is Calico's internal storage form"
        ),
        "{e:?}"
    );
}

#[test]
fn order_may_be_a_string() {
    let b = load_str(
        Path::new("t.yaml"),
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: a}\nspec:\n  order: \"10\"\n",
    )
    .expect("loads");
    assert_eq!(b.policies[0].order, Some(10.0));
    let e = load_err("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: a}\nspec:\n  order: ten\n");
    assert_eq!(
        e,
        ["t.yaml:5:10: spec.order: order must be a finite number"]
    );
}

#[test]
fn invalid_label_keys_and_values_are_refused_where_written() {
    let e = load_err("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector:\n    matchLabels:\n      app@b: x\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(
            "t.yaml:7:14: spec.podSelector.matchLabels.app@b: invalid label key `app@b`"
        ),
        "{e:?}"
    );
    let e = load_err("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector:\n    matchLabels:\n      app: $backendservice\n");
    assert!(
        e[0].contains("invalid label value `$backendservice`"),
        "{e:?}"
    );
    let e = load_err("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector:\n    matchExpressions:\n    - {key: 'a b', operator: Exists}\n");
    assert!(
        e[0].starts_with(
            "t.yaml:7:13: spec.podSelector.matchExpressions[0].key: invalid label key"
        ),
        "{e:?}"
    );
    let e = load_err("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: a\n  namespace: <namespace>\nspec:\n  podSelector: {}\n");
    assert!(
        e[0].starts_with("t.yaml:5:14: metadata.namespace: invalid namespace `<namespace>`"),
        "{e:?}"
    );
}

#[test]
fn calico_host_and_workload_endpoints_are_read() {
    let b = load_str(
        Path::new("t.yaml"),
        "apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: node1-eth0
  labels: {role: ingress}
spec:
  node: node1
  interfaceName: eth0
  expectedIPs: [192.0.2.10]
  profiles: [projectcalico-default-allow]
---
kind: HostEndpoint
name: node1-eth1
interface: eth1
expectedIPs: [192.0.2.11]
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: node1-k8s-web-eth0
  namespace: shop
  labels: {app: web}
spec:
  node: node1
  orchestrator: k8s
  pod: web
  endpoint: eth0
  interfaceName: cali0a1b2c3d4e5
  ipNetworks: [10.65.3.4/32]
  ports:
  - {name: http, port: 8080, protocol: TCP}
",
    )
    .expect("loads");
    assert_eq!(b.hosts.len(), 2);
    assert_eq!(b.hosts[0].interface, "eth0");
    assert_eq!(b.hosts[0].labels["role"], "ingress");
    assert_eq!(b.workloads[0].key(), "shop/node1-k8s-web-eth0");
    assert_eq!(b.named_ports["shop/node1-k8s-web-eth0"][0].port, 8080);
    let e = load_err("apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {name: h}\nspec:\n  interfaceName: '*'\n");
    assert_eq!(
        e,
        ["t.yaml:5:18: spec.interfaceName: not supported by tern: `*` (all interfaces); name one"]
    );
}
