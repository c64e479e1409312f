//! etcd over TLS: etcd serves https only and requires client certificates (a CA, a
//! server and a client certificate made with openssl for the lab). Two agents whose
//! node files name the CA, certificate and key (`datastore.caCertFile`, `certFile`,
//! `keyFile`) register and mesh; `tern apply` with the flags and `tern get` with
//! calicoctl's environment (`ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`) work;
//! a wrong CA fails with a message that says the server certificate was not accepted;
//! an unreadable TLS file is a located error (exit 2) for the agent and the CLI.
//!
//! Topology as tests/cluster_etcd.rs (hosts on one bridge, etcd at 10.0.0.1 through
//! 10.1.0.100), with etcd at https://10.0.0.1:2379.

mod cluster_support;
mod cni_support;
mod common;

use cluster_support::*;
use serde_json::Value;
use testlab::etcd::TLS_ENDPOINT;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn agents_and_the_cli_use_etcd_over_tls_with_client_certificates() {
    let mut c = Cluster::new_tls("cl-tls");
    let t = c.etcd.tls.clone().expect("a TLS lab");
    c.apply("pool.yaml", &pool("10.244.0.0/16", 26));
    c.up(2);
    for h in &c.hosts {
        let d = datastore(h);
        assert_eq!(d["connected"], true, "{d}");
        assert_eq!(d["nodes"], 2, "{d}");
    }

    // calicoctl's environment instead of flags.
    let tern = testlab::tern_bin();
    let tern = tern.to_string_lossy().into_owned();
    let env = |ca: &std::path::Path| {
        vec![
            "env".to_string(),
            "DATASTORE_TYPE=etcdv3".into(),
            format!("ETCD_ENDPOINTS={TLS_ENDPOINT}"),
            format!("ETCD_CA_CERT_FILE={}", ca.display()),
            format!("ETCD_CERT_FILE={}", t.cert.display()),
            format!("ETCD_KEY_FILE={}", t.key.display()),
            tern.clone(),
        ]
    };
    let run = |mut argv: Vec<String>, args: &[&str]| {
        argv.extend(args.iter().map(|a| a.to_string()));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        c.etcd.cl.run(&argv)
    };
    let out = run(env(&t.ca), &["get", "nodes", "-o", "json"]);
    assert!(out.status.success(), "tern get: {}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let items = v["items"].as_array().cloned().unwrap_or_default();
    let mut names: Vec<&str> = items
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["h1", "h2"], "{v}");

    // A CA that did not sign etcd's certificate: exit 1 and a message that says so.
    let out = run(env(&t.other_ca), &["get", "nodes"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("UnknownIssuer") && err.contains("not accepted with the CA certificate"),
        "{err}"
    );
    // A flag wins over the environment.
    let out = run(
        env(&t.other_ca),
        &["get", "nodes", "--ca-cert-file", &t.ca.to_string_lossy()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Without a client certificate etcd refuses the connection.
    let out = run(
        vec![
            "env".into(),
            format!("ETCD_ENDPOINTS={TLS_ENDPOINT}"),
            format!("ETCD_CA_CERT_FILE={}", t.ca.display()),
            tern.clone(),
        ],
        &["get", "nodes"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // An unreadable file is bad input: exit 2, the path and why.
    let missing = t.ca.with_file_name("missing-ca.pem");
    let out = run(env(&missing), &["get", "nodes"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("missing-ca.pem") && err.contains("cannot read"),
        "{err}"
    );

    // An agent whose node file names a missing CA does not start: FILE:LINE:COL.
    let node = c.etcd.lab.dir().join("bad-node.yaml");
    std::fs::write(
        &node,
        format!(
            "nodeName: h9\nrouterId: 10.1.0.9\ndatastore:\n  type: etcd\n  endpoints: [\"{TLS_ENDPOINT}\"]\n  caCertFile: \"{}\"\n",
            missing.display()
        ),
    )
    .expect("node file");
    let out = run(
        vec![tern.clone()],
        &["agent", "--config", &node.to_string_lossy()],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:6:15: datastore.caCertFile: cannot read",
            node.display()
        )),
        "{err}"
    );
}
