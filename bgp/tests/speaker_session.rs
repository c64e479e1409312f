//! The tokio driver over real TCP inside a lab network namespace: two speakers on
//! loopback addresses establish (IPv4 and IPv6), TCP-MD5 with matching keys works and
//! with mismatched keys does not, shutdown sends Cease with a shutdown communication,
//! and connections from unconfigured addresses are closed.

mod speaker_common;

use std::time::Duration;

use bgp::speaker::Speaker;
use speaker_common::*;
use tokio::io::AsyncReadExt;

#[test]
fn two_speakers_establish_over_ipv4_and_ipv6() {
    let (_lab, ns) = lab_with_loopback(
        "spk-est",
        &["10.0.0.1/32", "10.0.0.2/32", "fd00::1/128", "fd00::2/128"],
    );
    in_netns(&ns, || async {
        let (a, _) = Speaker::start(speaker(
            65001,
            "10.0.0.1",
            peer("10.0.0.2", 65002, "10.0.0.1"),
            &[],
        ))
        .await
        .expect("a");
        let (b, _) = Speaker::start(speaker(
            65002,
            "10.0.0.2",
            passive(peer("10.0.0.1", 65001, "10.0.0.2")),
            &[],
        ))
        .await
        .expect("b");
        let pa = established(&a, "a established (IPv4)").await;
        let pb = established(&b, "b established (IPv4)").await;
        assert_eq!(pa.hold_time, Some(Duration::from_secs(9)));
        assert_eq!((pa.asn, pb.asn), (65002, 65001));
        assert!(pa.messages_in >= 2 && pa.messages_out >= 2);
        assert_eq!(pa.established_transitions, 1);
        a.shutdown().await;
        b.shutdown().await;

        let mut cfg = speaker(65001, "fd00::1", peer("fd00::2", 65002, "fd00::1"), &[]);
        cfg.router_id = "192.0.2.1".parse().expect("id");
        let (a6, _) = Speaker::start(cfg).await.expect("a6");
        let mut cfg = speaker(65002, "fd00::2", peer("fd00::1", 65001, "fd00::2"), &[]);
        cfg.router_id = "192.0.2.2".parse().expect("id");
        let (b6, _) = Speaker::start(cfg).await.expect("b6");
        // Both ends connect: whatever collision happens, they end up on one
        // connection, both Established at once.
        wait_for(
            Duration::from_secs(30),
            "both established (IPv6)",
            || async {
                let (p, q) = (the_peer(&a6).await, the_peer(&b6).await);
                (p.state == "Established" && q.state == "Established").then_some(())
            },
        )
        .await;
        a6.shutdown().await;
        b6.shutdown().await;
    });
}

#[test]
fn tcp_md5_matching_keys_establish_mismatched_do_not() {
    let (_lab, ns) = lab_with_loopback("spk-md5", &["10.0.0.1/32", "10.0.0.2/32"]);
    in_netns(&ns, || async {
        let mut pa = peer("10.0.0.2", 65002, "10.0.0.1");
        pa.password = Some("s3cret".into());
        let mut pb = peer("10.0.0.1", 65001, "10.0.0.2");
        pb.password = Some("s3cret".into());
        let (a, _) = Speaker::start(speaker(65001, "10.0.0.1", pa.clone(), &[]))
            .await
            .expect("a");
        let (b, _) = Speaker::start(speaker(65002, "10.0.0.2", pb.clone(), &[]))
            .await
            .expect("b");
        established(&a, "a established with MD5").await;
        established(&b, "b established with MD5").await;
        a.shutdown().await;
        b.shutdown().await;

        pb.password = Some("other".into());
        let (a, _) = restart(speaker(65001, "10.0.0.1", pa, &[]))
            .await
            .expect("a");
        let (b, _) = restart(speaker(65002, "10.0.0.2", pb, &[]))
            .await
            .expect("b");
        // Several connect attempts each way (retry base 1 s) in 8 s; none may succeed.
        for _ in 0..80 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (sa, sb) = (the_peer(&a).await, the_peer(&b).await);
            assert!(
                !matches!(sa.state, "OpenSent" | "OpenConfirm" | "Established")
                    && !matches!(sb.state, "OpenSent" | "OpenConfirm" | "Established"),
                "mismatched MD5 keys got a TCP connection through: {} / {}",
                sa.state,
                sb.state
            );
            assert_eq!(sa.messages_in + sb.messages_in, 0);
        }
        let sa = the_peer(&a).await;
        assert!(
            sa.last_error.is_some(),
            "connect attempts should have failed"
        );
        a.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn shutdown_sends_cease_with_communication() {
    let (_lab, ns) = lab_with_loopback("spk-cease", &["10.0.0.1/32", "10.0.0.2/32"]);
    in_netns(&ns, || async {
        let (a, _) = Speaker::start(speaker(
            65001,
            "10.0.0.1",
            peer("10.0.0.2", 65002, "10.0.0.1"),
            &[],
        ))
        .await
        .expect("a");
        let (b, _) = Speaker::start(speaker(
            65002,
            "10.0.0.2",
            passive(peer("10.0.0.1", 65001, "10.0.0.2")),
            &[],
        ))
        .await
        .expect("b");
        established(&a, "a established").await;
        established(&b, "b established").await;
        a.shutdown().await;
        let p = wait_for(Duration::from_secs(10), "b sees the Cease", || async {
            let p = the_peer(&b).await;
            (p.state != "Established").then_some(p)
        })
        .await;
        let err = p.last_error.unwrap_or_default();
        assert!(
            err.contains("received NOTIFICATION cease/administrative-shutdown")
                && err.contains("tern shutting down"),
            "{err}"
        );
        // A stopped speaker answers queries with nothing.
        assert!(a.peers().await.is_empty());
        b.shutdown().await;
    });
}

#[test]
fn unconfigured_addresses_are_closed() {
    let (_lab, ns) = lab_with_loopback("spk-rej", &["10.0.0.1/32", "10.0.0.3/32"]);
    in_netns(&ns, || async {
        let mut p = peer("10.0.0.2", 65002, "10.0.0.1");
        p.passive = true;
        let (a, _) = Speaker::start(speaker(65001, "10.0.0.1", p, &[]))
            .await
            .expect("a");
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind("10.0.0.3:0".parse().expect("addr"))
            .expect("bind");
        let mut s = sock
            .connect("10.0.0.1:179".parse().expect("addr"))
            .await
            .expect("connect");
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("closed in time")
            .unwrap_or(0);
        assert_eq!(n, 0, "an unconfigured peer gets no OPEN, only a close");
        assert_eq!(the_peer(&a).await.messages_in, 0);
        a.shutdown().await;
    });
}

#[test]
fn dual_stack_listener_accepts_ipv4_peer_with_md5() {
    let (_lab, ns) = lab_with_loopback("spk-dual", &["10.0.0.1/32", "10.0.0.2/32"]);
    in_netns(&ns, || async {
        // a listens on [::]:179 and only accepts; b connects over IPv4. The MD5 key
        // on a's AF_INET6 listener must be the v4-mapped form of b's address.
        let mut pa = passive(peer("10.0.0.2", 65002, "10.0.0.1"));
        pa.password = Some("dual".into());
        let mut ca = speaker(65001, "::", pa, &[]);
        ca.router_id = "10.0.0.1".parse().expect("id");
        let mut pb = peer("10.0.0.1", 65001, "10.0.0.2");
        pb.password = Some("dual".into());
        let (a, _) = Speaker::start(ca).await.expect("a");
        // [::]:179 covers every address: b runs without a listener.
        let mut cb = speaker(65002, "10.0.0.2", pb, &[]);
        cb.listen = None;
        let (b, _) = Speaker::start(cb).await.expect("b");
        let st = established(&a, "a established via the dual-stack listener").await;
        assert_eq!(
            st.address,
            "10.0.0.2".parse::<std::net::IpAddr>().expect("ip")
        );
        established(&b, "b established").await;
        a.shutdown().await;
        b.shutdown().await;
    });
}
