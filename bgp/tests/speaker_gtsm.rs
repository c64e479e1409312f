//! GTSM (RFC 5082) against BIRD two hops away (a router namespace in between): with
//! `ttl_security: 1` our socket drops BIRD's segments (TTL 254 < 255) and no session
//! comes up; with `ttl_security: 2` it establishes.

mod speaker_common;

use std::time::Duration;

use bgp::speaker::Speaker;
use speaker_common::*;

const BIRD_CONF: &str = r#"
router id 10.0.2.2;
protocol device {}
protocol bgp tern {
  local 10.0.2.2 as 65100;
  neighbor 10.0.1.1 as 65001;
  multihop 2;
  ttl security on;
  hold time 9;
  connect retry time 1;
  ipv4 { import all; export none; };
}
"#;

#[test]
fn gtsm_hop_limit_is_enforced() {
    let mut lab = testlab::Lab::new("spk-gtsm");
    let t = lab.netns("t");
    let r = lab.netns("r");
    let b = lab.netns("b");
    lab.veth(&t, "eth0", &["10.0.1.1/24"], &r, "eth0", &["10.0.1.2/24"]);
    lab.veth(&r, "eth1", &["10.0.2.1/24"], &b, "eth0", &["10.0.2.2/24"]);
    t.ok(&["ip", "route", "add", "10.0.2.0/24", "via", "10.0.1.2"]);
    b.ok(&["ip", "route", "add", "10.0.1.0/24", "via", "10.0.2.1"]);
    let conf = lab.dir().join("bird.conf");
    let sock = lab.dir().join("bird.ctl");
    std::fs::write(&conf, BIRD_CONF).expect("write config");
    let (conf_s, sock_s) = (
        conf.to_string_lossy().into_owned(),
        sock.to_string_lossy().into_owned(),
    );
    lab.spawn(&b, &["bird", "-f", "-c", &conf_s, "-s", &sock_s], "bird");

    in_netns(&t, || async {
        let mut p = peer("10.0.2.2", 65100, "10.0.1.1");
        p.ttl_security = Some(1);
        let (h, _) = Speaker::start(speaker(65001, "10.0.1.1", p.clone(), &[]))
            .await
            .expect("speaker");
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let st = the_peer(&h).await;
            assert!(
                !matches!(st.state, "OpenConfirm" | "Established"),
                "GTSM with 1 hop let a peer 2 hops away through ({})",
                st.state
            );
            assert_eq!(st.messages_in, 0, "no BGP message may get through");
        }
        h.shutdown().await;

        p.ttl_security = Some(2);
        let (h, _) = Speaker::start(speaker(65001, "10.0.1.1", p, &[]))
            .await
            .expect("speaker");
        established(&h, "established with GTSM 2 hops").await;
        h.shutdown().await;
    });
}
