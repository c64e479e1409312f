//! A local user cannot starve the agent of file descriptors (issue 8, item 12): with
//! hundreds of idle connections held open to `/metrics` and to the control socket, the
//! agent's descriptor count stays bounded, a BGP peer still establishes, and `tern
//! status` answers once the idle connections have timed out. The agent starts with a
//! low soft limit (256, hard 4096) as under a conservative service manager.

mod common;

use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::*;
use testlab::bird::{bird_config, start_bird};
use testlab::{wait_for, Lab};

/// Idle connections to each server: more than the soft limit the agent starts with.
const IDLE: usize = 300;

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn idle_local_clients_do_not_starve_bgp_or_status() {
    let mut lab = Lab::new("agent-limits");
    let (t, b, node) = tern_and_bird_with(&mut lab, "metrics: { listen: \"10.0.0.1:9469\" }\n");
    let tern = testlab::tern_bin().to_string_lossy().into_owned();
    let config = node.config.to_string_lossy().into_owned();
    let pid = lab.spawn(
        &t,
        &[
            "prlimit",
            "--nofile=256:4096",
            "env",
            "RUST_LOG=info",
            &tern,
            "agent",
            "--config",
            &config,
        ],
        "tern-a",
    );
    wait_for(CONVERGE, "tern answers", || {
        assert!(lab.alive(pid), "tern agent exited:\n{}", lab.log("tern-a"));
        status_json(&node)
    });
    let baseline = fd_count(pid);

    // Idle TCP connections to /metrics from inside the namespace, held for a minute.
    let holder = lab.dir().join("hold.py");
    std::fs::write(
        &holder,
        format!(
            "import resource, socket, sys, time\n\
             resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))\n\
             held = []\n\
             for _ in range({IDLE}):\n\
             \x20   s = socket.socket()\n\
             \x20   s.connect(('10.0.0.1', 9469))\n\
             \x20   held.append(s)\n\
             print('held', len(held), flush=True)\n\
             time.sleep(60)\n"
        ),
    )
    .expect("write holder");
    lab.spawn(&t, &["python3", &holder.to_string_lossy()], "hold");
    wait_for(CONVERGE, "metrics connections held", || {
        lab.log("hold").contains("held").then_some(())
    });
    // Idle connections to the control socket from this process.
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        match UnixStream::connect(&node.socket) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connect to the control socket: {e}"),
        }
    }
    // Give the agent time to accept (and refuse) them all, then look at its descriptors
    // for a few seconds: within the servers' bounds of its baseline.
    std::thread::sleep(Duration::from_secs(2));
    let bound = baseline + 32 + 64 + 16;
    for _ in 0..6 {
        let n = fd_count(pid);
        assert!(
            n <= bound,
            "agent holds {n} descriptors (baseline {baseline}, bound {bound}) with {IDLE} idle \
             metrics and {IDLE} idle control connections"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // A BGP peer establishes while the idle connections are still held by the client.
    let bird = start_bird(
        &mut lab,
        &b,
        "bird",
        &bird_config("10.0.0.2", 65000, &["10.244.9.0/24"], &[BIRD_TERN4]),
    );
    bird.wait_established("tern4");
    // The agent has closed the idle ones (read time-out): status answers again, even
    // though this client still holds its end of every one of them.
    let s = wait_for(CONVERGE, "tern status answers", || status_json(&node));
    assert_eq!(s["peers"][0]["state"], "Established", "{s}");
    assert!(scrape(&t, "10.0.0.1:9469").contains("tern_bgp_session_state"));
    assert!(lab.alive(pid), "{}", lab.log("tern-a"));
    drop(idle);
}

/// An address that is not a configured peer connecting to the BGP port again and again
/// is logged once (then a count per minute), not once per attempt.
#[test]
fn unknown_sources_are_logged_once() {
    let mut lab = Lab::new("agent-lograte");
    let (t, b, node) = tern_and_bird(&mut lab);
    b.ok(&["ip", "addr", "add", "10.0.0.3/24", "dev", "eth0"]);
    start_tern(&mut lab, &node);
    for _ in 0..40 {
        // Connects from 10.0.0.3 (not a peer); the agent closes the connection.
        b.run(&["nc", "-z", "-w", "2", "-s", "10.0.0.3", "10.0.0.1", "179"]);
    }
    // The attempts reached the agent: its log names the source, once.
    let lines = wait_for(CONVERGE, "the unknown source logged", || {
        let log = lab.log("tern-a");
        let n = log
            .lines()
            .filter(|l| l.contains("not a configured peer") && l.contains("10.0.0.3"))
            .count();
        (n > 0).then_some(n)
    });
    std::thread::sleep(Duration::from_secs(1));
    let log = lab.log("tern-a");
    let after = log
        .lines()
        .filter(|l| l.contains("not a configured peer"))
        .count();
    assert_eq!((lines, after), (1, 1), "{log}");
    let _ = t;
}
