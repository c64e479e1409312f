//! BFD beside BGP: `tern agent` with `bfd: { interval: 100ms, multiplier: 3 }` on its peer,
//! against BIRD 2 (`protocol bfd` and `bfd on` in its BGP protocol) and FRR (zebra, bgpd with
//! `neighbor … bfd`, and bfdd). The hosts hang off a Linux bridge in a third namespace;
//! nftables on the bridge silently drops everything between them (the links stay up).
//! With a hold time of 30 s, tern must remove the neighbour's routes from its kernel table
//! within 10 s (BFD sees the silence in ~300 ms), and the neighbour must see tern's BFD
//! go Down too. When the bridge forwards again, BFD and BGP come back by themselves. FRR
//! then shuts its BFD peer down on purpose (AdminDown): tern's BGP session stays, without
//! a flap (RFC 5882 §3.2). The same over IPv6 with BIRD. A control run without BFD keeps the
//! route through the same cut. And tern restarting with `--graceful-restart` while FRR
//! (graceful restart on) runs BFD with it: FRR keeps tern's block throughout.

mod common;

use std::time::{Duration, Instant};

use common::*;
use testlab::bird::{bird_config, is_established, start_bird, Bird};
use testlab::{wait_for, Lab, Netns};

/// Much less than the 30 s hold time: only BFD can take the routes away this fast.
const FAST: Duration = Duration::from_secs(10);

/// tern's peer line: hold 30 s, BFD 100 ms × 3.
fn tern_peer(addr: &str, asn: u32) -> String {
    format!(
        "peers:\n  - {{ peerIP: \"{addr}\", asNumber: {asn}, holdTime: 30s, connectRetryTime: 1s, \
         bfd: {{ interval: 100ms, multiplier: 3 }} }}\nmetrics: {{ listen: \"127.0.0.1:9469\" }}\n"
    )
}

/// tern (10.0.0.1) and a neighbour (10.0.0.2) on one bridge; returns (tern, neighbour,
/// switch, tern's node).
fn lab_of(lab: &mut Lab, asn: u32) -> (Netns, Netns, Netns, Node) {
    let t = lab.netns("tern");
    let n = lab.netns("peer");
    let sw = switch(lab, &[(&t, &["10.0.0.1/24"]), (&n, &["10.0.0.2/24"])]);
    let extra = tern_peer("10.0.0.2", asn);
    let node = write_node(
        lab,
        &t,
        &NodeSpec {
            blocks: &["10.244.1.0/24"],
            extra: &extra,
            ..NodeSpec::default()
        },
    );
    (t, n, sw, node)
}

/// Drops every frame the bridge would forward (ARP included): the path goes silent.
fn cut(sw: &Netns) {
    let out = sw.sh(
        "nft -f - <<'EOF'\ntable bridge cut {\n  chain silence {\n    type filter hook forward priority 0; policy drop;\n  }\n}\nEOF",
    );
    assert!(out.status.success(), "nft: {out:?}");
}

fn heal(sw: &Netns) {
    sw.ok(&["nft", "delete", "table", "bridge", "cut"]);
}

fn tern_bfd_state(node: &Node) -> Option<String> {
    let s = status_json(node)?;
    s["peers"][0]["bfd"].as_str().map(String::from)
}

fn bird_bfd_state(bird: &Bird) -> Option<String> {
    bird_bfd_state_of(bird, "10.0.0.1")
}

fn bird_bfd_state_of(bird: &Bird, neighbor: &str) -> Option<String> {
    bird.cli("show bfd sessions")
        .lines()
        .find(|l| l.starts_with(&format!("{neighbor} ")))
        .and_then(|l| l.split_whitespace().nth(2).map(String::from))
}

/// Waits until the route is gone from tern's kernel table; returns how long it took.
fn wait_route_gone(t: &Netns, prefix: &str, from: Instant, what: &str) -> Duration {
    wait_for(FAST, what, || {
        kernel_route(t, prefix).is_none().then(|| from.elapsed())
    })
}

fn bird_conf() -> String {
    let c = bird_config("10.0.0.2", 65000, &["10.244.9.0/24"], &[BIRD_TERN4]);
    let c = c.replace("hold time 9;", "hold time 30;\n  bfd on;");
    assert!(c.contains("bfd on"));
    format!("{c}protocol bfd {{\n  interface \"eth0\" {{ interval 100 ms; multiplier 3; }};\n}}\n")
}

#[test]
fn bird_bfd_takes_the_route_out_of_the_fib_long_before_the_hold_time() {
    let mut lab = Lab::new("tbfd");
    let (t, b, sw, node) = lab_of(&mut lab, 65000);
    let bird = start_bird(&mut lab, &b, "bird", &bird_conf());
    start_tern(&mut lab, &node);
    bird.wait_established("tern4");
    wait_established(&node, 1);
    let prefix = "10.244.9.0/24";
    wait_for(CONVERGE, "tern installed BIRD's route", || {
        kernel_route(&t, prefix).map(|_| ())
    });
    wait_for(CONVERGE, "BFD Up on both sides", || {
        (tern_bfd_state(&node).as_deref() == Some("Up")
            && bird_bfd_state(&bird).as_deref() == Some("Up"))
        .then_some(())
    });
    let proto = bird.cli("show protocols all tern4");
    assert!(
        proto.contains("Hold timer") || proto.contains("hold"),
        "{proto}"
    );
    let m = scrape(&t, "127.0.0.1:9469");
    assert!(
        m.contains("tern_bfd_session_up{peer=\"10.0.0.2\"} 1"),
        "{m}"
    );
    let table = String::from_utf8_lossy(&tern_cli(&node, &["status"]).stdout).into_owned();
    assert!(table.contains("BFD") && table.contains("Up"), "{table}");

    // The path goes silent; the links stay up.
    let t0 = Instant::now();
    cut(&sw);
    let took = wait_route_gone(&t, prefix, t0, "BIRD's route left tern's kernel table");
    eprintln!("route left the FIB {} ms after the cut", took.as_millis());
    let s = status_json(&node).expect("status");
    assert_ne!(s["peers"][0]["state"], "Established", "{s}");
    assert!(
        s["peers"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.to_lowercase().contains("bfd")),
        "the session ended with Cease / BFD Down: {s}"
    );
    assert!(lab.log("tern-a").contains("BFD session Down"));
    wait_for(FAST, "BIRD sees tern's BFD go down", || {
        let st = bird_bfd_state(&bird)?;
        (st != "Up").then_some(())
    });
    wait_for(FAST, "BIRD's BGP session to tern goes down", || {
        (!is_established(&bird.cli("show protocols tern4"), "tern4")).then_some(())
    });
    let m = scrape(&t, "127.0.0.1:9469");
    assert!(
        m.contains("tern_bfd_transitions_total{peer=\"10.0.0.2\",to=\"down\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("tern_bfd_session_up{peer=\"10.0.0.2\"} 0"),
        "{m}"
    );

    // The path is back: BFD, BGP and the route return on their own.
    heal(&sw);
    wait_for(CONVERGE, "BFD Up again", || {
        (tern_bfd_state(&node).as_deref() == Some("Up")).then_some(())
    });
    wait_established(&node, 1);
    wait_for(CONVERGE, "BIRD's route back in tern's kernel table", || {
        kernel_route(&t, prefix).map(|_| ())
    });
}

#[test]
fn without_bfd_the_route_stays_until_the_hold_time() {
    // The control: the same cut without BFD leaves the route in place well past the time
    // BFD takes, so the test above measures BFD and not something else.
    let mut lab = Lab::new("tbfdn");
    let (t, b, sw, node) = lab_of(&mut lab, 65000);
    let text = std::fs::read_to_string(&node.config).expect("config");
    std::fs::write(
        &node.config,
        text.replace(", bfd: { interval: 100ms, multiplier: 3 }", ""),
    )
    .expect("config");
    let conf = bird_conf().replace("bfd on;", "");
    let bird = start_bird(&mut lab, &b, "bird", &conf);
    start_tern(&mut lab, &node);
    bird.wait_established("tern4");
    let prefix = "10.244.9.0/24";
    wait_for(CONVERGE, "tern installed BIRD's route", || {
        kernel_route(&t, prefix).map(|_| ())
    });
    assert_eq!(tern_bfd_state(&node), None, "no bfd column without bfd");
    cut(&sw);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        assert!(
            kernel_route(&t, prefix).is_some(),
            "the route left before the hold time without BFD"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// FRR's zebra, bgpd and bfdd in `ns`, every path in the lab's directory (the system's FRR
/// is never touched); bgpd asks bfdd for the session through zebra, as FRR runs it.
fn start_frr(lab: &mut Lab, ns: &Netns, bgpd_conf: &str, bfdd_conf: &str) -> std::path::PathBuf {
    for d in ["zebra", "bgpd", "bfdd"] {
        let p = format!("/usr/lib/frr/{d}");
        assert!(
            std::path::Path::new(&p).exists(),
            "FRR is not installed ({p}); scripts/install-deps.sh installs it"
        );
    }
    let dir = lab.dir().join("frr");
    std::fs::create_dir_all(&dir).expect("frr dir");
    // The daemons drop to the frr user and create their sockets and PID files here.
    for p in [lab.dir(), dir.as_path()] {
        let ok = std::process::Command::new("chmod")
            .arg("0777")
            .arg(p)
            .status()
            .expect("chmod");
        assert!(ok.success());
    }
    std::fs::write(dir.join("zebra.conf"), "hostname frr\n").expect("zebra.conf");
    std::fs::write(dir.join("bgpd.conf"), bgpd_conf).expect("bgpd.conf");
    std::fs::write(dir.join("bfdd.conf"), bfdd_conf).expect("bfdd.conf");
    let d = dir.to_string_lossy().into_owned();
    for daemon in ["zebra", "bfdd", "bgpd"] {
        let conf = format!("{d}/{daemon}.conf");
        let pid = format!("{d}/{daemon}.pid");
        let zserv = format!("{d}/zserv.api");
        let bfdctl = format!("{d}/bfdd.sock");
        let bin = format!("/usr/lib/frr/{daemon}");
        let mut argv = vec![
            bin.as_str(),
            "-f",
            &conf,
            "-i",
            &pid,
            "-z",
            &zserv,
            "--vty_socket",
            &d,
            "-u",
            "frr",
            "-g",
            "frr",
            "--log",
            "stdout",
        ];
        match daemon {
            "bfdd" => argv.extend_from_slice(&["--bfdctl", &bfdctl]),
            _ => argv.extend_from_slice(&["-P", "0"]),
        }
        let log = format!("frr-{daemon}");
        let child = lab.spawn(ns, &argv, &log);
        wait_for(CONVERGE, &format!("{daemon} vty socket"), || {
            if !lab.alive(child) {
                panic!("{daemon} exited:\n{}", lab.log(&log));
            }
            dir.join(format!("{daemon}.vty")).exists().then_some(())
        });
    }
    dir
}

/// `vtysh -c CMD` against the lab's FRR, parsed as JSON.
fn frr_json(ns: &Netns, dir: &std::path::Path, cmd: &str) -> Option<serde_json::Value> {
    let d = dir.to_string_lossy().into_owned();
    let out = ns.run(&["vtysh", "--vty_socket", &d, "-c", cmd]);
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn frr_bfd_takes_the_route_out_of_the_fib_long_before_the_hold_time() {
    let mut lab = Lab::new("tbfdf");
    let (t, f, sw, node) = lab_of(&mut lab, 65010);
    let bgpd = "log stdout informational\n\
         router bgp 65010\n \
         bgp router-id 10.0.0.2\n \
         no bgp ebgp-requires-policy\n \
         no bgp network import-check\n \
         no bgp default ipv4-unicast\n \
         timers bgp 10 30\n \
         neighbor 10.0.0.1 remote-as 64512\n \
         neighbor 10.0.0.1 timers connect 2\n \
         neighbor 10.0.0.1 bfd\n \
         neighbor 10.0.0.1 bfd profile fast\n \
         address-family ipv4 unicast\n  \
         network 10.244.9.0/24\n  \
         neighbor 10.0.0.1 activate\n \
         exit-address-family\n";
    let bfdd = "bfd\n profile fast\n  detect-multiplier 3\n  receive-interval 100\n  \
                transmit-interval 100\n !\n!\n";
    let dir = start_frr(&mut lab, &f, bgpd, bfdd);
    start_tern(&mut lab, &node);
    wait_established(&node, 1);
    let prefix = "10.244.9.0/24";
    wait_for(CONVERGE, "tern installed FRR's route", || {
        kernel_route(&t, prefix).map(|_| ())
    });
    let frr_bfd = |ns: &Netns| -> Option<String> {
        let v = frr_json(ns, &dir, "show bfd peers json")?;
        v.as_array()?
            .iter()
            .find(|p| p["peer"] == "10.0.0.1")
            .and_then(|p| p["status"].as_str().map(String::from))
    };
    wait_for(CONVERGE, "BFD Up on both sides", || {
        (tern_bfd_state(&node).as_deref() == Some("Up") && frr_bfd(&f).as_deref() == Some("up"))
            .then_some(())
    });

    let t0 = Instant::now();
    cut(&sw);
    let took = wait_route_gone(&t, prefix, t0, "FRR's route left tern's kernel table");
    eprintln!("route left the FIB {} ms after the cut", took.as_millis());
    wait_for(FAST, "FRR sees tern's BFD go down", || {
        (frr_bfd(&f)? == "down").then_some(())
    });
    wait_for(FAST, "FRR's BGP session to tern goes down", || {
        let v = frr_json(&f, &dir, "show bgp neighbors 10.0.0.1 json")?;
        (v["10.0.0.1"]["bgpState"] != "Established").then_some(())
    });

    heal(&sw);
    wait_for(CONVERGE, "BFD Up again", || {
        (tern_bfd_state(&node).as_deref() == Some("Up")).then_some(())
    });
    wait_established(&node, 1);
    wait_for(CONVERGE, "FRR's route back in tern's kernel table", || {
        kernel_route(&t, prefix).map(|_| ())
    });

    // FRR turns BFD off on purpose (AdminDown): tern's BGP session stays (RFC 5882 §3.2).
    let d = dir.to_string_lossy().into_owned();
    let established = status_json(&node).expect("status")["peers"][0]["since_unix"].clone();
    f.ok(&[
        "vtysh",
        "--vty_socket",
        &d,
        "-c",
        "configure terminal",
        "-c",
        "bfd",
        "-c",
        "peer 10.0.0.1 local-address 10.0.0.2",
        "-c",
        "shutdown",
    ]);
    wait_for(FAST, "tern's BFD leaves Up", || {
        let st = tern_bfd_state(&node)?;
        (st != "Up").then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let s = status_json(&node).expect("status");
    assert_eq!(s["peers"][0]["state"], "Established", "{s}");
    assert_eq!(s["peers"][0]["since_unix"], established, "no flap: {s}");
    assert!(kernel_route(&t, prefix).is_some());
}

#[test]
fn bird_bfd_over_ipv6() {
    let mut lab = Lab::new("tbfd6");
    let t = lab.netns("tern");
    let n = lab.netns("peer");
    let sw = switch(
        &mut lab,
        &[
            (&t, &["10.0.0.1/24", "fd00:1::1/64"]),
            (&n, &["10.0.0.2/24", "fd00:1::2/64"]),
        ],
    );
    let extra = tern_peer("fd00:1::2", 65000);
    let node = write_node(
        &lab,
        &t,
        &NodeSpec {
            blocks: &["10.244.1.0/24", "fd00:244:0:1::/64"],
            extra: &extra,
            ..NodeSpec::default()
        },
    );
    let peer = testlab::bird::BirdPeer {
        name: "tern6",
        local: "fd00:1::2",
        neighbor: "fd00:1::1",
        asn: 64512,
        family: "ipv6",
    };
    let c = bird_config("10.0.0.2", 65000, &["fd00:244:0:9::/64"], &[peer])
        .replace("hold time 9;", "hold time 30;\n  bfd on;");
    let conf = format!(
        "{c}protocol bfd {{\n  interface \"eth0\" {{ interval 100 ms; multiplier 3; }};\n}}\n"
    );
    let bird = start_bird(&mut lab, &n, "bird", &conf);
    start_tern(&mut lab, &node);
    bird.wait_established("tern6");
    let prefix = "fd00:244:0:9::/64";
    wait_for(CONVERGE, "tern installed BIRD's IPv6 route", || {
        kernel_route(&t, prefix).map(|_| ())
    });
    wait_for(CONVERGE, "BFD Up on both sides", || {
        (tern_bfd_state(&node).as_deref() == Some("Up")
            && bird_bfd_state_of(&bird, "fd00:1::1").as_deref() == Some("Up"))
        .then_some(())
    });
    let t0 = Instant::now();
    cut(&sw);
    let took = wait_route_gone(&t, prefix, t0, "BIRD's IPv6 route left tern's kernel table");
    eprintln!(
        "IPv6 route left the FIB {} ms after the cut",
        took.as_millis()
    );
    wait_for(FAST, "BIRD sees tern's BFD go down", || {
        (bird_bfd_state_of(&bird, "fd00:1::1")? != "Up").then_some(())
    });
}

/// tern restarts with `--graceful-restart` while FRR (graceful restart on, BFD with tern)
/// holds its block: the stopping agent's AdminDown must not make FRR drop the block.
#[test]
fn frr_keeps_terns_block_while_tern_restarts_with_bfd() {
    let mut lab = Lab::new("tbfdg");
    let (_t, f, _sw, node) = lab_of(&mut lab, 65010);
    let bgpd = "log stdout informational\n\
         router bgp 65010\n \
         bgp router-id 10.0.0.2\n \
         bgp graceful-restart\n \
         bgp log-neighbor-changes\n \
         no bgp ebgp-requires-policy\n \
         no bgp network import-check\n \
         no bgp default ipv4-unicast\n \
         timers bgp 10 30\n \
         neighbor 10.0.0.1 remote-as 64512\n \
         neighbor 10.0.0.1 timers connect 2\n \
         neighbor 10.0.0.1 bfd\n \
         neighbor 10.0.0.1 bfd profile fast\n \
         address-family ipv4 unicast\n  \
         network 10.244.9.0/24\n  \
         neighbor 10.0.0.1 activate\n \
         exit-address-family\n";
    let bfdd = "bfd\n profile fast\n  detect-multiplier 3\n  receive-interval 100\n  \
                transmit-interval 100\n !\n!\n";
    let dir = start_frr(&mut lab, &f, bgpd, bfdd);
    let pid = start_tern_with(&mut lab, &node, &["--graceful-restart"]);
    wait_established(&node, 1);
    let block = "10.244.1.0/24";
    // None when vtysh gave no answer (bgpd busy): not counted either way.
    let block_state = || {
        frr_json(&f, &dir, &format!("show bgp ipv4 unicast {block} json"))
            .map(|v| v["paths"].as_array().is_some_and(|p| !p.is_empty()))
    };
    let has_block = || block_state() == Some(true);
    wait_for(CONVERGE, "FRR learned tern's block and BFD is Up", || {
        (has_block() && tern_bfd_state(&node).as_deref() == Some("Up")).then_some(())
    });
    lab.kill(pid);
    wait_for(CONVERGE, "agent gone", || (!lab.alive(pid)).then_some(()));
    // Away for 2 s: far beyond BFD's 300 ms detection time.
    let away = Instant::now();
    while away.elapsed() < Duration::from_secs(2) {
        let st = block_state();
        assert_ne!(
            st,
            Some(false),
            "FRR dropped tern's block during a graceful restart after {:?}:\n{}",
            away.elapsed(),
            lab.log("frr-bgpd")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    start_tern_with(&mut lab, &node, &["--graceful-restart"]);
    wait_established(&node, 1);
    assert!(has_block());
    wait_for(CONVERGE, "BFD Up again", || {
        (tern_bfd_state(&node).as_deref() == Some("Up")).then_some(())
    });
}
