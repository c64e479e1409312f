//! The agent logs the same workload-endpoint warnings as `tern config check` at start
//! (an address two endpoints share, an address outside the node's blocks) and the
//! documents of its policy files that it skips (kinds tern does not enforce), and runs on.

mod common;

use common::*;
use testlab::{wait_for, Lab};

#[test]
fn agent_warns_about_shared_and_out_of_block_workload_addresses() {
    let mut lab = Lab::new("tepwarn");
    let t = lab.netns("tern");
    let node = write_node(
        &lab,
        &t,
        &NodeSpec {
            blocks: &["10.244.1.0/24"],
            ..NodeSpec::default()
        },
    );
    let eps = node.endpoints.join("shop.yaml");
    std::fs::write(
        &eps,
        "kind: WorkloadEndpoint\nname: web-1\nnamespace: shop\ninterface: tw-web1\nips: [10.244.1.10/32]\n---\n\
         kind: WorkloadEndpoint\nname: web-2\nnamespace: shop\ninterface: tw-web2\nips: [10.244.1.10/32, 10.65.0.20/32]\n",
    )
    .expect("write endpoints");
    let pid = start_tern(&mut lab, &node);
    let log = wait_for(CONVERGE, "both warnings in the agent's log", || {
        let log = lab.log("tern-a");
        (log.contains("10.65.0.20/32 is outside this node's blocks")
            && log.contains("10.244.1.10/32 is also the address of workload shop/web-1"))
        .then_some(log)
    });
    let e = eps.display().to_string();
    assert!(log.contains(&format!("{e}:11:7: warning: ips[0]")), "{log}");
    assert!(
        log.contains(&format!("{e}:11:23: warning: ips[1]")),
        "{log}"
    );
    assert!(lab.alive(pid), "the agent runs on:\n{log}");
    assert!(status_json(&node).is_some(), "control socket answers");
}

#[test]
fn agent_says_which_documents_of_its_policy_files_it_skips() {
    let mut lab = Lab::new("tpskip");
    let t = lab.netns("tern");
    let policies = lab.dir().join("policies");
    std::fs::create_dir_all(&policies).expect("policy dir");
    // What `kubectl get -o yaml` of a namespace's objects gives: a policy tern
    // enforces beside a Deployment it does not.
    let file = policies.join("mixed.yaml");
    std::fs::write(
        &file,
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all, namespace: shop}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {replicas: 1}\n",
    )
    .expect("write policy");
    let extra = format!(
        "policy: {{ backend: nftables, paths: [\"{}\"] }}\n",
        policies.display()
    );
    let node = write_node(
        &lab,
        &t,
        &NodeSpec {
            blocks: &["10.244.1.0/24"],
            extra: &extra,
            ..NodeSpec::default()
        },
    );
    let pid = start_tern(&mut lab, &node);
    let log = wait_for(CONVERGE, "policy applied", || {
        let log = lab.log("tern-a");
        log.contains("policy applied").then_some(log)
    });
    let f = file.display().to_string();
    let skipped: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&f) && l.contains("Deployment"))
        .collect();
    assert_eq!(skipped.len(), 1, "one warning, said once:\n{log}");
    assert!(skipped[0].contains(&format!("{f}:9:")), "{log}");
    assert!(lab.alive(pid), "the agent runs on:\n{log}");
}
