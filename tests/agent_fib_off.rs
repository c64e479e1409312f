//! `fib: { enabled: false }`: `tern agent` peers and advertises as usual but leaves the
//! kernel alone (no BGP routes, no blackholes for its blocks), and `tern routes` says
//! the FIB is "off".

mod common;

use common::*;
use testlab::bird::{bird_config, start_bird, BirdPeer};
use testlab::{wait_for, Lab};

#[test]
fn fib_off_learns_and_advertises_without_touching_the_kernel() {
    let mut lab = Lab::new("tfiboff");
    let (t, b, node) = tern_and_bird_with(&mut lab, "fib: { enabled: false }\n");
    let peers = [BirdPeer {
        name: "tern4",
        local: "10.0.0.2",
        neighbor: "10.0.0.1",
        asn: 64512,
        family: "ipv4",
    }];
    let bird = start_bird(
        &mut lab,
        &b,
        "bird",
        &bird_config("10.0.0.2", 65000, &["10.244.9.0/24"], &peers),
    );
    let _tern = start_tern(&mut lab, &node);
    bird.wait_established("tern4");
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
