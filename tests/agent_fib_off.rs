//! `fib: { enabled: false }`: `tern agent` peers and advertises as usual but leaves the
//! kernel alone (no BGP routes, no blackholes for its blocks), and `tern routes` says
//! the FIB is "off".

mod common;

use common::*;
use testlab::bird::{bird_config, start_bird, Bird, BirdPeer};
use testlab::{wait_for, Lab, Netns};

/// BIRD in `ns` (AS 65000, announcing `prefixes`), peering with the agent, and the
/// agent started; returns once BIRD has the session up.
fn bird_and_tern(lab: &mut Lab, ns: &Netns, node: &Node, prefixes: &[&str]) -> Bird {
    let peers = [BirdPeer {
        name: "tern4",
        local: "10.0.0.2",
        neighbor: "10.0.0.1",
        asn: 64512,
        family: "ipv4",
    }];
    let bird = start_bird(
        lab,
        ns,
        "bird",
        &bird_config("10.0.0.2", 65000, prefixes, &peers),
    );
    start_tern(lab, node);
    bird.wait_established("tern4");
    bird
}

#[test]
fn fib_off_learns_and_advertises_without_touching_the_kernel() {
    let mut lab = Lab::new("tfiboff");
    let (t, b, node) = tern_and_bird_with(&mut lab, "fib: { enabled: false }\n");
    let bird = bird_and_tern(&mut lab, &b, &node, &["10.244.9.0/24"]);
    wait_established(&node, 1);

    let learned = wait_for(CONVERGE, "tern learned BIRD's prefix", || {
        route_row(&routes_json(&node, false)?, "10.244.9.0/24")
    });
    assert_eq!(learned["fib"], "off", "{learned}");
    assert_eq!(learned["next_hops"][0], "10.0.0.2", "{learned}");
    let block =
        route_row(&routes_json(&node, false).expect("routes"), "10.244.1.0/24").expect("block row");
    assert_eq!(block["fib"], "off", "{block}");
    wait_for(CONVERGE, "BIRD has tern's block", || {
        bird.has_route_via("10.244.1.0/24", "10.0.0.1")
            .then_some(())
    });
    // Give a (wrongly) running FIB controller time to act, then look at the kernel.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        kernel_route(&t, "10.244.9.0/24"),
        None,
        "BGP route in the kernel"
    );
    assert_eq!(
        kernel_route(&t, "10.244.1.0/24"),
        None,
        "block blackhole in the kernel"
    );
}

/// Reloads that change the blocks keep answering without a FIB: nothing waits for
/// blackholes that are never written (the routes task's input was once kept open
/// without a reader, and the fifth such reload hung on its full queue).
#[test]
fn fib_off_reloads_of_the_blocks_keep_answering() {
    let mut lab = Lab::new("tfibrel");
    let (_t, b, node) = tern_and_bird_with(&mut lab, "fib: { enabled: false }\n");
    let bird = bird_and_tern(&mut lab, &b, &node, &[]);
    let original = std::fs::read_to_string(&node.config).expect("node file");
    for i in 10..17 {
        let block = format!("10.244.{i}.0/24");
        let text = original.replace(
            "blocks: [\"10.244.1.0/24\"]",
            &format!("blocks: [\"10.244.1.0/24\", \"{block}\"]"),
        );
        assert_ne!(text, original, "the node file names its block");
        std::fs::write(&node.config, text).expect("write node file");
        let tern = testlab::tern_bin();
        let out = std::process::Command::new("timeout")
            .arg("20")
            .arg(&tern)
            .args(["reload", "--socket"])
            .arg(&node.socket)
            .output()
            .expect("run tern reload");
        assert!(
            out.status.success(),
            "reload {i}: {:?} {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        wait_for(CONVERGE, "BIRD has the reloaded block", || {
            bird.has_route_via(&block, "10.0.0.1").then_some(())
        });
    }
}
