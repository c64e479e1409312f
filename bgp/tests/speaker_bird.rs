//! The driver against a real BIRD 2 in lab namespaces joined by a veth pair: eBGP with
//! TCP-MD5 and GTSM; each side learns the other's prefix, BIRD restarts and the session
//! and routes come back, a withdrawal propagates, and shutdown shows up in BIRD as the
//! Cease with our shutdown communication.

mod speaker_common;

use std::time::Duration;

use bgp::rib::{RouteAction, RouteChange};
use bgp::speaker::Speaker;
use ipnet::IpNet;
use speaker_common::*;
use testlab::bird::birdc;

fn bird_config(md5: &str) -> String {
    format!(
        r#"
router id 10.0.0.2;
protocol device {{}}
protocol static s4 {{
  ipv4;
  route 10.100.0.0/24 blackhole;
}}
protocol bgp tern {{
  local 10.0.0.2 as 65100;
  neighbor 10.0.0.1 as 65001;
  hold time 9;
  connect retry time 1;
  password "{md5}";
  ttl security on;
  ipv4 {{ import all; export all; }};
}}
"#
    )
}

#[test]
fn speaker_peers_with_bird() {
    let mut lab = testlab::Lab::new("spk-bird");
    let t = lab.netns("t");
    let b = lab.netns("b");
    lab.veth(&t, "eth0", &["10.0.0.1/24"], &b, "eth0", &["10.0.0.2/24"]);
    let conf = lab.dir().join("bird.conf");
    let sock = lab.dir().join("bird.ctl");
    std::fs::write(&conf, bird_config("sw0rdf1sh")).expect("write config");
    let conf_s = conf.to_string_lossy().into_owned();
    let sock_s = sock.to_string_lossy().into_owned();
    let bird = ["bird", "-f", "-c", &conf_s, "-s", &sock_s];
    let pid = lab.spawn(&b, &bird, "bird");

    in_netns(&t, || async {
        let mut p = peer("10.0.0.2", 65100, "10.0.0.1");
        p.password = Some("sw0rdf1sh".into());
        p.ttl_security = Some(1);
        let (h, mut changes) = Speaker::start(speaker(65001, "10.0.0.1", p, &["10.244.1.0/24"]))
            .await
            .expect("speaker");
        let st = established(&h, "session with BIRD established").await;
        assert_eq!(st.asn, 65100);
        let learned: IpNet = "10.100.0.0/24".parse().expect("p");
        let c = tokio::time::timeout(Duration::from_secs(30), changes.next(16))
            .await
            .expect("a route from BIRD in time")
            .expect("stream open");
        assert_eq!(
            c,
            [RouteChange {
                prefix: learned,
                action: RouteAction::Install(vec!["10.0.0.2".parse().expect("ip")])
            }]
        );
        let c = c.into_iter().next().expect("one change");
        assert_eq!(
            c,
            RouteChange {
                prefix: learned,
                action: RouteAction::Install(vec!["10.0.0.2".parse().expect("ip")])
            }
        );
        let r = h.routes(false).await;
        let path = r
            .iter()
            .find(|r| r.prefix == learned)
            .and_then(|r| r.best.clone())
            .expect("best path");
        assert_eq!(path.as_path, "65100");

        let seen = wait_for(Duration::from_secs(30), "BIRD learns our block", || async {
            let out = birdc(&sock, "show route 10.244.1.0/24 all");
            out.contains("10.244.1.0/24").then_some(out)
        })
        .await;
        assert!(seen.contains("BGP.as_path: 65001"), "{seen}");
        assert!(seen.contains("BGP.next_hop: 10.0.0.1"), "{seen}");

        // BIRD restarts: the session goes down, comes back, and the routes return.
        lab.kill(pid);
        wait_for(
            Duration::from_secs(30),
            "session down after BIRD stopped",
            || async { (the_peer(&h).await.state != "Established").then_some(()) },
        )
        .await;
        assert!(h.routes(false).await.iter().all(|r| r.prefix != learned));
        lab.spawn(&b, &bird, "bird-restarted");
        let st = established(&h, "session back after BIRD restarted").await;
        assert_eq!(st.established_transitions, 2);
        wait_for(Duration::from_secs(30), "BIRD's route back", || async {
            h.routes(false)
                .await
                .iter()
                .any(|r| r.prefix == learned)
                .then_some(())
        })
        .await;
        wait_for(
            Duration::from_secs(30),
            "BIRD relearns our block",
            || async {
                birdc(&sock, "show route 10.244.1.0/24")
                    .contains("10.244.1.0/24")
                    .then_some(())
            },
        )
        .await;

        h.set_originated(Vec::new()).await;
        wait_for(Duration::from_secs(30), "BIRD drops our block", || async {
            let out = birdc(&sock, "show route 10.244.1.0/24");
            (!out.contains("10.244.1.0/24")).then_some(())
        })
        .await;

        h.shutdown().await;
        let out = wait_for(Duration::from_secs(30), "BIRD sees the Cease", || async {
            let out = birdc(&sock, "show protocols all tern");
            (!out.contains("Established")).then_some(out)
        })
        .await;
        assert!(out.contains("Administrative shutdown"), "{out}");
        assert!(out.contains("tern shutting down"), "{out}");
    });
}
