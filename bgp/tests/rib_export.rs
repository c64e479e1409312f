//! Adj-RIB-Out: split horizon, route reflection, eBGP/iBGP export transformations,
//! origination, End-of-RIB, UPDATE packing, route refresh, peer down.

mod rib_common;

use std::net::IpAddr;

use bgp::wire::{AddressFamily, Update};
use rib_common::*;

fn eors(updates: &[Update]) -> Vec<AddressFamily> {
    updates.iter().filter_map(Update::end_of_rib).collect()
}

#[test]
fn initial_table_then_end_of_rib_per_family() {
    let mut rib = rib();
    rib.originate(net("10.244.1.0/24"));
    rib.originate(net("fd00:244:1::/64"));
    let i = peer(&mut rib, 1, LOCAL_AS);
    assert!(rib.has_pending_updates(i));
    let ups = rib.take_updates(i, usize::MAX);
    assert_eq!(
        eors(&ups),
        vec![AddressFamily::IPV4_UNICAST, AddressFamily::IPV6_UNICAST]
    );
    assert!(!rib.has_pending_updates(i));
    let ann = announced(&ups);
    assert_eq!(ann.len(), 2);
    // Originated toward iBGP: ORIGIN IGP, empty AS_PATH, LOCAL_PREF 100, next hop self.
    let (p, a, _) = &ann[0];
    assert_eq!(*p, net("10.244.1.0/24"));
    assert_eq!(a.origin, Some(bgp::wire::Origin::Igp));
    assert!(a.as_path.as_ref().unwrap().is_empty());
    assert_eq!(a.local_pref, Some(100));
    assert_eq!(a.next_hop, Some(ROUTER_ID));
    let (p6, a6, nh6) = &ann[1];
    assert_eq!(*p6, net("fd00:244:1::/64"));
    assert_eq!(a6.next_hop, None);
    let nh6 = nh6.unwrap();
    assert_eq!(nh6.global, ip("2001:db8::1"));
    assert_eq!(nh6.link_local, None, "no link-local next hop toward iBGP");
    assert_eq!(rib.peer_counters(i).advertised, 2);
    // Nothing more once drained.
    assert!(rib.take_updates(i, usize::MAX).is_empty());
}

#[test]
fn ebgp_export_prepends_sets_next_hop_self_and_strips_local_pref_and_med() {
    let mut rib = rib();
    let src = peer(&mut rib, 1, LOCAL_AS);
    let e = peer(&mut rib, 2, 65002);
    rib.take_updates(e, usize::MAX);
    let mut a = attrs(&[65100]);
    a.local_pref = Some(300);
    a.med = Some(7);
    a.originator_id = Some(v4("10.9.9.9"));
    a.cluster_list = vec![v4("10.8.8.8")];
    rib.receive(src, &announce(&a, "192.0.2.99", &["10.1.0.0/24"]))
        .unwrap();
    rib.receive(src, &announce6(&a, "2001:db8::99", &["fd00:1::/64"]))
        .unwrap();
    let ups = rib.take_updates(e, usize::MAX);
    let ann = announced(&ups);
    assert_eq!(ann.len(), 2);
    for (_, out, _) in &ann {
        assert_eq!(out.as_path.as_ref().unwrap().to_string(), "64512 65100");
        assert_eq!(out.local_pref, None);
        assert_eq!(out.med, None);
        assert_eq!(out.originator_id, None);
        assert!(out.cluster_list.is_empty());
    }
    assert_eq!(ann[0].1.next_hop, Some(ROUTER_ID));
    let nh6 = ann[1].2.unwrap();
    assert_eq!(nh6.global, ip("2001:db8::1"));
    assert_eq!(nh6.link_local, Some("fe80::1".parse().unwrap()));
}

#[test]
fn ebgp_learned_routes_go_to_ibgp_with_next_hop_kept_and_local_pref() {
    let mut rib = rib();
    let e = peer(&mut rib, 1, 65001);
    let i = peer(&mut rib, 2, LOCAL_AS);
    rib.take_updates(i, usize::MAX);
    let mut a = attrs(&[65001]);
    a.med = Some(5);
    rib.receive(e, &announce(&a, "192.0.2.11", &["10.1.0.0/24"]))
        .unwrap();
    let ann = announced(&rib.take_updates(i, usize::MAX));
    assert_eq!(ann.len(), 1);
    let out = &ann[0].1;
    assert_eq!(out.next_hop, Some(v4("192.0.2.11")));
    assert_eq!(out.local_pref, Some(100));
    assert_eq!(out.med, Some(5));
    assert_eq!(out.as_path.as_ref().unwrap().to_string(), "65001");
    // Never back to the peer it came from.
    assert!(announced(&rib.take_updates(e, usize::MAX)).is_empty());
}

#[test]
fn ibgp_split_horizon_without_reflection() {
    let mut rib = rib();
    let a = peer(&mut rib, 1, LOCAL_AS);
    let b = peer(&mut rib, 2, LOCAL_AS);
    let e = peer(&mut rib, 3, 65003);
    for p in [a, b, e] {
        rib.take_updates(p, usize::MAX);
    }
    rib.receive(a, &announce(&attrs(&[]), "192.0.2.11", &["10.244.5.0/24"]))
        .unwrap();
    assert!(announced(&rib.take_updates(b, usize::MAX)).is_empty());
    let ann = announced(&rib.take_updates(e, usize::MAX));
    assert_eq!(ann.len(), 1);
    assert_eq!(ann[0].1.as_path.as_ref().unwrap().to_string(), "64512");
    assert_eq!(ann[0].1.next_hop, Some(ROUTER_ID));
}

#[test]
fn route_reflector_reflects_client_routes_to_all_and_others_to_clients() {
    let mut rib = rib();
    let client = peer_with(&mut rib, 1, LOCAL_AS, |s| s.route_reflector_client = true);
    let client2 = peer_with(&mut rib, 2, LOCAL_AS, |s| s.route_reflector_client = true);
    let nonclient = peer(&mut rib, 3, LOCAL_AS);
    for p in [client, client2, nonclient] {
        rib.take_updates(p, usize::MAX);
    }
    rib.receive(
        client,
        &announce(&attrs(&[]), "192.0.2.11", &["10.244.1.0/24"]),
    )
    .unwrap();
    rib.receive(
        nonclient,
        &announce(&attrs(&[]), "192.0.2.13", &["10.244.3.0/24"]),
    )
    .unwrap();
    let to_nonclient = announced(&rib.take_updates(nonclient, usize::MAX));
    assert_eq!(to_nonclient.len(), 1);
    let (p, a, _) = &to_nonclient[0];
    assert_eq!(*p, net("10.244.1.0/24"));
    assert_eq!(a.originator_id, Some(v4("10.0.0.1")), "the client's BGP ID");
    assert_eq!(
        a.cluster_list,
        vec![ROUTER_ID],
        "our cluster ID (= router ID)"
    );
    assert_eq!(
        a.next_hop,
        Some(v4("192.0.2.11")),
        "next hop unchanged when reflecting"
    );
    let to_client2 = announced(&rib.take_updates(client2, usize::MAX));
    let got: Vec<_> = to_client2.iter().map(|x| x.0).collect();
    assert_eq!(got, vec![net("10.244.1.0/24"), net("10.244.3.0/24")]);
    // The client's own route is not sent back to it.
    let to_client = announced(&rib.take_updates(client, usize::MAX));
    assert_eq!(
        to_client.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![net("10.244.3.0/24")]
    );
}

#[test]
fn no_export_and_no_advertise_communities() {
    let mut rib = rib();
    let src = peer(&mut rib, 1, 65001);
    let i = peer(&mut rib, 2, LOCAL_AS);
    let e = peer(&mut rib, 3, 65003);
    for p in [i, e] {
        rib.take_updates(p, usize::MAX);
    }
    let mut no_export = attrs(&[65001]);
    no_export.communities = vec![bgp::wire::Community::NO_EXPORT].into();
    let mut no_adv = attrs(&[65001]);
    no_adv.communities = vec![bgp::wire::Community::NO_ADVERTISE].into();
    rib.receive(src, &announce(&no_export, "192.0.2.11", &["10.1.0.0/24"]))
        .unwrap();
    rib.receive(src, &announce(&no_adv, "192.0.2.11", &["10.2.0.0/24"]))
        .unwrap();
    let to_i: Vec<_> = announced(&rib.take_updates(i, usize::MAX))
        .into_iter()
        .map(|x| x.0)
        .collect();
    assert_eq!(to_i, vec![net("10.1.0.0/24")]);
    assert!(announced(&rib.take_updates(e, usize::MAX)).is_empty());
}

#[test]
fn withdrawals_and_peer_down_propagate() {
    let mut rib = rib();
    let src = peer(&mut rib, 1, 65001);
    let i = peer(&mut rib, 2, LOCAL_AS);
    rib.take_updates(i, usize::MAX);
    rib.receive(
        src,
        &announce(
            &attrs(&[65001]),
            "192.0.2.11",
            &["10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"],
        ),
    )
    .unwrap();
    assert_eq!(announced(&rib.take_updates(i, usize::MAX)).len(), 3);
    rib.receive(src, &withdraw(&["10.2.0.0/24"])).unwrap();
    let ups = rib.take_updates(i, usize::MAX);
    assert_eq!(withdrawn(&ups), vec![net("10.2.0.0/24")]);
    assert!(announced(&ups).is_empty());
    // Announce and withdraw before the peer is served: nothing at all is sent.
    rib.receive(
        src,
        &announce(&attrs(&[65001]), "192.0.2.11", &["10.9.0.0/24"]),
    )
    .unwrap();
    rib.receive(src, &withdraw(&["10.9.0.0/24"])).unwrap();
    assert!(rib.take_updates(i, usize::MAX).is_empty());
    rib.peer_down(src);
    let mut w = withdrawn(&rib.take_updates(i, usize::MAX));
    w.sort();
    assert_eq!(w, vec![net("10.1.0.0/24"), net("10.3.0.0/24")]);
    assert_eq!(rib.peer_counters(i).advertised, 0);
}

#[test]
fn a_peer_coming_back_gets_the_table_again() {
    let mut rib = rib();
    rib.originate(net("10.244.1.0/24"));
    let i = peer(&mut rib, 1, LOCAL_AS);
    assert_eq!(announced(&rib.take_updates(i, usize::MAX)).len(), 1);
    rib.peer_down(i);
    assert!(!rib.has_pending_updates(i));
    assert!(
        rib.take_updates(i, usize::MAX).is_empty(),
        "nothing for a peer that is down"
    );
    let up = bgp::rib::PeerUp::new(v4("10.0.0.1"), IpAddr::V4(ROUTER_ID));
    rib.peer_up(i, up).unwrap();
    let ups = rib.take_updates(i, usize::MAX);
    assert_eq!(announced(&ups).len(), 1);
    assert_eq!(eors(&ups).len(), 2);
}

#[test]
fn route_refresh_sends_everything_again() {
    let mut rib = rib();
    rib.originate(net("10.244.1.0/24"));
    rib.originate(net("10.244.2.0/24"));
    let i = peer(&mut rib, 1, LOCAL_AS);
    rib.take_updates(i, usize::MAX);
    rib.route_refresh(i, bgp::wire::AddressFamily::IPV4_UNICAST);
    let ups = rib.take_updates(i, usize::MAX);
    assert_eq!(announced(&ups).len(), 2);
    assert!(eors(&ups).is_empty());
}

#[test]
fn packing_one_attribute_set_fills_each_update() {
    const N: u32 = 5000;
    let mut rib = rib();
    let src = peer(&mut rib, 1, 65001);
    let i = peer(&mut rib, 2, LOCAL_AS);
    rib.take_updates(i, usize::MAX);
    let prefixes: Vec<String> = (0..N)
        .map(|k| format!("10.{}.{}.0/24", k / 256, k % 256))
        .collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    for chunk in refs.chunks(30) {
        rib.receive(src, &announce(&attrs(&[65001, 65100]), "192.0.2.11", chunk))
            .unwrap();
    }
    let ups = rib.take_updates(i, usize::MAX);
    // Attributes sent: ORIGIN (4) + AS_PATH 2 ASes (3+2+8=13) + NEXT_HOP (7) +
    // LOCAL_PREF (7) = 31 octets; each /24 takes 4 octets.
    let k = (4096 - 23 - 31) / 4;
    let expected = (N as usize).div_ceil(k);
    let announcing: Vec<&Update> = ups.iter().filter(|u| !u.nlri.is_empty()).collect();
    assert_eq!(announcing.len(), expected, "k = {k}");
    for u in &announcing {
        assert!(encoded_len(u, true) <= 4096);
    }
    assert_eq!(encoded_len(announcing[0], true), 23 + 31 + 4 * k);
    assert_eq!(announced(&ups).len(), N as usize);
    // Withdrawals are packed too: 2-octet length fields + 4 octets per /24.
    rib.peer_down(src);
    let ups = rib.take_updates(i, usize::MAX);
    let kw = (4096 - 23) / 4;
    assert_eq!(ups.len(), (N as usize).div_ceil(kw));
    assert_eq!(withdrawn(&ups).len(), N as usize);
}

#[test]
fn extended_messages_and_byte_budget() {
    let mut rib = rib();
    let src = peer(&mut rib, 1, 65001);
    let id = bgp::rib::PeerId(2);
    rib.add_peer(id, bgp::rib::PeerSettings::new(ip("192.0.2.12"), LOCAL_AS))
        .unwrap();
    let mut up = bgp::rib::PeerUp::new(v4("10.0.0.2"), IpAddr::V4(ROUTER_ID));
    up.extended_message = true;
    rib.peer_up(id, up).unwrap();
    rib.take_updates(id, usize::MAX);
    let prefixes: Vec<String> = (0..3000)
        .map(|k| format!("10.{}.{}.0/24", k / 256, k % 256))
        .collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    rib.receive(src, &announce(&attrs(&[65001]), "192.0.2.11", &refs))
        .unwrap();
    // A small budget returns part of the queue; the rest follows.
    let first = rib.take_updates(id, 2000);
    let n1 = announced(&first).len();
    assert!(n1 > 0 && n1 < 3000, "{n1}");
    assert!(rib.has_pending_updates(id));
    let rest = rib.take_updates(id, usize::MAX);
    assert_eq!(n1 + announced(&rest).len(), 3000);
    assert_eq!(rest.len(), 1, "one extended message holds the rest");
    assert!(encoded_len_ext(&rest[0]) > 4096);
}

fn encoded_len_ext(u: &Update) -> usize {
    let ctx = bgp::wire::EncodeContext {
        four_octet_as: true,
        extended_message: true,
        ..Default::default()
    };
    bgp::wire::encode_to_vec(&bgp::wire::Message::Update(u.clone()), &ctx)
        .unwrap()
        .len()
}

#[test]
fn ebgp_export_keeps_a_third_party_next_hop_on_a_shared_subnet() {
    // Like a ToR on the hosts' segment: the eBGP peer shares 192.0.2.0/24 and
    // 2001:db8::/64 with us; an iBGP peer's route via 192.0.2.99 (on that segment)
    // keeps its next hop, a route via an address elsewhere gets next hop self.
    let mut rib = rib();
    let src = peer(&mut rib, 1, LOCAL_AS);
    let e = bgp::rib::PeerId(2);
    rib.add_peer(e, bgp::rib::PeerSettings::new(ip("192.0.2.12"), 65002))
        .unwrap();
    let mut up = bgp::rib::PeerUp::new(v4("10.0.0.2"), IpAddr::V4(ROUTER_ID));
    up.local_ipv6 = Some("2001:db8::1".parse().unwrap());
    up.link_local = Some("fe80::1".parse().unwrap());
    up.shared_subnets = vec![net("192.0.2.0/24"), net("2001:db8::/64")];
    rib.peer_up(e, up).unwrap();
    rib.take_updates(e, usize::MAX);
    rib.originate(net("10.244.1.0/24"));
    let a = attrs(&[]);
    rib.receive(src, &announce(&a, "192.0.2.99", &["10.244.2.0/24"]))
        .unwrap();
    rib.receive(src, &announce(&a, "198.51.100.7", &["10.244.3.0/24"]))
        .unwrap();
    rib.receive(src, &announce6(&a, "2001:db8::99", &["fd00:244:2::/64"]))
        .unwrap();
    rib.receive(src, &announce6(&a, "2001:db8:5::7", &["fd00:244:3::/64"]))
        .unwrap();
    let ann = announced(&rib.take_updates(e, usize::MAX));
    let next_hop = |p: &str| {
        let (_, a, nh) = ann
            .iter()
            .find(|(n, _, _)| *n == net(p))
            .unwrap_or_else(|| panic!("{p} announced: {ann:?}"));
        match nh {
            Some(nh) => (nh.global.to_string(), nh.link_local.map(|l| l.to_string())),
            None => (a.next_hop.unwrap().to_string(), None),
        }
    };
    assert_eq!(next_hop("10.244.2.0/24"), ("192.0.2.99".into(), None));
    assert_eq!(next_hop("10.244.3.0/24"), (ROUTER_ID.to_string(), None));
    assert_eq!(
        next_hop("10.244.1.0/24"),
        (ROUTER_ID.to_string(), None),
        "ours: self"
    );
    assert_eq!(next_hop("fd00:244:2::/64"), ("2001:db8::99".into(), None));
    assert_eq!(
        next_hop("fd00:244:3::/64"),
        ("2001:db8::1".into(), Some("fe80::1".into()))
    );
    // Everything still goes out with our AS prepended.
    for (_, a, _) in &ann {
        assert_eq!(a.as_path.as_ref().unwrap().to_string(), "64512");
    }
}
