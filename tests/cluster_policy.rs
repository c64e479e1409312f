//! Policy in etcd mode, end to end: three agents on one switch share a real etcd
//! (Debian's etcd-server, in its own lab namespace). Containers added through the CNI
//! plugin on each host are published as WorkloadEndpoints (`tern get
//! workloadendpoints` lists every node's); a GlobalNetworkPolicy applied once with
//! `tern apply -f` selects workloads by label on OTHER hosts and is enforced everywhere
//! (real TCP with nc, allowed and denied); a label changed on one host changes the
//! verdict on another; a node's own policy file applies beside the datastore's (and
//! its selectors see other hosts' workloads too); a GlobalNetworkSet is selected like a workload; while etcd is
//! away every host keeps enforcing what it knew and catches up when it is back;
//! `tern delete` lifts the policy; each agent keeps its node's WorkloadEndpoints as
//! its containers are (a deleted one is written again, a stray one removed).

mod cluster_support;
mod cni_support;
mod common;

use cluster_support::tcp::{add_labelled, connects, wait_verdict, ENFORCED};
use cni_support::{netns_path, Cni};
use common::{start_tern, status_json, tern_cli, wait_peers_up, Node};
use serde_json::Value;
use std::time::Duration;
use testlab::{wait_for, Lab, Netns};

const ETCD: &str = "http://10.0.0.10:2379";

const WEB_FROM_CLIENTS: &str = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: web-from-clients
spec:
  order: 10
  selector: app == 'web'
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: TCP
      source: { selector: app == 'client' }
      destination: { ports: [8080] }
";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// n1's own policy file, merged with the datastore's policies there.
const CLIENT_FROM_WEB: &str = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: client-from-web
spec:
  order: 20
  selector: app == 'client'
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: TCP
      source: { selector: app == 'web' }
      destination: { ports: [8080] }
";

const POOL: &str = "apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pool-a }
spec: { cidr: 10.244.0.0/16, blockSize: 26 }
";

/// Writes node `i`'s file: only its name, address, datastore, policy backend, and the
/// lab's socket and state paths.
fn node_file(lab: &Lab, ns: &Netns, i: usize, policy_file: Option<&str>) -> Node {
    let name = format!("n{i}");
    let dir = lab.dir().join(&name);
    std::fs::create_dir_all(&dir).expect("node dir");
    let socket = dir.join("tern.sock");
    let config = dir.join("node.yaml");
    let paths = match policy_file {
        Some(text) => {
            let p = dir.join("policies");
            std::fs::create_dir_all(&p).expect("policy dir");
            std::fs::write(p.join("local.yaml"), text).expect("policy file");
            format!(", paths: [\"{}\"]", p.display())
        }
        None => String::new(),
    };
    let yaml = format!(
        "nodeName: {name}\nrouterId: 10.0.0.{}\ndatastore: {{ type: etcd, endpoints: [\"{ETCD}\"] }}\npolicy: {{ backend: nftables{paths} }}\ncontrol: {{ socket: \"{}\" }}\nstateDir: \"{}\"\n",
        i + 1,
        socket.display(),
        dir.join("state").display()
    );
    std::fs::write(&config, yaml).expect("node file");
    Node {
        ns: ns.clone(),
        name,
        config,
        socket,
        endpoints: dir.join("endpoints"),
    }
}

/// Runs etcd in `db` (10.0.0.10 on the switch) with its data in the lab's folder.
/// Returns its PID; `log` names its log file.
fn start_etcd(lab: &mut Lab, db: &Netns, probe: &Netns, log: &str) -> u32 {
    let data = lab.dir().join("etcd-data");
    let data = data.to_string_lossy().into_owned();
    let pid = lab.spawn(
        db,
        &[
            "etcd",
            "--name",
            "default",
            "--data-dir",
            &data,
            "--listen-client-urls",
            ETCD,
            "--advertise-client-urls",
            ETCD,
            "--listen-peer-urls",
            "http://10.0.0.10:2380",
            "--initial-advertise-peer-urls",
            "http://10.0.0.10:2380",
            "--initial-cluster",
            "default=http://10.0.0.10:2380",
            "--log-level",
            "warn",
        ],
        log,
    );
    wait_for(Duration::from_secs(30), "etcd to serve", || {
        let out = probe.run(&["curl", "-fsS", "--max-time", "1", &format!("{ETCD}/health")]);
        (out.status.success() && text(&out.stdout).contains("\"health\":\"true\"")).then_some(())
    });
    pid
}

/// `tern ARGS --datastore etcd --endpoints ETCD`, run in `ns`.
fn tern_ds(ns: &Netns, args: &[&str]) -> String {
    let bin = testlab::tern_bin();
    let bin = bin.to_string_lossy().into_owned();
    let mut argv = vec![bin.as_str()];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--datastore", "etcd", "--endpoints", ETCD]);
    let out = ns.run(&argv);
    assert!(
        out.status.success(),
        "tern {args:?}: {}\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The WorkloadEndpoints in etcd: (namespace/name, node, addresses).
fn workload_endpoints(ns: &Netns) -> Vec<(String, String, Vec<String>)> {
    let out = tern_ds(ns, &["get", "workloadendpoints", "-A", "-o", "json"]);
    let v: Value = serde_json::from_str(&out).expect("json");
    let mut rows: Vec<_> = v["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|w| {
            (
                format!(
                    "{}/{}",
                    w["metadata"]["namespace"].as_str().unwrap_or(""),
                    w["spec"]["workload"].as_str().unwrap_or("")
                ),
                w["spec"]["node"].as_str().unwrap_or("").to_string(),
                w["spec"]["ipNetworks"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|a| a.as_str().unwrap_or("").to_string())
                    .collect(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Polls `nft list ruleset` of every host until `ok` holds for each; returns how long
/// that took (reported, not asserted).
fn until_rulesets(hosts: &[Netns], ok: impl Fn(&str) -> bool) -> Duration {
    let t0 = std::time::Instant::now();
    let mut pending: Vec<&Netns> = hosts.iter().collect();
    while !pending.is_empty() {
        pending.retain(|h| !ok(&text(&h.run(&["nft", "list", "ruleset"]).stdout)));
        assert!(
            t0.elapsed() < ENFORCED,
            "the change is not in every ruleset after {ENFORCED:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    t0.elapsed()
}

#[test]
fn a_global_policy_selects_workloads_on_other_hosts_and_is_enforced_everywhere() {
    let mut lab = Lab::new("clpol");
    let hosts: Vec<Netns> = (0..3).map(|i| lab.netns(&format!("h{i}"))).collect();
    let db = lab.netns("db");
    let addrs = ["10.0.0.1/24", "10.0.0.2/24", "10.0.0.3/24"];
    common::switch(
        &mut lab,
        &[
            (&hosts[0], &[addrs[0]]),
            (&hosts[1], &[addrs[1]]),
            (&hosts[2], &[addrs[2]]),
            (&db, &["10.0.0.10/24"]),
        ],
    );
    let etcd = start_etcd(&mut lab, &db, &hosts[0], "etcd-1");

    // The pool the nodes claim their blocks from; nothing else is configured.
    let pool = lab.dir().join("pool.yaml");
    std::fs::write(&pool, POOL).expect("write pool");
    tern_ds(&hosts[0], &["apply", "-f", &pool.to_string_lossy()]);
    let nodes: Vec<Node> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| node_file(&lab, h, i, (i == 1).then_some(CLIENT_FROM_WEB)))
        .collect();
    for n in &nodes {
        start_tern(&mut lab, n);
    }
    for n in &nodes {
        wait_peers_up(n, 2);
    }
    let cni: Vec<Cni> = nodes
        .iter()
        .map(|n| Cni {
            socket: n.socket.clone(),
            version: "1.0.0",
        })
        .collect();
    // n0: web; n1: client and web2; n2: other.
    let web = lab.netns("web");
    let client = lab.netns("client");
    let web2 = lab.netns("web2");
    let other = lab.netns("other");
    let web_ip = add_labelled(&cni[0], "web", &web, "app=web");
    let client_ip = add_labelled(&cni[1], "client", &client, "app=client");
    let web2_ip = add_labelled(&cni[1], "web2", &web2, "app=web");
    let other_ip = add_labelled(&cni[2], "other", &other, "app=other");

    // Every node's containers are in the datastore.
    wait_for(ENFORCED, "every workload published", || {
        let rows = workload_endpoints(&hosts[0]);
        (rows.len() == 4).then_some(rows)
    });
    let rows = workload_endpoints(&hosts[2]);
    let expect = [
        ("shop/client", "n1", &client_ip),
        ("shop/other", "n2", &other_ip),
        ("shop/web", "n0", &web_ip),
        ("shop/web2", "n1", &web2_ip),
    ];
    for ((name, node, ips), (want_name, want_node, want_ip)) in rows.iter().zip(expect) {
        assert_eq!(
            (name.as_str(), node.as_str()),
            (want_name, want_node),
            "{rows:?}"
        );
        assert_eq!(ips, &[format!("{want_ip}/32")], "{rows:?}");
    }
    let table = tern_ds(&hosts[1], &["get", "workloadendpoints", "-A", "-o", "wide"]);
    for n in ["n0", "n1", "n2"] {
        assert!(table.contains(n), "{table}");
    }

    // No policy yet: everything connects (routes across hosts are there).
    wait_verdict(
        &mut lab,
        &web,
        &other,
        &web_ip,
        true,
        "other -> web before the policy",
    );
    wait_verdict(
        &mut lab,
        &web,
        &client,
        &web_ip,
        true,
        "client -> web before the policy",
    );

    // One apply: enforced on n0 (web) and n1 (web2); the client's address, on n1, and
    // other's, on n2, come from their hosts' WorkloadEndpoints.
    let file = lab.dir().join("web.yaml");
    std::fs::write(&file, WEB_FROM_CLIENTS).expect("write policy");
    tern_ds(&hosts[0], &["apply", "-f", &file.to_string_lossy()]);
    // n0 and n1 have web containers (n2 has none: nothing there for the policy to do).
    let took = until_rulesets(&hosts[..2], |r| r.contains("web-from-clients"));
    println!("policy in n0's and n1's rulesets {took:?} after `tern apply` returned");
    wait_verdict(
        &mut lab,
        &web,
        &other,
        &web_ip,
        false,
        "other (n2) -> web (n0)",
    );
    assert!(
        connects(&mut lab, &web, &client, &web_ip),
        "client (n1) -> web (n0) must be allowed"
    );
    wait_verdict(
        &mut lab,
        &web2,
        &other,
        &web2_ip,
        false,
        "other (n2) -> web2 (n1)",
    );
    assert!(
        connects(&mut lab, &web2, &client, &web2_ip),
        "client -> web2 (both n1) must be allowed"
    );
    // n1 enforces its own file's policy beside the datastore's: the client takes web
    // (n0) but not other (n2).
    let rules = text(&hosts[1].run(&["nft", "list", "ruleset"]).stdout);
    assert!(rules.contains("client-from-web") && rules.contains("web-from-clients"));
    wait_verdict(
        &mut lab,
        &client,
        &web,
        &client_ip,
        true,
        "web (n0) -> client (n1)",
    );
    assert!(
        !connects(&mut lab, &client, &other, &client_ip),
        "other (n2) -> client (n1) must be denied by n1's file"
    );
    for n in &nodes {
        let s = status_json(n).expect("status");
        assert_eq!(s["policy"]["ok"], true, "{}: {s}", n.name);
        // One policy from etcd; the three containers of the other nodes.
        let d = &s["policy"]["datastore"];
        assert_eq!(d["policies"], 1, "{}: {s}", n.name);
        let others = if n.name == "n1" { 2 } else { 3 };
        assert_eq!(d["remote_endpoints"], others, "{}: {s}", n.name);
    }
    let o = tern_cli(&nodes[0], &["status"]);
    assert!(
        text(&o.stdout).contains("from the datastore: 1 policies, 3 endpoints of other nodes"),
        "{}",
        text(&o.stdout)
    );

    // `other` becomes a client on n2: n0 lets it in.
    relabel_other(&nodes[2], "app=client");
    let took = until_rulesets(&hosts[..1], |r| r.contains(&other_ip));
    println!("n2's relabel in n0's ruleset {took:?} after `tern endpoint label` returned");
    wait_verdict(
        &mut lab,
        &web,
        &other,
        &web_ip,
        true,
        "relabelled other -> web",
    );
    relabel_other(&nodes[2], "app=other");
    wait_verdict(&mut lab, &web, &other, &web_ip, false, "other again -> web");

    // etcd away: every host keeps enforcing what it last knew. A label changed on n2
    // meanwhile is enforced there at once and reaches n0 once etcd is back (n2's
    // publisher retries, n0's reflectors resync).
    lab.kill(etcd);
    assert!(
        !connects(&mut lab, &web, &other, &web_ip),
        "etcd away: other -> web must stay denied"
    );
    assert!(
        connects(&mut lab, &web, &client, &web_ip),
        "etcd away: client -> web must stay allowed"
    );
    relabel_other(&nodes[2], "app=client");
    assert!(
        !connects(&mut lab, &web, &other, &web_ip),
        "etcd away: n0 cannot know other's new label"
    );
    start_etcd(&mut lab, &db, &hosts[0], "etcd-2");
    wait_verdict(
        &mut lab,
        &web,
        &other,
        &web_ip,
        true,
        "relabelled while etcd was away",
    );
    relabel_other(&nodes[2], "app=other");
    wait_verdict(
        &mut lab,
        &web,
        &other,
        &web_ip,
        false,
        "other again, etcd back",
    );

    // A GlobalNetworkSet with other's address, labelled as a client, lets it in; its
    // deletion closes the door again.
    let set = lab.dir().join("trusted.yaml");
    std::fs::write(
        &set,
        format!(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {{ name: trusted, labels: {{ app: client }} }}\nspec: {{ nets: [{other_ip}/32] }}\n"
        ),
    )
    .expect("write set");
    tern_ds(&hosts[2], &["apply", "-f", &set.to_string_lossy()]);
    wait_verdict(
        &mut lab,
        &web,
        &other,
        &web_ip,
        true,
        "other in a client network set",
    );
    tern_ds(&hosts[2], &["delete", "globalnetworkset", "trusted"]);
    wait_verdict(
        &mut lab,
        &web,
        &other,
        &web_ip,
        false,
        "network set deleted",
    );

    // Deleted from the datastore: lifted on every host.
    tern_ds(
        &hosts[1],
        &["delete", "globalnetworkpolicy", "web-from-clients"],
    );
    wait_verdict(
        &mut lab,
        &web,
        &other,
        &web_ip,
        true,
        "other -> web after delete",
    );
    wait_verdict(
        &mut lab,
        &web2,
        &other,
        &web2_ip,
        true,
        "other -> web2 after delete",
    );
    // n1's file policy stays; the deleted one's chains go (their removal is committed
    // just after the change that stopped using them).
    wait_for(ENFORCED, "the deleted policy's chains removed", || {
        let rules = text(&hosts[1].run(&["nft", "list", "ruleset"]).stdout);
        assert!(rules.contains("client-from-web"), "{rules}");
        (!rules.contains("web-from-clients")).then_some(())
    });
    assert!(
        !connects(&mut lab, &client, &other, &client_ip),
        "other (n2) -> client (n1): n1's file still denies"
    );

    // Each agent owns its node's WorkloadEndpoints: one deleted by hand is written
    // again, one written by hand for a node is removed by that node.
    tern_ds(
        &hosts[2],
        &[
            "delete",
            "workloadendpoint",
            "n0-cni-web-eth0",
            "-n",
            "shop",
        ],
    );
    wait_for(ENFORCED, "web's WorkloadEndpoint published again", || {
        let rows = workload_endpoints(&hosts[2]);
        rows.iter().any(|r| r.0 == "shop/web").then_some(())
    });
    let stray = lab.dir().join("stray.yaml");
    std::fs::write(
        &stray,
        "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: { name: n1-cni-ghost-eth0, namespace: shop }\nspec: { node: n1, workload: ghost, interfaceName: ternghost, ipNetworks: [10.244.9.9/32] }\n",
    )
    .expect("write stray");
    tern_ds(&hosts[2], &["apply", "-f", &stray.to_string_lossy()]);
    wait_for(ENFORCED, "the stray WorkloadEndpoint removed by n1", || {
        let rows = workload_endpoints(&hosts[2]);
        (rows.len() == 4 && rows.iter().all(|r| r.0 != "shop/ghost")).then_some(())
    });

    // A container deleted on n1 leaves the datastore.
    let o = cni[1].call_args(
        "DEL",
        "web2",
        &netns_path(&web2),
        "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web2",
    );
    assert_eq!(o.code, 0, "DEL: {}", o.stdout);
    wait_for(ENFORCED, "web2's WorkloadEndpoint deleted", || {
        let rows = workload_endpoints(&hosts[0]);
        (rows.len() == 3 && rows.iter().all(|r| r.0 != "shop/web2")).then_some(())
    });
}

/// `tern endpoint label shop/other LABEL` on `node`, which must succeed.
fn relabel_other(node: &Node, label: &str) {
    let o = tern_cli(node, &["endpoint", "label", "shop/other", label]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}
