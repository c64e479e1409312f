//! Property tests: decode(encode(m)) == m for every message kind, under 4-octet and
//! 2-octet AS sessions (AS4_PATH/AS4_AGGREGATOR generated and merged back), with and
//! without ADD-PATH; and the decoder never panics on arbitrary or mutated bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp::wire::{
    decode_message, encode_message, AddPathEntry, AddressFamily, Aggregator, AsPath, AsSegment,
    AsSegmentKind, Capability, Community, DecodeContext, EncodeContext, ErrorCode,
    ExtendedCommunity, ExtendedNextHopEntry, FamilySet, GracefulRestart, GracefulRestartFamily,
    LargeCommunity, Message, MpNextHop, MpReach, MpUnreach, Nlri, Notification, Open, Origin,
    PathAttributes, RawAttribute, RouteRefresh, Update,
};
use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn v4_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(a, len)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).unwrap().trunc()))
}

fn v6_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, len)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).unwrap().trunc()))
}

fn nlri(prefix: impl Strategy<Value = IpNet>, add_path: bool) -> impl Strategy<Value = Nlri> {
    (prefix, any::<u32>()).prop_map(move |(prefix, id)| Nlri {
        prefix,
        path_id: add_path.then_some(id),
    })
}

fn segment(
    kinds: &'static [AsSegmentKind],
    two_octet_only: bool,
) -> impl Strategy<Value = AsSegment> {
    let asn = if two_octet_only {
        (1u32..65535).boxed()
    } else {
        prop_oneof![1u32..65535, Just(23456u32), 65536u32..=u32::MAX].boxed()
    };
    (proptest::sample::select(kinds), vec(asn, 1..8)).prop_map(|(kind, asns)| AsSegment {
        kind,
        asns: asns.into(),
    })
}

/// AS paths; on 2-octet sessions confederation segments only lead and hold 2-octet
/// members (AS4_PATH never carries them, RFC 6793 §3, so nothing else survives).
fn as_path(four_octet: bool) -> BoxedStrategy<AsPath> {
    use AsSegmentKind::*;
    if four_octet {
        vec(
            segment(&[Sequence, Set, ConfedSequence, ConfedSet], false),
            0..4,
        )
        .prop_map(|segments| AsPath {
            segments: segments.into(),
        })
        .boxed()
    } else {
        (
            vec(segment(&[ConfedSequence, ConfedSet], true), 0..2),
            vec(segment(&[Sequence, Set], false), 0..4),
        )
            .prop_map(|(mut segments, rest)| {
                segments.extend(rest);
                AsPath {
                    segments: segments.into(),
                }
            })
            .boxed()
    }
}

/// Type codes this codec does not model.
fn unknown_attributes() -> impl Strategy<Value = Vec<RawAttribute>> {
    proptest::collection::btree_map(
        prop_oneof![11u8..=13, 19u8..=31, 33u8..=255],
        (
            prop_oneof![Just(0x80u8), Just(0xc0), Just(0xe0)],
            vec(any::<u8>(), 0..300),
        ),
        0..3,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(type_code, (flags, value))| RawAttribute {
                flags,
                type_code,
                value: Bytes::from(value),
            })
            .collect()
    })
}

fn attributes(four_octet: bool, announce_v4: bool) -> impl Strategy<Value = PathAttributes> {
    let head = (
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ],
        as_path(four_octet),
        any::<u32>().prop_map(Ipv4Addr::from),
        option::of(any::<u32>()),
        option::of(any::<u32>()),
        any::<bool>(),
        option::of((any::<u32>(), any::<u32>())),
    );
    let tail = (
        vec(any::<u32>().prop_map(Community), 0..6),
        option::of(any::<u32>().prop_map(Ipv4Addr::from)),
        vec(any::<u32>().prop_map(Ipv4Addr::from), 0..3),
        vec(any::<[u8; 8]>().prop_map(ExtendedCommunity), 0..3),
        vec(
            any::<(u32, u32, u32)>().prop_map(|(a, b, c)| LargeCommunity {
                global_admin: a,
                local_data1: b,
                local_data2: c,
            }),
            0..3,
        ),
        unknown_attributes(),
        any::<bool>(),
    );
    (head, tail).prop_map(
        move |(
            (origin, path, nh, med, local_pref, atomic, ag),
            (comms, orig, cl, ext, large, unknown, nh_flag),
        )| {
            PathAttributes {
                origin: Some(origin),
                as_path: Some(path),
                next_hop: (announce_v4 || nh_flag).then_some(nh),
                med,
                local_pref,
                atomic_aggregate: atomic,
                aggregator: ag.map(|(asn, a)| Aggregator {
                    asn,
                    address: Ipv4Addr::from(a),
                }),
                communities: comms.into(),
                originator_id: orig,
                cluster_list: cl,
                extended_communities: ext,
                large_communities: large,
                unknown,
            }
        },
    )
}

fn mp_reach(add_path: bool) -> impl Strategy<Value = MpReach> {
    (
        any::<u128>(),
        option::of(any::<u128>()),
        vec(nlri(v6_prefix(), add_path), 1..10),
    )
        .prop_map(|(g, ll, nlri)| MpReach {
            family: AddressFamily::IPV6_UNICAST,
            next_hop: MpNextHop {
                global: IpAddr::V6(Ipv6Addr::from(g)),
                link_local: ll.map(Ipv6Addr::from),
            },
            nlri,
        })
}

fn update(four_octet: bool, add_path: bool) -> impl Strategy<Value = Update> {
    (
        vec(nlri(v4_prefix(), add_path), 0..20),
        vec(nlri(v4_prefix(), add_path), 0..30),
        option::of(mp_reach(add_path)),
        option::of(vec(nlri(v6_prefix(), add_path), 0..10)),
        any::<bool>(),
    )
        .prop_flat_map(move |(withdrawn, nlri, mp_reach, mp_unreach, bare)| {
            let announce = !nlri.is_empty() || mp_reach.is_some();
            let announce_v4 = !nlri.is_empty();
            // A pure withdrawal may come with no attributes at all.
            let attrs = if !announce && bare {
                Just(PathAttributes::default()).boxed()
            } else {
                attributes(four_octet, announce_v4).boxed()
            };
            attrs.prop_map(move |attributes| Update {
                withdrawn: withdrawn.clone(),
                attributes: attributes.into(),
                mp_reach: mp_reach.clone().map(Box::new),
                mp_unreach: mp_unreach.clone().map(|withdrawn| {
                    Box::new(MpUnreach {
                        family: AddressFamily::IPV6_UNICAST,
                        withdrawn,
                    })
                }),
                nlri: nlri.clone().into(),
                errors: Vec::new(),
            })
        })
}

fn family() -> impl Strategy<Value = AddressFamily> {
    (any::<u16>(), any::<u8>()).prop_map(|(a, s)| AddressFamily::new(a.into(), s.into()))
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (0u8..16, 0u16..4096, vec((family(), any::<u8>()), 0..4)).prop_map(|(f, t, fams)| {
            Capability::GracefulRestart(GracefulRestart {
                restart_flags: f,
                restart_time: t,
                families: fams
                    .into_iter()
                    .map(|(family, flags)| GracefulRestartFamily { family, flags })
                    .collect(),
            })
        }),
        vec((family(), any::<u8>()), 0..4).prop_map(|l| Capability::AddPath(
            l.into_iter()
                .map(|(family, m)| AddPathEntry {
                    family,
                    mode: m.into()
                })
                .collect()
        )),
        vec((family(), any::<u16>()), 0..4).prop_map(|l| Capability::ExtendedNextHop(
            l.into_iter()
                .map(|(nlri, nh)| ExtendedNextHopEntry {
                    nlri,
                    next_hop_afi: nh.into()
                })
                .collect()
        )),
        ("[a-z0-9.-]{0,40}", "[a-z0-9.-]{0,40}")
            .prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        (
            prop_oneof![3u8..=4, 7u8..=63, 66u8..=68, 71u8..=72, 74u8..=255],
            vec(any::<u8>(), 0..20)
        )
            .prop_map(|(code, v)| Capability::Unknown {
                code,
                value: Bytes::from(v)
            }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        any::<u16>(),
        prop_oneof![Just(0u16), 3u16..=u16::MAX],
        1u32..,
        vec(capability(), 0..40),
    )
        .prop_map(|(my_as, hold_time, id, capabilities)| Open {
            version: 4,
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            capabilities,
        })
}

fn message(four_octet: bool, add_path: bool) -> impl Strategy<Value = Message> {
    prop_oneof![
        open().prop_map(Message::Open),
        update(four_octet, add_path).prop_map(Message::Update),
        (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..100)).prop_map(|(c, s, d)| {
            Message::Notification(Notification::new(ErrorCode::from_wire(c, s), d))
        }),
        Just(Message::Keepalive),
        (family(), 0u8..=255).prop_map(|(family, st)| Message::RouteRefresh(RouteRefresh {
            family,
            subtype: st.into()
        })),
    ]
}

fn round_trip(m: &Message, four_octet: bool, add_path: bool) -> Result<(), TestCaseError> {
    let set = if add_path {
        FamilySet::UNICAST
    } else {
        FamilySet::EMPTY
    };
    let enc = EncodeContext {
        four_octet_as: four_octet,
        add_path: set,
        extended_message: true,
    };
    let dec = DecodeContext {
        four_octet_as: four_octet,
        add_path: set,
        extended_message: true,
        keep_as4_attributes: false,
        external: false,
    };
    let mut buf = BytesMut::new();
    encode_message(m, &enc, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (back, used) =
        decode_message(&buf, &dec).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(used, buf.len());
    prop_assert_eq!(&back, m);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn round_trip_four_octet(m in message(true, false)) {
        round_trip(&m, true, false)?;
    }

    #[test]
    fn round_trip_four_octet_add_path(m in message(true, true)) {
        round_trip(&m, true, true)?;
    }

    #[test]
    fn round_trip_two_octet_with_as4_attributes(m in message(false, false)) {
        round_trip(&m, false, false)?;
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(
        bytes in vec(any::<u8>(), 0..200),
        four in any::<bool>(),
        add_path in any::<bool>(),
    ) {
        let ctx = DecodeContext {
            four_octet_as: four,
            add_path: if add_path { FamilySet::UNICAST } else { FamilySet::EMPTY },
            ..DecodeContext::default()
        };
        let mut framed = vec![0xff; 16];
        framed.extend_from_slice(&((19 + bytes.len()) as u16).to_be_bytes());
        framed.extend_from_slice(&bytes);
        let _ = decode_message(&framed, &ctx);
        let _ = decode_message(&bytes, &ctx);
    }

    #[test]
    fn decoder_never_panics_on_mutated_updates(
        m in update(true, false),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = BytesMut::new();
        let enc = EncodeContext { four_octet_as: true, extended_message: true, ..EncodeContext::default() };
        encode_message(&Message::Update(m), &enc, &mut buf).unwrap();
        let mut bytes = buf.to_vec();
        for (i, v) in flips {
            let i = 19 + i.index(bytes.len() - 19);
            bytes[i] = v;
        }
        let ctx = DecodeContext { four_octet_as: true, extended_message: true, ..DecodeContext::default() };
        let _ = decode_message(&bytes, &ctx);
        let cut = cut.index(bytes.len());
        let _ = decode_message(&bytes[..cut], &ctx);
    }
}
