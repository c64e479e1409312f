//! Export of attribute sets larger than the receiving peer's maximum message size:
//! decided once per set (held back, counted, withdrawn if sent before), never one
//! oversized UPDATE per prefix; the rest keeps flowing.

mod rib_common;

use std::net::{IpAddr, Ipv4Addr};

use bgp::rib::{PeerId, PeerSettings, PeerUp, Rib};
use bgp::wire::{encode_to_vec, Community, EncodeContext, Message, Update};
use rib_common::*;

/// 15,000 COMMUNITIES: a 60,004-octet attribute, as an Extended-Message peer may send.
fn big_attrs() -> bgp::wire::PathAttributes {
    let mut a = attrs(&[65001]);
    a.communities = (0..15_000u32).map(|i| Community(0xfde8_0000 | i)).collect();
    a
}

fn prefixes(n: u32) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.{}.{}.0/24", 100 + i / 256, i % 256))
        .collect()
}

fn add(rib: &mut Rib, n: u32, asn: u32, extended: bool) -> PeerId {
    let id = PeerId(n);
    rib.add_peer(
        id,
        PeerSettings::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + n as u8)), asn),
    )
    .unwrap();
    let mut up = PeerUp::new(Ipv4Addr::new(10, 0, 0, n as u8), IpAddr::V4(ROUTER_ID));
    up.extended_message = extended;
    rib.peer_up(id, up).unwrap();
    id
}

/// Announces the 20,000 prefixes with the big set from `from`, 1,000 per UPDATE (each
/// one fits in 65,535 octets as the Extended-Message peer sent it).
fn feed_big(rib: &mut Rib, from: PeerId, all: &[String]) {
    for chunk in all.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        rib.receive(from, &announce(&big_attrs(), "192.0.2.11", &refs))
            .unwrap();
    }
}

fn total_octets(ups: &[Update], four: bool) -> usize {
    ups.iter().map(|u| encoded_len(u, four)).sum()
}

/// Encoded size with Extended Message negotiated (the real encoder).
fn extended_len(u: &Update) -> usize {
    let ctx = EncodeContext {
        four_octet_as: true,
        extended_message: true,
        ..EncodeContext::default()
    };
    encode_to_vec(&Message::Update(u.clone()), &ctx)
        .unwrap()
        .len()
}

#[test]
fn a_set_too_large_for_the_peer_is_held_back_once_and_the_rest_flows() {
    let mut rib = rib();
    let feeder = add(&mut rib, 1, 65001, true);
    let ibgp = add(&mut rib, 2, LOCAL_AS, false);
    let ext = add(&mut rib, 3, 65003, true);
    for id in [ibgp, ext] {
        rib.take_updates(id, usize::MAX);
    }
    let all = prefixes(20_000);
    feed_big(&mut rib, feeder, &all);
    rib.receive(
        feeder,
        &announce(&attrs(&[65001]), "192.0.2.11", &["10.250.0.0/24"]),
    )
    .unwrap();

    // The non-extended iBGP peer: only the small route, in a few hundred octets.
    let ups = rib.take_updates(ibgp, 1 << 20);
    assert_eq!(
        announced(&ups)
            .iter()
            .map(|(p, _, _)| *p)
            .collect::<Vec<_>>(),
        vec![net("10.250.0.0/24")]
    );
    assert!(
        total_octets(&ups, true) < 200,
        "{}",
        total_octets(&ups, true)
    );
    assert!(!rib.has_pending_updates(ibgp));
    let c = rib.peer_counters(ibgp);
    assert_eq!((c.advertised, c.oversized), (1, 20_000));

    // The Extended-Message eBGP peer gets everything, packed (AS prepended: the
    // set still fits in 65,535 octets).
    let mut ups = Vec::new();
    while rib.has_pending_updates(ext) {
        ups.extend(rib.take_updates(ext, 1 << 20));
    }
    assert_eq!(announced(&ups).len(), 20_001);
    for u in &ups {
        assert!(extended_len(u) <= 65_535);
    }
    assert!(ups.len() < 40, "{} UPDATEs", ups.len());
    let c = rib.peer_counters(ext);
    assert_eq!((c.advertised, c.oversized), (20_001, 0));
}

#[test]
fn a_sent_prefix_that_grows_too_large_is_withdrawn_and_comes_back_when_it_shrinks() {
    let mut rib = rib();
    let feeder = add(&mut rib, 1, 65001, true);
    let ibgp = add(&mut rib, 2, LOCAL_AS, false);
    rib.take_updates(ibgp, usize::MAX);
    let p = ["10.100.0.0/24", "10.100.1.0/24"];
    rib.receive(feeder, &announce(&attrs(&[65001]), "192.0.2.11", &p))
        .unwrap();
    assert_eq!(announced(&rib.take_updates(ibgp, usize::MAX)).len(), 2);

    rib.receive(feeder, &announce(&big_attrs(), "192.0.2.11", &p))
        .unwrap();
    let ups = rib.take_updates(ibgp, usize::MAX);
    assert!(announced(&ups).is_empty());
    assert_eq!(withdrawn(&ups), vec![net(p[0]), net(p[1])]);
    let c = rib.peer_counters(ibgp);
    assert_eq!((c.advertised, c.oversized), (0, 2));

    rib.receive(feeder, &announce(&attrs(&[65001, 65009]), "192.0.2.11", &p))
        .unwrap();
    let ups = rib.take_updates(ibgp, usize::MAX);
    assert_eq!(announced(&ups).len(), 2);
    let c = rib.peer_counters(ibgp);
    assert_eq!((c.advertised, c.oversized), (2, 0));

    // Withdrawn while held: the count goes back to zero, and the set is freed.
    rib.receive(feeder, &announce(&big_attrs(), "192.0.2.11", &p))
        .unwrap();
    rib.take_updates(ibgp, usize::MAX);
    rib.receive(feeder, &withdraw(&p)).unwrap();
    rib.take_updates(ibgp, usize::MAX);
    let c = rib.peer_counters(ibgp);
    assert_eq!((c.advertised, c.oversized), (0, 0));
    assert_eq!(rib.attribute_sets(), 0);
}

#[test]
fn the_pump_budget_counts_attribute_octets() {
    // 20,000 prefixes with 2,000 distinct 3 KB sets toward a 4096-octet peer: each
    // set fits, one UPDATE per set. A 1 MiB step must stop after about 1 MiB of
    // UPDATEs, not after 1 MiB of prefixes.
    let mut rib = rib();
    let feeder = add(&mut rib, 1, 65001, true);
    let ibgp = add(&mut rib, 2, LOCAL_AS, false);
    rib.take_updates(ibgp, usize::MAX);
    let all = prefixes(20_000);
    for (k, chunk) in all.chunks(10).enumerate() {
        let mut a = attrs(&[65001]);
        a.communities = (0..750u32)
            .map(|i| Community((k as u32) << 16 | i))
            .collect();
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        rib.receive(feeder, &announce(&a, "192.0.2.11", &refs))
            .unwrap();
    }
    let ups = rib.take_updates(ibgp, 1 << 20);
    let octets = total_octets(&ups, true);
    assert!(
        octets <= (1 << 20) + 4096,
        "one step produced {octets} octets"
    );
    let mut n = announced(&ups).len();
    while rib.has_pending_updates(ibgp) {
        n += announced(&rib.take_updates(ibgp, 1 << 20)).len();
    }
    assert_eq!(n, 20_000);
}
