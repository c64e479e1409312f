//! A host that dies (power cut: no FIN, no NOTIFICATION reaches its peers) is dropped
//! when the hold time expires: its block leaves the other hosts' FIB. Simulated by
//! cutting the host's switch port and then killing its agent with SIGKILL, so the
//! kernel's FIN never arrives. (A kill -9 with the link up closes the TCP sessions
//! cleanly and is a graceful restart — peers keep the routes; see tests/lab_l3.rs.)

mod common;

use common::*;
use testlab::{wait_for, Lab};

#[test]
fn a_dead_hosts_block_leaves_the_fib_when_the_hold_time_expires() {
    let mut lab = Lab::new("crash");
    let a = lab.netns("a");
    let b = lab.netns("b");
    let sw = switch(
        &mut lab,
        &[(&a, &["10.0.0.1/24"][..]), (&b, &["10.0.0.2/24"][..])],
    );
    let node_a = write_node(
        &lab,
        &a,
        &NodeSpec {
            name: "a",
            router_id: "10.0.0.1",
            blocks: &["10.244.1.0/24"],
            mesh: &["10.0.0.2"],
            ..NodeSpec::default()
        },
    );
    let node_b = write_node(
        &lab,
        &b,
        &NodeSpec {
            name: "b",
            router_id: "10.0.0.2",
            blocks: &["10.244.2.0/24"],
            mesh: &["10.0.0.1"],
            ..NodeSpec::default()
        },
    );
    start_tern(&mut lab, &node_a);
    let pid_b = start_tern(&mut lab, &node_b);
    wait_established(&node_a, 1);
    let r = wait_for(CONVERGE, "b's block in a's FIB", || {
        kernel_route(&a, "10.244.2.0/24")
    });
    assert_eq!(kernel_gateways(&r), ["10.0.0.2"], "{r}");

    // Power cut: b's switch port goes dark first, then its agent dies.
    sw.ok(&["ip", "link", "set", "p1", "down"]);
    lab.kill9(pid_b);

    // Nothing reaches a: after the hold time (9 s) it drops b and its block.
    wait_for(CONVERGE, "hold timer drops b's block from a's FIB", || {
        kernel_route(&a, "10.244.2.0/24").is_none().then_some(())
    });
    let status = status_json(&node_a).expect("status");
    let peer = status["peers"][0].clone();
    assert_eq!(peer["address"], "10.0.0.2", "{peer}");
    assert_ne!(peer["state"], "Established", "{peer}");
    assert!(
        peer["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("hold"),
        "{peer}"
    );
    // a's own block stays where it is.
    let own = kernel_route(&a, "10.244.1.0/24").expect("a's blackhole stays");
    assert_eq!(kernel_protocol(&own), "201");
}
