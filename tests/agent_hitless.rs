//! Hitless restart: a container on one host pings a container on another every 10 ms
//! while one `tern agent` is restarted the documented way (SIGTERM with
//! `--graceful-restart`, then a new `tern agent`). Not one packet may be lost: the
//! restarting agent leaves its kernel routes in place, the peer (another tern, or BIRD
//! as the graceful-restart helper) keeps the restarting node's block while it is away,
//! and the new agent adopts its routes, learns again, sends End-of-RIB and removes only
//! what is really gone: a route BIRD dropped while tern was away leaves the kernel once
//! BIRD's End-of-RIB is in (not two minutes later), and the OPEN after the restart carries
//! the Restart State bit and, since the kernel kept tern's routes, the Forwarding State bit.

mod common;

use std::time::{Duration, Instant};

use common::*;
use testlab::bird::{bird_config, start_bird, BirdPeer};
use testlab::{wait_for, Lab, Netns};

/// Pings `count` times at 10 ms from `from` to `to`, in the background; the summary
/// goes to the lab log `name`.
fn start_ping(lab: &mut Lab, from: &Netns, to: &str, count: u32, name: &str) -> u32 {
    lab.spawn(
        from,
        &[
            "ping",
            "-n",
            "-q",
            "-i",
            "0.01",
            "-W",
            "1",
            "-c",
            &count.to_string(),
            to,
        ],
        name,
    )
}

/// (transmitted, received) from ping's summary, once it has finished.
fn ping_result(lab: &mut Lab, pid: u32, name: &str) -> (u64, u64) {
    wait_for(Duration::from_secs(120), "ping finished", || {
        (!lab.alive(pid)).then_some(())
    });
    let log = lab.log(name);
    let line = log
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary: {log}"));
    let n: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

/// Stops the agent with SIGTERM and waits until it is gone.
fn stop(lab: &mut Lab, pid: u32) {
    lab.kill(pid);
    wait_for(CONVERGE, "agent exited", || (!lab.alive(pid)).then_some(()));
}

/// Two hosts on a switch: a (10.0.0.1/24) and b (10.0.0.2/24).
fn two_hosts(lab: &mut Lab) -> (Netns, Netns) {
    let a = lab.netns("a");
    let b = lab.netns("b");
    switch(lab, &[(&a, &["10.0.0.1/24"]), (&b, &["10.0.0.2/24"])]);
    (a, b)
}

/// Turns BFD (100 ms × 3) on for the mesh, or the peers, in `node`'s config.
fn mesh_bfd(node: &Node) {
    let text = std::fs::read_to_string(&node.config).expect("config");
    let with = text.replace(
        "connectRetryTime: 1s }",
        "connectRetryTime: 1s, bfd: { interval: 100ms, multiplier: 3 } }",
    );
    assert_ne!(with, text);
    std::fs::write(&node.config, with).expect("config");
}

fn bfd_up(node: &Node) -> bool {
    status_json(node).is_some_and(|s| s["peers"][0]["bfd"] == "Up")
}

/// Both agents run BFD with each other: the restarting agent must tell its neighbour
/// AdminDown on the way out (RFC 5882 §3.2), or the neighbour's BFD would see it vanish
/// and close the BGP session, withdrawing the restarting node's block mid-restart.
#[test]
fn tern_restart_loses_no_packet_between_tern_hosts() {
    let mut lab = Lab::new("thl");
    let (a, b) = two_hosts(&mut lab);
    let na = write_node(
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
    let nb = write_node(
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
    let ca = container(&mut lab, &na, "ca", "tw-ca", &["10.244.1.10/32"]);
    let _cb = container(&mut lab, &nb, "cb", "tw-cb", &["10.244.2.10/32"]);
    mesh_bfd(&na);
    mesh_bfd(&nb);
    let pid_a = start_tern_with(&mut lab, &na, &["--graceful-restart"]);
    start_tern(&mut lab, &nb);
    wait_established(&na, 1);
    wait_established(&nb, 1);
    wait_for(CONVERGE, "BFD Up on both hosts", || {
        (bfd_up(&na) && bfd_up(&nb)).then_some(())
    });
    wait_for(CONVERGE, "ping across hosts", || {
        ca.run(&["ping", "-c1", "-W1", "10.244.2.10"])
            .status
            .success()
            .then_some(())
    });

    // 20 s of pings at 10 ms; the restart happens inside that window.
    let ping = start_ping(&mut lab, &ca, "10.244.2.10", 2000, "ping");
    std::thread::sleep(Duration::from_secs(2));
    let t0 = Instant::now();
    stop(&mut lab, pid_a);
    start_tern_with(&mut lab, &na, &["--graceful-restart"]);
    wait_established(&na, 1);
    wait_established(&nb, 1);
    eprintln!("agent a back and Established after {:?}", t0.elapsed());
    let (sent, got) = ping_result(&mut lab, ping, "ping");
    eprintln!("ping: {sent} sent, {got} received");
    assert_eq!(sent, 2000);
    assert_eq!(got, sent, "packets lost across a graceful restart");
    // Routes after the restart: b's block learned again and installed.
    let hops = wait_for(CONVERGE, "a has b's block again", || {
        installed_next_hops(&na, "10.244.2.0/24")
    });
    assert_eq!(hops, ["10.0.0.2"]);
    wait_for(CONVERGE, "BFD Up again", || {
        (bfd_up(&na) && bfd_up(&nb)).then_some(())
    });
    let log = lab.log("tern-b");
    assert!(log.contains("keeping its routes"), "b helped: {log}");
    assert!(!log.contains("closing the BGP session"), "{log}");
}

#[test]
fn tern_restart_loses_no_packet_with_bird_as_helper() {
    bird_helper("thlb", false);
}

/// BFD on both sides. BIRD 2.0.12 ends its BGP session when the neighbour's BFD goes
/// AdminDown (measured in bench/failover: 50–500 of 1,500 pings lost with `bfd on`), so a
/// BIRD peer is told to treat a BFD down as a graceful restart (`bfd graceful`).
#[test]
fn tern_restart_loses_no_packet_with_bird_as_helper_and_bfd() {
    bird_helper("thlbf", true);
}

fn bird_helper(name: &str, bfd: bool) {
    let mut lab = Lab::new(name);
    let (a, b) = two_hosts(&mut lab);
    let na = write_node(
        &lab,
        &a,
        &NodeSpec {
            name: "a",
            router_id: "10.0.0.1",
            blocks: &["10.244.1.0/24"],
            peers: &[("10.0.0.2", 65000)],
            ..NodeSpec::default()
        },
    );
    if bfd {
        mesh_bfd(&na);
    }
    let ca = container(&mut lab, &na, "ca", "tw-ca", &["10.244.1.10/32"]);
    // BIRD's host: an address of its block on lo stands for its containers; BIRD exports
    // the routes it learns to the kernel, with graceful restart on (as Calico runs it).
    b.ok(&["ip", "addr", "add", "10.244.9.10/32", "dev", "lo"]);
    let conf = |statics: &[&str]| {
        let peer = BirdPeer {
            name: "tern4",
            local: "10.0.0.2",
            neighbor: "10.0.0.1",
            asn: 64512,
            family: "ipv4",
        };
        "debug protocols { states, events };\n".to_string()
            + &bird_config("10.0.0.2", 65000, statics, &[peer]).replace(
                "connect retry time 1;",
                "connect retry time 1;\n  graceful restart on;",
            )
            + "protocol kernel { ipv4 { export where source = RTS_BGP; }; }\n"
    };
    let conf = |statics: &[&str]| {
        if bfd {
            conf(statics).replace(
                "graceful restart on;",
                "graceful restart on;\n  bfd graceful;",
            ) + "protocol bfd {\n  interface \"eth0\" { interval 100 ms; multiplier 3; };\n}\n"
        } else {
            conf(statics)
        }
    };
    let bird = start_bird(
        &mut lab,
        &b,
        "bird",
        &conf(&["10.244.9.0/24", "10.244.8.0/24"]),
    );
    let pid_a = start_tern_with(&mut lab, &na, &["--graceful-restart"]);
    bird.wait_established("tern4");
    wait_established(&na, 1);
    if bfd {
        wait_for(CONVERGE, "BFD Up", || bfd_up(&na).then_some(()));
    }
    wait_for(CONVERGE, "BIRD's second block installed", || {
        kernel_route(&a, "10.244.8.0/24").map(|_| ())
    });
    wait_for(CONVERGE, "ping across hosts", || {
        ca.run(&["ping", "-c1", "-W1", "10.244.9.10"])
            .status
            .success()
            .then_some(())
    });

    let ping = start_ping(&mut lab, &ca, "10.244.9.10", 2000, "ping");
    std::thread::sleep(Duration::from_secs(2));
    let t0 = Instant::now();
    stop(&mut lab, pid_a);
    // While tern is away BIRD drops 10.244.8.0/24: the new agent must remove it from the
    // kernel once BIRD's End-of-RIB is in, and keep everything else.
    bird.reconfigure(&conf(&["10.244.9.0/24"]));
    start_tern_with(&mut lab, &na, &["--graceful-restart"]);
    bird.wait_established("tern4");
    wait_established(&na, 1);
    eprintln!("agent a back and Established after {:?}", t0.elapsed());
    let back = Instant::now();
    wait_for(
        Duration::from_secs(15),
        "the route BIRD dropped is swept",
        || kernel_route(&a, "10.244.8.0/24").is_none().then_some(()),
    );
    eprintln!("swept {:?} after Established", back.elapsed());
    assert!(kernel_route(&a, "10.244.9.0/24").is_some());
    let log = lab.log("tern-a");
    assert!(log.contains("End-of-RIB from every peer"), "{log}");
    // The OPEN after the restart said so (RFC 4724 R bit) and kept forwarding (F bit).
    let proto = bird.cli("show protocols all tern4");
    let neighbor = proto
        .split("Neighbor capabilities")
        .nth(1)
        .expect("BIRD shows the neighbour's capabilities");
    assert!(neighbor.contains("Restart recovery"), "{proto}");
    assert!(neighbor.contains("AF preserved: ipv4 ipv6"), "{proto}");
    let (sent, got) = ping_result(&mut lab, ping, "ping");
    eprintln!("ping: {sent} sent, {got} received");
    assert_eq!(sent, 2000);
    assert_eq!(got, sent, "packets lost across a graceful restart");
    assert!(bird.has_route_via("10.244.1.0/24", "10.0.0.1"));
    // BIRD saw a graceful restart of its neighbour, not a session end.
    let log = lab.log("bird");
    assert!(log.contains("Neighbor graceful restart detected"), "{log}");
    assert!(!log.contains("Administrative shutdown"), "{log}");
}
