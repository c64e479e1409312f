//! The agent logs the same workload-endpoint warnings as `tern config check` at start
//! (an address two endpoints share, an address outside the node's blocks) and runs on.

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
