//! Policy by label on containers added through the CNI plugin: labels from CNI_ARGS
//! (`TERN_LABELS`) and from `tern endpoint label` select the containers a policy applies
//! to, real TCP is allowed and denied accordingly — from the moment ADD or the label
//! command returns —, a label change is persisted and re-applied, and DEL leaves no
//! element of the container in the nftables ruleset.

mod cni_support;
mod common;

use cni_support::*;
use common::{start_tern, status_json, tern_cli, write_node, NodeSpec, CONVERGE};
use serde_json::Value;
use testlab::{wait_for, Lab, Netns};

const WEB_FROM_CLIENTS: &str = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: web-ingress
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

fn connects(lab: &mut Lab, server: &Netns, client: &Netns, ip: &str) -> bool {
    let pid = lab.spawn(
        server,
        &["sh", "-c", "echo hi | nc -4 -l -N 8080"],
        "nc-8080",
    );
    wait_for(CONVERGE, "listener", || {
        let ss = server.run(&["ss", "-ltn"]);
        String::from_utf8_lossy(&ss.stdout)
            .contains(":8080")
            .then_some(())
    });
    let out = client.sh(&format!("(echo x; sleep 1) | nc -N -w 2 {ip} 8080"));
    lab.kill(pid);
    String::from_utf8_lossy(&out.stdout).contains("hi")
}

/// ADD; returns (address, host interface).
fn add(cni: &Cni, id: &str, c: &Netns, labels: &str) -> (String, String) {
    let args = format!("K8S_POD_NAMESPACE=shop;K8S_POD_NAME={id};TERN_LABELS={labels}");
    let o = cni.call_args("ADD", id, &netns_path(c), &args);
    assert_eq!(o.code, 0, "ADD {id}: {}", o.stdout);
    let r = o.json.expect("result");
    let host_if = r["interfaces"][0]["name"].as_str().expect("host if");
    (
        address_of(&r, false).trim_end_matches("/32").to_string(),
        host_if.to_string(),
    )
}

/// Whether the ruleset in force has `web_if` in its workload map (the policy applies to
/// it). Checked right after a command returned: the policy must include its change.
fn web_in_ruleset(host: &Netns, web_if: &str) -> bool {
    host.ok(&["nft", "list", "ruleset"])
        .contains(&format!("\"{web_if}\""))
}

/// Whether `ip` is in the set of the selector `app == 'client'` (the policy's sources).
fn is_client_source(host: &Netns, ip: &str) -> bool {
    let rules = host.ok(&["nft", "list", "ruleset"]);
    let mut set = None;
    let mut last = "";
    for line in rules.lines() {
        let l = line.trim();
        if l.starts_with("set ") {
            last = l.trim_start_matches("set ").trim_end_matches(" {");
        }
        if l.contains("selector app == 'client'") {
            set = Some(last.to_string());
        }
    }
    let set = set.unwrap_or_else(|| panic!("no set for app == 'client':\n{rules}"));
    host.run(&[
        "nft",
        "get",
        "element",
        "inet",
        "tern",
        &set,
        &format!("{{ {ip} }}"),
    ])
    .status
    .success()
}

#[test]
fn labels_from_cni_args_and_the_cli_select_containers_for_policy() {
    let mut lab = Lab::new("cni-pol");
    let host = lab.netns("h");
    let policies = lab.dir().join("policies");
    std::fs::create_dir_all(&policies).expect("policy dir");
    std::fs::write(policies.join("web.yaml"), WEB_FROM_CLIENTS).expect("policy");
    let state = lab.dir().join("state");
    let node = write_node(
        &lab,
        &host,
        &NodeSpec {
            blocks: &["10.244.1.0/24"],
            extra: &format!(
                "policy: {{ backend: nftables, paths: [\"{}\"] }}\nstateDir: \"{}\"\n",
                policies.display(),
                state.display()
            ),
            ..NodeSpec::default()
        },
    );
    start_tern(&mut lab, &node);
    let cni = Cni {
        socket: node.socket.clone(),
        version: "1.0.0",
    };
    let (web, client, other) = (lab.netns("web"), lab.netns("client"), lab.netns("other"));
    let (web_ip, web_if) = add(&cni, "web", &web, "app=web");
    // The policy applies to web: its interface is in the ruleset when ADD returns.
    assert!(web_in_ruleset(&host, &web_if));
    let (client_ip, _) = add(&cni, "client", &client, "app=client,tier=fe");
    // client is a source of the policy: its address is in the selector's set.
    assert!(is_client_source(&host, &client_ip));
    let (other_ip, _) = add(&cni, "other", &other, "app=other");
    assert!(!is_client_source(&host, &other_ip));
    // ADD and `tern endpoint label` answer once the policy includes the change: the
    // verdicts hold from then on, without waiting.
    let s = status_json(&node).expect("status");
    assert_eq!(s["policy"]["ok"], true, "{s}");
    assert!(
        !connects(&mut lab, &web, &other, &web_ip),
        "other -> web must be denied"
    );
    assert!(
        connects(&mut lab, &web, &client, &web_ip),
        "client -> web must be allowed"
    );

    // Relabel `other` as a client from the CLI: allowed, and kept in stateDir.
    let o = tern_cli(&node, &["endpoint", "label", "shop/other", "app=client"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(is_client_source(&host, &other_ip));
    assert!(
        connects(&mut lab, &web, &other, &web_ip),
        "relabelled other -> web must be allowed"
    );
    let eps = tern_cli(&node, &["endpoints", "--json"]);
    let eps: Value = serde_json::from_slice(&eps.stdout).expect("json");
    let row = eps["endpoints"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["name"] == "other")
        .expect("other")
        .clone();
    assert_eq!(row["labels"]["app"], "client");
    let stored: String = std::fs::read_dir(state.join("ipam"))
        .expect("ipam dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("other."))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(stored.contains("\"client\""), "{stored}");

    // Taking the label away denies again; an unknown workload is an error.
    let o = tern_cli(&node, &["endpoint", "label", "shop/other", "app-"]);
    assert!(o.status.success());
    assert!(!is_client_source(&host, &other_ip));
    assert!(
        !connects(&mut lab, &web, &other, &web_ip),
        "unlabelled other -> web must be denied"
    );
    let o = tern_cli(&node, &["endpoint", "label", "shop/nobody", "a=b"]);
    assert_eq!(o.status.code(), Some(1));

    // DEL: nothing of the containers stays in the ruleset.
    let ifs: Vec<String> = tern_links(&host);
    assert_eq!(ifs.len(), 3);
    let rules = host.ok(&["nft", "list", "ruleset"]);
    assert!(ifs.iter().any(|i| rules.contains(i.as_str())), "{rules}");
    for id in ["web", "client", "other"] {
        assert_eq!(cni.call("DEL", id, "").code, 0);
    }
    wait_for(CONVERGE, "no container left in the ruleset", || {
        let rules = host.ok(&["nft", "list", "ruleset"]);
        (!ifs.iter().any(|i| rules.contains(i.as_str())) && !rules.contains(&web_ip)).then_some(())
    });
}
