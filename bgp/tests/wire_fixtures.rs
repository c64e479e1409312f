//! Decodes the captured BIRD↔GoBGP sessions in `tests/fixtures/` (bytes from real
//! daemons, not from our encoder) and checks what the fixtures' README says they hold.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

use bgp::wire::{
    decode_message, decode_message_cached, decode_message_into, decode_one_cached, encode_message,
    AsSegmentKind, AttrCache, Capability, CeaseSubcode, Community, DecodeContext, EncodeContext,
    ErrorCode, LargeCommunity, Message, Origin, PathAttributes, Update,
};
use bytes::BytesMut;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ctx(four_octet_as: bool) -> DecodeContext {
    DecodeContext {
        four_octet_as,
        ..DecodeContext::default()
    }
}

/// Decodes a whole stream; every message must decode cleanly (no RFC 7606 errors).
fn decode_all(name: &str, four_octet_as: bool) -> Vec<Message> {
    let bytes = fixture(name);
    let mut rest = bytes.as_slice();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (msg, used) = decode_message(rest, &ctx(four_octet_as))
            .unwrap_or_else(|e| panic!("{name} at byte {}: {e}", bytes.len() - rest.len()));
        if let Message::Update(u) = &msg {
            assert!(u.errors.is_empty(), "{name}: {:?}", u.errors);
        }
        out.push(msg);
        rest = rest.get(used..).unwrap();
    }
    out
}

fn updates(msgs: &[Message]) -> Vec<&Update> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(u),
            _ => None,
        })
        .collect()
}

/// The UPDATE announcing `prefix` first.
fn announcing<'a>(msgs: &'a [Message], prefix: &str) -> &'a Update {
    let p = prefix.parse().unwrap();
    updates(msgs)
        .into_iter()
        .find(|u| u.announced().any(|n| n.prefix == p))
        .unwrap_or_else(|| panic!("{prefix} is never announced"))
}

fn withdrawn(msgs: &[Message]) -> Vec<String> {
    updates(msgs)
        .iter()
        .flat_map(|u| u.withdrawals().map(|n| n.prefix.to_string()))
        .collect()
}

fn asns(u: &Update) -> Vec<u32> {
    let path = u.attributes.as_path.as_ref().expect("AS_PATH");
    assert!(path
        .segments
        .iter()
        .all(|s| s.kind == AsSegmentKind::Sequence));
    path.segments
        .iter()
        .flat_map(|s| s.asns.iter().copied())
        .collect()
}

#[test]
fn every_fixture_decodes_and_reencodes_to_the_same_model() {
    for (name, four) in [
        ("ipv4-as4.bird-to-gobgp.bin", true),
        ("ipv4-as4.gobgp-to-bird.bin", true),
        ("ipv6-as4.bird-to-gobgp.bin", true),
        ("ipv6-as4.gobgp-to-bird.bin", true),
        ("ipv4-as2.bird-to-gobgp.bin", false),
        ("ipv4-as2.gobgp-to-bird.bin", false),
    ] {
        let msgs = decode_all(name, four);
        assert!(msgs.len() > 10, "{name}");
        assert!(matches!(msgs.first(), Some(Message::Open(_))), "{name}");
        let enc = EncodeContext {
            four_octet_as: four,
            ..EncodeContext::default()
        };
        for m in &msgs {
            let mut buf = BytesMut::new();
            encode_message(m, &enc, &mut buf).unwrap();
            let (back, used) = decode_message(&buf, &ctx(four)).unwrap();
            assert_eq!(used, buf.len());
            assert_eq!(&back, m, "{name}");
        }
    }
}

#[test]
fn gobgp_ipv4_as4_session() {
    let msgs = decode_all("ipv4-as4.gobgp-to-bird.bin", true);
    let Some(Message::Open(open)) = msgs.first() else {
        panic!("no OPEN")
    };
    assert_eq!(
        (open.asn(), open.hold_time, open.bgp_id),
        (65001, 9, Ipv4Addr::new(10, 100, 0, 2))
    );
    assert!(open.capabilities.contains(&Capability::Fqdn {
        hostname: "vm".into(),
        domain: String::new()
    }));
    assert!(open.route_refresh());
    assert!(open
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::ExtendedNextHop(_))));

    let u = announcing(&msgs, "172.16.0.0/16");
    assert_eq!(u.attributes.origin, Some(Origin::Egp));
    assert_eq!(u.attributes.med, Some(20));
    assert_eq!(u.attributes.next_hop, Some(Ipv4Addr::new(10, 100, 0, 2)));
    assert_eq!(
        u.attributes.communities[..],
        [Community::new(65001, 200), Community::NO_EXPORT]
    );
    assert_eq!(
        u.attributes.large_communities,
        [
            LargeCommunity {
                global_admin: 65001,
                local_data1: 7,
                local_data2: 8
            },
            LargeCommunity {
                global_admin: 4200000001,
                local_data1: 0,
                local_data2: 1
            }
        ]
    );
    let u = announcing(&msgs, "172.17.1.0/24");
    assert_eq!(asns(u), [65001, 65010, 4200000010]);
    assert_eq!(u.attributes.origin, Some(Origin::Incomplete));
    let ag = u.attributes.aggregator.unwrap();
    assert_eq!(
        (ag.asn, ag.address),
        (4200000010, Ipv4Addr::new(10, 0, 0, 9))
    );
    assert!(u.attributes.communities.contains(&Community::NO_ADVERTISE));
    assert!(withdrawn(&msgs).contains(&"172.16.0.0/16".to_string()));
}

#[test]
fn bird_ipv4_as4_session() {
    let msgs = decode_all("ipv4-as4.bird-to-gobgp.bin", true);
    let Some(Message::Open(open)) = msgs.first() else {
        panic!("no OPEN")
    };
    assert_eq!(open.asn(), 4200000001);
    assert_eq!(open.my_as, 23456);
    assert!(open.graceful_restart().is_some());
    let u = announcing(&msgs, "198.51.100.0/24");
    assert_eq!(u.attributes.med, Some(50));
    assert_eq!(
        u.attributes.communities[..],
        [
            Community::new(65001, 100),
            Community::GRACEFUL_SHUTDOWN,
            Community::BLACKHOLE
        ]
    );
    let u = announcing(&msgs, "203.0.113.0/25");
    assert_eq!(asns(u), [4200000001, 4200000001, 4200000099, 64496]);
    assert!(updates(&msgs).iter().any(|u| u.is_end_of_rib()));
    let mut w = withdrawn(&msgs);
    w.sort();
    assert_eq!(w, ["10.98.1.0/24", "10.99.0.0/16"]);
    assert!(msgs.iter().any(|m| matches!(m, Message::RouteRefresh(_))));
    let Some(Message::Notification(n)) = msgs.last() else {
        panic!("no NOTIFICATION at the end")
    };
    assert_eq!(
        n.error,
        ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown)
    );
    assert_eq!(
        n.shutdown_communication(),
        Some("tern fixture capture: shutting down gobgp4")
    );
}

#[test]
fn bird_ipv6_session_uses_mp_reach_with_link_local_next_hop() {
    let msgs = decode_all("ipv6-as4.bird-to-gobgp.bin", true);
    let u = announcing(&msgs, "2001:db8:100::/48");
    let reach = u.mp_reach.as_ref().unwrap();
    assert!(matches!(reach.next_hop.global, IpAddr::V6(_)));
    assert!(reach
        .next_hop
        .link_local
        .is_some_and(|ll| ll.segments()[0] == 0xfe80));
    assert!(u.nlri.is_empty());
    let mut w = withdrawn(&msgs);
    w.sort();
    assert_eq!(w, ["2001:db8:beef:1::/64", "2001:db8:dead::/48"]);
}

#[test]
fn as2_session_merges_as4_path_and_as4_aggregator() {
    let msgs = decode_all("ipv4-as2.gobgp-to-bird.bin", false);
    let u = announcing(&msgs, "172.17.1.0/24");
    assert_eq!(asns(u), [65001, 4200000010, 65010, 4200000011]);
    assert_eq!(u.attributes.aggregator.unwrap().asn, 4200000010);
    assert!(
        u.attributes.unknown.is_empty(),
        "AS4_* must be merged, not kept raw"
    );
    assert_eq!(
        asns(announcing(&msgs, "172.20.0.0/22")),
        [65001, 4200000020]
    );
    assert_eq!(asns(announcing(&msgs, "172.18.0.0/15")), [65001, 65030]);

    let msgs = decode_all("ipv4-as2.bird-to-gobgp.bin", false);
    assert_eq!(
        asns(announcing(&msgs, "203.0.113.0/25")),
        [65002, 65002, 4200000099, 64496]
    );
}

/// Captured streams and whether their session has 4-octet AS numbers.
const STREAMS: [(&str, bool); 4] = [
    ("ipv4-as4.bird-to-gobgp.bin", true),
    ("ipv4-as4.gobgp-to-bird.bin", true),
    ("ipv4-as2.gobgp-to-bird.bin", false),
    ("ipv6-as4.bird-to-gobgp.bin", true),
];

/// The in-place decode a connection's reader uses gives the same messages, in order,
/// appended to what the batch already held.
#[test]
fn decoding_in_place_into_a_batch_gives_the_same_messages() {
    for (name, four_octet_as) in STREAMS {
        let whole = decode_all(name, four_octet_as);
        let bytes = fixture(name);
        let mut rest = bytes.as_slice();
        let mut batch = vec![Message::Keepalive];
        while !rest.is_empty() {
            let used = decode_message_into(rest, &ctx(four_octet_as), &mut batch)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            rest = rest.get(used..).unwrap();
        }
        assert_eq!(batch.first(), Some(&Message::Keepalive), "{name}");
        assert_eq!(batch.get(1..), Some(whole.as_slice()), "{name}");
    }
}

/// With a session's attribute cache the reader gives the same messages, and an UPDATE
/// repeating an attribute list shares the set decoded the first time (lists with
/// MP_REACH_NLRI or MP_UNREACH_NLRI carry prefixes and are decoded every time).
#[test]
fn a_repeated_attribute_list_is_decoded_once_per_session() {
    for (name, four_octet_as) in STREAMS {
        let whole = decode_all(name, four_octet_as);
        let bytes = fixture(name);
        let mut cache = AttrCache::new();
        let mut passes = Vec::new();
        for _ in 0..2 {
            let mut rest = bytes.as_slice();
            let mut batch = Vec::new();
            while !rest.is_empty() {
                let used =
                    decode_message_cached(rest, &ctx(four_octet_as), &mut batch, Some(&mut cache))
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                rest = rest.get(used..).unwrap();
            }
            assert_eq!(batch, whole, "{name}");
            passes.push(batch);
        }
        let mut shared = 0;
        for (first, second) in passes[0].iter().zip(&passes[1]) {
            let (Message::Update(a), Message::Update(b)) = (first, second) else {
                continue;
            };
            if *a.attributes == PathAttributes::default() {
                continue;
            }
            let cacheable = a.mp_reach.is_none() && a.mp_unreach.is_none();
            assert_eq!(
                Arc::ptr_eq(&a.attributes, &b.attributes),
                cacheable,
                "{name}: {a:?}"
            );
            shared += usize::from(cacheable);
        }
        assert_eq!(shared > 0, !name.starts_with("ipv6"), "{name}");
        assert!(cache.len() <= AttrCache::MAX_SETS);
    }
}

/// A clean UPDATE of one IPv4 prefix whose attribute list the session sent before comes
/// out of `decode_one_cached` as the list's number and the prefix — the same UPDATE the
/// full decode gives — and every other message is left to the full decode.
#[test]
fn a_one_prefix_update_of_a_known_list_decodes_to_its_list_number_and_prefix() {
    for (name, four_octet_as) in STREAMS {
        let whole = decode_all(name, four_octet_as);
        let bytes = fixture(name);
        let ctx = ctx(four_octet_as);
        let mut cache = AttrCache::new();
        let mut rest = bytes.as_slice();
        let mut first = Vec::new();
        while !rest.is_empty() {
            let used = decode_message_cached(rest, &ctx, &mut first, Some(&mut cache))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            rest = rest.get(used..).unwrap();
        }
        let (mut ones, mut rest) = (0, bytes.as_slice());
        for m in &whole {
            let used = match decode_one_cached(rest, &ctx, &mut cache) {
                Some((no, n, used)) => {
                    let Message::Update(u) = m else {
                        panic!("{name}: {m:?} is not an UPDATE");
                    };
                    assert!(
                        u.withdrawn.is_empty() && u.errors.is_empty(),
                        "{name}: {u:?}"
                    );
                    assert!(
                        u.mp_reach.is_none() && u.mp_unreach.is_none(),
                        "{name}: {u:?}"
                    );
                    assert_eq!(u.nlri.as_slice(), [n], "{name}");
                    assert_eq!(cache.set(no).map(|s| &**s), Some(&*u.attributes), "{name}");
                    ones += 1;
                    used
                }
                None => {
                    if let Message::Update(u) = m {
                        let one = u.withdrawn.is_empty()
                            && u.nlri.len() == 1
                            && u.mp_reach.is_none()
                            && u.mp_unreach.is_none()
                            && u.errors.is_empty();
                        assert!(!one, "{name}: a one-prefix UPDATE left out: {u:?}");
                    }
                    decode_message(rest, &ctx)
                        .unwrap_or_else(|e| panic!("{name}: {e}"))
                        .1
                }
            };
            assert_eq!(decode_message(rest, &ctx).map(|(_, n)| n).ok(), Some(used));
            rest = rest.get(used..).unwrap();
        }
        assert!(rest.is_empty(), "{name}");
        let one_prefix = whole.iter().any(
            |m| matches!(m, Message::Update(u) if u.nlri.len() == 1 && u.withdrawn.is_empty()),
        );
        assert_eq!(ones > 0, one_prefix, "{name}");
    }
}

/// Only a clean one-prefix UPDATE is handed over in compact form: the same attribute
/// list with a withdrawn route too, with two prefixes, or with a bad prefix is not.
#[test]
fn an_update_that_is_more_than_one_prefix_is_not_decoded_in_compact_form() {
    let (name, four) = STREAMS[0];
    let bytes = fixture(name);
    let ctx = ctx(four);
    let mut cache = AttrCache::new();
    let (mut rest, mut batch) = (bytes.as_slice(), Vec::new());
    // The first one-prefix UPDATE of BIRD's stream, its list kept by the cache.
    let one = loop {
        let used = decode_message_cached(rest, &ctx, &mut batch, Some(&mut cache)).unwrap();
        let (m, _) = rest.split_at(used);
        rest = rest.get(used..).unwrap();
        match batch.last() {
            Some(Message::Update(u)) if u.nlri.len() == 1 && u.withdrawn.is_empty() => {
                break m.to_vec();
            }
            _ => assert!(!rest.is_empty(), "{name}: no one-prefix UPDATE"),
        }
    };
    assert!(decode_one_cached(&one, &ctx, &mut cache).is_some());
    let alen = usize::from(u16::from_be_bytes([one[21], one[22]]));
    let (attrs, nlri) = one[23..].split_at(alen);
    // Withdrawn routes field, attribute list, NLRI field: a whole UPDATE.
    let message = |withdrawn: &[u8], nlri: &[u8]| {
        let len = 19 + 2 + withdrawn.len() + 2 + attrs.len() + nlri.len();
        let mut m = vec![0xff; 16];
        m.extend((len as u16).to_be_bytes());
        m.push(2);
        m.extend((withdrawn.len() as u16).to_be_bytes());
        m.extend(withdrawn);
        m.extend((attrs.len() as u16).to_be_bytes());
        m.extend(attrs);
        m.extend(nlri);
        m
    };
    assert_eq!(message(&[], nlri), one);
    let two: Vec<u8> = nlri.iter().chain(&[16, 10, 99]).copied().collect();
    let mut bad = nlri.to_vec();
    bad[0] = 33;
    for (what, m) in [
        ("a withdrawn route too", message(&[8, 11], nlri)),
        ("two prefixes", message(&[], &two)),
        ("a prefix longer than 32", message(&[], &bad)),
    ] {
        assert!(decode_one_cached(&m, &ctx, &mut cache).is_none(), "{what}");
        let full = decode_message(&m, &ctx);
        let one_prefix = matches!(&full, Ok((Message::Update(u), _))
            if u.nlri.len() == 1 && u.withdrawn.is_empty());
        assert!(!one_prefix, "{what}: {full:?}");
    }
}

/// An UPDATE message with no withdrawn routes, the attribute list `attrs` and the NLRI
/// field `nlri`.
fn update_message(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let len = 19 + 2 + 2 + attrs.len() + nlri.len();
    let mut m = vec![0xff; 16];
    m.extend((len as u16).to_be_bytes());
    m.push(2);
    m.extend([0, 0]);
    m.extend((attrs.len() as u16).to_be_bytes());
    m.extend(attrs);
    m.extend(nlri);
    m
}

/// The cache keys a list by whether the UPDATE had NLRI: NEXT_HOP is mandatory only
/// then (RFC 7606 §3.d), so the same octets are clean without NLRI and
/// treat-as-withdraw with them.
#[test]
fn a_cached_list_without_next_hop_is_still_treat_as_withdraw_with_nlri() {
    // ORIGIN IGP, AS_PATH (AS_SEQUENCE 65001), no NEXT_HOP.
    let attrs = [0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
    let message = |nlri: &[u8]| update_message(&attrs, nlri);
    let mut cache = AttrCache::new();
    let mut batch = Vec::new();
    let bare = message(&[]);
    let with_nlri = message(&[24, 192, 0, 2]);
    for m in [&bare, &bare, &with_nlri, &with_nlri] {
        decode_message_cached(m, &ctx(true), &mut batch, Some(&mut cache)).expect("decodes");
    }
    let updates: Vec<&Update> = updates(&batch);
    assert!(updates[0].errors.is_empty() && updates[1].errors.is_empty());
    assert!(Arc::ptr_eq(&updates[0].attributes, &updates[1].attributes));
    for u in &updates[2..] {
        assert!(u.treat_as_withdraw(), "{:?}", u.errors);
        assert_eq!(u.announced().count(), 0);
    }
    assert_eq!(cache.len(), 1, "a list with a fault is not kept");
}

/// An attribute list the cache does not look up (an empty one, or any once the cache
/// has turned itself off) is decoded all the same: the UPDATE is the one decoded
/// without a cache.
#[test]
fn lists_the_cache_passes_over_are_still_decoded() {
    // ORIGIN IGP, AS_PATH (AS_SEQUENCE `asn`), NEXT_HOP 192.0.2.1.
    let attrs = |asn: u32| {
        let mut a = vec![0x40, 1, 1, 0, 0x40, 2, 6, 2, 1];
        a.extend(asn.to_be_bytes());
        a.extend([0x40, 3, 4, 192, 0, 2, 1]);
        a
    };
    let nlri = [24, 198, 51, 100];
    let same_as_uncached = |cache: &mut AttrCache, m: &[u8]| {
        let mut batch = Vec::new();
        decode_message_cached(m, &ctx(true), &mut batch, Some(cache)).expect("decodes");
        let (plain, _) = decode_message(m, &ctx(true)).expect("decodes");
        assert_eq!(batch, [plain]);
        batch
    };
    // No attributes but NLRI: mandatory attributes missing, treat-as-withdraw.
    let mut cache = AttrCache::new();
    let batch = same_as_uncached(&mut cache, &update_message(&[], &nlri));
    assert!(updates(&batch)[0].treat_as_withdraw());
    // Lists that never repeat turn the cache off; the next is decoded.
    for asn in 0..=AttrCache::MAX_SETS as u32 {
        same_as_uncached(&mut cache, &update_message(&attrs(65_536 + asn), &nlri));
    }
    assert!(!cache.is_on());
    let batch = same_as_uncached(&mut cache, &update_message(&attrs(64_500), &nlri));
    assert_eq!(
        updates(&batch)[0].attributes.next_hop,
        Some([192, 0, 2, 1].into())
    );
}
