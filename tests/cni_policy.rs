//! Policy by label on containers added through the CNI plugin: labels from CNI_ARGS
//! (`TERN_LABELS`) and from `tern endpoint label` select the containers a policy applies
//! to, real TCP is allowed and denied accordingly, a label change is persisted and
//! re-applied, and DEL leaves no element of the container in the nftables ruleset.

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
    let out = client.sh(&format!("echo x | nc -N -w 2 {ip} 8080"));
    lab.kill(pid);
    String::from_utf8_lossy(&out.stdout).contains("hi")
}

fn add(cni: &Cni, id: &str, c: &Netns, labels: &str) -> String {
    let args = format!("K8S_POD_NAMESPACE=shop;K8S_POD_NAME={id};TERN_LABELS={labels}");
    let o = cni.call_args("ADD", id, &netns_path(c), &args);
    assert_eq!(o.code, 0, "ADD {id}: {}", o.stdout);
    address_of(&o.json.expect("result"), false)
        .trim_end_matches("/32")
        .to_string()
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
    let web_ip = add(&cni, "web", &web, "app=web");
    add(&cni, "client", &client, "app=client,tier=fe");
    add(&cni, "other", &other, "app=other");
    wait_for(CONVERGE, "policy applied", || {
        let s = status_json(&node)?;
        (s["policy"]["ok"] == true).then_some(())
    });

    // The client reaches web on 8080; the other container does not.
    wait_for(CONVERGE, "client -> web allowed", || {
        connects(&mut lab, &web, &client, &web_ip).then_some(())
    });
    assert!(
        !connects(&mut lab, &web, &other, &web_ip),
        "other -> web must be denied"
    );

    // Relabel `other` as a client from the CLI: allowed, and kept in stateDir.
    let o = tern_cli(&node, &["endpoint", "label", "shop/other", "app=client"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    wait_for(CONVERGE, "relabelled other -> web allowed", || {
        connects(&mut lab, &web, &other, &web_ip).then_some(())
    });
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
    wait_for(CONVERGE, "unlabelled other -> web denied", || {
        (!connects(&mut lab, &web, &other, &web_ip)).then_some(())
    });
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
