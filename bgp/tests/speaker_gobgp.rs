//! The driver against a real GoBGP in lab namespaces joined by a veth pair: iBGP over
//! IPv4; each side learns the other's prefix (with LOCAL_PREF on iBGP), a withdrawal
//! propagates, and shutdown takes the session down on GoBGP's side.

mod speaker_common;

use std::time::Duration;

use bgp::speaker::Speaker;
use ipnet::IpNet;
use speaker_common::*;

const GOBGP_CONF: &str = r#"
[global.config]
  as = 65001
  router-id = "10.0.0.2"
  local-address-list = ["10.0.0.2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.0.0.1"
    peer-as = 65001
  [neighbors.timers.config]
    hold-time = 9
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
"#;

#[test]
fn speaker_peers_with_gobgp_ibgp() {
    let mut lab = testlab::Lab::new("spk-gobgp");
    let t = lab.netns("t");
    let g = lab.netns("g");
    lab.veth(&t, "eth0", &["10.0.0.1/24"], &g, "eth0", &["10.0.0.2/24"]);
    let conf = lab.dir().join("gobgpd.toml");
    std::fs::write(&conf, GOBGP_CONF).expect("write config");
    let conf_s = conf.to_string_lossy().into_owned();
    lab.spawn(
        &g,
        &[
            "gobgpd",
            "-f",
            &conf_s,
            "-p",
            "--api-hosts",
            "127.0.0.1:50051",
            "--pprof-disable",
        ],
        "gobgpd",
    );
    let gobgp = move |args: &[&str]| {
        let mut argv = vec!["gobgp", "-u", "127.0.0.1", "-p", "50051"];
        argv.extend_from_slice(args);
        let out = g.run(&argv);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // GoBGP's API may take a moment to come up.
    testlab::wait_for(Duration::from_secs(30), "gobgp route added", || {
        let out = gobgp(&[
            "global",
            "rib",
            "add",
            "10.100.0.0/24",
            "nexthop",
            "10.0.0.2",
        ]);
        let rib = gobgp(&["global", "rib"]);
        let _ = out;
        rib.contains("10.100.0.0/24").then_some(())
    });

    in_netns(&t, || async {
        let (h, _changes) = Speaker::start(speaker(
            65001,
            "10.0.0.1",
            peer("10.0.0.2", 65001, "10.0.0.1"),
            &["10.244.1.0/24"],
        ))
        .await
        .expect("speaker");
        established(&h, "session with GoBGP established").await;
        let learned: IpNet = "10.100.0.0/24".parse().expect("p");
        let path = wait_for(Duration::from_secs(30), "route from GoBGP", || async {
            h.routes(false)
                .await
                .into_iter()
                .find(|r| r.prefix == learned)
                .and_then(|r| r.best)
        })
        .await;
        assert_eq!(
            path.next_hop,
            "10.0.0.2".parse::<std::net::IpAddr>().expect("ip")
        );
        assert_eq!(path.as_path, "");
        assert_eq!(path.local_pref, 100);

        let rib = wait_for(
            Duration::from_secs(30),
            "GoBGP learns our block",
            || async {
                let out = gobgp(&["global", "rib", "-a", "ipv4"]);
                out.contains("10.244.1.0/24").then_some(out)
            },
        )
        .await;
        let line = rib
            .lines()
            .find(|l| l.contains("10.244.1.0/24"))
            .unwrap_or_default()
            .to_owned();
        assert!(line.contains("10.0.0.1"), "next hop is our address: {line}");
        assert!(
            line.contains("LocalPref: 100"),
            "iBGP carries LOCAL_PREF: {line}"
        );

        h.set_originated(Vec::new()).await;
        wait_for(Duration::from_secs(30), "GoBGP drops our block", || async {
            let out = gobgp(&["global", "rib", "-a", "ipv4"]);
            (!out.contains("10.244.1.0/24")).then_some(())
        })
        .await;

        h.shutdown().await;
        wait_for(
            Duration::from_secs(30),
            "GoBGP sees the session end",
            || async {
                let out = gobgp(&["neighbor"]);
                (!out.contains("Establ")).then_some(())
            },
        )
        .await;
    });
}
