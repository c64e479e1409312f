//! ADD-PATH negotiation per family (RFC 7911 §4): we receive path identifiers iff we
//! advertised receive and the peer advertised send, and send them iff we advertised
//! send and the peer advertised receive; each direction on its own.

use super::*;
use crate::wire::{decode_message, AddPathMode, DecodeContext, FamilySet};

/// A peer's OPEN as on the wire (RFC 4271 §4.2, RFC 5492): AS 65001, hold 90,
/// identifier 192.0.2.2, capabilities Multiprotocol IPv4 unicast (1), 4-octet AS 65001
/// (65) and ADD-PATH (69, RFC 7911 §4: AFI 1, SAFI 1, Send/Receive `mode`), as BIRD
/// sends with `add paths rx` (1), `tx` (2) or `on` (3).
fn peer_open_bytes(mode: u8) -> Open {
    let mut b = vec![0xff; 16];
    b.extend_from_slice(&[0, 0, 1, 4, 0xfd, 0xe9, 0, 90, 192, 0, 2, 2]);
    let caps = [
        1, 4, 0, 1, 0, 1, // Multiprotocol IPv4 unicast
        65, 4, 0, 0, 0xfd, 0xe9, // 4-octet AS 65001
        69, 4, 0, 1, 1, mode, // ADD-PATH IPv4 unicast
    ];
    b.push(caps.len() as u8 + 2);
    b.extend_from_slice(&[2, caps.len() as u8]);
    b.extend_from_slice(&caps);
    let len = b.len() as u16;
    b[16..18].copy_from_slice(&len.to_be_bytes());
    match decode_message(&b, &DecodeContext::default()) {
        Ok((Message::Open(o), n)) if n == b.len() => o,
        other => panic!("not an OPEN: {other:?}"),
    }
}

fn v4_only() -> FamilySet {
    [AddressFamily::IPV4_UNICAST].into_iter().collect()
}

#[test]
fn local_open_advertises_add_path_for_every_family() {
    let mut c = local();
    assert!(!c
        .local_open()
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::AddPath(_))));
    c.add_path = Some(AddPathMode::Both);
    let list = c.local_open().add_path();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|e| e.mode == AddPathMode::Both));
    assert_eq!(
        list.iter().map(|e| e.family).collect::<Vec<_>>(),
        vec![AddressFamily::IPV4_UNICAST, AddressFamily::IPV6_UNICAST]
    );
}

#[test]
fn each_direction_is_negotiated_on_its_own() {
    use AddPathMode::*;
    // (ours, the peer's Send/Receive field) → (we receive ids, we send ids)
    let cases = [
        (None, 3, false, false),
        (Some(Receive), 1, false, false),
        (Some(Receive), 2, true, false),
        (Some(Receive), 3, true, false),
        (Some(Send), 1, false, true),
        (Some(Send), 2, false, false),
        (Some(Send), 3, false, true),
        (Some(Both), 1, false, true),
        (Some(Both), 2, true, false),
        (Some(Both), 3, true, true),
        // An unknown value is ignored (RFC 7911 §4).
        (Some(Both), 7, false, false),
    ];
    for (ours, theirs, rx, tx) in cases {
        let mut c = local();
        c.add_path = ours;
        let n = assert_accepted(c, peer_open_bytes(theirs));
        let want = |on: bool| if on { v4_only() } else { FamilySet::EMPTY };
        assert_eq!(n.decode.add_path, want(rx), "{ours:?} vs {theirs}: receive");
        assert_eq!(n.encode.add_path, want(tx), "{ours:?} vs {theirs}: send");
        // IPv6 unicast was offered by us only: never with path ids.
        assert!(!n.decode.add_path.contains(AddressFamily::IPV6_UNICAST));
    }
}

/// BIRD 2.0.12's OPEN, captured on the wire (`nc -l 179` in a lab namespace) from
/// `protocol bgp { local as 65001; ipv4 { add paths on; }; ipv6 { add paths rx; }; }`:
/// Multiprotocol IPv4 and IPv6 unicast, Route Refresh, Graceful Restart, 4-octet AS,
/// ADD-PATH (IPv4 unicast send/receive 3, IPv6 unicast receive 1), Enhanced Route
/// Refresh, Long-Lived Graceful Restart.
const BIRD_OPEN: [u8; 69] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x45, 0x01, 0x04, 0xfd, 0xe9, 0x00, 0xf0, 0x0a, 0x63, 0x00, 0x01, 0x28, 0x02, 0x26, 0x01,
    0x04, 0x00, 0x01, 0x00, 0x01, 0x01, 0x04, 0x00, 0x02, 0x00, 0x01, 0x02, 0x00, 0x40, 0x02, 0x00,
    0x78, 0x41, 0x04, 0x00, 0x00, 0xfd, 0xe9, 0x45, 0x08, 0x00, 0x01, 0x01, 0x03, 0x00, 0x02, 0x01,
    0x01, 0x46, 0x00, 0x47, 0x00,
];

#[test]
fn birds_captured_open_negotiates_per_family() {
    let open = match decode_message(&BIRD_OPEN, &DecodeContext::default()) {
        Ok((Message::Open(o), 69)) => o,
        other => panic!("not an OPEN: {other:?}"),
    };
    let v6 = AddressFamily::IPV6_UNICAST;
    let v4 = AddressFamily::IPV4_UNICAST;
    let modes: Vec<_> = open.add_path().iter().map(|e| (e.family, e.mode)).collect();
    assert_eq!(
        modes,
        vec![(v4, AddPathMode::Both), (v6, AddPathMode::Receive)]
    );
    // We do both on both families: we receive ids only on IPv4 (BIRD sends only
    // there), we send them on both (BIRD receives on both).
    let mut c = local();
    c.add_path = Some(AddPathMode::Both);
    let n = assert_accepted(c, open.clone());
    assert_eq!(n.decode.add_path, v4_only());
    assert_eq!(n.encode.add_path, FamilySet::UNICAST);
    // We only receive: nothing is sent with ids, IPv4 is received with them.
    let mut c = local();
    c.add_path = Some(AddPathMode::Receive);
    let n = assert_accepted(c, open);
    assert_eq!(n.decode.add_path, v4_only());
    assert_eq!(n.encode.add_path, FamilySet::EMPTY);
}
