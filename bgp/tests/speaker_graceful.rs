//! Graceful restart (RFC 4724) against a real BIRD 2 with `graceful restart on`, in lab
//! namespaces joined by a veth pair.
//!
//! - Our restart: the speaker stops with `shutdown_graceful` (no NOTIFICATION); BIRD
//!   keeps our routes while we are away, and once a new speaker is up and has sent
//!   End-of-RIB, BIRD drops the one block the new speaker no longer originates. A plain
//!   `shutdown` (Cease) makes BIRD withdraw at once.
//! - BIRD's restart: BIRD is killed (SIGKILL, no NOTIFICATION); we keep its routes
//!   (no change for the FIB) until it is back (started with `-R`, as Calico runs it)
//!   and has sent End-of-RIB; then only the route it no longer has is withdrawn.

mod speaker_common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bgp::rib::{RouteAction, RouteChange};
use bgp::speaker::Speaker;
use ipnet::IpNet;
use speaker_common::*;
use testlab::bird::{birdc, start_bird};

const BIRD_CONFIG: &str = r#"
router id 10.0.0.2;
protocol device {}
protocol static s4 {
  ipv4;
  route 10.100.0.0/24 blackhole;
}
protocol bgp tern {
  local 10.0.0.2 as 65100;
  neighbor 10.0.0.1 as 65001;
  hold time 9;
  connect retry time 1;
  graceful restart on;
  graceful restart time 120;
  ipv4 { import all; export all; };
}
"#;

fn has_route(sock: &Path, prefix: &str) -> bool {
    birdc(sock, &format!("show route {prefix}")).contains(prefix)
}

fn bird_established(sock: &Path) -> bool {
    birdc(sock, "show protocols tern").contains("Established")
}

#[test]
fn bird_keeps_our_routes_while_we_restart() {
    let mut lab = testlab::Lab::new("spk-gr");
    let t = lab.netns("t");
    let b = lab.netns("b");
    lab.veth(&t, "eth0", &["10.0.0.1/24"], &b, "eth0", &["10.0.0.2/24"]);
    let sock = start_bird(&mut lab, &b, "bird", BIRD_CONFIG).socket;

    in_netns(&t, || async {
        let cfg = |blocks: &[&str]| {
            speaker(
                65001,
                "10.0.0.1",
                peer("10.0.0.2", 65100, "10.0.0.1"),
                blocks,
            )
        };
        let (h, _changes) = Speaker::start(cfg(&["10.244.1.0/24", "10.244.9.0/24"]))
            .await
            .expect("speaker");
        established(&h, "session with BIRD").await;
        wait_for(
            Duration::from_secs(30),
            "BIRD learns both blocks",
            || async {
                (has_route(&sock, "10.244.1.0/24") && has_route(&sock, "10.244.9.0/24"))
                    .then_some(())
            },
        )
        .await;

        // Restart: closed without NOTIFICATION. BIRD sees the session go, keeps the routes.
        h.shutdown_graceful().await;
        wait_for(
            Duration::from_secs(30),
            "BIRD notices the session is gone",
            || async { (!bird_established(&sock)).then_some(()) },
        )
        .await;
        let proto = birdc(&sock, "show protocols all tern");
        for _ in 0..30 {
            assert!(
                has_route(&sock, "10.244.1.0/24"),
                "route kept during the restart\n{proto}"
            );
            assert!(
                has_route(&sock, "10.244.9.0/24"),
                "route kept during the restart\n{proto}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let route = birdc(&sock, "show route 10.244.1.0/24 all");
        assert!(route.contains("BGP.as_path: 65001"), "{route}");

        // Back, without 10.244.9.0/24: after our End-of-RIB BIRD drops only that one.
        let (h, _changes) = Speaker::start(cfg(&["10.244.1.0/24"]))
            .await
            .expect("speaker again");
        established(&h, "session with BIRD again").await;
        wait_for(
            Duration::from_secs(30),
            "BIRD drops the stale block",
            || async { (!has_route(&sock, "10.244.9.0/24")).then_some(()) },
        )
        .await;
        assert!(has_route(&sock, "10.244.1.0/24"));
        assert!(bird_established(&sock));

        // A real shutdown (Cease) withdraws at once.
        h.shutdown().await;
        wait_for(
            Duration::from_secs(10),
            "BIRD withdraws after the Cease",
            || async { (!has_route(&sock, "10.244.1.0/24")).then_some(()) },
        )
        .await;
        let proto = birdc(&sock, "show protocols all tern");
        assert!(proto.contains("Administrative shutdown"), "{proto}");
    });
}

fn bird_config_with(routes: &[&str]) -> String {
    let statics: String = routes
        .iter()
        .map(|r| format!("  route {r} blackhole;\n"))
        .collect();
    BIRD_CONFIG.replace("  route 10.100.0.0/24 blackhole;\n", &statics)
}

#[test]
fn we_keep_birds_routes_while_bird_restarts() {
    let mut lab = testlab::Lab::new("spk-grb");
    let t = lab.netns("t");
    let b = lab.netns("b");
    lab.veth(&t, "eth0", &["10.0.0.1/24"], &b, "eth0", &["10.0.0.2/24"]);
    let mut bird = start_bird(
        &mut lab,
        &b,
        "bird",
        &bird_config_with(&["10.100.0.0/24", "10.100.9.0/24"]),
    );

    in_netns(&t, || async {
        let p = peer("10.0.0.2", 65100, "10.0.0.1");
        let (h, mut changes) = Speaker::start(speaker(65001, "10.0.0.1", p, &["10.244.1.0/24"]))
            .await
            .expect("speaker");
        established(&h, "session with BIRD").await;
        let kept: IpNet = "10.100.0.0/24".parse().expect("p");
        let dropped: IpNet = "10.100.9.0/24".parse().expect("p");
        let mut installed = Vec::new();
        while installed.len() < 2 {
            let c = tokio::time::timeout(Duration::from_secs(30), changes.next(1))
                .await
                .expect("BIRD's routes in time")
                .expect("stream open")
                .remove(0);
            assert!(matches!(c.action, RouteAction::Install(_)), "{c:?}");
            installed.push(c.prefix);
        }
        installed.sort();
        assert_eq!(installed, [kept, dropped]);

        // BIRD dies without a word: the session goes, BIRD's routes stay.
        // SIGKILL to the BIRD this test spawned (by its pid).
        let killed = Command::new("kill")
            .args(["-KILL", &bird.pid.to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        wait_for(
            Duration::from_secs(30),
            "session down after BIRD died",
            || async { (the_peer(&h).await.state != "Established").then_some(()) },
        )
        .await;
        for _ in 0..30 {
            let routes = h.routes(false).await;
            assert!(routes.iter().any(|r| r.prefix == kept && r.best.is_some()));
            assert!(routes
                .iter()
                .any(|r| r.prefix == dropped && r.best.is_some()));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            h.take_route_changes(16).await.is_empty(),
            "no FIB change while BIRD restarts"
        );
        assert_eq!(the_peer(&h).await.stale_paths, 2);

        // BIRD is back (graceful recovery, -R) without 10.100.9.0/24.
        bird.recover(
            &mut lab,
            &bird_config_with(&["10.100.0.0/24"]),
            "bird-restarted",
        );
        let st = established(&h, "session back after BIRD restarted").await;
        assert_eq!(st.established_transitions, 2);
        let c = tokio::time::timeout(Duration::from_secs(60), changes.next(1))
            .await
            .expect("the withdrawal after BIRD's End-of-RIB in time")
            .expect("stream open")
            .remove(0);
        assert_eq!(
            c,
            RouteChange {
                prefix: dropped,
                action: RouteAction::Withdraw
            }
        );
        let routes = h.routes(false).await;
        assert!(routes.iter().any(|r| r.prefix == kept && r.best.is_some()));
        assert!(routes.iter().all(|r| r.prefix != dropped));
        assert_eq!(the_peer(&h).await.stale_paths, 0);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            h.take_route_changes(16).await.is_empty(),
            "10.100.0.0/24 never left the FIB"
        );
        h.shutdown().await;
    });
}
