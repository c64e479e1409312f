//! Pure layer-3 container networking with real packets (issue 4): hosts in network
//! namespaces on one segment, tern agents in an iBGP mesh, containers wired the Calico way
//! (a /32 and /128 on eth0, default routes via 169.254.1.1 and fe80::1, host-side veth
//! without an address). Checks what an operator would: ping and TCP between containers on
//! different hosts, `ip route get`, ECMP, repair of a deleted route, foreign routes left
//! alone, a crashed agent's block expiring, and restarts that keep traffic flowing.

mod common;

use common::*;
use testlab::{wait_for, Lab, Netns};

struct Hosts {
    ns: Vec<Netns>,
    nodes: Vec<Node>,
}

const ADDRS: [&str; 3] = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
const ADDRS6: [&str; 3] = ["fd00:1::1", "fd00:1::2", "fd00:1::3"];
const NAMES: [&str; 3] = ["a", "b", "c"];

/// Three hosts on a switch, v4 and v6; host i owns 10.244.(i+1).0/24 and
/// fd00:244:0:(i+1)::/64, and hosts b and c both own 10.244.99.0/24 (an anycast block)
/// for the ECMP check. Configs written, agents not started.
fn hosts(lab: &mut Lab) -> Hosts {
    let ns: Vec<Netns> = NAMES.iter().map(|n| lab.netns(n)).collect();
    let a4: Vec<String> = ADDRS.iter().map(|a| format!("{a}/24")).collect();
    let a6: Vec<String> = ADDRS6.iter().map(|a| format!("{a}/64")).collect();
    let specs: Vec<[&str; 2]> = (0..3).map(|i| [a4[i].as_str(), a6[i].as_str()]).collect();
    switch(
        lab,
        &[
            (&ns[0], &specs[0][..]),
            (&ns[1], &specs[1][..]),
            (&ns[2], &specs[2][..]),
        ],
    );
    let blocks: [Vec<&str>; 3] = [
        vec!["10.244.1.0/24", "fd00:244:0:1::/64"],
        vec!["10.244.2.0/24", "fd00:244:0:2::/64", "10.244.99.0/24"],
        vec!["10.244.3.0/24", "fd00:244:0:3::/64", "10.244.99.0/24"],
    ];
    let mut nodes = Vec::new();
    for i in 0..3 {
        let mut mesh: Vec<&str> = Vec::new();
        for j in 0..3 {
            if j != i {
                mesh.push(ADDRS[j]);
                mesh.push(ADDRS6[j]);
            }
        }
        nodes.push(write_node(
            lab,
            &ns[i],
            &NodeSpec {
                name: NAMES[i],
                router_id: ADDRS[i],
                blocks: &blocks[i],
                mesh: &mesh,
                ..NodeSpec::default()
            },
        ));
    }
    Hosts { ns, nodes }
}

fn ping(from: &Netns, to: &str) -> bool {
    from.run(&["ping", "-c1", "-W1", to]).status.success()
}

/// A TCP connection from `client` to `server_ip:port` (server in `server`) that carries
/// a line each way.
fn tcp_exchange(lab: &mut Lab, server: &Netns, client: &Netns, server_ip: &str, port: &str) {
    let pid = spawn_tcp_server(lab, server, server_ip, port, &format!("nc-{port}"));
    let mut last = String::new();
    let answer = wait_for(
        CONVERGE,
        &format!("TCP exchange with {server_ip} port {port}"),
        || {
            let out = client.sh(&format!("echo ping | nc -N -w 3 {server_ip} {port}"));
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if !text.contains("pong-from-server") {
                let err = String::from_utf8_lossy(&out.stderr).into_owned();
                if err != last {
                    eprintln!("nc to {server_ip} {port}: {err}");
                    last = err;
                }
            }
            text.contains("pong-from-server").then_some(text)
        },
    );
    assert!(answer.contains("pong-from-server"));
    lab.kill(pid);
    assert!(
        lab.log(&format!("nc-{port}")).contains("ping"),
        "server did not get the client's line"
    );
}

#[test]
fn containers_on_different_hosts_talk_through_tern_routes() {
    let mut lab = Lab::new("l3");
    let h = hosts(&mut lab);
    let ca = container(
        &mut lab,
        &h.nodes[0],
        "ca",
        "tw-ca",
        &["10.244.1.10/32", "fd00:244:0:1::10/128"],
    );
    let cb = container(
        &mut lab,
        &h.nodes[1],
        "cb",
        "tw-cb",
        &["10.244.2.10/32", "fd00:244:0:2::10/128"],
    );
    let mut pids = Vec::new();
    for n in &h.nodes {
        pids.push(start_tern(&mut lab, n));
    }
    for n in &h.nodes {
        wait_established(n, 4);
    }
    let a = &h.ns[0];

    // Device routes for the local containers, with tern's protocol.
    let dev = wait_for(CONVERGE, "device route for ca", || {
        kernel_route(a, "10.244.1.10")
    });
    assert_eq!(dev["dev"], "tw-ca", "{dev}");
    assert_eq!(dev["scope"], "link", "{dev}");
    assert_eq!(kernel_protocol(&dev), "201", "{dev}");
    wait_for(CONVERGE, "device route for ca (v6)", || {
        kernel_route(a, "fd00:244:0:1::10")
    });

    // Remote blocks straight at the other host, no tunnel.
    let hops = wait_for(CONVERGE, "a installs b's block", || {
        installed_next_hops(&h.nodes[0], "10.244.2.0/24")
    });
    assert_eq!(hops, ["10.0.0.2"]);
    let hops6 = wait_for(CONVERGE, "a installs b's IPv6 block", || {
        installed_next_hops(&h.nodes[0], "fd00:244:0:2::/64")
    });
    assert_eq!(hops6, ["fd00:1::2"]);
    wait_for(CONVERGE, "b installs a's blocks", || {
        installed_next_hops(&h.nodes[1], "fd00:244:0:1::/64")?;
        installed_next_hops(&h.nodes[1], "10.244.1.0/24")
    });
    let get = a.ok(&["ip", "route", "get", "10.244.2.10"]);
    assert!(get.contains("via 10.0.0.2 dev eth0"), "{get}");
    let get6 = a.ok(&["ip", "-6", "route", "get", "fd00:244:0:2::10"]);
    assert!(get6.contains("via fd00:1::2 dev eth0"), "{get6}");
    let link = a.ok(&["ip", "-d", "link", "show", "eth0"]);
    assert!(
        link.contains("veth"),
        "eth0 should be the plain veth, not a tunnel: {link}"
    );
    let tunnels = a.ok(&["ip", "-d", "link", "show"]);
    for t in ["ipip", "vxlan", "gre", "wireguard"] {
        assert!(!tunnels.contains(t), "unexpected {t} device: {tunnels}");
    }

    // Real traffic, both families.
    wait_for(CONVERGE, "ping ca -> cb", || {
        ping(&ca, "10.244.2.10").then_some(())
    });
    wait_for(CONVERGE, "ping cb -> ca", || {
        ping(&cb, "10.244.1.10").then_some(())
    });
    wait_for(CONVERGE, "ping6 ca -> cb", || {
        ping(&ca, "fd00:244:0:2::10").then_some(())
    });
    tcp_exchange(&mut lab, &cb, &ca, "10.244.2.10", "8080");
    tcp_exchange(&mut lab, &cb, &ca, "fd00:244:0:2::10", "8081");

    // ECMP: b and c both announce 10.244.99.0/24 with equal attributes.
    let ecmp = wait_for(CONVERGE, "multipath route on a", || {
        let r = kernel_route(a, "10.244.99.0/24")?;
        (kernel_gateways(&r).len() == 2).then_some(r)
    });
    assert_eq!(kernel_gateways(&ecmp), ["10.0.0.2", "10.0.0.3"], "{ecmp}");
    assert_eq!(kernel_protocol(&ecmp), "201");

    // A route of ours deleted by hand comes back.
    a.ok(&["ip", "route", "del", "10.244.2.0/24"]);
    let back = wait_for(CONVERGE, "deleted route put back", || {
        kernel_route(a, "10.244.2.0/24")
    });
    assert_eq!(kernel_gateways(&back), ["10.0.0.2"]);
    assert_eq!(kernel_protocol(&back), "201");

    // A route with another protocol number is left alone, also across a repair.
    a.ok(&[
        "ip",
        "route",
        "add",
        "10.244.50.0/24",
        "via",
        "10.0.0.3",
        "proto",
        "static",
    ]);
    a.ok(&["ip", "route", "del", "10.244.3.0/24"]);
    wait_for(CONVERGE, "repair after the foreign route", || {
        kernel_route(a, "10.244.3.0/24")
    });
    let foreign = kernel_route(a, "10.244.50.0/24").expect("foreign route still there");
    assert_eq!(kernel_protocol(&foreign), "static", "{foreign}");

    // kill -9 of c's agent is a restart as far as graceful restart (RFC 4724, on by
    // default as in Calico's BIRD) goes: the kernel closes the dead agent's connections
    // without a NOTIFICATION, so a and b keep c's routes (stale) in their FIB — c's
    // block and the anycast ECMP route stay while c is away (a hung agent is the
    // hold-timer case, in the next test, where the routes go).
    lab.kill9(pids[2]);
    wait_for(CONVERGE, "a sees c's sessions go", || {
        let s = status_json(&h.nodes[0])?;
        let down = s["peers"]
            .as_array()?
            .iter()
            .filter(|p| p["state"] != "Established")
            .count();
        (down == 2).then_some(())
    });
    let away = std::time::Instant::now();
    while away.elapsed() < std::time::Duration::from_secs(3) {
        for (i, n) in h.nodes.iter().enumerate().take(2) {
            assert!(
                kernel_route(&h.ns[i], "10.244.3.0/24").is_some(),
                "c's block left {}'s FIB while c restarts",
                n.name
            );
        }
        let r = kernel_route(a, "10.244.99.0/24").expect("anycast route while c restarts");
        assert_eq!(kernel_gateways(&r), ["10.0.0.2", "10.0.0.3"], "{r}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // c is back, then stops for good (SIGTERM: Cease): its block leaves a's and b's FIB
    // at once, and the anycast block falls back to b alone.
    let pid_c = start_tern(&mut lab, &h.nodes[2]);
    wait_peers_up(&h.nodes[0], 4);
    lab.kill(pid_c);
    for (i, n) in h.nodes.iter().enumerate().take(2) {
        wait_for(
            CONVERGE,
            &format!("c's block leaves {}'s FIB", n.name),
            || {
                kernel_route(&h.ns[i], "10.244.3.0/24")
                    .is_none()
                    .then_some(())
            },
        );
    }
    let single = wait_for(CONVERGE, "anycast block via b only", || {
        let r = kernel_route(a, "10.244.99.0/24")?;
        (kernel_gateways(&r) == ["10.0.0.2"]).then_some(r)
    });
    assert_eq!(kernel_protocol(&single), "201");
    // The foreign route survived all of it.
    assert!(kernel_route(a, "10.244.50.0/24").is_some());
    // Traffic between a and b never depended on c.
    assert!(ping(&ca, "10.244.2.10"));
}

#[test]
fn endpoints_follow_their_files_and_restarts_keep_traffic_flowing() {
    let mut lab = Lab::new("l3r");
    let h = hosts(&mut lab);
    let ca = container(&mut lab, &h.nodes[0], "ca", "tw-ca", &["10.244.1.10/32"]);
    let mut pid_a = start_tern(&mut lab, &h.nodes[0]);
    let pid_b = start_tern(&mut lab, &h.nodes[1]);
    wait_peers_up(&h.nodes[0], 2);
    let (a, b) = (&h.ns[0], &h.ns[1]);

    // A container created while the agent runs: its endpoint file is picked up, the
    // device route and proxy ARP go in, and it is reachable from the other host.
    let cb = container(
        &mut lab,
        &h.nodes[1],
        "cb",
        "tw-cb",
        &["10.244.2.10/32", "fd00:244:0:2::10/128"],
    );
    wait_for(CONVERGE, "device route for the new container", || {
        kernel_route(b, "10.244.2.10")
    });
    let proxy = b.ok(&["cat", "/proc/sys/net/ipv4/conf/tw-cb/proxy_arp"]);
    assert_eq!(proxy.trim(), "1");
    wait_for(CONVERGE, "ping ca -> new cb", || {
        ping(&ca, "10.244.2.10").then_some(())
    });
    wait_for(CONVERGE, "ping6 cb -> host a's address", || {
        ping(&cb, "fd00:1::1").then_some(())
    });
    let routes = routes_json(&h.nodes[1], false).expect("routes");
    let row = route_row(&routes, "10.244.2.10/32").expect("endpoint row");
    assert_eq!(row["source"], "endpoint");
    assert_eq!(row["learned_from"], "default/cb");
    assert_eq!(row["fib"], "yes");

    // The endpoint file goes away: so does the route.
    std::fs::remove_file(h.nodes[1].endpoints.join("cb.yaml")).expect("remove endpoint");
    wait_for(CONVERGE, "device route removed", || {
        kernel_route(b, "10.244.2.10").is_none().then_some(())
    });
    std::fs::write(
        h.nodes[1].endpoints.join("cb.yaml"),
        "kind: WorkloadEndpoint\nname: cb\nnamespace: default\ninterface: tw-cb\nips: [10.244.2.10/32]\n",
    )
    .expect("restore endpoint");
    wait_for(CONVERGE, "device route back", || {
        kernel_route(b, "10.244.2.10")
    });
    // An endpoint file that arrives before its veth: the route fails (reported), and goes
    // in as soon as the interface appears.
    std::fs::write(
        h.nodes[1].endpoints.join("late.yaml"),
        "kind: WorkloadEndpoint\nname: late\nnamespace: default\ninterface: tw-late\nips: [10.244.2.30/32]\n",
    )
    .expect("write endpoint");
    let row = wait_for(CONVERGE, "route for the missing veth reported", || {
        let r = routes_json(&h.nodes[1], false)?;
        let row = route_row(&r, "10.244.2.30/32")?;
        (row["fib"] != "yes").then_some(row)
    });
    assert_eq!(row["source"], "endpoint", "{row}");
    let _late = container(
        &mut lab,
        &h.nodes[1],
        "late",
        "tw-late",
        &["10.244.2.30/32"],
    );
    wait_for(CONVERGE, "late container's route installed", || {
        kernel_route(b, "10.244.2.30")
    });
    wait_for(
        CONVERGE,
        "ping the late container from host a's container",
        || ping(&ca, "10.244.2.30").then_some(()),
    );
    // A broken endpoint file is reported and changes nothing.
    std::fs::write(
        h.nodes[1].endpoints.join("broken.yaml"),
        "kind: WorkloadEndpoint\nname: x\nintreface: y\n",
    )
    .expect("write broken");
    let log = wait_for(CONVERGE, "located error in the log", || {
        let l = lab.log("tern-b");
        l.contains("broken.yaml:3:").then_some(l)
    });
    assert!(log.contains("intreface"), "{log}");
    assert!(kernel_route(b, "10.244.2.10").is_some());

    // Agent a stops normally: its routes stay in its kernel (SIGTERM without
    // --graceful-restart ends the session with a Cease, so b withdraws a's block and the
    // return path is gone until a is back).
    lab.kill(pid_a);
    let kept = kernel_route(a, "10.244.2.0/24").expect("routes must survive a restart");
    assert_eq!(kernel_protocol(&kept), "201");
    assert!(
        kernel_route(a, "10.244.1.10").is_some(),
        "device routes stay too"
    );
    // It starts again and adopts its routes: the session comes back, traffic flows.
    pid_a = start_tern(&mut lab, &h.nodes[0]);
    wait_for(CONVERGE, "a re-learns b's block", || {
        installed_next_hops(&h.nodes[0], "10.244.2.0/24")
    });
    wait_for(CONVERGE, "ping after the restart", || {
        ping(&ca, "10.244.2.10").then_some(())
    });

    // b's agent hangs (SIGSTOP: its TCP connections stay open, nothing is sent): a drops
    // b's block when the hold time (9 s) expires, and says so.
    assert!(lab.signal(pid_b, libc::SIGSTOP));
    wait_for(CONVERGE, "hold timer drops b's block from a's FIB", || {
        kernel_route(a, "10.244.2.0/24").is_none().then_some(())
    });
    let status = status_json(&h.nodes[0]).expect("status");
    let peer = status["peers"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["address"] == "10.0.0.2").cloned())
        .expect("peer 10.0.0.2");
    assert!(
        peer["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("hold"),
        "{peer}"
    );
    assert!(lab.signal(pid_b, libc::SIGCONT));
    wait_for(CONVERGE, "b's block back after b resumes", || {
        installed_next_hops(&h.nodes[0], "10.244.2.0/24")
    });

    // --flush-routes-on-exit removes every route of ours, and only those.
    lab.kill(pid_a);
    let tern = testlab::tern_bin().to_string_lossy().into_owned();
    let cfg = h.nodes[0].config.to_string_lossy().into_owned();
    let pid = lab.spawn(
        a,
        &[&tern, "agent", "--config", &cfg, "--flush-routes-on-exit"],
        "tern-a-flush",
    );
    wait_for(CONVERGE, "socket of the flushing agent", || {
        h.nodes[0].socket.exists().then_some(())
    });
    wait_for(CONVERGE, "a re-learns b's block", || {
        installed_next_hops(&h.nodes[0], "10.244.2.0/24")
    });
    lab.kill(pid);
    let ours = a.ok(&["ip", "route", "show", "proto", "201"]);
    let ours6 = a.ok(&["ip", "-6", "route", "show", "proto", "201"]);
    assert!(
        ours.trim().is_empty() && ours6.trim().is_empty(),
        "left: {ours}{ours6}"
    );
    assert!(a.ok(&["ip", "route"]).contains("default via 10.0.0.254"));
}
