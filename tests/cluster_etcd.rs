//! Agents in etcd mode against a real etcd (Debian's etcd-server) in a lab namespace:
//! node files with only a name, an address and the datastore; an IPPool applied with
//! `tern apply`. The agents register, build the full mesh from the Node list, claim
//! blocks of the pool, learn each other's blocks into their kernel FIBs, and containers
//! added through the CNI plugin ping across hosts. A fourth node joins without the other
//! sessions flapping; etcd stopped for 30 s withdraws nothing and loses no ping; a dead
//! node leaves the mesh when its lease expires; two agents racing for the blocks of a
//! small pool never get the same block; an agent started before etcd waits for it (and
//! stops on SIGTERM meanwhile) and keeps its block over a restart.
//!
//! Topology: the hosts and etcd's namespace on one bridge (10.1.0.0/24); etcd listens
//! on 10.0.0.1 (its lab address), which every host reaches through etcd's bridge
//! address 10.1.0.100. No host has a default route.

mod cluster_support;
mod cni_support;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cluster_support::*;
use cni_support::{address_of, netns_path, Cni};
use common::{status_json, tern_cli, CONVERGE};
use testlab::{wait_for, Netns};

#[test]
fn three_nodes_from_resources_alone_then_a_fourth_joins_and_etcd_goes_away() {
    let mut c = Cluster::new("cl-etcd");
    c.apply("pool.yaml", &pool("10.244.0.0/16", 26));
    // Host 1 also serves metrics (the datastore's health is asserted on them).
    c.host_with(1, "metrics: { listen: 10.1.0.1:9469 }\n");
    let (_, blocks) = c.up(3);
    let three: Vec<&Host> = c.hosts.iter().collect();
    let all: Vec<&String> = blocks.values().flatten().collect();
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), distinct.len(), "a block owned twice: {blocks:?}");
    for b in &all {
        assert!(b.starts_with("10.244.") && b.ends_with("/26"), "{b}");
    }
    for h in &three {
        let d = datastore(h);
        assert_eq!(d["connected"], true, "{d}");
        assert_eq!(d["nodes"], 3, "{d}");
    }

    // Containers through the CNI plugin, one per host, addresses from the host's block.
    let mut ctrs = Vec::new();
    for i in 0..3 {
        let ns = c.etcd.lab.netns(&format!("c{}", i + 1));
        let ip = add(&c.hosts[i], &format!("ctr-{}", i + 1), &ns);
        assert!(
            inside(&ip, &blocks[&c.hosts[i].addr]),
            "{ip} not in {blocks:?}"
        );
        ctrs.push((ns, ip));
    }
    for (i, (from, _)) in ctrs.iter().enumerate() {
        for (j, (_, to)) in ctrs.iter().enumerate() {
            if i != j {
                wait_for(CONVERGE, &format!("ping c{} -> {to}", i + 1), || {
                    ping(from, to).then_some(())
                });
            }
        }
    }

    // A fourth node joins: everybody peers with it; the existing sessions stay up.
    let before: Vec<BTreeMap<String, u64>> = c.hosts.iter().map(established).collect();
    let h4 = c.host(4);
    c.start(h4);
    let four: Vec<&Host> = c.hosts.iter().collect();
    wait_mesh(&four);
    let blocks = wait_blocks_learned(&four);
    for (i, h) in c.hosts.iter().take(3).enumerate() {
        let now = established(h);
        for (peer, since) in &before[i] {
            assert_eq!(
                now.get(peer),
                Some(since),
                "{}: the session with {peer} was reset when h4 joined",
                h.node.name
            );
        }
    }
    let c4 = c.etcd.lab.netns("c4");
    let ip4 = add(&c.hosts[h4], "ctr-4", &c4);
    assert!(inside(&ip4, &blocks[&c.hosts[h4].addr]));
    wait_for(CONVERGE, "ping c4 -> c1", || {
        ping(&c4, &ctrs[0].1).then_some(())
    });

    // etcd away for 30 s: a ping across hosts loses nothing, no route leaves a FIB, no
    // session drops; the agents reconnect afterwards.
    let sessions: Vec<BTreeMap<String, u64>> = c.hosts.iter().map(established).collect();
    let routes: Vec<String> = c
        .hosts
        .iter()
        .map(|h| h.node.ns.ok(&["ip", "-4", "route", "show", "proto", "201"]))
        .collect();
    let (c1, target) = (ctrs[0].0.clone(), ctrs[1].1.clone());
    // 225 pings 0.2 s apart: 45 s, covering the outage and the reconnection.
    let ping_pid = c.etcd.lab.spawn(
        &c1,
        &[
            "ping", "-4", "-n", "-i", "0.2", "-c", "225", "-W", "2", &target,
        ],
        "ping-outage",
    );
    std::thread::sleep(Duration::from_secs(3));
    c.etcd.stop();
    for h in &c.hosts {
        wait_for(
            CONVERGE,
            &format!("{}: datastore disconnected", h.node.name),
            || (datastore(h)["connected"] == false).then_some(()),
        );
    }
    let m = common::scrape(&c.hosts[0].node.ns, "10.1.0.1:9469");
    assert!(m.contains("tern_datastore_connected 0"), "{m}");
    let outage_end = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < outage_end {
        for (i, h) in c.hosts.iter().enumerate() {
            let now = h.node.ns.ok(&["ip", "-4", "route", "show", "proto", "201"]);
            assert_eq!(
                now, routes[i],
                "{}: routes changed while etcd was away",
                h.node.name
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    for (i, h) in c.hosts.iter().enumerate() {
        assert_eq!(
            established(h),
            sessions[i],
            "{}: a session changed",
            h.node.name
        );
    }
    c.etcd.start();
    for h in &c.hosts {
        wait_for(
            CONVERGE,
            &format!("{}: datastore connected again", h.node.name),
            || {
                let d = datastore(h);
                (d["connected"] == true && d["nodes"] == 4 && d["reconnects"].as_u64() > Some(0))
                    .then_some(())
            },
        );
    }
    let m = common::scrape(&c.hosts[0].node.ns, "10.1.0.1:9469");
    assert!(m.contains("tern_datastore_connected 1"), "{m}");
    assert!(m.contains("tern_datastore_nodes 4"), "{m}");
    let reconnects = m
        .lines()
        .find_map(|l| l.strip_prefix("tern_datastore_reconnects_total "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(reconnects > Some(0), "{m}");
    wait_for(Duration::from_secs(90), "the ping to finish", || {
        (!c.etcd.lab.alive(ping_pid)).then_some(())
    });
    let log = c.etcd.lab.log("ping-outage");
    assert!(
        log.contains("225 packets transmitted, 225 received"),
        "pings lost while etcd was away:\n{log}"
    );
    for (i, h) in c.hosts.iter().enumerate() {
        assert_eq!(
            established(h),
            sessions[i],
            "{}: a session changed",
            h.node.name
        );
        let now = h.node.ns.ok(&["ip", "-4", "route", "show", "proto", "201"]);
        assert_eq!(
            now, routes[i],
            "{}: routes changed after etcd came back",
            h.node.name
        );
    }
    // Converged after: the cluster still follows changes (a fifth node is peered).
    let h5 = c.host(5);
    let pid5 = c.start(h5);
    let five: Vec<&Host> = c.hosts.iter().collect();
    wait_mesh(&five);
    // A node that dies (kill -9: no revoke) leaves the others' mesh once its lease
    // expires; the remaining sessions stay.
    let before: Vec<BTreeMap<String, u64>> = c.hosts.iter().take(4).map(established).collect();
    c.etcd.lab.kill9(pid5);
    let four: Vec<&Host> = c.hosts.iter().take(4).collect();
    for h in &four {
        wait_for(CONVERGE, &format!("{}: h5 removed", h.node.name), || {
            let s = status_json(&h.node)?;
            let gone = s["peers"]
                .as_array()?
                .iter()
                .all(|p| p["address"] != "10.1.0.5");
            gone.then_some(())
        });
    }
    for (i, h) in four.iter().enumerate() {
        let now = established(h);
        for (peer, since) in before[i].iter().filter(|(p, _)| *p != "10.1.0.5") {
            assert_eq!(now.get(peer), Some(since), "{}: {peer} reset", h.node.name);
        }
    }
    let s = tern_cli(&c.hosts[0].node, &["status"]);
    let text = String::from_utf8_lossy(&s.stdout);
    assert!(
        text.contains("Datastore: etcd connected, 4 nodes"),
        "{text}"
    );
}

#[test]
fn two_agents_racing_for_a_small_pool_never_share_a_block() {
    let mut c = Cluster::new("cl-race");
    // Eight /30 blocks of four addresses each.
    c.apply("pool.yaml", &pool("10.250.0.0/27", 30));
    c.host(1);
    c.host(2);
    // Both agents start at once: their first claims race.
    let tern = testlab::tern_bin();
    let tern = tern.to_string_lossy().into_owned();
    for i in 0..2 {
        let node = c.hosts[i].node.clone();
        let config = node.config.to_string_lossy().into_owned();
        c.etcd.lab.spawn(
            &node.ns,
            &["env", "RUST_LOG=info", &tern, "agent", "--config", &config],
            &format!("tern-{}", node.name),
        );
    }
    for h in &c.hosts {
        wait_for(CONVERGE, &format!("{} control socket", h.node.name), || {
            h.node.socket.exists().then_some(())
        });
    }
    // Containers on both hosts at the same time until the pool is used up: each full
    // block makes its agent claim another one, racing the other agent.
    let mut handles = Vec::new();
    for (i, h) in c.hosts.iter().enumerate() {
        let cni = Cni {
            socket: h.cni.socket.clone(),
            version: "1.0.0",
        };
        let mut nss = Vec::new();
        for k in 0..20 {
            nss.push(c.etcd.lab.netns(&format!("r{i}x{k}")));
        }
        handles.push(std::thread::spawn(move || {
            let mut got = Vec::new();
            for (k, ns) in nss.iter().enumerate() {
                let o = cni.call("ADD", &format!("race-{i}-{k}"), &netns_path(ns));
                if o.code != 0 {
                    eprintln!("h{}: ADD {k} answered {}: {}", i + 1, o.code, o.stdout);
                    break;
                }
                if let Some(r) = o.json {
                    got.push(address_of(&r, false));
                }
            }
            got
        }));
    }
    let got: Vec<Vec<String>> = handles
        .into_iter()
        .map(|h| h.join().expect("adder"))
        .collect();
    let b1 = own_blocks(&c.hosts[0].node.ns);
    let b2 = own_blocks(&c.hosts[1].node.ns);
    let shared: Vec<&String> = b1.iter().filter(|b| b2.contains(b)).collect();
    assert!(shared.is_empty(), "both own {shared:?}: {b1:?} {b2:?}");
    assert!(!b1.is_empty() && !b2.is_empty(), "{b1:?} {b2:?}");
    assert_eq!(b1.len() + b2.len(), 8, "the pool is used up: {b1:?} {b2:?}");
    let addrs: Vec<&String> = got.iter().flatten().collect();
    let distinct: BTreeSet<&String> = addrs.iter().copied().collect();
    assert_eq!(
        addrs.len(),
        distinct.len(),
        "an address handed out twice: {got:?}"
    );
    for (i, (g, b)) in got.iter().zip([&b1, &b2]).enumerate() {
        for a in g {
            assert!(
                inside(a.trim_end_matches("/32"), b),
                "h{}: {a} not in its blocks {b:?}",
                i + 1
            );
        }
    }
}

#[test]
fn an_agent_waits_for_etcd_stops_on_sigterm_meanwhile_and_keeps_its_block_over_a_restart() {
    let mut c = Cluster::new("cl-late");
    c.apply("pool.yaml", &pool("10.244.0.0/16", 26));
    c.host(1);
    c.host(2);
    c.etcd.stop();
    let tern = testlab::tern_bin();
    let tern = tern.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for i in 0..2 {
        let node = c.hosts[i].node.clone();
        let config = node.config.to_string_lossy().into_owned();
        pids.push(c.etcd.lab.spawn(
            &node.ns,
            &["env", "RUST_LOG=info", &tern, "agent", "--config", &config],
            &format!("tern-{}", node.name),
        ));
    }
    // No datastore, no cluster state: the agents wait (no socket, nothing routed).
    std::thread::sleep(Duration::from_secs(3));
    for (i, h) in c.hosts.iter().enumerate() {
        assert!(c.etcd.lab.alive(pids[i]), "{} exited", h.node.name);
        assert!(
            !h.node.socket.exists(),
            "{} runs without its datastore",
            h.node.name
        );
    }
    // SIGTERM while waiting: a prompt, clean exit.
    assert!(c.etcd.lab.signal(pids[1], libc::SIGTERM));
    wait_for(Duration::from_secs(10), "h2 to exit on SIGTERM", || {
        (!c.etcd.lab.alive(pids[1])).then_some(())
    });
    // etcd comes: h1 joins, claims a block and serves.
    c.etcd.start();
    let h1 = &c.hosts[0];
    wait_for(CONVERGE, "h1 joined", || {
        (datastore(h1)["connected"] == true).then_some(())
    });
    assert_eq!(own_blocks(&h1.node.ns).len(), 1);
    // h2 starts now and meshes with h1.
    let pid2 = c.start(1);
    let both: Vec<&Host> = c.hosts.iter().collect();
    wait_mesh(&both);
    let blocks = wait_blocks_learned(&both);
    assert!(c.etcd.lab.alive(pid2));
    // A restart keeps the node's block (affinity): h1 stops cleanly (its Node goes,
    // h2 drops the peer) and comes back with the same block, and h2 peers again.
    c.etcd.lab.kill(pids[0]);
    wait_for(CONVERGE, "h2 drops h1", || {
        let s = status_json(&c.hosts[1].node)?;
        let gone = s["peers"]
            .as_array()?
            .iter()
            .all(|p| p["address"] != "10.1.0.1");
        gone.then_some(())
    });
    c.start(0);
    let both: Vec<&Host> = c.hosts.iter().collect();
    wait_mesh(&both);
    assert_eq!(
        wait_blocks_learned(&both),
        blocks,
        "blocks changed over a restart"
    );
}

#[test]
fn dual_stack_nodes_mesh_per_family_and_their_containers_ping_over_ipv6() {
    let mut c = Cluster::new("cl-v6");
    c.apply(
        "pools.yaml",
        &format!(
            "{}---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{ name: pool-6 }}\nspec: {{ cidr: \"fd00:244::/48\" }}\n",
            pool("10.244.0.0/16", 26)
        ),
    );
    for n in 1..=2 {
        let i = c.host_with(n, &format!("ipv6Address: \"fd00:1::{n}\"\n"));
        let v6 = format!("fd00:1::{n}/64");
        c.hosts[i]
            .node
            .ns
            .ok(&["ip", "-6", "addr", "add", &v6, "dev", "eth0", "nodad"]);
    }
    c.start(0);
    c.start(1);
    // One session per family with the other node.
    for (h, other) in [(&c.hosts[0], 2), (&c.hosts[1], 1)] {
        let want: BTreeSet<String> = [format!("10.1.0.{other}"), format!("fd00:1::{other}")].into();
        wait_for(CONVERGE, &format!("{}: {want:?}", h.node.name), || {
            let up: BTreeSet<String> = established(h).into_keys().collect();
            (up == want).then_some(())
        });
    }
    // Each node claimed a /122 of the IPv6 pool; the other routes it via its IPv6 address.
    let v6_block = |ns: &Netns| -> Option<String> {
        let out = ns.ok(&[
            "ip",
            "-6",
            "route",
            "show",
            "proto",
            "201",
            "type",
            "blackhole",
        ]);
        out.lines()
            .find_map(|l| l.split_whitespace().nth(1).map(str::to_string))
    };
    let b1 = wait_for(CONVERGE, "h1's IPv6 block", || {
        v6_block(&c.hosts[0].node.ns)
    });
    let b2 = wait_for(CONVERGE, "h2's IPv6 block", || {
        v6_block(&c.hosts[1].node.ns)
    });
    assert_ne!(b1, b2);
    assert!(b1.starts_with("fd00:244:") && b1.ends_with("/122"), "{b1}");
    for (h, b, via) in [
        (&c.hosts[0], &b2, "fd00:1::2"),
        (&c.hosts[1], &b1, "fd00:1::1"),
    ] {
        wait_for(CONVERGE, &format!("{}: {b} via {via}", h.node.name), || {
            let r = h
                .node
                .ns
                .ok(&["ip", "-6", "route", "show", "exact", b, "proto", "201"]);
            r.contains(&format!("via {via}")).then_some(())
        });
    }
    let mut v6 = Vec::new();
    for i in 0..2 {
        let ns = c.etcd.lab.netns(&format!("c{}", i + 1));
        let o = c.hosts[i]
            .cni
            .call("ADD", &format!("ctr-{i}"), &netns_path(&ns));
        assert_eq!(o.code, 0, "ADD: {}", o.stdout);
        let r = o.json.expect("result");
        let a = address_of(&r, true).trim_end_matches("/128").to_string();
        assert!(a.starts_with("fd00:244:"), "{a}");
        v6.push((ns, a));
    }
    for (from, to) in [(&v6[0].0, &v6[1].1), (&v6[1].0, &v6[0].1)] {
        wait_for(CONVERGE, &format!("ping -6 {to}"), || {
            from.run(&["ping", "-6", "-c1", "-W1", to])
                .status
                .success()
                .then_some(())
        });
    }
}
