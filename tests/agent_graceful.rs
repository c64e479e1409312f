//! Graceful restart (RFC 4724) with `tern agent` and BIRD 2 (`graceful restart on`, as
//! Calico runs it): when BIRD dies without a word (SIGKILL) tern keeps BIRD's routes in
//! its kernel table; when BIRD is back (started with `-R`) and has sent End-of-RIB, only
//! the route BIRD no longer has is removed — the other one never leaves the kernel.
//! The other way round: `tern agent --graceful-restart` stopped with SIGTERM leaves
//! without a Cease, so BIRD keeps tern's block while the agent restarts; without the
//! flag the same SIGTERM withdraws it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use testlab::bird::{bird_config, is_established, start_bird};
use testlab::{wait_for, Lab};

fn graceful(config: &str) -> String {
    let c = config.replace(
        "connect retry time 1;",
        "connect retry time 1;\n  graceful restart on;",
    );
    assert_ne!(c, config, "graceful restart added to the BIRD config");
    c
}

#[test]
fn tern_keeps_birds_routes_in_the_kernel_while_bird_restarts() {
    let mut lab = Lab::new("tgr");
    let (t, b, node) = tern_and_bird(&mut lab);
    let peers = [BIRD_TERN4];
    let before = graceful(&bird_config(
        "10.0.0.2",
        65000,
        &["10.244.8.0/24", "10.244.9.0/24"],
        &peers,
    ));
    let after = graceful(&bird_config("10.0.0.2", 65000, &["10.244.9.0/24"], &peers));
    let mut bird = start_bird(&mut lab, &b, "bird", &before);
    start_tern(&mut lab, &node);
    bird.wait_established("tern4");
    wait_established(&node, 1);
    for p in ["10.244.8.0/24", "10.244.9.0/24"] {
        let hops = wait_for(CONVERGE, &format!("tern installed {p}"), || {
            installed_next_hops(&node, p)
        });
        assert_eq!(hops, ["10.0.0.2"]);
        wait_for(CONVERGE, &format!("{p} in the kernel"), || {
            kernel_route(&t, p).map(|_| ())
        });
    }
    let neighbor = bird.cli("show protocols all tern4");
    assert!(
        neighbor.contains("Graceful restart"),
        "both sides advertise the capability: {neighbor}"
    );

    // BIRD dies without a NOTIFICATION.
    let killed = Command::new("kill")
        .args(["-KILL", &bird.pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    wait_for(CONVERGE, "tern sees the session go", || {
        let s = status_json(&node)?;
        (s["peers"][0]["state"] != "Established").then_some(())
    });
    // BIRD's routes stay in the kernel and in tern's RIB while it is away.
    let away = Instant::now();
    while away.elapsed() < Duration::from_secs(3) {
        for p in ["10.244.8.0/24", "10.244.9.0/24"] {
            let k = kernel_route(&t, p).unwrap_or_else(|| panic!("{p} left the kernel"));
            assert_eq!(kernel_gateways(&k), ["10.0.0.2"], "{k}");
            assert_eq!(kernel_protocol(&k), "201", "{k}");
        }
        let routes = routes_json(&node, false).expect("tern routes");
        assert!(route_row(&routes, "10.244.8.0/24").is_some(), "{routes}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // BIRD is back in graceful recovery without 10.244.8.0/24: after its End-of-RIB
    // tern removes that one; 10.244.9.0/24 never leaves the kernel.
    bird.recover(&mut lab, &after, "bird-restarted");
    let start = Instant::now();
    loop {
        assert!(
            kernel_route(&t, "10.244.9.0/24").is_some(),
            "10.244.9.0/24 left the kernel during BIRD's restart"
        );
        let up = status_json(&node).is_some_and(|s| s["peers"][0]["state"] == "Established");
        if up && kernel_route(&t, "10.244.8.0/24").is_none() {
            break;
        }
        assert!(
            start.elapsed() < CONVERGE,
            "BIRD back and 10.244.8.0/24 removed; tern log:\n{}",
            lab.log("tern-a")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let routes = routes_json(&node, false).expect("tern routes");
    assert!(route_row(&routes, "10.244.8.0/24").is_none(), "{routes}");
    assert!(route_row(&routes, "10.244.9.0/24").is_some(), "{routes}");
    let log = lab.log("tern-a");
    assert!(log.contains("keeping its routes"), "{log}");
    assert!(log.contains("removing stale routes"), "{log}");
}

#[test]
fn bird_keeps_terns_block_while_tern_restarts_gracefully() {
    let mut lab = Lab::new("tgr2");
    let (_t, b, node) = tern_and_bird(&mut lab);
    let config = graceful(&bird_config(
        "10.0.0.2",
        65000,
        &["10.244.9.0/24"],
        &[BIRD_TERN4],
    ));
    let bird = start_bird(&mut lab, &b, "bird", &config);
    let pid = start_tern_with(&mut lab, &node, &["--graceful-restart"]);
    bird.wait_established("tern4");
    let block = "10.244.1.0/24";
    wait_for(CONVERGE, "BIRD learned tern's block", || {
        bird.has_route_via(block, "10.0.0.1").then_some(())
    });

    // SIGTERM with --graceful-restart: the session ends without a NOTIFICATION and BIRD
    // keeps tern's block (stale) while the agent is away.
    lab.kill(pid);
    wait_for(CONVERGE, "BIRD sees the session go", || {
        (!is_established(&bird.cli("show protocols tern4"), "tern4")).then_some(())
    });
    let away = Instant::now();
    while away.elapsed() < Duration::from_secs(3) {
        assert!(
            bird.has_route_via(block, "10.0.0.1"),
            "BIRD dropped tern's block during a graceful restart:\n{}",
            bird.cli("show route all")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let proto = bird.cli("show protocols all tern4");
    assert!(
        !proto.contains("Administrative shutdown"),
        "a graceful restart sends no Cease: {proto}"
    );

    // The agent is back: the session returns and the block never left BIRD.
    let pid = start_tern(&mut lab, &node);
    bird.wait_established("tern4");
    assert!(
        bird.has_route_via(block, "10.0.0.1"),
        "{}",
        bird.cli("show route")
    );
    wait_for(CONVERGE, "tern learned BIRD's route again", || {
        installed_next_hops(&node, "10.244.9.0/24")
    });

    // Without the flag, SIGTERM is a Cease and BIRD withdraws the block at once.
    lab.kill(pid);
    wait_for(
        CONVERGE,
        "BIRD withdrew tern's block after a plain stop",
        || (!bird.has_route(block)).then_some(()),
    );
    let proto = bird.cli("show protocols all tern4");
    assert!(proto.contains("Administrative shutdown"), "{proto}");
}
