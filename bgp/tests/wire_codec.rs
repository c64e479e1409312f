//! `BgpCodec` (tokio_util framing) over a captured stream fed in small chunks, and the
//! model's helpers (AS path arithmetic, End-of-RIB, shutdown communication, negotiation).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use bgp::wire::{
    decode_message, AddPathEntry, AddPathMode, AddressFamily, AsPath, AsSegment, AsSegmentKind,
    BgpCodec, Capability, CeaseSubcode, CodecError, DecodeContext, EncodeContext, ErrorCode,
    Message, MessageHeaderError, Notification, Open, AS_TRANS,
};
use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn codec_frames_a_stream_arriving_in_small_chunks() {
    let bytes = fixture("ipv6-as4.bird-to-gobgp.bin");
    let ctx = DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    };
    let mut want = Vec::new();
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        let (m, used) = decode_message(rest, &ctx).unwrap();
        want.push(m);
        rest = &rest[used..];
    }
    let mut codec = BgpCodec::new();
    codec.set_negotiated(ctx, EncodeContext::default());
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for chunk in bytes.chunks(7) {
        buf.extend_from_slice(chunk);
        while let Some(m) = codec.decode(&mut buf).unwrap() {
            got.push(m);
        }
    }
    assert!(buf.is_empty());
    assert_eq!(got, want);

    let mut out = BytesMut::new();
    codec.encode(&Message::Keepalive, &mut out).unwrap();
    codec.encode(Message::Keepalive, &mut out).unwrap();
    assert_eq!(out.len(), 38);
}

#[test]
fn codec_reports_malformed_input_with_its_notification() {
    let mut codec = BgpCodec::new();
    let mut buf = BytesMut::from(&[0u8; 19][..]);
    match codec.decode(&mut buf) {
        Err(CodecError::Decode(e)) => assert_eq!(
            e.notification().unwrap().error,
            ErrorCode::MessageHeader(MessageHeaderError::ConnectionNotSynchronized)
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn as_path_length_prepend_and_first_asn_follow_rfc4271_and_rfc5065() {
    let mut path = AsPath {
        segments: vec![
            AsSegment {
                kind: AsSegmentKind::ConfedSequence,
                asns: [64512, 64513][..].into(),
            },
            AsSegment {
                kind: AsSegmentKind::Sequence,
                asns: [65001, 65002][..].into(),
            },
            AsSegment {
                kind: AsSegmentKind::Set,
                asns: [1, 2, 3][..].into(),
            },
        ]
        .into(),
    };
    assert_eq!(path.length(), 3);
    assert_eq!(path.first_asn(), Some(65001));
    assert_eq!(path.origin_asn(), None, "ends in a set");
    path.prepend(65000);
    assert_eq!(
        path.segments[0].asns[..],
        [65000],
        "confed segment not extended"
    );
    assert_eq!(path.length(), 4);
    let mut seq = AsPath::sequence([65001]);
    seq.prepend(65000);
    assert_eq!(seq.segments.len(), 1);
    assert_eq!(seq.to_string(), "65000 65001");
    assert_eq!(seq.origin_asn(), Some(65001));
    let mut empty = AsPath::default();
    empty.prepend(65000);
    assert_eq!(empty, AsPath::sequence([65000]));
}

#[test]
fn shutdown_communication_is_truncated_at_a_character_boundary() {
    let long = "é".repeat(200);
    let n = Notification::shutdown(&long, true);
    assert_eq!(n.error, ErrorCode::Cease(CeaseSubcode::AdministrativeReset));
    let text = n.shutdown_communication().unwrap();
    assert_eq!(text.len(), 254, "127 two-octet characters");
    assert_eq!(n.data[0], 254);
    // A length octet that overruns the data is not a shutdown communication.
    let bad = Notification::new(
        ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown),
        vec![5, b'a'],
    );
    assert_eq!(bad.shutdown_communication(), None);
    assert_eq!(
        Notification::cease(CeaseSubcode::PeerDeconfigured).to_string(),
        "cease/peer-de-configured (6/3)"
    );
}

#[test]
fn negotiation_is_per_direction_for_add_path() {
    let add_path = |mode| {
        Capability::AddPath(vec![AddPathEntry {
            family: AddressFamily::IPV4_UNICAST,
            mode,
        }])
    };
    let id = Ipv4Addr::new(192, 0, 2, 1);
    let local = Open::new(4200000001, 90, id, vec![add_path(AddPathMode::Receive)]);
    let remote = Open::new(65001, 90, id, vec![add_path(AddPathMode::Send)]);
    assert_eq!(local.my_as, AS_TRANS);
    assert_eq!(local.asn(), 4200000001);
    let dec = DecodeContext::negotiated(&local, &remote);
    let enc = EncodeContext::negotiated(&local, &remote);
    assert!(dec.four_octet_as && enc.four_octet_as);
    assert!(dec.add_path.contains(AddressFamily::IPV4_UNICAST));
    assert!(!enc.add_path.contains(AddressFamily::IPV4_UNICAST));
    let plain = Open {
        capabilities: vec![],
        ..remote
    };
    assert!(!DecodeContext::negotiated(&local, &plain).four_octet_as);
    assert_eq!(plain.multiprotocol(), [AddressFamily::IPV4_UNICAST]);
}
