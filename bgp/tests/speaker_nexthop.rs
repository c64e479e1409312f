//! Next hops the driver fills in from the host's interfaces, checked in a real BIRD 2:
//! to a directly connected IPv6 peer our MP_REACH next hop is the global address plus
//! the link-local address of the interface that holds the session (RFC 2545 §3); to a
//! multihop peer (loopback to loopback, no shared subnet) it is the global one only.
//! And a route learned over iBGP whose next hop is on the segment we share with an eBGP
//! peer goes to that peer with its next hop kept (third-party next hop, RFC 4271
//! §5.1.3 (2)); a route via an address elsewhere gets next hop self.

mod speaker_common;

use std::path::Path;
use std::time::Duration;

use bgp::speaker::Speaker;
use speaker_common::*;
use testlab::bird::{birdc, start_bird};

const BIRD_CONFIG: &str = r#"
router id 10.0.0.2;
protocol device {}
protocol static s6 {
  ipv6;
  route fd00:99::1/128 via fd00:1::1;
}
protocol bgp tern_direct {
  local fd00:1::2 as 65100;
  neighbor fd00:1::1 as 65001;
  hold time 9;
  connect retry time 1;
  ipv6 { import all; export none; };
}
protocol bgp tern_mh {
  local fd00:99::2 as 65100;
  neighbor fd00:99::1 as 65001;
  multihop 2;
  hold time 9;
  connect retry time 1;
  ipv6 { import all; export none; };
}
"#;

/// The interface's usable (not tentative) link-local address, from `ip -j addr`.
fn link_local(ns: &testlab::Netns, dev: &str) -> Option<String> {
    let out = ns.ok(&["ip", "-j", "-6", "addr", "show", "dev", dev]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j");
    v.get(0)?["addr_info"]
        .as_array()?
        .iter()
        .find(|a| a["scope"] == "link" && a.get("tentative").is_none())
        .and_then(|a| a["local"].as_str())
        .map(str::to_owned)
}

/// `BGP.next_hop:` of the block as learned by BIRD's protocol `proto`.
fn bird_next_hop(sock: &Path, proto: &str) -> Option<String> {
    let out = birdc(sock, &format!("show route protocol {proto} all"));
    out.contains("fd00:244:1::/64").then_some(())?;
    out.lines()
        .find_map(|l| l.trim().strip_prefix("BGP.next_hop:"))
        .map(|s| s.trim().to_owned())
}

#[test]
fn ipv6_next_hop_has_link_local_only_for_a_shared_subnet() {
    let mut lab = testlab::Lab::new("spk-nh6");
    let t = lab.netns("t");
    let b = lab.netns("b");
    lab.veth(&t, "eth0", &["fd00:1::1/64"], &b, "eth0", &["fd00:1::2/64"]);
    t.ok(&["ip", "addr", "add", "fd00:99::1/128", "dev", "lo", "nodad"]);
    b.ok(&["ip", "addr", "add", "fd00:99::2/128", "dev", "lo", "nodad"]);
    t.ok(&[
        "ip",
        "-6",
        "route",
        "add",
        "fd00:99::2/128",
        "via",
        "fd00:1::2",
    ]);
    b.ok(&[
        "ip",
        "-6",
        "route",
        "add",
        "fd00:99::1/128",
        "via",
        "fd00:1::1",
    ]);
    let tern_ll = testlab::wait_for(Duration::from_secs(30), "link-local address", || {
        link_local(&t, "eth0")
    });
    let sock = start_bird(&mut lab, &b, "bird", BIRD_CONFIG).socket;

    in_netns(&t, || async {
        let mut cfg = speaker(
            65001,
            "fd00:1::1",
            peer("fd00:1::2", 65100, "fd00:1::1"),
            &["fd00:244:1::/64"],
        );
        cfg.listen = Some("[::]:179".parse().expect("listen"));
        cfg.peers.push(peer("fd00:99::2", 65100, "fd00:99::1"));
        let (h, _changes) = Speaker::start(cfg).await.expect("speaker");
        wait_for(Duration::from_secs(30), "both sessions up", || async {
            let p = h.peers().await;
            p.iter().all(|p| p.state == "Established").then_some(())
        })
        .await;

        let direct = wait_for(
            Duration::from_secs(30),
            "BIRD learns our block directly",
            || async { bird_next_hop(&sock, "tern_direct") },
        )
        .await;
        assert_eq!(direct, format!("fd00:1::1 {tern_ll}"));

        let mh = wait_for(
            Duration::from_secs(30),
            "BIRD learns our block over multihop",
            || async { bird_next_hop(&sock, "tern_mh") },
        )
        .await;
        assert_eq!(mh, "fd00:99::1");
        h.shutdown().await;
    });
}

const BIRD_IBGP: &str = r#"
router id 10.0.0.2;
protocol device {}
protocol static s4 {
  ipv4;
  route 10.100.0.0/24 blackhole;
  route 10.101.0.0/24 blackhole;
}
filter out_ibgp {
  if net = 10.101.0.0/24 then bgp_next_hop = 192.0.2.7;
  accept;
}
protocol bgp tern {
  local 10.0.0.2 as 65001;
  neighbor 10.0.0.1 as 65001;
  hold time 9;
  connect retry time 1;
  ipv4 { import none; export filter out_ibgp; };
}
"#;

const BIRD_EBGP: &str = r#"
router id 10.0.0.3;
protocol device {}
protocol bgp tern {
  local 10.0.0.3 as 65100;
  neighbor 10.0.0.1 as 65001;
  hold time 9;
  connect retry time 1;
  ipv4 { import all; export none; };
}
"#;

/// `BGP.next_hop:` of `prefix` as BIRD learned it.
fn next_hop_of(sock: &Path, prefix: &str) -> Option<String> {
    let out = birdc(sock, &format!("show route {prefix} all"));
    out.contains(prefix).then_some(())?;
    out.lines()
        .find_map(|l| l.trim().strip_prefix("BGP.next_hop:"))
        .map(|s| s.trim().to_owned())
}

#[test]
fn ebgp_peer_on_the_segment_gets_third_party_next_hops() {
    let mut lab = testlab::Lab::new("spk-3nh");
    let t = lab.netns("t");
    let i = lab.netns("i");
    let e = lab.netns("e");
    let sw = lab.netns("sw");
    sw.ok(&["ip", "link", "add", "br0", "type", "bridge"]);
    sw.ok(&["ip", "link", "set", "br0", "up"]);
    for (k, (ns, addr)) in [
        (&t, "10.0.0.1/24"),
        (&i, "10.0.0.2/24"),
        (&e, "10.0.0.3/24"),
    ]
    .into_iter()
    .enumerate()
    {
        let port = format!("p{k}");
        lab.veth(ns, "eth0", &[addr], &sw, &port, &[]);
        sw.ok(&["ip", "link", "set", &port, "master", "br0"]);
    }
    let mut socks = Vec::new();
    for (ns, name, conf) in [(&i, "ibgp", BIRD_IBGP), (&e, "ebgp", BIRD_EBGP)] {
        socks.push(start_bird(&mut lab, ns, name, conf).socket);
    }
    let ebgp_sock = socks.pop().expect("ebgp socket");

    in_netns(&t, || async {
        let mut cfg = speaker(
            65001,
            "10.0.0.1",
            peer("10.0.0.2", 65001, "10.0.0.1"),
            &["10.244.1.0/24"],
        );
        cfg.peers.push(peer("10.0.0.3", 65100, "10.0.0.1"));
        let (h, _changes) = Speaker::start(cfg).await.expect("speaker");
        wait_for(Duration::from_secs(30), "both sessions up", || async {
            let p = h.peers().await;
            p.iter().all(|p| p.state == "Established").then_some(())
        })
        .await;
        let on_segment = wait_for(
            Duration::from_secs(30),
            "the eBGP peer learns the iBGP route",
            || async { next_hop_of(&ebgp_sock, "10.100.0.0/24") },
        )
        .await;
        assert_eq!(on_segment, "10.0.0.2", "third-party next hop kept");
        let elsewhere = wait_for(
            Duration::from_secs(30),
            "the eBGP peer learns the route via 192.0.2.7",
            || async { next_hop_of(&ebgp_sock, "10.101.0.0/24") },
        )
        .await;
        assert_eq!(
            elsewhere, "10.0.0.1",
            "next hop self when not on the segment"
        );
        let ours = wait_for(
            Duration::from_secs(30),
            "the eBGP peer learns our block",
            || async { next_hop_of(&ebgp_sock, "10.244.1.0/24") },
        )
        .await;
        assert_eq!(ours, "10.0.0.1");
        h.shutdown().await;
    });
}
