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
            ],
            tls: None,
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
    assert!(
        e[0].starts_with("n.yaml:5:14: datastore.endpoints: mixes http:// and https://"),
        "{e:?}"
    );
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
        e[0].starts_with("n.yaml:6:15: datastore.caCertFile: TLS files need https:// endpoints"),
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

/// A scratch folder with `ca.pem`, `client.pem`, `client-key.pem` (PEM-shaped text; the
/// config checks only that they are readable PEM files) and `junk.pem`.
fn tls_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tern-config-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    for f in ["ca.pem", "client.pem"] {
        std::fs::write(
            d.join(f),
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
    }
    std::fs::write(
        d.join("client-key.pem"),
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(d.join("junk.pem"), "not a certificate\n").unwrap();
    d
}

#[test]
fn etcd_over_tls_takes_readable_pem_files_relative_to_the_config() {
    let d = tls_dir("ok");
    let text = "nodeName: a\nrouterId: 192.0.2.1\ndatastore:\n  type: etcd\n  endpoints: [https://10.0.0.1:2379, https://etcd-1.lan:2379]\n  caCertFile: ca.pem\n  certFile: client.pem\n  keyFile: client-key.pem\n";
    let c = NodeConfig::from_str(&d.join("n.yaml"), text).unwrap();
    assert_eq!(
        c.datastore,
        Datastore::Etcd {
            endpoints: vec![
                "https://10.0.0.1:2379".into(),
                "https://etcd-1.lan:2379".into()
            ],
            tls: Some(EtcdTls {
                ca_cert_file: d.join("ca.pem"),
                cert_file: Some(d.join("client.pem")),
                key_file: Some(d.join("client-key.pem")),
            }),
        }
    );
    // Server authentication only: the CA alone.
    let text = format!(
        "nodeName: a\nrouterId: 192.0.2.1\ndatastore: {{ type: etcd, endpoints: [https://10.0.0.1:2379], caCertFile: {} }}\n",
        d.join("ca.pem").display()
    );
    let c = load(&text).unwrap();
    assert!(matches!(
        c.datastore,
        Datastore::Etcd {
            tls: Some(EtcdTls {
                cert_file: None,
                ..
            }),
            ..
        }
    ));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_tls_files_are_located() {
    let d = tls_dir("bad");
    let f = |n: &str| d.join(n).display().to_string();
    let head = "nodeName: a\nrouterId: 192.0.2.1\ndatastore:\n  type: etcd\n  endpoints: [https://10.0.0.1:2379]\n";
    // https without a CA.
    let e = load(head).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("n.yaml:4:3: datastore: https:// endpoints need `caCertFile`"),
        "{e:?}"
    );
    // A missing CA, a file that is not PEM, a certificate without its key.
    let text = format!(
        "{head}  caCertFile: {}\n  certFile: {}\n",
        f("missing.pem"),
        f("junk.pem")
    );
    let e = load(&text).unwrap_err();
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(
        e[0].starts_with("n.yaml:6:15: datastore.caCertFile: cannot read"),
        "{e:?}"
    );
    assert!(e[0].contains("missing.pem"), "{e:?}");
    assert!(
        e[1].starts_with("n.yaml:7:13: datastore.certFile: "),
        "{e:?}"
    );
    assert!(e[1].contains("junk.pem is not a PEM file"), "{e:?}");
    assert!(
        e[2].starts_with("n.yaml:7:13: datastore.certFile: needs `keyFile`"),
        "{e:?}"
    );
    // A key without its certificate; a folder as the CA.
    let text = format!(
        "{head}  caCertFile: {}\n  keyFile: {}\n",
        d.display(),
        f("client-key.pem")
    );
    let e = load(&text).unwrap_err();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].contains("datastore.caCertFile: ") && e[0].contains("is not a regular file"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("n.yaml:7:12: datastore.keyFile: needs `certFile`"),
        "{e:?}"
    );
    // TLS files in files mode.
    let e = load(&format!(
        "nodeName: a\nrouterId: 192.0.2.1\nasNumber: 1\ndatastore: {{ type: files, caCertFile: {} }}\n",
        f("ca.pem")
    ))
    .unwrap_err();
    assert!(
        e[0].contains("datastore.caCertFile: only for `type: etcd`"),
        "{e:?}"
    );
    std::fs::remove_dir_all(&d).unwrap();
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
