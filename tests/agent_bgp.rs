//! `tern agent` as a BGP speaker next to real BIRD 2 and GoBGP daemons, each lab in its
//! own network namespaces: sessions, advertisements both ways, withdrawals, restarts,
//! a three-node iBGP mesh, and the import policy (pools, own blocks) explained by
//! `tern routes --all`.

mod common;

use common::*;
use testlab::bird::{bird_config, start_bird, BirdPeer};
use testlab::{wait_for, Lab};

/// tern (AS 64512) ↔ BIRD (AS 65000) over IPv4 and IPv6 sessions on one link.
#[test]
fn bird_ebgp_ipv4_and_ipv6() {
    let mut lab = Lab::new("tbird");
    let t = lab.netns("tern");
    let b = lab.netns("bird");
    lab.veth(
        &t,
        "eth0",
        &["10.0.0.1/24", "fd00:1::1/64"],
        &b,
        "eth0",
        &["10.0.0.2/24", "fd00:1::2/64"],
    );
    let node = write_node(
        &lab,
        &t,
        &NodeSpec {
            blocks: &["10.244.1.0/24", "fd00:244:0:1::/64"],
            peers: &[("10.0.0.2", 65000), ("fd00:1::2", 65000)],
            extra: "metrics: { listen: \"127.0.0.1:9469\" }\n",
            ..NodeSpec::default()
        },
    );
    let peers = [
        BirdPeer {
            name: "tern4",
            local: "10.0.0.2",
            neighbor: "10.0.0.1",
            asn: 64512,
            family: "ipv4",
        },
        BirdPeer {
            name: "tern6",
            local: "fd00:1::2",
            neighbor: "fd00:1::1",
            asn: 64512,
            family: "ipv6",
        },
    ];
    let statics = ["10.244.9.0/24", "fd00:244:0:9::/64"];
    let mut bird = start_bird(
        &mut lab,
        &b,
        "bird",
        &bird_config("10.0.0.2", 65000, &statics, &peers),
    );
    let tern = start_tern(&mut lab, &node);

    bird.wait_established("tern4");
    bird.wait_established("tern6");
    wait_established(&node, 2);

    // BIRD learned tern's blocks, with tern's addresses as next hops.
    wait_for(CONVERGE, "BIRD has tern's IPv4 block", || {
        bird.has_route_via("10.244.1.0/24", "10.0.0.1")
            .then_some(())
    });
    wait_for(CONVERGE, "BIRD has tern's IPv6 block", || {
        bird.has_route_via("fd00:244:0:1::/64", "fd00:1::1")
            .then_some(())
    });
    // tern learned BIRD's prefixes and installed them in the kernel with proto 201.
    let hops = wait_for(CONVERGE, "tern installed 10.244.9.0/24", || {
        installed_next_hops(&node, "10.244.9.0/24")
    });
    assert_eq!(hops, ["10.0.0.2"]);
    let hops6 = wait_for(CONVERGE, "tern installed fd00:244:0:9::/64", || {
        installed_next_hops(&node, "fd00:244:0:9::/64")
    });
    assert_eq!(hops6, ["fd00:1::2"]);
    let k = kernel_route(&t, "10.244.9.0/24").expect("kernel route 10.244.9.0/24");
    assert_eq!(kernel_gateways(&k), ["10.0.0.2"]);
    assert_eq!(kernel_protocol(&k), "201", "{k}");
    let k6 = kernel_route(&t, "fd00:244:0:9::/64").expect("kernel route fd00:244:0:9::/64");
    assert_eq!(kernel_gateways(&k6), ["fd00:1::2"]);
    // Through nexthop objects (fib.nexthopObjects is on by default), one per gateway.
    assert!(k["nhid"].is_u64() && k6["nhid"].is_u64(), "{k}\n{k6}");
    // Own blocks are blackholes.
    let own = kernel_route(&t, "10.244.1.0/24").expect("own block in the kernel");
    assert_eq!(own["type"], "blackhole", "{own}");
    let routes = routes_json(&node, false).expect("tern routes");
    let row = route_row(&routes, "10.244.9.0/24").expect("row");
    assert_eq!(row["as_path"], "65000");
    assert_eq!(row["learned_from"], "10.0.0.2");
    assert_eq!(row["source"], "bgp");

    // The human table and the metrics say the same.
    let table = String::from_utf8_lossy(&tern_cli(&node, &["status"]).stdout).into_owned();
    assert!(
        table.contains("10.0.0.2") && table.contains("Established"),
        "{table}"
    );
    let m = scrape(&t, "127.0.0.1:9469");
    assert!(
        m.contains(
            "tern_bgp_session_state{peer=\"10.0.0.2\",peer_as=\"65000\",peer_type=\"global\"} 6"
        ),
        "{m}"
    );
    assert!(
        m.contains(
            "tern_bgp_prefixes_accepted{peer=\"fd00:1::2\",peer_as=\"65000\",peer_type=\"global\"} 1"
        ),
        "{m}"
    );
    assert!(m.contains("tern_fib_routes_installed"), "{m}");
    assert!(m.contains("\ntern_fib_nexthop_objects 2\n"), "{m}");

    // BIRD restarts: the session comes back and the routes return.
    bird.restart(&mut lab);
    bird.wait_established("tern4");
    bird.wait_established("tern6");
    wait_for(CONVERGE, "BIRD has tern's block again", || {
        bird.has_route_via("10.244.1.0/24", "10.0.0.1")
            .then_some(())
    });
    wait_for(CONVERGE, "tern has BIRD's prefix again", || {
        installed_next_hops(&node, "10.244.9.0/24")
    });
    let m = scrape(&t, "127.0.0.1:9469");
    assert!(
        m.contains("tern_bgp_established_transitions_total{peer=\"10.0.0.2\",peer_as=\"65000\",peer_type=\"global\"} 2"),
        "{m}"
    );

    // BIRD withdraws its IPv4 static: tern removes it from the RIB and the kernel.
    bird.reconfigure(&bird_config(
        "10.0.0.2",
        65000,
        &["fd00:244:0:9::/64"],
        &peers,
    ));
    wait_for(CONVERGE, "withdrawal reaches tern's kernel", || {
        let gone_rib =
            routes_json(&node, false).is_some_and(|r| route_row(&r, "10.244.9.0/24").is_none());
        (gone_rib && kernel_route(&t, "10.244.9.0/24").is_none()).then_some(())
    });
    assert!(installed_next_hops(&node, "fd00:244:0:9::/64").is_some());

    // tern stops (SIGTERM): BIRD hears a Cease and drops tern's routes; the socket goes.
    lab.kill(tern);
    wait_for(CONVERGE, "BIRD drops tern's routes", || {
        (!bird.has_route("10.244.1.0/24") && !bird.has_route("fd00:244:0:1::/64")).then_some(())
    });
    let proto = bird.cli("show protocols all tern4");
    assert!(
        proto.to_lowercase().contains("administrative shutdown"),
        "BIRD should report tern's Cease: {proto}"
    );
    assert!(!node.socket.exists(), "control socket left behind");
    // Routes stay in the kernel after a normal stop (no --flush-routes-on-exit).
    assert!(kernel_route(&t, "fd00:244:0:9::/64").is_some());
}

/// tern ↔ GoBGP, one iBGP (same AS) and one eBGP session, each GoBGP in its own namespace.
#[test]
fn gobgp_ibgp_and_ebgp() {
    let mut lab = Lab::new("tgobgp");
    let t = lab.netns("tern");
    let gi = lab.netns("gi");
    let ge = lab.netns("ge");
    lab.veth(&t, "eth1", &["10.0.1.1/24"], &gi, "eth0", &["10.0.1.2/24"]);
    lab.veth(&t, "eth2", &["10.0.2.1/24"], &ge, "eth0", &["10.0.2.2/24"]);
    let node = write_node(
        &lab,
        &t,
        &NodeSpec {
            blocks: &["10.244.1.0/24"],
            peers: &[("10.0.1.2", 64512), ("10.0.2.2", 65001)],
            ..NodeSpec::default()
        },
    );
    start_gobgp(
        &mut lab,
        &gi,
        "gobgp-i",
        &gobgp_config(64512, "10.0.1.2", "10.0.1.1", 64512),
    );
    start_gobgp(
        &mut lab,
        &ge,
        "gobgp-e",
        &gobgp_config(65001, "10.0.2.2", "10.0.2.1", 64512),
    );
    gi.ok(&[
        "gobgp",
        "global",
        "rib",
        "add",
        "10.244.7.0/24",
        "-a",
        "ipv4",
    ]);
    ge.ok(&[
        "gobgp",
        "global",
        "rib",
        "add",
        "10.244.8.0/24",
        "-a",
        "ipv4",
    ]);
    start_tern(&mut lab, &node);
    wait_established(&node, 2);

    // GoBGP learned tern's block: over iBGP with an empty AS path, over eBGP with 64512.
    let rib_i = wait_for(CONVERGE, "iBGP GoBGP has tern's block", || {
        let r = gobgp_rib(&gi, "ipv4");
        r.contains("10.244.1.0/24").then_some(r)
    });
    let line = rib_i
        .lines()
        .find(|l| l.contains("10.244.1.0/24"))
        .unwrap_or_default();
    assert!(
        line.contains("10.0.1.1"),
        "next hop should be tern's address: {rib_i}"
    );
    let rib_e = wait_for(CONVERGE, "eBGP GoBGP has tern's block", || {
        let r = gobgp_rib(&ge, "ipv4");
        r.contains("10.244.1.0/24").then_some(r)
    });
    let line = rib_e
        .lines()
        .find(|l| l.contains("10.244.1.0/24"))
        .unwrap_or_default();
    assert!(
        line.contains("10.0.2.1") && line.contains("64512"),
        "{rib_e}"
    );

    // tern learned both, installed via the GoBGP speakers.
    let h = wait_for(CONVERGE, "tern installed the iBGP route", || {
        installed_next_hops(&node, "10.244.7.0/24")
    });
    assert_eq!(h, ["10.0.1.2"]);
    let h = wait_for(CONVERGE, "tern installed the eBGP route", || {
        installed_next_hops(&node, "10.244.8.0/24")
    });
    assert_eq!(h, ["10.0.2.2"]);
    let routes = routes_json(&node, false).expect("routes");
    assert_eq!(
        route_row(&routes, "10.244.7.0/24").expect("row")["as_path"],
        ""
    );
    assert_eq!(
        route_row(&routes, "10.244.8.0/24").expect("row")["as_path"],
        "65001"
    );
    // iBGP-learned routes are not re-advertised to iBGP peers (split horizon) but are to
    // eBGP peers; the eBGP route reaches the iBGP peer.
    wait_for(CONVERGE, "eBGP route reaches the iBGP GoBGP", || {
        gobgp_rib(&gi, "ipv4")
            .contains("10.244.8.0/24")
            .then_some(())
    });
    wait_for(CONVERGE, "iBGP route reaches the eBGP GoBGP", || {
        gobgp_rib(&ge, "ipv4")
            .contains("10.244.7.0/24")
            .then_some(())
    });

    // A withdrawal from GoBGP propagates into tern's FIB.
    gi.ok(&[
        "gobgp",
        "global",
        "rib",
        "del",
        "10.244.7.0/24",
        "-a",
        "ipv4",
    ]);
    wait_for(CONVERGE, "withdrawn route leaves tern's FIB", || {
        kernel_route(&t, "10.244.7.0/24").is_none().then_some(())
    });
}

/// Three tern nodes in an iBGP full mesh on one segment, plus a BIRD router (eBGP)
/// peering with each: every node's block reaches every node and BIRD.
#[test]
fn three_node_mesh_and_bird() {
    let mut lab = Lab::new("tmesh");
    let a = lab.netns("a");
    let b = lab.netns("b");
    let c = lab.netns("c");
    let r = lab.netns("tor");
    switch(
        &mut lab,
        &[
            (&a, &["10.0.0.1/24"]),
            (&b, &["10.0.0.2/24"]),
            (&c, &["10.0.0.3/24"]),
            (&r, &["10.0.0.10/24"]),
        ],
    );
    let addrs = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
    let blocks = ["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"];
    let names = ["a", "b", "c"];
    let mut nodes = Vec::new();
    for (i, ns) in [&a, &b, &c].into_iter().enumerate() {
        let mesh: Vec<&str> = addrs.iter().copied().filter(|x| *x != addrs[i]).collect();
        nodes.push(write_node(
            &lab,
            ns,
            &NodeSpec {
                name: names[i],
                router_id: addrs[i],
                blocks: &[blocks[i]],
                mesh: &mesh,
                peers: &[("10.0.0.10", 65000)],
                ..NodeSpec::default()
            },
        ));
    }
    let bird_peers: Vec<BirdPeer> = names
        .iter()
        .zip(addrs)
        .map(|(n, addr)| BirdPeer {
            name: n,
            local: "10.0.0.10",
            neighbor: addr,
            asn: 64512,
            family: "ipv4",
        })
        .collect();
    let bird = start_bird(
        &mut lab,
        &r,
        "bird",
        &bird_config("10.0.0.10", 65000, &["10.244.200.0/24"], &bird_peers),
    );
    for n in &nodes {
        start_tern(&mut lab, n);
    }
    for n in &nodes {
        wait_established(n, 3);
    }
    for (i, n) in nodes.iter().enumerate() {
        for (j, block) in blocks.iter().enumerate() {
            if i == j {
                continue;
            }
            let hops = wait_for(CONVERGE, &format!("{} installs {block}", n.name), || {
                installed_next_hops(n, block)
            });
            assert_eq!(
                hops,
                [addrs[j]],
                "{} should reach {block} straight at its host",
                n.name
            );
        }
        let hops = wait_for(
            CONVERGE,
            &format!("{} installs BIRD's prefix", n.name),
            || installed_next_hops(n, "10.244.200.0/24"),
        );
        assert_eq!(hops, ["10.0.0.10"]);
    }
    for (block, addr) in blocks.iter().zip(addrs) {
        wait_for(CONVERGE, &format!("BIRD has {block}"), || {
            bird.has_route_via(block, addr).then_some(())
        });
    }
}

/// A peer that announces a prefix outside the pools and one of tern's own blocks: neither
/// is accepted or installed, and `tern routes --all --json` says why.
#[test]
fn import_policy_rejections_are_explained() {
    let mut lab = Lab::new("treject");
    let (t, b, node) = tern_and_bird(&mut lab);
    let peers = [BIRD_TERN4];
    let statics = ["10.99.0.0/24", "10.244.1.0/24", "10.244.9.0/24"];
    let _bird = start_bird(
        &mut lab,
        &b,
        "bird",
        &bird_config("10.0.0.2", 65000, &statics, &peers),
    );
    start_tern(&mut lab, &node);
    wait_established(&node, 1);
    wait_for(CONVERGE, "the acceptable prefix installed", || {
        installed_next_hops(&node, "10.244.9.0/24")
    });
    // Rejected routes are counted per peer and reason, not stored.
    let all = wait_for(CONVERGE, "rejected announcements counted", || {
        let r = routes_json(&node, true)?;
        (rejected(&r, "10.0.0.2", "outside the pools") >= 1
            && rejected(&r, "10.0.0.2", "own blocks") >= 1)
            .then_some(r)
    });
    assert!(route_row(&all, "10.99.0.0/24").is_none(), "{all}");
    let own = route_row(&all, "10.244.1.0/24").expect("row for the own block");
    assert_eq!(own["source"], "block", "{own}");
    assert!(
        own["paths"]
            .as_array()
            .is_none_or(|p| p.iter().all(|p| p["from"] != "10.0.0.2")),
        "BIRD's echo of our block is not stored: {own}"
    );
    // Neither reaches the kernel; without --all the rejected prefix is not shown.
    assert!(kernel_route(&t, "10.99.0.0/24").is_none());
    assert_eq!(
        kernel_route(&t, "10.244.1.0/24").expect("own block")["type"],
        "blackhole"
    );
    let best_only = routes_json(&node, false).expect("routes");
    assert!(route_row(&best_only, "10.99.0.0/24").is_none());
    let status = status_json(&node).expect("status");
    assert_eq!(status["peers"][0]["received"], 3, "{status}");
    assert_eq!(status["peers"][0]["accepted"], 1, "{status}");
}
