//! Endpoints of other hosts (`Bundle::remote_workloads`, `Bundle::remote_hosts`): their
//! addresses fill the sets that rule selectors name, scoped as local endpoints are
//! (namespace, namespace selectors), but no policy chain or interface entry is made
//! for them.

use std::path::Path;

use acl::{Bundle, CompileOptions, HostEndpoint, WorkloadEndpoint};

const POLICIES: &str = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: web-from-clients }
spec:
  selector: app == 'web'
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: TCP
      source: { selector: app == 'client' }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: db-from-shop, namespace: shop }
spec:
  selector: app == 'db'
  types: [Ingress]
  ingress:
    - action: Allow
      source: { selector: role == 'api' }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: web-from-nodes }
spec:
  selector: app == 'web'
  types: [Ingress]
  ingress:
    - action: Allow
      source: { selector: role == 'node' }
";

fn wep(name: &str, ns: &str, iface: &str, ip: &str, labels: &[(&str, &str)]) -> WorkloadEndpoint {
    WorkloadEndpoint {
        name: name.into(),
        namespace: ns.into(),
        interface: iface.into(),
        ips: vec![ip.parse().expect("net")],
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn bundle() -> Bundle {
    let mut b = acl::loader::load_str(Path::new("p.yaml"), POLICIES).expect("policies load");
    b.workloads = vec![
        wep(
            "web",
            "shop",
            "ternweb",
            "10.244.1.10/32",
            &[("app", "web")],
        ),
        wep("db", "shop", "terndb", "10.244.1.11/32", &[("app", "db")]),
    ];
    b
}

/// The members of the set whose origin mentions `selector`.
fn set_of(ir: &acl::Ir, selector: &str) -> Vec<String> {
    ir.addr_sets
        .values()
        .filter(|s| s.origin.contains(selector))
        .flat_map(|s| s.nets.iter().map(ToString::to_string))
        .collect()
}

#[test]
fn remote_workloads_fill_selector_sets_but_get_no_chains() {
    let mut b = bundle();
    let ir = acl::compile(&b, &CompileOptions::default());
    assert!(set_of(&ir, "app == 'client'").is_empty());

    b.remote_workloads = vec![
        // A client on another host: selected by the global policy's source.
        wep(
            "c1",
            "other",
            "ternc1",
            "10.244.2.5/32",
            &[("app", "client")],
        ),
        // An api in `shop` on another host: a source of shop's policy…
        wep(
            "api",
            "shop",
            "ternapi",
            "10.244.2.6/32",
            &[("role", "api")],
        ),
        // …but not one in another namespace.
        wep(
            "api",
            "elsewhere",
            "ternapi2",
            "10.244.2.7/32",
            &[("role", "api")],
        ),
        // A remote `web`: the policy selects it, but it is enforced on its own host.
        wep(
            "web2",
            "shop",
            "ternweb2",
            "10.244.2.8/32",
            &[("app", "web")],
        ),
    ];
    b.remote_hosts = vec![HostEndpoint {
        name: "host-b-eth0".into(),
        interface: "eth0".into(),
        expected_ips: vec!["192.0.2.2".parse().expect("ip")],
        labels: [("role".to_string(), "node".to_string())].into(),
    }];
    let ir = acl::compile(&b, &CompileOptions::default());
    assert_eq!(set_of(&ir, "app == 'client'"), ["10.244.2.5/32"]);
    assert_eq!(set_of(&ir, "role == 'api'"), ["10.244.2.6/32"]);
    assert_eq!(set_of(&ir, "role == 'node'"), ["192.0.2.2/32"]);
    let ifaces: Vec<&str> = ir.endpoints.iter().map(|e| e.interface.as_str()).collect();
    assert_eq!(
        ifaces,
        ["terndb", "ternweb"],
        "only local endpoints get chains"
    );

    // Rendered, the remote addresses are set elements and no remote interface appears.
    let text = acl::render_text(&ir, acl::Backend::Nftables);
    assert!(text.contains("10.244.2.5"), "{text}");
    for remote in ["ternc1", "ternapi", "ternweb2", "\"eth0\""] {
        assert!(!text.contains(remote), "{remote} in\n{text}");
    }
}

#[test]
fn a_remote_endpoint_with_a_local_interface_name_changes_nothing_local() {
    let b = bundle();
    let before = acl::compile(&b, &CompileOptions::default());
    let mut with = b.clone();
    // Another host's veth may have the same name as one here: it must not take over.
    with.remote_workloads = vec![wep(
        "other-web",
        "shop",
        "ternweb",
        "10.244.2.9/32",
        &[("app", "other")],
    )];
    let after = acl::compile(&with, &CompileOptions::default());
    assert_eq!(before.endpoints, after.endpoints);
    assert_eq!(before.chains, after.chains);
}
