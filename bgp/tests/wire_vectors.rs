//! Packet vectors: (bytes, decoded value) pairs. The bytes come from captures of real
//! daemons (BIRD 2, GoBGP; see `fixtures/README.md`) or are laid out by hand from the
//! RFC figures, with each field annotated, and checked against the model field by
//! field; never only against our own encoder. Where the encoder must reproduce the
//! bytes exactly, that is asserted too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp::wire::{
    decode_message, encode_message, AddPathEntry, AddPathMode, AddressFamily, Afi, AsSegment,
    AsSegmentKind, Capability, CeaseSubcode, Community, DecodeContext, EncodeContext, ErrorCode,
    ExtendedCommunity, ExtendedNextHopEntry, FamilySet, GracefulRestart, GracefulRestartFamily,
    LargeCommunity, Message, Nlri, Notification, Open, Origin, RouteRefresh, RouteRefreshSubtype,
    Safi, Update,
};
use bytes::BytesMut;

/// Hex with whitespace and `#` comments to end of line.
fn hex(text: &str) -> Vec<u8> {
    let clean: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| l.split_whitespace())
        .collect();
    hex::decode(clean).expect("vector hex")
}

const MARKER: &str = "ffffffffffffffffffffffffffffffff";

fn ctx4() -> DecodeContext {
    DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    }
}

fn enc4() -> EncodeContext {
    EncodeContext {
        four_octet_as: true,
        ..EncodeContext::default()
    }
}

fn decode(bytes: &[u8], ctx: &DecodeContext) -> Message {
    let (m, used) = decode_message(bytes, ctx).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(used, bytes.len(), "whole vector consumed");
    m
}

fn encode(m: &Message, ctx: &EncodeContext) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_message(m, ctx, &mut buf).unwrap();
    buf.to_vec()
}

fn prefix(s: &str) -> Nlri {
    Nlri::new(s.parse().unwrap())
}

#[test]
fn keepalive_rfc4271_4_4() {
    let bytes = hex(&format!("{MARKER} 0013 04"));
    assert_eq!(decode(&bytes, &ctx4()), Message::Keepalive);
    assert_eq!(encode(&Message::Keepalive, &enc4()), bytes);
}

#[test]
fn gobgp_open_captured() {
    let bytes = hex(&format!(
        "{MARKER} 003b 01
         04 fde9 0009 0a640002   # version 4, AS 65001, hold 9, id 10.100.0.2
         1e 02 1c                # opt params 30: capabilities, 28 octets
         02 00                   # route refresh
         49 04 02 766d 00        # FQDN: hostname \"vm\", domain \"\"
         01 04 0001 00 01        # multiprotocol IPv4 unicast
         41 04 0000fde9          # 4-octet AS 65001
         05 06 0001 0001 0002    # extended next hop: IPv4 unicast over IPv6"
    ));
    let want = Open {
        version: 4,
        my_as: 65001,
        hold_time: 9,
        bgp_id: Ipv4Addr::new(10, 100, 0, 2),
        capabilities: vec![
            Capability::RouteRefresh,
            Capability::Fqdn {
                hostname: "vm".into(),
                domain: String::new(),
            },
            Capability::Multiprotocol(AddressFamily::IPV4_UNICAST),
            Capability::FourOctetAs(65001),
            Capability::ExtendedNextHop(vec![ExtendedNextHopEntry {
                nlri: AddressFamily::IPV4_UNICAST,
                next_hop_afi: Afi::Ipv6,
            }]),
        ],
    };
    assert_eq!(
        decode(&bytes, &DecodeContext::default()),
        Message::Open(want.clone())
    );
    assert_eq!(
        encode(&Message::Open(want), &EncodeContext::default()),
        bytes
    );
}

#[test]
fn bird_open_captured_with_as_trans_and_graceful_restart() {
    let bytes = hex(&format!(
        "{MARKER} 0035 01
         04 5ba0 0009 0a640001   # AS_TRANS, hold 9, id 10.100.0.1
         18 02 16
         01 04 0002 00 01        # multiprotocol IPv6 unicast
         02 00                   # route refresh
         40 02 0078              # graceful restart: no flags, 120 s, no families
         41 04 fa56ea01          # 4-octet AS 4200000001
         46 00                   # enhanced route refresh
         47 00                   # 71: long-lived graceful restart (not modelled)"
    ));
    let Message::Open(open) = decode(&bytes, &DecodeContext::default()) else {
        panic!("not an OPEN")
    };
    assert_eq!(open.my_as, 23456);
    assert_eq!(open.asn(), 4200000001);
    assert_eq!(open.multiprotocol(), [AddressFamily::IPV6_UNICAST]);
    assert_eq!(
        open.graceful_restart(),
        Some(&GracefulRestart {
            restart_flags: 0,
            restart_time: 120,
            families: vec![]
        })
    );
    assert!(open
        .capabilities
        .contains(&Capability::EnhancedRouteRefresh));
    assert!(open.capabilities.contains(&Capability::Unknown {
        code: 71,
        value: Default::default()
    }));
    assert_eq!(
        encode(&Message::Open(open), &EncodeContext::default()),
        bytes
    );
}

#[test]
fn open_rfc9072_extended_optional_parameters() {
    let bytes = hex(&format!(
        "{MARKER} 0029 01
         04 fde9 005a c0000201   # AS 65001, hold 90, id 192.0.2.1
         ff ff 0009              # Non-Ext OP Len 255, Non-Ext OP Type 255, Ext Len 9
         02 0006                 # capabilities, 2-octet length 6
         41 04 0000fde9"
    ));
    let Message::Open(open) = decode(&bytes, &DecodeContext::default()) else {
        panic!()
    };
    assert_eq!(open.capabilities, [Capability::FourOctetAs(65001)]);
    assert_eq!(open.hold_time, 90);
}

#[test]
fn open_encoder_switches_to_rfc9072_when_capabilities_exceed_255_octets() {
    let caps: Vec<Capability> = (0..70u16)
        .map(|afi| {
            Capability::Multiprotocol(AddressFamily::new(Afi::from(afi + 100), Safi::Unicast))
        })
        .collect();
    let open = Message::Open(Open::new(65001, 90, Ipv4Addr::new(192, 0, 2, 1), caps));
    let bytes = encode(&open, &EncodeContext::default());
    assert_eq!(&bytes[28..30], &[0xff, 0xff], "RFC 9072 marker");
    assert_eq!(decode(&bytes, &DecodeContext::default()), open);
}

#[test]
fn open_capabilities_graceful_restart_and_add_path_rfc4724_rfc7911() {
    let bytes = hex(&format!(
        "{MARKER} 002f 01
         04 fde9 005a c0000201 12 02 10
         40 06 8078             # R bit, restart time 120
               0001 01 80       # IPv4 unicast, forwarding preserved
         45 04 0001 01 03       # ADD-PATH IPv4 unicast send+receive
         06 00" // extended message
    ));
    let Message::Open(open) = decode(&bytes, &DecodeContext::default()) else {
        panic!()
    };
    let gr = open.graceful_restart().unwrap();
    assert!(gr.restart_state());
    assert_eq!(gr.restart_time, 120);
    assert_eq!(
        gr.families,
        [GracefulRestartFamily {
            family: AddressFamily::IPV4_UNICAST,
            flags: 0x80
        }]
    );
    assert!(gr.families[0].forwarding_preserved());
    assert_eq!(
        open.add_path(),
        [AddPathEntry {
            family: AddressFamily::IPV4_UNICAST,
            mode: AddPathMode::Both
        }]
    );
    assert!(open.extended_message());
    let both = DecodeContext::negotiated(&open, &open);
    assert!(both.add_path.contains(AddressFamily::IPV4_UNICAST));
    assert!(both.extended_message);
    assert!(!both.four_octet_as);
}

#[test]
fn gobgp_update_captured() {
    let bytes = hex(&format!(
        "{MARKER} 005b 02
         0000 0041              # no withdrawn routes, 65 octets of attributes
         40 01 01 01            # ORIGIN EGP
         40 02 06 02 01 0000fde9 # AS_PATH AS_SEQUENCE [65001]
         40 03 04 0a640002      # NEXT_HOP 10.100.0.2
         80 04 04 00000014      # MED 20
         c0 08 08 fde900c8 ffffff01   # COMMUNITIES 65001:200 NO_EXPORT
         c0 20 18 0000fde9 00000007 00000008 fa56ea01 00000000 00000001
         10 ac10                # NLRI 172.16.0.0/16"
    ));
    let Message::Update(u) = decode(&bytes, &ctx4()) else {
        panic!()
    };
    let a = &u.attributes;
    assert_eq!(a.origin, Some(Origin::Egp));
    assert_eq!(a.as_path.as_ref().unwrap().to_string(), "65001");
    assert_eq!(a.next_hop, Some(Ipv4Addr::new(10, 100, 0, 2)));
    assert_eq!(a.med, Some(20));
    assert_eq!(
        a.communities
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["65001:200", "no-export"]
    );
    assert_eq!(
        a.large_communities
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["65001:7:8", "4200000001:0:1"]
    );
    assert_eq!(u.nlri[..], [prefix("172.16.0.0/16")]);
    assert!(u.errors.is_empty());
    assert_eq!(encode(&Message::Update(u), &enc4()), bytes);
}

#[test]
fn gobgp_withdrawal_captured() {
    let bytes = hex(&format!("{MARKER} 001a 02 0003 10ac10 0000"));
    let Message::Update(u) = decode(&bytes, &ctx4()) else {
        panic!()
    };
    assert_eq!(u.withdrawn, [prefix("172.16.0.0/16")]);
    assert!(!u.is_end_of_rib());
    assert_eq!(encode(&Message::Update(u), &enc4()), bytes);
}

#[test]
fn bird_cease_with_shutdown_communication_captured_rfc8203() {
    let bytes = hex(&format!(
        "{MARKER} 0040 03 06 02 2a
         7465726e206669787475726520636170747572653a207368757474696e6720646f776e20676f62677034"
    ));
    let Message::Notification(n) = decode(&bytes, &ctx4()) else {
        panic!()
    };
    assert_eq!(
        n.error,
        ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown)
    );
    assert_eq!(
        n.shutdown_communication(),
        Some("tern fixture capture: shutting down gobgp4")
    );
    let ours = Notification::shutdown("tern fixture capture: shutting down gobgp4", false);
    assert_eq!(encode(&Message::Notification(ours), &enc4()), bytes);
}

#[test]
fn bird_route_refresh_captured_and_rfc7313_subtypes() {
    let bytes = hex(&format!("{MARKER} 0017 05 0001 00 01"));
    let want = RouteRefresh {
        family: AddressFamily::IPV4_UNICAST,
        subtype: RouteRefreshSubtype::Normal,
    };
    assert_eq!(decode(&bytes, &ctx4()), Message::RouteRefresh(want));
    // BoRR for IPv6 unicast: AFI 2, subtype 1, SAFI 1.
    let borr = hex(&format!("{MARKER} 0017 05 0002 01 01"));
    let Message::RouteRefresh(rr) = decode(&borr, &ctx4()) else {
        panic!()
    };
    assert_eq!(
        (rr.family, rr.subtype),
        (AddressFamily::IPV6_UNICAST, RouteRefreshSubtype::BoRR)
    );
    assert_eq!(encode(&Message::RouteRefresh(rr), &enc4()), borr);
}

#[test]
fn end_of_rib_markers_rfc4724() {
    let v4 = hex(&format!("{MARKER} 0017 02 0000 0000"));
    let Message::Update(u) = decode(&v4, &ctx4()) else {
        panic!()
    };
    assert_eq!(u.end_of_rib(), Some(AddressFamily::IPV4_UNICAST));
    // MP_UNREACH_NLRI with AFI 2, SAFI 1 and nothing else.
    let v6 = hex(&format!("{MARKER} 001d 02 0000 0006 80 0f 03 0002 01"));
    let Message::Update(u) = decode(&v6, &ctx4()) else {
        panic!()
    };
    assert_eq!(u.end_of_rib(), Some(AddressFamily::IPV6_UNICAST));
    assert_eq!(
        encode(
            &Message::Update(Update::end_of_rib_marker(AddressFamily::IPV6_UNICAST)),
            &enc4()
        ),
        v6
    );
}

#[test]
fn mp_reach_ipv6_with_link_local_rfc4760_rfc2545() {
    let bytes = hex(&format!(
        "{MARKER} 0061 02 0000 004a
         90 0e 0035              # MP_REACH_NLRI, extended length 53
            0002 01 20           # IPv6 unicast, next hop 32 octets
            20010db8000000000000000000000001   # global 2001:db8::1
            fe800000000000000000000000000001   # link-local fe80::1
            00                   # reserved
            30 20010db80064      # 2001:db8:64::/48
            40 20010db800c80001  # 2001:db8:c8:1::/64
         40 01 01 00
         40 02 0a 02 02 0000fde9 fa56ea01   # AS_SEQUENCE 65001 4200000001"
    ));
    let Message::Update(u) = decode(&bytes, &ctx4()) else {
        panic!()
    };
    let reach = u.mp_reach.as_ref().unwrap();
    assert_eq!(reach.family, AddressFamily::IPV6_UNICAST);
    assert_eq!(
        reach.next_hop.global,
        IpAddr::V6("2001:db8::1".parse().unwrap())
    );
    assert_eq!(
        reach.next_hop.link_local,
        Some("fe80::1".parse::<Ipv6Addr>().unwrap())
    );
    assert_eq!(
        reach.nlri[..],
        [prefix("2001:db8:64::/48"), prefix("2001:db8:c8:1::/64")]
    );
    assert_eq!(
        u.attributes.as_path.as_ref().unwrap().segments[..],
        [AsSegment {
            kind: AsSegmentKind::Sequence,
            asns: vec![65001, 4200000001].into()
        }]
    );
    assert!(u.errors.is_empty());
    assert_eq!(u.announced().count(), 2);
}

#[test]
fn add_path_nlri_rfc7911() {
    let bytes = hex(&format!(
        "{MARKER} 0035 02
         0008 00000001 18 c00002          # withdrawn: path 1, 192.0.2.0/24
         000e 40 01 01 00 40 02 00 40 03 04 c0000201  # ORIGIN, empty AS_PATH, NEXT_HOP
         00000002 18 c63364               # path 2, 198.51.100.0/24"
    ));
    let ctx = DecodeContext {
        add_path: FamilySet::UNICAST,
        ..ctx4()
    };
    let Message::Update(u) = decode(&bytes, &ctx) else {
        panic!()
    };
    assert_eq!(
        u.withdrawn,
        [Nlri {
            path_id: Some(1),
            ..prefix("192.0.2.0/24")
        }]
    );
    assert_eq!(
        u.nlri[..],
        [Nlri {
            path_id: Some(2),
            ..prefix("198.51.100.0/24")
        }]
    );
    assert_eq!(u.attributes.as_path.as_ref().map(|p| p.length()), Some(0));
    assert!(u.errors.is_empty());
    let enc = EncodeContext {
        add_path: FamilySet::UNICAST,
        ..enc4()
    };
    assert_eq!(encode(&Message::Update(u), &enc), bytes);
}

#[test]
fn rfc4456_and_rfc4360_attributes_and_confederation_segments() {
    let bytes = hex(&format!(
        "{MARKER} 0075 02 0000 005a
         40 01 01 02                         # ORIGIN INCOMPLETE
         40 02 1a 03 01 0000fc00             # AS_CONFED_SEQUENCE [64512]
                  02 02 0000fde9 0000fdea    # AS_SEQUENCE [65001 65002]
                  01 02 0000fdeb 0000fdec    # AS_SET {{65003 65004}}
         40 03 04 c0000201
         40 05 04 00000064                   # LOCAL_PREF 100
         40 06 00                            # ATOMIC_AGGREGATE
         c0 07 08 0000fde9 c0000209          # AGGREGATOR 65001 192.0.2.9
         80 09 04 c0000202                   # ORIGINATOR_ID 192.0.2.2
         80 0a 08 c0000203 c0000204          # CLUSTER_LIST
         c0 10 08 0002fde900000064           # route target 65001:100
         18 cb0071"
    ));
    let Message::Update(u) = decode(&bytes, &ctx4()) else {
        panic!()
    };
    let a = &u.attributes;
    let path = a.as_path.as_ref().unwrap();
    assert_eq!(path.to_string(), "(64512) 65001 65002 {65003 65004}");
    assert_eq!(path.length(), 3, "confed 0 + sequence 2 + set 1");
    assert_eq!(path.first_asn(), Some(65001));
    assert!(path.contains(65004) && !path.contains(65005));
    assert_eq!(a.origin, Some(Origin::Incomplete));
    assert_eq!(a.local_pref, Some(100));
    assert!(a.atomic_aggregate);
    let ag = a.aggregator.unwrap();
    assert_eq!((ag.asn, ag.address), (65001, Ipv4Addr::new(192, 0, 2, 9)));
    assert_eq!(a.originator_id, Some(Ipv4Addr::new(192, 0, 2, 2)));
    assert_eq!(
        a.cluster_list,
        [Ipv4Addr::new(192, 0, 2, 3), Ipv4Addr::new(192, 0, 2, 4)]
    );
    assert_eq!(
        a.extended_communities,
        [ExtendedCommunity::route_target(65001, 100)]
    );
    assert_eq!(a.extended_communities[0].to_string(), "rt:65001:100");
    assert_eq!(u.nlri[..], [prefix("203.0.113.0/24")]);
    assert_eq!(encode(&Message::Update(u), &enc4()), bytes);
}

#[test]
fn two_octet_session_emits_as_trans_and_as4_attributes_rfc6793() {
    let mut u = Update::default();
    let a = std::sync::Arc::make_mut(&mut u.attributes);
    a.origin = Some(Origin::Igp);
    a.as_path = Some(bgp::wire::AsPath::sequence([65001, 4200000001]));
    a.next_hop = Some(Ipv4Addr::new(192, 0, 2, 1));
    a.communities = vec![Community::new(65001, 1)].into();
    a.large_communities = vec![LargeCommunity {
        global_admin: 4200000001,
        local_data1: 1,
        local_data2: 2,
    }];
    u.nlri = vec![prefix("192.0.2.0/24")].into();
    let bytes = encode(&Message::Update(u.clone()), &EncodeContext::default());
    let want = hex(&format!(
        "{MARKER} 0052 02 0000 0037
         40 01 01 00
         40 02 06 02 02 fde9 5ba0            # AS_PATH 65001 AS_TRANS
         40 03 04 c0000201
         c0 08 04 fde90001
         c0 11 0a 02 02 0000fde9 fa56ea01    # AS4_PATH 65001 4200000001
         c0 20 0c fa56ea01 00000001 00000002
         18 c00002"
    ));
    assert_eq!(bytes, want);
    assert_eq!(decode(&want, &DecodeContext::default()), Message::Update(u));
}
