//! Docker networks through tern, with a real dockerd per lab host (Debian's docker.io,
//! started in the host's namespace): `docker network create --driver P --ipam-driver P`
//! and `docker run --network` on two hosts whose agents peer over BGP — containers ping
//! and talk TCP across hosts; a policy selecting Docker labels is enforced; `docker rm -f`
//! of 50 containers leaves no veth, route or allocation (attachments Docker forgot are
//! swept), and so does stopping dockerd
//! without live restore (its containers start again wired, labelled and policed);
//! restarting dockerd (`--live-restore`) and the agent (kill -9) loses no running
//! container's connectivity (IPv4 and IPv6); bad plugin requests get `{"Err": …}` (IPAM:
//! `{"Error": …}`) and change nothing.
//!
//! Needs root, nsenter, dockerd and busybox-static (scripts/install-deps.sh installs them).

mod cni_support;
mod common;
mod docker_support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use common::{tern_cli, write_node, Node, NodeSpec, CONVERGE};
use docker_support::{Dockerd, IMAGE};
use serde_json::Value;
use testlab::{wait_for, Lab, Netns};

/// The plugin socket an agent serves (global folder, where dockerd looks); removed on drop.
struct PluginSocket(PathBuf);

impl Drop for PluginSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct Host {
    ns: Netns,
    node: Node,
    plugin: String,
    state: PathBuf,
    _socket: PluginSocket,
}

/// A host running `tern agent` with the Docker plugin on (blocks 10.244.N.0/24).
fn host(
    lab: &mut Lab,
    ns: &Netns,
    name: &str,
    rid: &str,
    blocks: &[&str],
    mesh: &[&str],
    extra: &str,
) -> Host {
    let plugin = format!("tern-{}", ns.name());
    let state = lab.dir().join(format!("state-{name}"));
    let dockerd = lab.dir().join(format!("dockerd-{name}"));
    let extra = format!(
        "stateDir: \"{}\"\ndocker: {{ pluginName: \"{plugin}\", dockerSocket: \"{}\" }}\n{extra}",
        state.display(),
        dockerd.join("docker.sock").display()
    );
    let node = write_node(
        lab,
        ns,
        &NodeSpec {
            name,
            router_id: rid,
            blocks,
            pools: &["10.244.0.0/16", "fd00:244::/48"],
            mesh,
            extra: &extra,
            ..NodeSpec::default()
        },
    );
    Host {
        ns: ns.clone(),
        node,
        _socket: PluginSocket(PathBuf::from(format!("/run/docker/plugins/{plugin}.sock"))),
        plugin,
        state,
    }
}

/// Starts `tern agent` for `node` in its namespace but in this process's mount namespace
/// (`ip netns exec` makes a private one, where the sandboxes dockerd binds later would
/// not be visible; an agent on a real host shares dockerd's).
fn start_tern(lab: &mut Lab, node: &Node) -> u32 {
    let tern = testlab::tern_bin().to_string_lossy().into_owned();
    let config = node.config.to_string_lossy().into_owned();
    let mnt = format!("--mount=/proc/{}/ns/mnt", std::process::id());
    let argv = [
        "nsenter",
        &mnt,
        "env",
        "RUST_LOG=info",
        &tern,
        "agent",
        "--config",
        &config,
    ];
    let log = format!("tern-{}", node.name);
    let pid = lab.spawn(&node.ns, &argv, &log);
    wait_for(CONVERGE, "tern control socket", || {
        if !lab.alive(pid) {
            panic!("tern agent exited:\n{}", lab.log(&log));
        }
        node.socket.exists().then_some(())
    });
    pid
}

fn dockerd(lab: &Lab, h: &Host, live_restore: bool) -> Dockerd {
    let d = Dockerd::start(
        &h.ns,
        &lab.dir().join(format!("dockerd-{}", h.node.name)),
        live_restore,
    );
    d.import_busybox();
    d
}

/// `docker network create` of a tern network named `net`.
fn network(d: &Dockerd, h: &Host, net: &str) {
    d.ok(&[
        "network",
        "create",
        "--driver",
        &h.plugin,
        "--ipam-driver",
        &h.plugin,
        net,
    ]);
}

/// A dual-stack tern network.
fn network6(d: &Dockerd, h: &Host, net: &str) {
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--driver",
        &h.plugin,
        "--ipam-driver",
        &h.plugin,
        net,
    ]);
}

fn ip6_of(d: &Dockerd, name: &str) -> String {
    d.ok(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}",
        name,
    ])
}

fn run(d: &Dockerd, net: &str, name: &str, labels: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name, "--network", net];
    for l in labels {
        args.extend(["--label", l]);
    }
    args.extend([IMAGE, "/bin/sleep", "3600"]);
    d.ok(&args);
    d.ip_of(name)
}

fn ping(d: &Dockerd, from: &str, to: &str) -> bool {
    let fam = if to.contains(':') { "-6" } else { "-4" };
    d.docker(&["exec", from, "ping", fam, "-c1", "-W1", to])
        .status
        .success()
}

/// A TCP exchange from container `client` (on `dc`) to `server` (on `ds`, address `ip`).
fn tcp(ds: &Dockerd, server: &str, dc: &Dockerd, client: &str, ip: &str, port: &str) -> bool {
    tcp_tries(ds, server, dc, client, ip, port, 20)
}

/// [`tcp`] with at most `tries` connection attempts.
fn tcp_tries(
    ds: &Dockerd,
    server: &str,
    dc: &Dockerd,
    client: &str,
    ip: &str,
    port: &str,
    tries: usize,
) -> bool {
    ds.ok(&[
        "exec",
        "-d",
        server,
        "sh",
        "-c",
        &format!("echo pong | nc -l -p {port}"),
    ]);
    let ok = (0..tries).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let o = dc.docker(&[
            "exec",
            client,
            "sh",
            "-c",
            &format!("echo ping | nc -w 2 {ip} {port}"),
        ]);
        String::from_utf8_lossy(&o.stdout).contains("pong")
    });
    // A server still listening (the connection never came) is stopped by the next
    // `nc -l` on another port or by the container's removal.
    ok
}

fn endpoints(node: &Node) -> Option<Value> {
    let o = tern_cli(node, &["endpoints", "--json"]);
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).ok())
        .flatten()
}

fn docker_rows(node: &Node) -> Vec<Value> {
    endpoints(node)
        .and_then(|v| v["endpoints"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r["namespace"] == "docker")
        .collect()
}

fn tern_links(ns: &Netns) -> Vec<String> {
    ns.ok(&["ip", "-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or_default().to_string())
        .filter(|n| n.starts_with("tern") || n.starts_with("tmp"))
        .collect()
}

fn tern_device_routes(ns: &Netns) -> Vec<String> {
    ns.ok(&["ip", "-4", "route", "show", "proto", "201"])
        .lines()
        .filter(|l| l.contains(" dev tern"))
        .map(str::to_string)
        .collect()
}

fn allocation_files(state: &Path) -> Vec<String> {
    std::fs::read_dir(state.join("ipam"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn containers_on_two_hosts_talk_across_dockerd_and_agent_restarts() {
    if !docker_support::available() {
        panic!("dockerd is not installed (scripts/install-deps.sh installs docker.io)");
    }
    let mut lab = Lab::new("dk-mesh");
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
    let ha = host(
        &mut lab,
        &a,
        "a",
        "10.0.0.1",
        &["10.244.1.0/24", "fd00:244:0:1::/120"],
        &["10.0.0.2", "fd00:1::2"],
        "",
    );
    let hb = host(
        &mut lab,
        &b,
        "b",
        "10.0.0.2",
        &["10.244.2.0/24", "fd00:244:0:2::/120"],
        &["10.0.0.1", "fd00:1::1"],
        "",
    );
    let pid_a = start_tern(&mut lab, &ha.node);
    start_tern(&mut lab, &hb.node);
    let mut da = dockerd(&lab, &ha, true);
    let db = dockerd(&lab, &hb, true);
    network6(&da, &ha, "tnet");
    network6(&db, &hb, "tnet");
    let ip_a = run(&da, "tnet", "ca", &["app=web"]);
    let ip_b = run(&db, "tnet", "cb", &[]);
    assert!(ip_a.starts_with("10.244.1."), "{ip_a}");
    assert!(ip_b.starts_with("10.244.2."), "{ip_b}");
    let ip6_a = ip6_of(&da, "ca");
    let ip6_b = ip6_of(&db, "cb");
    assert!(ip6_a.starts_with("fd00:244:0:1::"), "{ip6_a}");
    assert!(ip6_b.starts_with("fd00:244:0:2::"), "{ip6_b}");

    // Inside: the /32, the link-local gateway, the static route to it.
    let routes = da.ok(&["exec", "ca", "ip", "route"]);
    assert!(
        routes.contains("default via 169.254.1.1 dev eth0"),
        "{routes}"
    );
    let routes6 = da.ok(&["exec", "ca", "ip", "-6", "route"]);
    assert!(
        routes6.contains("default via fe80::1 dev eth0"),
        "{routes6}"
    );
    let addr = da.ok(&["exec", "ca", "ip", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("{ip_a}/32")), "{addr}");
    // On the host: the veth and the device route, with tern's protocol.
    let r = a.ok(&["ip", "route", "show", &ip_a]);
    assert!(r.contains("dev tern") && r.contains("proto 201"), "{r}");
    // Labels are read from dockerd: the endpoint is docker/ca with app=web.
    let row = wait_app_label(&ha.node, "ca", "web", "labels of ca from dockerd");
    assert_eq!(row["addresses"][0], format!("{ip_a}/32"));

    // Across hosts: BGP routes each block via the other host, pure L3.
    wait_for(CONVERGE, "ping ca -> cb", || {
        ping(&da, "ca", &ip_b).then_some(())
    });
    wait_for(CONVERGE, "ping cb -> ca", || {
        ping(&db, "cb", &ip_a).then_some(())
    });
    wait_for(CONVERGE, "ping ca -> cb (IPv6)", || {
        ping(&da, "ca", &ip6_b).then_some(())
    });
    let path = a.ok(&["ip", "route", "get", &ip_b]);
    assert!(path.contains("via 10.0.0.2 dev eth0"), "{path}");
    assert!(tcp(&db, "cb", &da, "ca", &ip_b, "7001"), "TCP ca -> cb");
    assert!(tcp(&da, "ca", &db, "cb", &ip_a, "7002"), "TCP cb -> ca");

    // dockerd away (live restore): the containers keep talking; back: same addresses.
    da.stop();
    assert!(
        ping(&db, "cb", &ip_a),
        "ping cb -> ca with dockerd a stopped"
    );
    da.start_again();
    assert_eq!(da.ip_of("ca"), ip_a);
    wait_for(CONVERGE, "ping cb -> ca after dockerd a restarted", || {
        ping(&db, "cb", &ip_a).then_some(())
    });
    assert!(
        tcp(&da, "ca", &db, "cb", &ip_a, "7003"),
        "TCP after dockerd restart"
    );

    // The agent crashed (kill -9) and restarted: the container keeps its address, route
    // and traffic (b keeps a's routes through BGP graceful restart), and the restarted
    // agent serves dockerd (a new container, reachable across hosts).
    lab.kill9(pid_a);
    assert!(ping(&db, "cb", &ip_a), "traffic stops with the agent gone");
    start_tern(&mut lab, &ha.node);
    wait_for(CONVERGE, "agent a lists ca after its restart", || {
        docker_rows(&ha.node)
            .into_iter()
            .find(|r| r["name"] == "ca")
            .filter(|r| r["addresses"][0] == format!("{ip_a}/32"))
    });
    wait_for(CONVERGE, "ping cb -> ca after the agent restart", || {
        ping(&db, "cb", &ip_a).then_some(())
    });
    let r = a.ok(&["ip", "route", "show", &ip_a]);
    assert!(r.contains("dev tern") && r.contains("proto 201"), "{r}");
    let ip_n = run(&da, "tnet", "cn", &[]);
    assert!(ip_n.starts_with("10.244.1.") && ip_n != ip_a, "{ip_n}");
    wait_for(CONVERGE, "ping cn -> cb", || {
        ping(&da, "cn", &ip_b).then_some(())
    });

    // Everything removed: nothing left on either host.
    da.ok(&["rm", "-f", "ca", "cn"]);
    db.ok(&["rm", "-f", "cb"]);
    da.ok(&["network", "rm", "tnet"]);
    db.ok(&["network", "rm", "tnet"]);
    for h in [&ha, &hb] {
        assert!(tern_links(&h.ns).is_empty(), "{:?}", tern_links(&h.ns));
        assert!(tern_device_routes(&h.ns).is_empty());
        assert!(
            allocation_files(&h.state).is_empty(),
            "{:?}",
            allocation_files(&h.state)
        );
    }
}

const WEB_FROM_CLIENTS: &str = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: web-ingress
spec:
  order: 10
  selector: app == 'web'
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: TCP
      source: { selector: app == 'client' }
      destination: { ports: [8080] }
";

#[test]
fn a_policy_selects_containers_by_their_docker_labels() {
    assert!(docker_support::available(), "dockerd is not installed");
    let mut lab = Lab::new("dk-policy");
    let a = lab.netns("a");
    let policies = lab.dir().join("policies");
    std::fs::create_dir_all(&policies).expect("policies");
    std::fs::write(policies.join("web.yaml"), WEB_FROM_CLIENTS).expect("policy");
    let extra = format!(
        "policy: {{ backend: nftables, paths: [\"{}\"] }}\n",
        policies.display()
    );
    let ha = host(
        &mut lab,
        &a,
        "a",
        "10.0.0.1",
        &["10.244.1.0/24"],
        &[],
        &extra,
    );
    start_tern(&mut lab, &ha.node);
    let d = dockerd(&lab, &ha, false);
    network(&d, &ha, "pnet");
    let web = run(&d, "pnet", "web", &["app=web"]);
    run(&d, "pnet", "client", &["app=client"]);
    run(&d, "pnet", "other", &["app=other"]);
    // The labels come from dockerd once the container runs; then the policy holds.
    wait_app_label(&ha.node, "web", "web", "web's labels applied");
    wait_app_label(&ha.node, "client", "client", "client's labels applied");
    assert!(
        tcp(&d, "web", &d, "client", &web, "8080"),
        "client -> web:8080 allowed"
    );
    assert!(
        !tcp_tries(&d, "web", &d, "other", &web, "8080", 3),
        "other -> web:8080 denied"
    );
    assert!(!ping(&d, "other", &web), "ping other -> web denied");
    // Not selected: other still takes anything.
    let other = d.ip_of("other");
    assert!(ping(&d, "web", &other), "ping web -> other");

    // dockerd stopped without live restore: it stops the containers and releases their
    // endpoints and addresses; nothing is left. Started again, `docker start` wires them
    // anew, labels and policy included.
    let mut d = d;
    d.stop();
    assert!(tern_links(&a).is_empty(), "{:?}", tern_links(&a));
    assert!(
        tern_device_routes(&a).is_empty(),
        "{:?}",
        tern_device_routes(&a)
    );
    assert!(
        allocation_files(&ha.state).is_empty(),
        "{:?}",
        allocation_files(&ha.state)
    );
    d.start_again();
    d.ok(&["start", "web", "client", "other"]);
    let web = d.ip_of("web");
    wait_app_label(&ha.node, "web", "web", "web's labels applied again");
    wait_app_label(
        &ha.node,
        "client",
        "client",
        "client's labels applied again",
    );
    assert!(
        tcp(&d, "web", &d, "client", &web, "8080"),
        "client -> web again"
    );
    assert!(
        !tcp_tries(&d, "web", &d, "other", &web, "8080", 3),
        "other -> web denied again"
    );
}

/// One raw plugin call on the agent's socket: (HTTP status, JSON body).
fn post(sock: &Path, path: &str, body: &str) -> (u16, Value) {
    let mut s = std::os::unix::net::UnixStream::connect(sock).expect("plugin socket");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn rm_f_of_50_containers_leaves_nothing_and_bad_requests_change_nothing() {
    assert!(docker_support::available(), "dockerd is not installed");
    let mut lab = Lab::new("dk-churn");
    let a = lab.netns("a");
    let ha = host(&mut lab, &a, "a", "10.0.0.1", &["10.244.1.0/24"], &[], "");
    start_tern(&mut lab, &ha.node);
    let d = dockerd(&lab, &ha, false);

    // A subnet outside every pool is refused with the reason.
    let o = d.docker(&[
        "network",
        "create",
        "--driver",
        &ha.plugin,
        "--ipam-driver",
        &ha.plugin,
        "--subnet",
        "192.168.7.0/24",
        "bad",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("outside every pool"), "{err}");
    // A subnet inside the pool: containers get addresses of this node's block in it.
    d.ok(&[
        "network",
        "create",
        "--driver",
        &ha.plugin,
        "--ipam-driver",
        &ha.plugin,
        "--subnet",
        "10.244.0.0/16",
        "churn",
    ]);
    let mut ips = Vec::new();
    for i in 0..50 {
        ips.push(run(&d, "churn", &format!("c{i}"), &[]));
    }
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 50, "50 distinct addresses");
    assert!(ips.iter().all(|ip| ip.starts_with("10.244.1.")));
    assert_eq!(tern_links(&a).len(), 50);
    assert_eq!(tern_device_routes(&a).len(), 50);
    assert_eq!(allocation_files(&ha.state).len(), 50);
    assert!(
        ping(&d, "c0", &ips[49]),
        "containers on one host reach each other"
    );

    // Bad requests on the live socket: {"Err"}, and nothing changes.
    let sock = PathBuf::from(format!("/run/docker/plugins/{}.sock", ha.plugin));
    let before = (
        allocation_files(&ha.state),
        tern_links(&a),
        tern_device_routes(&a),
    );
    let (st, v) = post(&sock, "/NetworkDriver.CreateEndpoint", "{\"NetworkID\": ");
    assert_eq!(st, 400);
    assert!(v["Err"].is_string(), "{v}");
    let (st, v) = post(
        &sock,
        "/NetworkDriver.CreateEndpoint",
        r#"{"NetworkID":"0123abcd","EndpointID":"feed","Interface":{"Address":"10.244.1.200/32"}}"#,
    );
    assert_eq!(st, 200);
    assert!(
        v["Err"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown network"),
        "{v}"
    );
    let net_id = d.ok(&["network", "inspect", "-f", "{{.Id}}", "churn"]);
    let (_, v) = post(
        &sock,
        "/NetworkDriver.Join",
        &format!(r#"{{"NetworkID":"{net_id}","EndpointID":"beef","SandboxKey":"/nonexistent"}}"#),
    );
    assert!(
        v["Err"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown endpoint"),
        "{v}"
    );
    let taken = &ips[0];
    let (_, v) = post(
        &sock,
        "/IpamDriver.RequestAddress",
        &format!(r#"{{"PoolID":"10.244.0.0/16","Address":"{taken}"}}"#),
    );
    // IPAM's answers carry the message as Error (libnetwork's IPAM API).
    assert!(
        v["Error"].as_str().unwrap_or_default().contains("in use"),
        "{v}"
    );
    let (_, v) = post(
        &sock,
        "/NetworkDriver.CreateEndpoint",
        &format!(
            r#"{{"NetworkID":"{net_id}","EndpointID":"feed","Interface":{{"Address":"{taken}/32"}}}}"#
        ),
    );
    assert!(
        v["Err"].as_str().unwrap_or_default().contains("held by"),
        "{v}"
    );
    let (_, v) = post(
        &sock,
        "/IpamDriver.ReleaseAddress",
        &format!(r#"{{"PoolID":"10.244.0.0/16","Address":"{taken}"}}"#),
    );
    assert!(
        v["Error"].as_str().unwrap_or_default().contains("endpoint"),
        "{v}"
    );
    assert_eq!(
        before,
        (
            allocation_files(&ha.state),
            tern_links(&a),
            tern_device_routes(&a)
        )
    );
    assert!(
        ping(&d, "c0", &ips[49]),
        "still connected after the bad requests"
    );

    // docker rm -f of all 50.
    let mut args = vec!["rm".to_string(), "-f".to_string()];
    args.extend((0..50).map(|i| format!("c{i}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    d.ok(&args);
    assert!(tern_links(&a).is_empty(), "{:?}", tern_links(&a));
    assert!(
        tern_device_routes(&a).is_empty(),
        "{:?}",
        tern_device_routes(&a)
    );
    assert!(
        allocation_files(&ha.state).is_empty(),
        "{:?}",
        allocation_files(&ha.state)
    );
    assert!(docker_rows(&ha.node).is_empty());

    // Attachments Docker no longer knows (as after calls that failed while the agent was
    // down): an address requested and an endpoint created, never followed up. The sweep
    // releases them after two passes (10 s apart); a running container keeps everything.
    let keep = run(&d, "churn", "keep", &[]);
    // A CNI GC on the same agent (no CNI attachment is valid) leaves Docker's alone.
    let cni = cni_support::Cni {
        socket: ha.node.socket.clone(),
        version: "1.1.0",
    };
    let gc_conf = format!(
        r#"{{"cniVersion":"1.1.0","name":"ternnet","type":"tern","socket":"{}","cni.dev/valid-attachments":[]}}"#,
        ha.node.socket.display()
    );
    let g = cni.exec("GC", &[], &gc_conf);
    assert_eq!(g.code, 0, "{}", g.stdout);
    assert_eq!(allocation_files(&ha.state).len(), 1, "CNI GC took Docker's");
    let r = a.ok(&["ip", "route", "show", &keep]);
    assert!(
        r.contains("dev tern"),
        "CNI GC unrouted Docker's container: {r}"
    );
    let (_, v) = post(
        &sock,
        "/IpamDriver.RequestAddress",
        r#"{"PoolID":"10.244.0.0/16"}"#,
    );
    let orphan_ip = v["Address"].as_str().expect("address").to_string();
    let (_, v) = post(
        &sock,
        "/IpamDriver.RequestAddress",
        r#"{"PoolID":"10.244.0.0/16"}"#,
    );
    let orphan_ep_ip = v["Address"].as_str().expect("address").to_string();
    let (_, v) = post(
        &sock,
        "/NetworkDriver.CreateEndpoint",
        &format!(
            r#"{{"NetworkID":"{net_id}","EndpointID":"0dd","Interface":{{"Address":"{orphan_ep_ip}"}}}}"#
        ),
    );
    assert!(v.get("Err").is_none(), "{v}");
    assert_eq!(allocation_files(&ha.state).len(), 3);
    wait_for(std::time::Duration::from_secs(60), "orphans swept", || {
        (allocation_files(&ha.state).len() == 1).then_some(())
    });
    let rows = docker_rows(&ha.node);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["addresses"][0], format!("{keep}/32"));
    let r = a.ok(&["ip", "route", "show", &keep]);
    assert!(
        r.contains("dev tern"),
        "the running container keeps its route: {r}"
    );
    // The swept address is free again.
    let bare = orphan_ip.trim_end_matches("/32");
    let (_, v) = post(
        &sock,
        "/IpamDriver.RequestAddress",
        &format!(r#"{{"PoolID":"10.244.0.0/16","Address":"{bare}"}}"#),
    );
    assert_eq!(v["Address"], orphan_ip.as_str(), "{v}");
    let (_, v) = post(
        &sock,
        "/IpamDriver.ReleaseAddress",
        &format!(r#"{{"PoolID":"10.244.0.0/16","Address":"{bare}"}}"#),
    );
    assert!(v.get("Error").is_none(), "{v}");
    d.ok(&["rm", "-f", "keep"]);
    assert!(allocation_files(&ha.state).is_empty());
    d.ok(&["network", "rm", "churn"]);
    let nets = std::fs::read_dir(ha.state.join("docker/networks"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(nets, 0, "network files left");
}

#[test]
fn a_bad_plugin_name_is_refused_with_its_location() {
    let dir = tempfile_dir("dk-config");
    let file = dir.join("node.yaml");
    std::fs::write(
        &file,
        "nodeName: a\nasNumber: 64512\nrouterId: 10.0.0.1\ndocker: { pluginName: \"../x\" }\n",
    )
    .expect("write");
    let o = std::process::Command::new(testlab::tern_bin())
        .args(["config", "check"])
        .arg(&file)
        .output()
        .expect("tern");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{}:4:", file.display())), "{err}");
    assert!(err.contains("docker.pluginName"), "{err}");
    std::fs::write(
        &file,
        "nodeName: a\nasNumber: 64512\nrouterId: 10.0.0.1\ndocker: { pluginName: tern, sock: x }\n",
    )
    .expect("write");
    let o = std::process::Command::new(testlab::tern_bin())
        .args(["config", "check"])
        .arg(&file)
        .output()
        .expect("tern");
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tern-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Waits until the agent lists Docker container `name` with label `app=APP` (the labels
/// come from dockerd once the container runs); its row.
fn wait_app_label(node: &Node, name: &str, app: &str, what: &str) -> Value {
    wait_for(CONVERGE, what, || {
        docker_rows(node)
            .into_iter()
            .find(|r| r["name"] == name && r["labels"]["app"] == app)
    })
}
