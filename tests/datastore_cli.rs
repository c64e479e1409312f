//! `tern apply / get / delete / node list` against a real etcd (Debian's etcd-server)
//! in a lab namespace; every command runs inside the lab's client namespace.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use testlab::etcd::EtcdLab;

const TERN: &str = env!("CARGO_BIN_EXE_tern");

fn tern(lab: &EtcdLab, args: &[&str]) -> Output {
    let mut argv = vec![TERN];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--datastore", "etcd", "--endpoints", lab.endpoint()]);
    lab.cl.run(&argv)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(lab: &EtcdLab, args: &[&str]) -> String {
    let out = tern(lab, args);
    assert!(
        out.status.success(),
        "tern {args:?}: {}\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn file(lab: &EtcdLab, name: &str, body: &str) -> PathBuf {
    let p = lab.lab.dir().join(name);
    std::fs::write(&p, body).expect("write file");
    p
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn items(lab: &EtcdLab, kind: &str) -> Vec<Value> {
    let out = ok(lab, &["get", kind, "-A", "-o", "json"]);
    let v: Value = serde_json::from_str(&out).expect("json");
    v["items"].as_array().cloned().unwrap_or_default()
}

const CLUSTER: &str = r#"apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64512, nodeToNodeMeshEnabled: true}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-a}
spec: {cidr: 10.244.0.0/16, blockSize: 26, vxlanMode: Never}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: host-a, labels: {rack: r1}}
spec: {bgp: {ipv4Address: 10.0.0.1/24}}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: host-b, labels: {rack: r2}}
spec: {bgp: {ipv4Address: 10.0.0.2/24, asNumber: 64513}}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor-r1}
spec: {peerIP: 10.0.0.254, asNumber: 65000, nodeSelector: "rack == 'r1'"}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: allow-web}
spec:
  selector: app == 'web'
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: partners, namespace: shop, labels: {role: partner}}
spec: {nets: [203.0.113.0/24]}
"#;

#[test]
fn apply_get_delete_round_trip() {
    let mut lab = EtcdLab::new("ds-rt");
    let f = file(&lab, "cluster.yaml", CLUSTER);
    let out = ok(&lab, &["apply", "-f", s(&f)]);
    assert_eq!(out.matches(": created (revision").count(), 7, "{out}");

    let table = ok(&lab, &["get", "ippools"]);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("pool-a") && l.contains("10.244.0.0/16")),
        "{table}"
    );
    let nodes = ok(&lab, &["node", "list"]);
    assert!(
        nodes.contains("host-a") && nodes.contains("10.0.0.2/24") && nodes.contains("64513"),
        "{nodes}"
    );
    let gnp = items(&lab, "gnp");
    assert_eq!(gnp.len(), 1);
    assert_eq!(gnp[0]["spec"]["selector"], "app == 'web'");
    // Namespaced kinds: the default namespace unless -n / -A.
    assert!(!ok(&lab, &["get", "networksets"]).contains("partners"));
    assert!(ok(&lab, &["get", "netsets", "-n", "shop"]).contains("partners"));
    let wide = ok(&lab, &["get", "bgppeers", "-o", "wide"]);
    assert!(
        wide.contains("10.0.0.254") && wide.contains("rack == 'r1'"),
        "{wide}"
    );

    // What `get -o yaml` prints applies back unchanged (its resourceVersion matches).
    let yaml = ok(&lab, &["get", "ippool", "pool-a", "-o", "yaml"]);
    assert!(yaml.contains("resourceVersion:"), "{yaml}");
    let back = file(&lab, "back.yaml", &yaml);
    let out = ok(&lab, &["apply", "-f", s(&back)]);
    assert!(out.contains("IPPool pool-a: configured"), "{out}");

    // So does a whole list.
    let list = ok(&lab, &["get", "nodes", "-o", "yaml"]);
    assert!(list.contains("kind: NodeList"), "{list}");
    let nodes_file = file(&lab, "nodes.yaml", &list);
    let out = ok(&lab, &["apply", "-f", s(&nodes_file)]);
    assert_eq!(out.matches(": configured").count(), 2, "{out}");

    // calicoctl's environment works as well as the flags.
    let env_out = lab.cl.run(&[
        "env",
        "DATASTORE_TYPE=etcdv3",
        &format!("ETCD_ENDPOINTS={}", lab.endpoint()),
        TERN,
        "get",
        "nodes",
    ]);
    assert!(env_out.status.success(), "{}", text(&env_out.stderr));
    assert!(text(&env_out.stdout).contains("host-b"));

    ok(&lab, &["delete", "ippool", "pool-a"]);
    let gone = tern(&lab, &["get", "ippool", "pool-a"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        text(&gone.stderr).contains("IPPool pool-a does not exist"),
        "{}",
        text(&gone.stderr)
    );
    let again = tern(&lab, &["delete", "ippool", "pool-a"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("not found"));

    // delete -f removes what the file defines (pool-a is gone already: reported, exit 1).
    let del = tern(&lab, &["delete", "-f", s(&f)]);
    assert_eq!(del.status.code(), Some(1), "{}", text(&del.stderr));
    assert_eq!(
        text(&del.stdout).matches(": deleted").count(),
        6,
        "{}",
        text(&del.stdout)
    );
    for kind in [
        "nodes",
        "ippools",
        "bgppeers",
        "gnp",
        "netsets",
        "bgpconfig",
    ] {
        assert!(items(&lab, kind).is_empty(), "{kind} left");
    }

    // etcd away: a clear runtime failure, not a hang or a panic.
    lab.stop();
    let down = tern(&lab, &["get", "nodes"]);
    assert_eq!(down.status.code(), Some(1), "{}", text(&down.stderr));
    assert!(
        text(&down.stderr).contains("datastore unavailable"),
        "{}",
        text(&down.stderr)
    );
}

#[test]
fn a_bad_document_writes_nothing() {
    let lab = EtcdLab::new("ds-bad");
    let good = file(&lab, "good.yaml", CLUSTER);
    let bad = file(
        &lab,
        "bad.yaml",
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: pool-b}\nspec: {cidr: 10.245.0.0/16}\n---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: rr}\nspec:\n  peerIP: 10.0.0.9\n  asNumber: 64512\n  keepOriginalNextHop: true\n---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: pool-c}\nspec: {cidr: 10.246.0.0/16, ipipmode: Always}\n",
    );
    let out = tern(&lab, &["apply", "-f", s(&good), "-f", s(&bad)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:12:24: spec.keepOriginalNextHop: not supported by tern",
            bad.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}:17:29: spec: unknown field `ipipmode`",
            bad.display()
        )),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(text(&out.stdout).is_empty());
    for kind in [
        "nodes",
        "ippools",
        "bgppeers",
        "gnp",
        "netsets",
        "bgpconfig",
    ] {
        assert!(items(&lab, kind).is_empty(), "{kind} was written");
    }
    // An unknown kind word is bad input too.
    assert_eq!(tern(&lab, &["get", "frobs"]).status.code(), Some(2));
}

#[test]
fn concurrent_applies_never_overwrite_unseen_versions() {
    let lab = EtcdLab::new("ds-race");
    let base = file(
        &lab,
        "base.yaml",
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16}\n",
    );
    ok(&lab, &["apply", "-f", s(&base)]);
    // A copy read now, then a newer write by someone else: applying the copy conflicts.
    let read = ok(&lab, &["get", "ippool", "p", "-o", "yaml"]);
    let stale = file(
        &lab,
        "stale.yaml",
        &read.replace("10.0.0.0/16", "10.9.0.0/16"),
    );
    let newer = file(
        &lab,
        "newer.yaml",
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.1.0.0/16}\n",
    );
    ok(&lab, &["apply", "-f", s(&newer)]);
    let out = tern(&lab, &["apply", "-f", s(&stale)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("conflict"),
        "{}",
        text(&out.stderr)
    );
    let now = items(&lab, "ippools");
    assert_eq!(
        now[0]["spec"]["cidr"], "10.1.0.0/16",
        "the stale copy changed nothing"
    );

    // Eight writers at once without a resourceVersion: each reads, then swaps on what
    // it read; a lost race is re-read and retried, or reported — never a blind write.
    let mut children = Vec::new();
    for i in 0..8 {
        let f = file(
            &lab,
            &format!("w{i}.yaml"),
            &format!("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{name: p}}\nspec: {{cidr: 10.{}.0.0/16}}\n", 10 + i),
        );
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", lab.cl.name(), TERN, "apply", "-f", s(&f)])
            .args(["--datastore", "etcd", "--endpoints", lab.endpoint()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        children.push(cmd.spawn().expect("spawn tern apply"));
    }
    let mut revisions = Vec::new();
    for c in children {
        let out = c.wait_with_output().expect("tern apply");
        match out.status.code() {
            Some(0) => {
                let o = text(&out.stdout);
                let rev: i64 = o
                    .rsplit("revision ")
                    .next()
                    .and_then(|r| r.trim().trim_end_matches(')').parse().ok())
                    .unwrap_or_else(|| panic!("revision in {o}"));
                revisions.push(rev);
            }
            Some(1) => assert!(
                text(&out.stderr).contains("conflict"),
                "{}",
                text(&out.stderr)
            ),
            other => panic!("exit {other:?}: {}", text(&out.stderr)),
        }
    }
    assert!(!revisions.is_empty(), "at least one writer wins");
    eprintln!("{} of 8 concurrent applies succeeded", revisions.len());
    let last = items(&lab, "ippools");
    let cidr = last[0]["spec"]["cidr"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!((10..18).any(|i| cidr == format!("10.{i}.0.0/16")), "{cidr}");
    assert_eq!(
        last[0]["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse::<i64>().ok()),
        revisions.iter().max().copied(),
        "the stored version is the last successful write"
    );
}

#[test]
fn files_datastore_is_read_only() {
    let dir = std::env::temp_dir().join(format!("tern-ds-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).expect("write");
    let run = |args: &[&str]| {
        std::process::Command::new(TERN)
            .args(args)
            .args(["--datastore", "files", "--files"])
            .arg(&dir)
            .output()
            .expect("run tern")
    };
    let out = run(&["get", "ippools"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("pool-a"));
    let out = run(&[
        "apply",
        "-f",
        dir.join("cluster.yaml").to_str().unwrap_or_default(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("read-only datastore"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
