//! OPEN exchange, negotiation and every OPEN error.

use super::*;

#[test]
fn open_exchange_establishes_and_negotiates() {
    let sim = established_pair(EBGP);
    let n = sim.session(0, 1).negotiated().expect("negotiated");
    assert_eq!(n.peer_asn, 65002);
    assert_eq!(n.peer_id, router_id(1));
    assert_eq!(n.hold_time, Duration::from_secs(90));
    assert_eq!(n.keepalive, Some(Duration::from_secs(30)));
    assert_eq!(
        n.families,
        vec![AddressFamily::IPV4_UNICAST, AddressFamily::IPV6_UNICAST]
    );
    assert!(n.four_octet_as && n.decode.four_octet_as && n.encode.four_octet_as);
    assert!(n.decode.extended_message && n.peer_route_refresh);
    // Node 1 started later, so exactly one connection: 1 → 0.
    assert!(sim.seen.contains(&Seen::Up(0, 1)) && sim.seen.contains(&Seen::Up(1, 0)));
    let opens = sim
        .sent(0, 1)
        .into_iter()
        .filter(|m| matches!(m, Message::Open(_)))
        .count();
    assert_eq!(opens, 1);
}

#[test]
fn hold_time_is_the_smaller_and_keepalive_a_third_or_configured() {
    let mut sim = pair(IBGP);
    let mut c = cfg(1, 0, IBGP);
    c.hold_time = Duration::from_secs(30);
    sim.add_session(1, 0, c);
    let mut c = cfg(0, 1, IBGP);
    c.keepalive = Some(Duration::from_secs(5));
    sim.add_session(0, 1, c);
    sim.start(0, 1);
    sim.start(1, 0);
    let n0 = sim.session(0, 1).negotiated().expect("up");
    let n1 = sim.session(1, 0).negotiated().expect("up");
    assert_eq!(n0.hold_time, Duration::from_secs(30));
    assert_eq!(n1.hold_time, Duration::from_secs(30));
    assert_eq!(n0.keepalive, Some(Duration::from_secs(5)));
    assert_eq!(n1.keepalive, Some(Duration::from_secs(10)));
}

#[test]
fn open_with_wrong_version_is_rejected_with_supported_version() {
    let mut o = peer_open(65001);
    o.version = 3;
    let n = assert_rejected(local(), o, OpenMessageError::UnsupportedVersionNumber);
    assert_eq!(&n.data[..], &[0, 4]);
}

#[test]
fn open_with_wrong_peer_as_is_rejected() {
    assert_rejected(local(), peer_open(65002), OpenMessageError::BadPeerAs);
}

#[test]
fn two_octet_peer_works_and_four_octet_as_needs_the_capability() {
    // A 2-octet-only speaker: no 4-octet capability.
    let mut o = peer_open(65001);
    o.capabilities
        .retain(|c| !matches!(c, Capability::FourOctetAs(_)));
    let n = assert_accepted(local(), o);
    assert!(!n.four_octet_as && !n.decode.four_octet_as && !n.encode.four_octet_as);

    // A peer with a 4-octet AS: AS_TRANS in the header, the real AS in the capability.
    let mut c = local();
    c.peer_asn = 4_200_000_001;
    let o = peer_open(4_200_000_001);
    assert_eq!(o.my_as, AS_TRANS);
    let n = assert_accepted(c.clone(), o.clone());
    assert_eq!(n.peer_asn, 4_200_000_001);
    assert!(n.four_octet_as);

    // The same AS_TRANS without the capability cannot be that peer.
    let mut o2 = o;
    o2.capabilities
        .retain(|c| !matches!(c, Capability::FourOctetAs(_)));
    assert_rejected(c, o2, OpenMessageError::BadPeerAs);
}

#[test]
fn hold_time_one_or_two_is_unacceptable_zero_and_three_are_fine() {
    for bad in [1, 2] {
        let mut o = peer_open(65001);
        o.hold_time = bad;
        assert_rejected(local(), o, OpenMessageError::UnacceptableHoldTime);
    }
    let mut o = peer_open(65001);
    o.hold_time = 0;
    let n = assert_accepted(local(), o);
    assert_eq!((n.hold_time, n.keepalive), (Duration::ZERO, None));
    let mut o = peer_open(65001);
    o.hold_time = 3;
    let n = assert_accepted(local(), o);
    assert_eq!(n.hold_time, Duration::from_secs(3));
    assert_eq!(n.keepalive, Some(Duration::from_secs(1)));
}

#[test]
fn bgp_identifier_zero_or_ours_on_ibgp_is_rejected() {
    let mut o = peer_open(65001);
    o.bgp_id = Ipv4Addr::UNSPECIFIED;
    assert_rejected(local(), o, OpenMessageError::BadBgpIdentifier);

    let mut ibgp = local();
    ibgp.peer_asn = 65000;
    let mut o = peer_open(65000);
    o.bgp_id = ibgp.local_id;
    assert_rejected(ibgp, o, OpenMessageError::BadBgpIdentifier);

    // Between ASes the same identifier is allowed (RFC 6286).
    let mut o = peer_open(65001);
    o.bgp_id = local().local_id;
    assert_accepted(local(), o);
}

#[test]
fn no_common_family_is_unsupported_capability_with_ours_as_data() {
    let mut c = local();
    c.families = vec![AddressFamily::IPV6_UNICAST];
    // The peer runs IPv4 unicast only (explicitly).
    let n = assert_rejected(c, peer_open(65001), OpenMessageError::UnsupportedCapability);
    // Our Multiprotocol capability for IPv6 unicast: code 1, len 4, AFI 2, 0, SAFI 1.
    assert_eq!(&n.data[..], &[1, 4, 0, 2, 0, 1]);

    // A peer without any Multiprotocol capability implicitly runs IPv4 unicast.
    let mut o = peer_open(65001);
    o.capabilities
        .retain(|c| !matches!(c, Capability::Multiprotocol(_)));
    let n = assert_accepted(local(), o);
    assert_eq!(n.families, vec![AddressFamily::IPV4_UNICAST]);

    let mut o = peer_open(65001);
    o.capabilities = vec![Capability::Multiprotocol(AddressFamily::new(
        Afi::Ipv4,
        Safi::Multicast,
    ))];
    assert_rejected(local(), o, OpenMessageError::UnsupportedCapability);
}

#[test]
fn unexpected_messages_are_fsm_errors() {
    let mut t = Scripted::new(local());
    let a = t.recv(Message::Keepalive);
    assert!(matches!(
        a.first(),
        Some(Action::Send(_, Message::Notification(n)))
            if n.error == ErrorCode::Fsm(FsmError::UnexpectedMessageInOpenSent)
    ));

    let mut t = Scripted::new(local());
    t.recv(Message::Open(peer_open(65001)));
    let a = t.recv(Message::Update(Update::default()));
    assert!(matches!(
        a.first(),
        Some(Action::Send(_, Message::Notification(n)))
            if n.error == ErrorCode::Fsm(FsmError::UnexpectedMessageInOpenConfirm)
    ));

    let mut sim = established_pair(IBGP);
    sim.inject(1, 0, Message::Open(peer_open(65000)));
    let n = sim.notifications(0, 1);
    assert_eq!(
        n.last().map(|n| n.error),
        Some(ErrorCode::Fsm(FsmError::UnexpectedMessageInEstablished))
    );
    assert!(sim.seen.iter().any(|s| matches!(s, Seen::Down(0, 1, _))));
}

#[test]
fn received_notification_closes_and_is_remembered() {
    let mut sim = established_pair(EBGP);
    sim.inject(
        1,
        0,
        Message::Notification(Notification::cease(CeaseSubcode::PeerDeconfigured)),
    );
    assert_ne!(sim.state(0, 1), State::Established);
    let err = sim
        .session(0, 1)
        .last_error()
        .unwrap_or_default()
        .to_owned();
    assert!(
        err.contains("received NOTIFICATION cease/peer-de-configured"),
        "{err}"
    );
}
