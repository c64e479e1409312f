//! Network policy on real traffic. A "host" namespace routes (pure L3, Calico-style:
//! /32 device routes, proxy ARP, link-local gateway) between four container namespaces;
//! the example Calico and Kubernetes policies (examples/policies, examples/endpoints)
//! are applied inside the host namespace with `tern policy apply`, and a matrix of probes
//! (TCP connects to four ports, UDP datagrams, ICMP echo) must give exactly the expected
//! allow/deny cells — for the nftables backend and for the iptables backend — and
//! `tern policy explain` must agree with every cell. Also: a long-lived TCP connection
//! survives a policy change that still allows it, and broken files leave the rules in
//! force untouched.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use testlab::{container, Lab, Netns};

const TCP_PORTS: [u16; 4] = [80, 5432, 8080, 22];
const UDP_PORT: u16 = 7000;

struct Container {
    name: &'static str,
    endpoint: &'static str,
    iface: &'static str,
    ip: &'static str,
}

const CONTAINERS: [Container; 4] = [
    Container {
        name: "web",
        endpoint: "shop/web-1",
        iface: "tw-web1",
        ip: "10.65.0.10",
    },
    Container {
        name: "db",
        endpoint: "shop/db-1",
        iface: "tw-db1",
        ip: "10.65.0.20",
    },
    Container {
        name: "cli",
        endpoint: "dev/client-1",
        iface: "tw-cli1",
        ip: "10.65.0.30",
    },
    Container {
        name: "cache",
        endpoint: "shop/cache-1",
        iface: "tw-cache1",
        ip: "10.65.0.40",
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Probe {
    Tcp(u16),
    Udp(u16),
    Icmp,
}

fn probes() -> Vec<Probe> {
    let mut v: Vec<Probe> = TCP_PORTS.iter().map(|p| Probe::Tcp(*p)).collect();
    v.push(Probe::Udp(UDP_PORT));
    v.push(Probe::Icmp);
    v
}

/// What the example policies allow, worked out by hand from the YAML.
fn expected(src: &str, dst: &str, p: Probe) -> bool {
    use Probe::*;
    match (src, dst) {
        (_, "cache") if src == "cli" => false, // client-egress: Pass → default deny
        (_, "cache") => true,                  // cache: no policy selects it
        ("web", "db") => p == Tcp(5432),       // knp.shop/db-from-web
        ("web", "cli") => p == Udp(UDP_PORT),  // knp.dev/client-ingress ipBlock
        ("db", "web") => matches!(p, Icmp | Udp(_)), // shop/web: ICMP from all, UDP from db
        ("db", "cli") => false,                // ipBlock except 10.65.0.20
        ("cli", "web") => matches!(p, Tcp(80) | Tcp(8080) | Icmp),
        ("cli", "db") => false,
        ("cache", "web") => p == Icmp,
        ("cache", "db") => false,
        ("cache", "cli") => p == Udp(UDP_PORT),
        _ => panic!("no expectation for {src} -> {dst}"),
    }
}

struct Topo {
    lab: Lab,
    host: Netns,
    ctr: BTreeMap<&'static str, Netns>,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn example_files() -> Vec<String> {
    let r = repo();
    vec![
        r.join("examples/policies").display().to_string(),
        r.join("examples/endpoints").display().to_string(),
    ]
}

fn tern() -> String {
    env!("CARGO_BIN_EXE_tern").to_string()
}

fn build(prefix: &str) -> Topo {
    let mut lab = Lab::new(prefix);
    let host = lab.netns("host");
    // The link-local gateway must be routable for proxy ARP to answer for it.
    container::gateway(&host);
    let mut ctr = BTreeMap::new();
    for c in &CONTAINERS {
        let addr = format!("{}/32", c.ip);
        let ns = container::container(&mut lab, &host, c.name, c.iface, &[&addr]);
        container::host_side(&host, c.iface, &[&addr]);
        for port in TCP_PORTS {
            lab.spawn(
                &ns,
                &["nc", "-lk", &port.to_string()],
                &format!("tcp-{}-{port}", c.name),
            );
        }
        lab.spawn(
            &ns,
            &["nc", "-lku", &UDP_PORT.to_string()],
            &format!("udp-{}", c.name),
        );
        ctr.insert(c.name, ns);
    }
    // Wait for the listeners and for routing to work end to end (no policy yet).
    let (web, cli) = (&ctr["web"], &ctr["cli"]);
    testlab::wait_for(Duration::from_secs(20), "web reachable from cli", || {
        cli.run(&["nc", "-z", "-w", "2", "10.65.0.10", "22"])
            .status
            .success()
            .then_some(())
    });
    let _ = web;
    Topo { lab, host, ctr }
}

fn container(name: &str) -> &'static Container {
    CONTAINERS.iter().find(|c| c.name == name).unwrap()
}

/// Runs every probe of the matrix in parallel; returns (src, dst, probe) → connected.
fn run_matrix(t: &Topo, round: &str) -> BTreeMap<(String, String, Probe), bool> {
    let mut cells = Vec::new();
    for s in &CONTAINERS {
        for d in &CONTAINERS {
            if s.name != d.name {
                for p in probes() {
                    cells.push((s.name, d.name, p));
                }
            }
        }
    }
    let results: Vec<((String, String, Probe), bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = cells
            .iter()
            .map(|&(s, d, p)| {
                let ns = t.ctr[s].clone();
                let ip = container(d).ip;
                scope.spawn(move || {
                    let ok = match p {
                        Probe::Tcp(port) => ns
                            .run(&["nc", "-z", "-w", "2", ip, &port.to_string()])
                            .status
                            .success(),
                        Probe::Icmp => ns.run(&["ping", "-c", "1", "-W", "2", ip]).status.success(),
                        Probe::Udp(port) => {
                            let token = format!("{round}-{s}-{d}");
                            for _ in 0..3 {
                                ns.sh(&format!("echo {token} | nc -u -w 1 {ip} {port}"));
                            }
                            false // decided below from the listener's log
                        }
                    };
                    ((s.to_string(), d.to_string(), p), ok)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut out: BTreeMap<_, _> = results.into_iter().collect();
    // UDP: a cell is allowed when the listener logged its token. Wait for every
    // expected-allowed token (generous time-out), then read all logs once more.
    let udp_seen = |s: &str, d: &str| {
        t.lab
            .log(&format!("udp-{d}"))
            .contains(&format!("{round}-{s}-{d}"))
    };
    for ((s, d, p), _) in out.clone() {
        if matches!(p, Probe::Udp(_)) && expected(&s, &d, p) {
            // Bounded poll; a missing token is reported by the cell check, not here.
            for _ in 0..100 {
                if udp_seen(&s, &d) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    // Denied datagrams had as long as the allowed ones to arrive.
    std::thread::sleep(Duration::from_millis(500));
    for ((s, d, p), v) in out.iter_mut() {
        if matches!(p, Probe::Udp(_)) {
            *v = udp_seen(s, d);
        }
    }
    out
}

fn explain(files: &[String], s: &str, d: &str, p: Probe) -> bool {
    let (proto, port) = match p {
        Probe::Tcp(n) => ("tcp", n),
        Probe::Udp(n) => ("udp", n),
        Probe::Icmp => ("icmp", 0),
    };
    let out = Command::new(tern())
        .args([
            "policy",
            "explain",
            "--from",
            container(s).endpoint,
            "--to",
            container(d).endpoint,
        ])
        .args(["--protocol", proto, "--port", &port.to_string()])
        .args(files)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // Exit 0 = allow, 3 = deny (and the first line says the same).
    let verdict = match text.lines().next() {
        Some("verdict: allow") => true,
        Some("verdict: deny") => false,
        other => panic!("unexpected explain output {other:?}: {text}"),
    };
    assert_eq!(
        out.status.code(),
        Some(if verdict { 0 } else { 3 }),
        "explain exit code does not match its verdict: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    verdict
}

/// Panics with the command's stderr unless it succeeded.
fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts that iptables' FORWARD chain in `host` jumps to tern's chain exactly once.
fn assert_one_forward_jump(host: &Netns) {
    let saved = host.ok(&["iptables-save", "-t", "filter"]);
    assert_eq!(
        saved.matches("-A FORWARD -j tern-forward").count(),
        1,
        "{saved}"
    );
}

/// `tern policy flush --backend BACKEND` in `host`.
fn flush(host: &Netns, backend: &str) -> std::process::Output {
    host.run(&[&tern(), "policy", "flush", "--backend", backend])
}

fn apply(t: &Topo, backend: &str, files: &[String]) -> std::process::Output {
    let mut argv = vec![
        tern(),
        "policy".into(),
        "apply".into(),
        "--backend".into(),
        backend.into(),
    ];
    argv.extend(files.iter().cloned());
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    t.host.run(&argv)
}

fn check_matrix(t: &Topo, backend: &str, files: &[String]) {
    let got = run_matrix(t, backend);
    let mut wrong = Vec::new();
    for ((s, d, p), ok) in &got {
        let want = expected(s, d, *p);
        let said = explain(files, s, d, *p);
        if *ok != want || said != want {
            wrong.push(format!(
                "{s} -> {d} {p:?}: probe {ok}, expected {want}, explain {said}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{backend}: {} wrong cells:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(got.len(), 4 * 3 * probes().len());
}

#[test]
fn policy_matrix_nftables_and_iptables() {
    let t = build("pm");
    let files = example_files();
    // Without policy everything connects (sanity: the probes can succeed).
    assert!(t.ctr["cache"]
        .run(&["nc", "-z", "-w", "2", "10.65.0.20", "5432"])
        .status
        .success());

    assert_ok(&apply(&t, "nftables", &files));
    check_matrix(&t, "nftables", &files);

    assert_ok(&flush(&t.host, "nftables"));
    assert!(!t
        .host
        .run(&["nft", "list", "table", "inet", "tern"])
        .status
        .success());

    assert_ok(&apply(&t, "iptables", &files));
    assert_one_forward_jump(&t.host);
    check_matrix(&t, "iptables", &files);

    // Applying again does not duplicate the jump; flush removes everything of tern's.
    assert_ok(&apply(&t, "iptables", &files));
    assert_one_forward_jump(&t.host);
    assert_ok(&flush(&t.host, "iptables"));
    let saved = t.host.ok(&["iptables-save"]);
    assert!(!saved.contains("tern-"), "{saved}");
    assert!(!t.host.ok(&["ipset", "list", "-n"]).contains("tern-"));
}

fn ticks(lab: &Lab, srv: &str) -> usize {
    lab.log(srv).matches("tick").count()
}

#[test]
fn policy_long_lived_connection_survives_change() {
    let mut t = build("pl");
    let files = example_files();
    let (web, cli, host) = (t.ctr["web"].clone(), t.ctr["cli"].clone(), t.host.clone());
    for backend in ["nftables", "iptables"] {
        assert_ok(&apply(&t, backend, &files));
        // cli → web:8000/8001 is allowed (8000:8080 from namespace env=dev).
        let srv = format!("srv-{backend}");
        let port = if backend == "nftables" {
            "8000"
        } else {
            "8001"
        };
        t.lab.spawn(&web, &["nc", "-l", port], &srv);
        testlab::wait_for(Duration::from_secs(10), "long-lived listener", || {
            web.ok(&["ss", "-ltn"])
                .contains(&format!(":{port} "))
                .then_some(())
        });
        let script = format!("i=0; while [ $i -lt 600 ]; do echo tick$i; i=$((i+1)); sleep 0.1; done | nc 10.65.0.10 {port}");
        let client = t
            .lab
            .spawn(&cli, &["sh", "-c", &script], &format!("long-{backend}"));
        testlab::wait_for(Duration::from_secs(20), "ticks before the change", || {
            (ticks(&t.lab, &srv) >= 5).then_some(())
        });

        // A change that rewrites the policy's chains but still allows cli → web:800x.
        let dir = t.lab.dir().join(format!("changed-{backend}"));
        fs::create_dir_all(&dir).unwrap();
        let calico = fs::read_to_string(repo().join("examples/policies/calico.yaml")).unwrap();
        let changed = calico.replace(
            "ports: [80, \"8000:8080\"]",
            "ports: [80, 443, \"8000:8080\"]",
        );
        assert_ne!(changed, calico);
        fs::write(dir.join("calico.yaml"), changed).unwrap();
        fs::copy(
            repo().join("examples/policies/kubernetes.yaml"),
            dir.join("kubernetes.yaml"),
        )
        .unwrap();
        let changed_files = vec![
            dir.display().to_string(),
            repo().join("examples/endpoints").display().to_string(),
        ];
        let before = ticks(&t.lab, &srv);
        assert_ok(&apply(&t, backend, &changed_files));
        testlab::wait_for(Duration::from_secs(20), "ticks after the change", || {
            (ticks(&t.lab, &srv) >= before + 10).then_some(())
        });
        assert!(t.lab.alive(client), "the client's connection broke");
        t.lab.kill(client);
        assert_ok(&flush(&host, backend));
    }
}

/// IPv6 addresses of the example endpoints (cache-1 has none).
const V6: [(&str, &str); 3] = [
    ("web", "fd00:65::10"),
    ("db", "fd00:65::20"),
    ("cli", "fd00:65::30"),
];
const V6_TCP: [u16; 2] = [80, 5432];

/// Adds the IPv6 side, Calico-style: /128 on eth0, default via fe80::1 (held by every
/// host-side veth), /128 device routes on the host; v6-only listeners next to the v4 ones.
fn add_ipv6(t: &mut Topo) {
    t.host
        .ok(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    for (name, ip) in V6 {
        let c = container(name);
        let ns = t.ctr[name].clone();
        ns.ok(&[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{ip}/128"),
            "dev",
            "eth0",
            "nodad",
        ]);
        t.host.ok(&[
            "ip",
            "-6",
            "addr",
            "add",
            "fe80::1/64",
            "dev",
            c.iface,
            "nodad",
        ]);
        ns.ok(&[
            "ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0",
        ]);
        t.host.ok(&[
            "ip",
            "-6",
            "route",
            "add",
            &format!("{ip}/128"),
            "dev",
            c.iface,
        ]);
        ns.ok(&["sysctl", "-qw", "net.ipv6.bindv6only=1"]);
        for port in V6_TCP {
            t.lab.spawn(
                &ns,
                &["nc", "-6", "-lk", &port.to_string()],
                &format!("tcp6-{name}-{port}"),
            );
        }
    }
    let cli = t.ctr["cli"].clone();
    testlab::wait_for(
        Duration::from_secs(20),
        "web reachable from cli over IPv6",
        || {
            cli.run(&["nc", "-6", "-z", "-w", "2", "fd00:65::10", "80"])
                .status
                .success()
                .then_some(())
        },
    );
}

fn v6_of(name: &str) -> &'static str {
    V6.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, ip)| *ip)
        .unwrap()
}

#[test]
fn policy_matrix_ipv6() {
    let mut t = build("p6");
    add_ipv6(&mut t);
    let files = example_files();
    for backend in ["nftables", "iptables"] {
        assert_ok(&apply(&t, backend, &files));
        let mut cells = Vec::new();
        for (s, _) in V6 {
            for (d, _) in V6 {
                if s != d {
                    for p in V6_TCP.iter().map(|p| Probe::Tcp(*p)).chain([Probe::Icmp]) {
                        cells.push((s, d, p));
                    }
                }
            }
        }
        let got: Vec<_> = std::thread::scope(|scope| {
            let hs: Vec<_> = cells
                .iter()
                .map(|&(s, d, p)| {
                    let ns = t.ctr[s].clone();
                    scope.spawn(move || {
                        let ip = v6_of(d);
                        let ok = match p {
                            Probe::Tcp(port) => ns
                                .run(&["nc", "-6", "-z", "-w", "2", ip, &port.to_string()])
                                .status
                                .success(),
                            _ => ns
                                .run(&["ping", "-6", "-c", "1", "-W", "2", ip])
                                .status
                                .success(),
                        };
                        (s, d, p, ok)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut wrong = Vec::new();
        for (s, d, p, ok) in got {
            // The Calico rule `protocol: ICMP` is IPv4 only: no ICMPv6 echo is allowed.
            let want = p != Probe::Icmp && expected(s, d, p);
            let out = Command::new(tern())
                .args(["policy", "explain", "--from", v6_of(s), "--to", v6_of(d)])
                .args(match p {
                    Probe::Tcp(port) => vec![
                        "--protocol".to_string(),
                        "tcp".into(),
                        "--port".into(),
                        port.to_string(),
                    ],
                    _ => vec!["--protocol".to_string(), "icmp".into()],
                })
                .args(&files)
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stdout).starts_with("verdict: allow");
            if ok != want || said != want {
                wrong.push(format!(
                    "{s} -> {d} {p:?}: probe {ok}, expected {want}, explain {said}"
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "{backend} IPv6: {} wrong cells:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
        assert_ok(&flush(&t.host, backend));
    }
}
