//! Unit tests: every kind loads, every kind of mistake is located, and the stored
//! JSON form reads back to the same resource.

use std::path::Path;

use crate::{load_text, Kind, Resource, Spec};

fn load(text: &str) -> Vec<Resource> {
    load_text(Path::new("r.yaml"), text).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<String> {
    match load_text(Path::new("r.yaml"), text) {
        Ok(r) => panic!("loaded: {r:?}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

const ALL: &str = r#"apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: host-a, labels: {rack: r1}}
spec:
  bgp: {ipv4Address: 192.0.2.1/24, asNumber: 64512}
  addresses: [{address: 192.0.2.1, type: InternalIP}]
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-a}
spec: {cidr: 10.244.0.0/16, vxlanMode: CrossSubnet, natOutgoing: true, nodeSelector: "rack == 'r1'"}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-6}
spec: {cidr: "fd00:244::/48"}
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64513, nodeToNodeMeshEnabled: false, logSeverityScreen: Info}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor}
spec: {peerIP: 192.0.2.254, asNumber: 65000, nodeSelector: "rack == 'r1'"}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: to-rr}
spec: {peerSelector: "has(route-reflector)"}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: dns, labels: {role: dns}}
spec: {nets: [198.51.100.53, 203.0.113.0/24]}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: partners, namespace: shop}
spec: {nets: [203.0.113.0/24]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: host-a-eth0, labels: {role: node}}
spec: {node: host-a, interfaceName: eth0, expectedIPs: [192.0.2.1]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: host--a-cni-abc-eth0, namespace: shop, labels: {app: web}}
spec: {node: host-a, orchestrator: cni, interfaceName: tern1234, ipNetworks: [10.244.1.10/32]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: allow-web}
spec:
  selector: app == 'web'
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec: {selector: all(), types: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress]}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
"#;

#[test]
fn every_kind_loads_and_round_trips_through_json() {
    let rs = load(ALL);
    let kinds: Vec<Kind> = rs.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::Node,
            Kind::IpPool,
            Kind::IpPool,
            Kind::BgpConfiguration,
            Kind::BgpPeer,
            Kind::BgpPeer,
            Kind::GlobalNetworkSet,
            Kind::NetworkSet,
            Kind::HostEndpoint,
            Kind::WorkloadEndpoint,
            Kind::GlobalNetworkPolicy,
            Kind::NetworkPolicy,
            Kind::KubernetesNetworkPolicy,
            Kind::Namespace,
        ]
    );
    for r in &rs {
        let back = Resource::from_json(&r.to_json()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&back, r);
    }
    let Spec::IpPool(p) = &rs[1].spec else {
        panic!()
    };
    assert_eq!(p.block_size(), 26);
    let Spec::IpPool(p6) = &rs[2].spec else {
        panic!()
    };
    assert_eq!(p6.block_size(), 122);
    let Spec::Node(n) = &rs[0].spec else { panic!() };
    assert_eq!(n.ipv4(), Some("192.0.2.1".parse().unwrap()));
    assert_eq!(n.subnets(), vec!["192.0.2.0/24".parse().unwrap()]);
    let Spec::BgpPeer(peer) = &rs[4].spec else {
        panic!()
    };
    assert_eq!(peer.peer_addr(), Some("192.0.2.254:179".parse().unwrap()));
    // Namespaced kinds get `default`, and policies reach acl's model.
    assert_eq!(rs[7].metadata.namespace.as_deref(), Some("shop"));
    let Spec::Policy(gnp) = &rs[10].spec else {
        panic!()
    };
    assert_eq!(gnp.policy.id.name, "allow-web");
    let Spec::WorkloadEndpoint(w) = &rs[9].spec else {
        panic!()
    };
    let acl_w = w.to_acl(&rs[9].metadata);
    assert_eq!(acl_w.namespace, "shop");
    assert_eq!(acl_w.interface, "tern1234");
}

#[test]
fn server_set_fields_and_status_are_ignored() {
    let rs = load(
        r#"apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: p
  resourceVersion: "1234"
  uid: 0b7c-11
  creationTimestamp: "2024-01-01T00:00:00Z"
  generation: 3
  managedFields: [{manager: calicoctl}]
spec: {cidr: 10.0.0.0/16}
status: {}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g, managedFields: [], uid: x}
spec: {selector: all()}
status: {}
"#,
    );
    assert_eq!(rs[0].metadata.resource_version.as_deref(), Some("1234"));
    let stored: serde_json::Value = serde_json::from_slice(&rs[0].to_json()).unwrap();
    assert_eq!(
        stored["metadata"],
        serde_json::json!({"name": "p"}),
        "nothing server-set is stored"
    );
    assert_eq!(rs.len(), 2);
}

#[test]
fn unknown_field_is_located_with_a_suggestion() {
    let e = errors(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec:\n  cidr: 10.0.0.0/16\n  blocksize: 24\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("r.yaml:6:3: spec: unknown field `blocksize`"),
        "{e:?}"
    );
    assert!(e[0].contains("blockSize"), "{e:?}");
}

#[test]
fn unknown_kind_and_api_version_are_located() {
    let e = errors("apiVersion: projectcalico.org/v3\nkind: Felix\nmetadata: {name: p}\n---\napiVersion: v1\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/8}\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("r.yaml:2:7: kind: unknown kind `Felix`"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("r.yaml:5:13: apiVersion: IPPool needs apiVersion projectcalico.org/v3"),
        "{e:?}"
    );
}

#[test]
fn invalid_values_are_located_at_the_value() {
    let e = errors(
        r#"apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: s}
spec:
  nets:
    - 10.0.0.0/8
    - 10.1.2.3/16
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: p}
spec: {cidr: 10.0.0.0/16, blockSize: 12}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: Bad_Name}
spec: {peerIP: 192.0.2.1, asNumber: 65000}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: q}
spec: {cidr: 10.0.0.0/16, ipipMode: Sometimes}
"#,
    );
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(e[0].starts_with("r.yaml:7:7: spec.nets[1]: `10.1.2.3/16` has host bits set (did you mean `10.1.0.0/16`?)"), "{e:?}");
    assert!(
        e[1].starts_with("r.yaml:12:38: spec.blockSize: block size 12 is out of range"),
        "{e:?}"
    );
    assert!(
        e[2].starts_with("r.yaml:16:18: metadata.name: invalid name `Bad_Name`"),
        "{e:?}"
    );
    assert!(
        e[3].starts_with("r.yaml:22:37: spec.ipipMode: unknown variant `Sometimes`"),
        "{e:?}"
    );
}

#[test]
fn refused_calico_fields_say_why() {
    let e = errors(
        "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: p}\nspec:\n  peerIP: 192.0.2.1\n  asNumber: 65000\n  keepOriginalNextHop: true\n",
    );
    assert!(
        e[0].starts_with("r.yaml:7:24: spec.keepOriginalNextHop: not supported by tern"),
        "{e:?}"
    );
    let e = errors(
        "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: p}\nspec: {peerIP: 192.0.2.1}\n",
    );
    assert!(
        e[0].contains("`asNumber` is required with `peerIP`"),
        "{e:?}"
    );
}

#[test]
fn policy_errors_come_from_acl_with_selector_columns() {
    let e = errors(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\nspec:\n  selector: \"app == \"\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("r.yaml:5:"), "{e:?}");
    assert!(e[0].contains("spec.selector"), "{e:?}");
    let e = errors("apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata: {name: s}\nspec: {nets: [10.0.0.0/8], selector: x}\n");
    assert!(
        e[0].starts_with("r.yaml:4:28: spec: unknown field `selector`"),
        "{e:?}"
    );
}

#[test]
fn namespaces_and_duplicates() {
    let e = errors("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p, namespace: x}\nspec: {cidr: 10.0.0.0/8}\n");
    assert!(
        e[0].contains("metadata.namespace: IPPool is not namespaced"),
        "{e:?}"
    );
    let e = errors("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/8}\n---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.1.0.0/16}\n");
    assert_eq!(
        e,
        vec!["r.yaml:8:18: metadata.name: IPPool p is already defined at line 3"]
    );
}

#[test]
fn syntax_errors_are_located() {
    let e = errors("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p\n");
    assert!(e[0].starts_with("r.yaml:"), "{e:?}");
}

#[test]
fn lists_as_get_prints_them_load_item_by_item() {
    let rs = load(
        r#"apiVersion: projectcalico.org/v3
kind: IPPoolList
items:
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata: {name: a, resourceVersion: "7"}
  spec: {cidr: 10.1.0.0/16}
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata: {name: b}
  spec: {cidr: 10.2.0.0/16}
"#,
    );
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[0].metadata.resource_version.as_deref(), Some("7"));
    let e = errors(
        "apiVersion: projectcalico.org/v3\nkind: IPPoolList\nitems:\n- apiVersion: projectcalico.org/v3\n  kind: IPPool\n  metadata: {name: a}\n  spec: {cidr: 10.1.0.1/16}\n- {apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {name: b}, spec: {cider: x}}\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("r.yaml:7:16: items[0].spec.cidr: `10.1.0.1/16` has host bits set"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("r.yaml:8:3: items[1]: unknown field `cider`"),
        "{e:?}"
    );
}

#[test]
fn endpoints_and_sets_convert_as_the_files_loader_reads_them() {
    let r = load(
        "apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: n1-k8s-web-eth0, namespace: shop, labels: {app: web}}
spec:
  interfaceName: cali1
  ipNetworks: [10.244.1.5/32]
  serviceAccountName: web
  ports: [{name: metrics, port: 9100, protocol: TCP}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: prom, labels: {role: prometheus}}
spec: {nets: [198.51.100.0/28]}
",
    );
    let Spec::WorkloadEndpoint(w) = &r[0].spec else {
        panic!("{:?}", r[0])
    };
    let acl_w = w.to_acl(&r[0].metadata);
    assert_eq!(acl_w.labels["projectcalico.org/serviceaccount"], "web");
    assert_eq!(w.named_ports()[0].port, 9100);
    let Spec::NetworkSet(s) = &r[1].spec else {
        panic!("{:?}", r[1])
    };
    let set = s.to_acl(&r[1].metadata);
    assert_eq!(set.namespace, None);
    assert_eq!(
        set.nets,
        ["198.51.100.0/28".parse::<ipnet::IpNet>().unwrap()]
    );
    assert_eq!(set.labels["role"], "prometheus");
    let e = errors(
        "apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: h}
spec: {interfaceName: eth0, ports: [{name: Bad_Name, port: 1}]}
",
    );
    assert!(e[0].contains("spec.ports[0].name: bad port name"), "{e:?}");
}

#[test]
fn tiers_load_round_trip_and_are_located() {
    let rs = load(
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security, labels: {team: sec}}\nspec: {order: 100, defaultAction: Pass}\n---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: platform}\nspec: {}\n",
    );
    assert_eq!(rs.len(), 2);
    let Spec::Tier(t) = &rs[0].spec else {
        panic!("{rs:?}")
    };
    assert_eq!(t.tier.name, "security");
    assert_eq!(t.tier.order, Some(100.0));
    assert_eq!(t.tier.default_action, acl::tier::TierAction::Pass);
    let Spec::Tier(t) = &rs[1].spec else {
        panic!("{rs:?}")
    };
    assert_eq!(
        (t.tier.order, t.tier.default_action),
        (None, acl::tier::TierAction::Deny)
    );
    for r in &rs {
        assert_eq!(r.kind, Kind::Tier);
        assert_eq!(r.metadata.namespace, None);
        let back = Resource::from_json(&r.to_json()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&back, r);
        assert_eq!(r.to_value()["kind"], "Tier");
    }
    assert_eq!(Kind::from_cli("tiers"), Some(Kind::Tier));
    assert_eq!(Kind::from_cli("Tier"), Some(Kind::Tier));

    let head = "apiVersion: projectcalico.org/v3\nkind: Tier\n";
    let e = errors(&format!(
        "{head}metadata: {{name: sec}}\nspec: {{defaultAction: Allow}}\n"
    ));
    assert!(
        e[0].starts_with("r.yaml:4:")
            && e[0].contains("spec.defaultAction")
            && e[0].contains("Deny or Pass"),
        "{e:?}"
    );
    let e = errors(&format!(
        "{head}metadata: {{name: sec}}\nspec: {{order: 1, types: [Ingress]}}\n"
    ));
    assert!(
        e[0].starts_with("r.yaml:4:") && e[0].contains("types"),
        "{e:?}"
    );
    let e = errors(&format!("{head}metadata: {{name: a.b}}\nspec: {{}}\n"));
    assert!(
        e[0].contains("metadata.name") && e[0].contains("no `.`"),
        "{e:?}"
    );
    let e = errors(&format!(
        "{head}metadata: {{name: default}}\nspec: {{order: 5}}\n"
    ));
    assert!(
        e[0].contains("the default tier keeps order 1000000"),
        "{e:?}"
    );
    let e = errors(&format!(
        "{head}metadata: {{name: sec, namespace: x}}\nspec: {{}}\n"
    ));
    assert!(e[0].contains("metadata.namespace"), "{e:?}");
}

#[test]
fn calicos_mesh_password_and_restart_time_are_refused_with_the_node_file_keys() {
    let head =
        "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\n";
    let e = errors(&format!(
        "{head}spec: {{nodeMeshPassword: {{secretKeyRef: {{name: bgp, key: pw}}}}}}\n"
    ));
    assert!(
        e[0].starts_with("r.yaml:4:")
            && e[0].contains("spec.nodeMeshPassword")
            && e[0].contains("nodeToNodeMesh"),
        "{e:?}"
    );
    let e = errors(&format!("{head}spec: {{nodeMeshMaxRestartTime: 120s}}\n"));
    assert!(
        e[0].contains("spec.nodeMeshMaxRestartTime") && e[0].contains("gracefulRestart"),
        "{e:?}"
    );
}
