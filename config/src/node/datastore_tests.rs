//! Unit tests of the `datastore` key (files or etcd), `labels`, and `asNumber` being
//! optional only in etcd mode; each error with its exact `LINE:COL`.

use std::path::Path;

use super::*;

fn load(text: &str) -> Result<NodeConfig, Vec<String>> {
    NodeConfig::from_str(Path::new("n.yaml"), text)
        .map_err(|e| e.iter().map(ToString::to_string).collect())
}

#[test]
fn files_is_the_default_and_needs_as_number() {
    let c = load("nodeName: a\nasNumber: 64512\nrouterId: 192.0.2.1\n").unwrap();
    assert_eq!(c.datastore, Datastore::Files);
    assert!(c.as_number_given);
    let e = load("nodeName: a\nrouterId: 192.0.2.1\n").unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("n.yaml:1:1: asNumber: missing"), "{e:?}");
    let e = load("nodeName: a\nrouterId: 192.0.2.1\ndatastore: { type: files }\n").unwrap_err();
    assert!(e[0].contains("asNumber: missing"), "{e:?}");
}

#[test]
fn etcd_mode_needs_only_name_address_and_datastore() {
    let c = load(
        "nodeName: a\nrouterId: 192.0.2.1\ndatastore:\n  type: etcd\n  endpoints: [http://10.0.0.1:2379, \"http://[fd00::1]:2379/\", http://etcd-0.lan:2379]\nlabels: { rack: r1 }\n",
    )
    .unwrap();
    assert_eq!(
        c.datastore,
        Datastore::Etcd {
            endpoints: vec![
                "http://10.0.0.1:2379".into(),
                "http://[fd00::1]:2379/".into(),
                "http://etcd-0.lan:2379".into()
            ]
        }
    );
    assert!(!c.as_number_given);
    assert_eq!(c.as_number, 0);
    assert_eq!(c.labels.get("rack").map(String::as_str), Some("r1"));
    // An AS in the file is kept; peers and blocks are still allowed.
    let c = load(
        "nodeName: a\nasNumber: 65001\nrouterId: 192.0.2.1\ndatastore: { type: etcd, endpoints: [http://10.0.0.1:2379] }\nblocks: [10.1.0.0/26]\npools: [10.1.0.0/16]\npeers: [{ peerIP: 192.0.2.9, asNumber: 65000 }]\n",
    )
    .unwrap();
    assert!(c.as_number_given);
    assert_eq!(c.as_number, 65001);
    assert_eq!(c.peers.len(), 1);
}

#[test]
fn bad_datastores_are_located() {
    let head = "nodeName: a\nrouterId: 192.0.2.1\n";
    let e = load(&format!("{head}datastore: {{ type: etcd }}\n")).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("n.yaml:3:12: datastore: `type: etcd` needs `endpoints`"),
        "{e:?}"
    );
    let e = load(&format!(
        "{head}datastore:\n  type: etcd\n  endpoints: [http://10.0.0.1:2379, https://10.0.0.2:2379, 10.0.0.3:2379]\n"
    ))
    .unwrap_err();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("n.yaml:5:37: datastore.endpoints[1]: `https://10.0.0.2:2379`: TLS to etcd is not supported yet"), "{e:?}");
    assert!(
        e[1].starts_with(
            "n.yaml:5:60: datastore.endpoints[2]: `10.0.0.3:2379` is not an etcd client URL"
        ),
        "{e:?}"
    );
    let e = load(&format!(
        "{head}datastore:\n  type: etcd\n  endpoints: [http://10.0.0.1:2379]\n  caCertFile: /etc/ca.pem\n"
    ))
    .unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("n.yaml:6:15: datastore.caCertFile: TLS to etcd is not supported yet"),
        "{e:?}"
    );
    let e = load(&format!("{head}datastore: {{ type: consul }}\n")).unwrap_err();
    assert!(e[0].starts_with("n.yaml:3:"), "{e:?}");
    assert!(e[0].contains("files") && e[0].contains("etcd"), "{e:?}");
    let e = load(&format!(
        "{head}asNumber: 1\ndatastore: {{ type: files, endpoints: [http://10.0.0.1:2379] }}\n"
    ))
    .unwrap_err();
    assert!(
        e[0].contains("datastore.endpoints: only for `type: etcd`"),
        "{e:?}"
    );
    let e = load(&format!(
        "{head}datastore: {{ type: etcd, endpoints: [http://a:1], tls: {{}} }}\n"
    ))
    .unwrap_err();
    assert!(e[0].starts_with("n.yaml:3:"), "{e:?}");
}

#[test]
fn ipv6_address_is_checked() {
    let head = "nodeName: a\nrouterId: 192.0.2.1\ndatastore: { type: etcd, endpoints: [http://10.0.0.1:2379] }\n";
    let c = load(&format!("{head}ipv6Address: fd00:1::1\n")).unwrap();
    assert_eq!(c.ipv6_address, Some("fd00:1::1".parse().unwrap()));
    let e = load(&format!("{head}ipv6Address: fe80::1\n")).unwrap_err();
    assert!(
        e[0].starts_with("n.yaml:4:14: ipv6Address: fe80::1 is not a usable BGP address"),
        "{e:?}"
    );
    assert!(load(&format!("{head}ipv6Address: 10.0.0.1\n")).is_err());
}
