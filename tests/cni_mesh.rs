//! Two hosts running `tern agent` in an iBGP mesh over one link (no default route on
//! either), a container on each added through the CNI plugin: the containers ping each
//! other (IPv4 and IPv6) and talk TCP over a pure layer-3 path (each host has the other's
//! block with tern's protocol via the other host, no tunnel). Then one agent is killed
//! with -9 and restarted: the containers keep their addresses, interfaces and routes and
//! still talk; a new container gets an address nobody holds.

mod cni_support;
mod common;

use cni_support::*;
use common::{start_tern, tern_cli, write_node, Node, NodeSpec, CONVERGE};
use serde_json::Value;
use testlab::{wait_for, Lab, Netns};

fn ping(from: &Netns, to: &str) -> bool {
    let fam = if to.contains(':') { "-6" } else { "-4" };
    from.run(&["ping", fam, "-c1", "-W1", to]).status.success()
}

fn tcp(lab: &mut Lab, server: &Netns, client: &Netns, ip: &str, port: &str) {
    let fam = if ip.contains(':') { "6" } else { "4" };
    let log = format!("nc-{port}");
    let pid = lab.spawn(
        server,
        &["sh", "-c", &format!("echo pong | nc -{fam} -l -N {port}")],
        &log,
    );
    wait_for(CONVERGE, &format!("TCP to {ip} port {port}"), || {
        // The client keeps its side open a moment: a server nc that reads the client's
        // FIN before its own stdin exits without sending its line.
        let o = client.sh(&format!("(echo ping; sleep 1) | nc -N -w 3 {ip} {port}"));
        String::from_utf8_lossy(&o.stdout)
            .contains("pong")
            .then_some(())
    });
    lab.kill(pid);
    assert!(
        lab.log(&log).contains("ping"),
        "the server did not get the line"
    );
}

struct Host {
    ns: Netns,
    node: Node,
    cni: Cni,
}

fn two_hosts(lab: &mut Lab) -> [Host; 2] {
    let a = lab.netns("a");
    let b = lab.netns("b");
    lab.veth(
        &a,
        "eth0",
        &["10.0.0.1/24", "fd00:1::1/64"],
        &b,
        "eth0",
        &["10.0.0.2/24", "fd00:1::2/64"],
    );
    let spec = [
        (
            &a,
            "a",
            "10.0.0.1",
            ["10.244.1.0/24", "fd00:244:0:1::/120"],
            ["10.0.0.2", "fd00:1::2"],
        ),
        (
            &b,
            "b",
            "10.0.0.2",
            ["10.244.2.0/24", "fd00:244:0:2::/120"],
            ["10.0.0.1", "fd00:1::1"],
        ),
    ];
    spec.map(|(ns, name, rid, blocks, mesh)| {
        let state = lab.dir().join(format!("state-{name}"));
        let extra = format!("stateDir: \"{}\"\n", state.display());
        let node = write_node(
            lab,
            ns,
            &NodeSpec {
                name,
                router_id: rid,
                blocks: &blocks,
                mesh: &mesh,
                extra: &extra,
                ..NodeSpec::default()
            },
        );
        Host {
            ns: ns.clone(),
            cni: Cni {
                socket: node.socket.clone(),
                version: "1.0.0",
            },
            node,
        }
    })
}

fn add(h: &Host, id: &str, c: &Netns) -> (String, String) {
    let o = h.cni.call("ADD", id, &netns_path(c));
    assert_eq!(o.code, 0, "ADD {id}: {}", o.stdout);
    let r = o.json.expect("result");
    let v4 = address_of(&r, false);
    let v6 = address_of(&r, true);
    (
        v4.trim_end_matches("/32").to_string(),
        v6.trim_end_matches("/128").to_string(),
    )
}

fn endpoints(node: &Node) -> Option<Value> {
    let o = tern_cli(node, &["endpoints", "--json"]);
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).ok())
        .flatten()
}

#[test]
fn containers_on_two_hosts_talk_and_survive_an_agent_kill_9() {
    let mut lab = Lab::new("cni-mesh");
    let [ha, hb] = two_hosts(&mut lab);
    let pid_a = start_tern(&mut lab, &ha.node);
    start_tern(&mut lab, &hb.node);
    let ca = lab.netns("ca");
    let cb = lab.netns("cb");
    let (a4, a6) = add(&ha, "ctr-a", &ca);
    let (b4, b6) = add(&hb, "ctr-b", &cb);
    assert!(a4.starts_with("10.244.1.") && b4.starts_with("10.244.2."));

    // Each host routes the other's block via the other host, with tern's protocol.
    for (h, block, via) in [
        (&ha, "10.244.2.0/24", "10.0.0.2"),
        (&hb, "10.244.1.0/24", "10.0.0.1"),
    ] {
        wait_for(CONVERGE, &format!("{block} via {via}"), || {
            let r = h.ns.ok(&["ip", "route", "show", block]);
            (r.contains(&format!("via {via}")) && r.contains("proto 201")).then_some(())
        });
    }
    wait_for(CONVERGE, "ping a -> b (IPv4)", || {
        ping(&ca, &b4).then_some(())
    });
    wait_for(CONVERGE, "ping b -> a (IPv4)", || {
        ping(&cb, &a4).then_some(())
    });
    wait_for(CONVERGE, "ping a -> b (IPv6)", || {
        ping(&ca, &b6).then_some(())
    });
    // Pure L3: the path from a's container leaves host a straight to host b.
    let path = ha.ns.ok(&["ip", "route", "get", &b4]);
    assert!(path.contains("via 10.0.0.2 dev eth0"), "{path}");
    tcp(&mut lab, &cb, &ca, &b4, "7001");
    tcp(&mut lab, &ca, &cb, &a6, "7002");

    // kill -9 and restart host a's agent.
    // A container that goes away while its agent is down (its netns deleted, which
    // takes the veth with it): the next DEL cleans up after it.
    let gone = lab.netns("gone");
    let (g4, _) = add(&ha, "ctr-gone", &gone);
    let links_before = tern_links(&ha.ns);
    lab.kill9(pid_a);
    let st = std::process::Command::new("ip")
        .args(["netns", "del", gone.name()])
        .status()
        .expect("ip netns del");
    assert!(st.success());
    assert!(ping(&cb, &a4), "traffic stops with the agent gone");
    start_tern(&mut lab, &ha.node);
    let eps = wait_for(CONVERGE, "agent a answers after the restart", || {
        endpoints(&ha.node)
    });
    let rows = eps["endpoints"].as_array().expect("rows").clone();
    assert_eq!(rows.len(), 2, "{eps}");
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["container_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {eps}"))
    };
    assert_eq!(row("ctr-a")["addresses"][0], format!("{a4}/32"));
    assert_eq!(row("ctr-gone")["addresses"][0], format!("{g4}/32"));
    let live: Vec<String> = links_before
        .iter()
        .filter(|l| **l == row("ctr-a")["interface"])
        .cloned()
        .collect();
    assert_eq!(tern_links(&ha.ns), live);
    assert!(ha.cni.call("CHECK", "ctr-gone", "").code != 0);
    assert_eq!(ha.cni.call("DEL", "ctr-gone", "").code, 0);
    let r = ha.ns.ok(&["ip", "route", "show", &g4]);
    assert!(!r.contains("dev tern"), "{r}");
    let r = ha.ns.ok(&["ip", "route", "show", &a4]);
    assert!(r.contains("proto 201"), "{r}");
    wait_for(CONVERGE, "ping b -> a after the restart", || {
        ping(&cb, &a4).then_some(())
    });
    tcp(&mut lab, &ca, &cb, &a4, "7003");
    // ADD of the running container again: the same addresses.
    assert_eq!(add(&ha, "ctr-a", &ca), (a4.clone(), a6.clone()));
    assert_eq!(ha.cni.call("CHECK", "ctr-a", &netns_path(&ca)).code, 0);

    // A new container gets a fresh address, and reaches the other host's container.
    let cn = lab.netns("cn");
    let (n4, n6) = add(&ha, "ctr-new", &cn);
    assert_ne!(n4, a4);
    assert_ne!(
        n4, g4,
        "a just-freed address is not handed out again at once"
    );
    assert_ne!(n6, a6);
    wait_for(CONVERGE, "ping new -> b", || ping(&cn, &b4).then_some(()));

    for (h, id) in [(&ha, "ctr-a"), (&ha, "ctr-new"), (&hb, "ctr-b")] {
        assert_eq!(h.cni.call("DEL", id, "").code, 0);
    }
    assert!(tern_links(&ha.ns).is_empty() && tern_links(&hb.ns).is_empty());
}
