//! BGP connection collisions (RFC 4271 §6.8) between two real `tern agent`s, each with
//! the other as an active mesh peer. Each round holds both connect attempts (a firewall
//! in each namespace drops SYNs to port 179), freezes both agents, lets the kernels set
//! up both TCP connections, then runs the agents one after the other so that they read
//! each other's OPENs on the two connections in the crossing orders of a collision.
//! ConnectRetry is an hour: a collision that closes both connections leaves the pair
//! without a session for the rest of the test, so every round must come up on its own.

mod common;

use std::time::Duration;

use common::*;
use testlab::{wait_for, Lab, Netns};

const ROUNDS: usize = 20;

/// A mesh node whose connect retry is an hour: only the first attempts count.
fn node(lab: &Lab, ns: &Netns, name: &str, addr: &str, peer: &str, block: &str) -> Node {
    let n = write_node(
        lab,
        ns,
        &NodeSpec {
            name,
            router_id: addr,
            blocks: &[block],
            ..NodeSpec::default()
        },
    );
    let yaml = std::fs::read_to_string(&n.config).expect("read node config");
    let yaml = format!(
        "{yaml}nodeToNodeMesh: {{ enabled: true, peers: [\"{peer}\"], holdTime: 9s, connectRetryTime: 1h }}\n"
    );
    std::fs::write(&n.config, yaml).expect("write node config");
    n
}

/// The one peer's row of `tern status --json` once it is Established.
fn established(n: &Node) -> Option<serde_json::Value> {
    let s = status_json(n)?;
    let peer = s["peers"].as_array()?.first()?.clone();
    (peer["state"] == "Established").then_some(peer)
}

/// `ss` rows of TCP connections to or from port 179 in `ns` (listeners left out):
/// (state, Recv-Q, local, peer).
fn bgp_sockets(ns: &Netns) -> Vec<(String, u64, String, String)> {
    let out = ns.ok(&["ss", "-Htn", "( sport = :179 or dport = :179 )"]);
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.to_string(),
                f.get(1)?.parse().ok()?,
                plain(f.get(3)?),
                plain(f.get(4)?),
            ))
        })
        .collect()
}

/// `[::ffff:10.0.0.1]:179` (a dual-stack listener's view) → `10.0.0.1:179`.
fn plain(addr: &str) -> String {
    addr.replace("[::ffff:", "").replace(']', "")
}

/// The established ones.
fn established_sockets(ns: &Netns) -> Vec<(String, u64, String, String)> {
    let mut s = bgp_sockets(ns);
    s.retain(|r| r.0 == "ESTAB");
    s
}

/// Every connection left in `ns` has something to read (an OPEN, perhaps a Cease): the
/// other agent has answered on each (or reset one).
fn all_have_data(ns: &Netns) -> Option<()> {
    let s = bgp_sockets(ns);
    (!s.is_empty() && s.iter().all(|r| r.1 > 0)).then_some(())
}

fn hold_syns(ns: &Netns, on: bool) {
    if on {
        ns.ok(&[
            "nft",
            "add table inet hold; add chain inet hold in { type filter hook input priority 0; }; add rule inet hold in tcp dport 179 drop",
        ]);
    } else {
        ns.ok(&["nft", "delete table inet hold"]);
    }
}

#[test]
#[ignore = "known intermittent failure (1 round in about 100-200): when both agents process the crossing at the same moment, one side can stay in OpenConfirm on the kept connection until its hold timer fires; not yet diagnosed (see CHANGELOG). Run with --ignored"]
fn simultaneous_connects_keep_one_session() {
    let mut lab = Lab::new("tcoll");
    let a = lab.netns("a");
    let b = lab.netns("b");
    lab.veth(&a, "eth0", &["10.0.0.1/24"], &b, "eth0", &["10.0.0.2/24"]);
    let na = node(&lab, &a, "a", "10.0.0.1", "10.0.0.2", "10.244.1.0/24");
    let nb = node(&lab, &b, "b", "10.0.0.2", "10.0.0.1", "10.244.2.0/24");
    let tern = testlab::tern_bin().to_string_lossy().into_owned();
    let mut collisions = 0;
    let mut staged_rounds = 0;
    for round in 0..ROUNDS {
        for (n, ns) in [(&na, &a), (&nb, &b)] {
            let _ = std::fs::remove_file(&n.socket);
            hold_syns(ns, true);
        }
        let mut pids = Vec::new();
        for (n, ns) in [(&na, &a), (&nb, &b)] {
            let config = n.config.to_string_lossy().into_owned();
            let argv = [
                "env",
                "RUST_LOG=info,bgp::speaker=debug",
                &tern,
                "agent",
                "--config",
                &config,
            ];
            pids.push(lab.spawn(ns, &argv, &format!("tern-{}-{round}", n.name)));
        }
        let (pa, pb) = (pids[0], pids[1]);
        for n in [&na, &nb] {
            wait_for(
                CONVERGE,
                &format!("round {round}: {} connecting", n.name),
                || {
                    let s = status_json(n)?;
                    (s["peers"][0]["state"] == "Connect").then_some(())
                },
            );
        }
        // Frozen agents, open firewalls: the kernels retransmit the SYNs and set up both
        // connections (into the accept queues and the pending connects).
        lab.signal(pa, libc::SIGSTOP);
        lab.signal(pb, libc::SIGSTOP);
        hold_syns(&a, false);
        hold_syns(&b, false);
        wait_for(CONVERGE, &format!("round {round}: two connections"), || {
            (established_sockets(&a).len() == 2 && established_sockets(&b).len() == 2).then_some(())
        });
        // One agent (A, the lower identifier, in even rounds; B in odd ones) sends its
        // OPENs on both while the other is frozen; then the other reads them and answers
        // on both while the first is frozen; then both run.
        let (first, second, second_ns) = if round % 2 == 0 {
            (pa, pb, &a)
        } else {
            (pb, pa, &b)
        };
        let first_ns = if round % 2 == 0 { &b } else { &a };
        lab.signal(first, libc::SIGCONT);
        wait_for(CONVERGE, &format!("round {round}: first OPENs"), || {
            all_have_data(first_ns)
        });
        lab.signal(first, libc::SIGSTOP);
        lab.signal(second, libc::SIGCONT);
        // Staging only, not an assertion: give the second agent up to 5 s to answer.
        // The first one stays frozen meanwhile, and must resume well within
        // EXTRA_OPEN_WAIT (10 s) of accepting its second connection, or it would
        // rightly give that connection up (a frozen peer looks dead).
        let staged = (0..50).any(|_| {
            let done = all_have_data(second_ns).is_some();
            if !done {
                std::thread::sleep(Duration::from_millis(100));
            }
            done
        });
        staged_rounds += usize::from(staged);
        // Whatever the second agent answers to both OPENs is on the wire before the
        // first one reads either (a pause to provoke the crossing, not an assertion).
        std::thread::sleep(Duration::from_millis(300));
        lab.signal(first, libc::SIGCONT);
        let what = format!("round {round}: both Established");
        wait_for(CONVERGE, &what, || {
            Some((established(&na)?, established(&nb)?))
        });
        // One connection left on each side, the same one (the loser's close may
        // still be on its way).
        let what = format!("round {round}: one connection each");
        let (ca, cb) = wait_for(CONVERGE, &what, || {
            let (ca, cb) = (established_sockets(&a), established_sockets(&b));
            (ca.len() == 1 && cb.len() == 1).then_some((ca, cb))
        });
        assert_eq!((&ca[0].2, &ca[0].3), (&cb[0].3, &cb[0].2), "round {round}");
        for n in ["a", "b"] {
            let log = lab.log(&format!("tern-{n}-{round}"));
            collisions += log
                .matches("sending NOTIFICATION cease/connection-collision-resolution")
                .count();
        }
        lab.kill(pa);
        lab.kill(pb);
    }
    // Every round is a collision: at least one side closes a connection with its Cease.
    assert!(collisions >= ROUNDS, "{collisions}");
    eprintln!(
        "{ROUNDS} rounds ({staged_rounds} staged as planned): {collisions} collision Ceases sent"
    );
}
