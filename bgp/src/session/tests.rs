//! Unit tests of the session FSM on a virtual clock: OPEN exchange and checks, timers,
//! back-off, collisions, Cease, passive peers, ROUTE-REFRESH and End-of-RIB.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::sim::{cfg, router_id, Seen, Sim};
use super::*;
use crate::wire::{
    AddressFamily, Afi, Capability, CeaseSubcode, ErrorCode, FsmError, Message, Notification, Open,
    OpenMessageError, RouteRefresh, RouteRefreshSubtype, Safi, Update, AS_TRANS,
};

const IBGP: fn(usize) -> u32 = |_| 65000;
const EBGP: fn(usize) -> u32 = |i| 65001 + i as u32;

/// Two nodes with sessions towards each other.
fn pair(asn: fn(usize) -> u32) -> Sim {
    let mut sim = Sim::new(2);
    sim.add_session(0, 1, cfg(0, 1, asn));
    sim.add_session(1, 0, cfg(1, 0, asn));
    sim
}

fn established_pair(asn: fn(usize) -> u32) -> Sim {
    let mut sim = pair(asn);
    sim.start(0, 1);
    sim.start(1, 0);
    assert_eq!(sim.state(0, 1), State::Established);
    assert_eq!(sim.state(1, 0), State::Established);
    sim
}

fn count_keepalives(sim: &Sim, node: usize, peer: usize) -> usize {
    sim.sent(node, peer)
        .iter()
        .filter(|m| matches!(m, Message::Keepalive))
        .count()
}

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

// ---- OPEN checks, one session against a scripted peer ----

struct Scripted {
    s: Session,
    conn: ConnId,
    now: Instant,
}

impl Scripted {
    fn new(c: SessionConfig) -> Self {
        let now = Instant::now();
        let mut s = Session::new(c, now);
        s.start(now);
        let Some(Action::Connect(conn)) = s.poll_action() else {
            panic!("expected Connect");
        };
        s.connected(now, conn);
        let sent: Vec<Action> = std::iter::from_fn(|| s.poll_action()).collect();
        assert!(matches!(
            sent.as_slice(),
            [Action::Send(_, Message::Open(_))]
        ));
        assert_eq!(s.state(), State::OpenSent);
        Self { s, conn, now }
    }

    fn recv(&mut self, msg: Message) -> Vec<Action> {
        self.s.handle_message(self.now, self.conn, msg);
        std::iter::from_fn(|| self.s.poll_action()).collect()
    }
}

fn local() -> SessionConfig {
    let mut c = SessionConfig::new(65000, Ipv4Addr::new(192, 0, 2, 1), 65001);
    c.jitter_seed = 9;
    c
}

fn peer_open(asn: u32) -> Open {
    Open::new(
        asn,
        90,
        Ipv4Addr::new(192, 0, 2, 2),
        vec![
            Capability::Multiprotocol(AddressFamily::IPV4_UNICAST),
            Capability::RouteRefresh,
        ],
    )
}

fn assert_rejected(c: SessionConfig, open: Open, want: OpenMessageError) -> Notification {
    let mut t = Scripted::new(c);
    let conn = t.conn;
    let actions = t.recv(Message::Open(open));
    match actions.as_slice() {
        [Action::Send(c1, Message::Notification(n)), Action::Close(c2)] => {
            assert_eq!((*c1, *c2), (conn, conn));
            assert_eq!(n.error, ErrorCode::OpenMessage(want), "{n}");
            assert_eq!(t.s.state(), State::Active);
            assert!(t
                .s
                .last_error()
                .unwrap_or_default()
                .contains("sent NOTIFICATION"));
            n.clone()
        }
        other => panic!("expected NOTIFICATION + Close, got {other:?}"),
    }
}

fn assert_accepted(c: SessionConfig, open: Open) -> Negotiated {
    let mut t = Scripted::new(c);
    let actions = t.recv(Message::Open(open));
    assert!(
        matches!(
            actions.as_slice(),
            [
                Action::Negotiated { .. },
                Action::Send(_, Message::Keepalive)
            ]
        ),
        "{actions:?}"
    );
    assert_eq!(t.s.state(), State::OpenConfirm);
    let actions = t.recv(Message::Keepalive);
    assert!(
        matches!(actions.as_slice(), [Action::Established(_)]),
        "{actions:?}"
    );
    t.s.negotiated().cloned().expect("negotiated")
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

// ---- timers ----

#[test]
fn hold_timer_expires_without_sleeping() {
    let mut sim = established_pair(IBGP);
    sim.mute.push((1, 0)); // node 1 goes silent towards node 0
    sim.run_for(Duration::from_secs(89));
    assert_eq!(sim.state(0, 1), State::Established);
    sim.run_for(Duration::from_secs(2));
    assert_ne!(sim.state(0, 1), State::Established);
    assert_eq!(
        sim.notifications(0, 1).first().map(|n| n.error),
        Some(ErrorCode::HoldTimerExpired(0))
    );
    assert!(sim
        .seen
        .iter()
        .any(|s| matches!(s, Seen::Down(0, 1, r) if r.contains("hold-timer-expired"))));
    // The peer learns it from the NOTIFICATION.
    assert!(sim
        .seen
        .iter()
        .any(|s| matches!(s, Seen::Down(1, 0, r) if r.contains("received"))));
}

#[test]
fn keepalives_every_third_of_hold_time_and_none_with_hold_zero() {
    let mut sim = established_pair(IBGP);
    let before = count_keepalives(&sim, 0, 1);
    sim.run_for(Duration::from_secs(300));
    assert_eq!(count_keepalives(&sim, 0, 1) - before, 10);
    assert_eq!(sim.state(0, 1), State::Established);

    let mut sim = pair(IBGP);
    for (n, p) in [(0, 1), (1, 0)] {
        let mut c = cfg(n, p, IBGP);
        c.hold_time = Duration::ZERO;
        sim.add_session(n, p, c);
    }
    sim.start(0, 1);
    sim.start(1, 0);
    assert_eq!(sim.state(0, 1), State::Established);
    let before = count_keepalives(&sim, 0, 1);
    assert_eq!(before, 1, "only the KEEPALIVE that confirms the OPEN");
    sim.run_for(Duration::from_secs(3600));
    assert_eq!(count_keepalives(&sim, 0, 1), before);
    assert_eq!(sim.state(0, 1), State::Established);
    assert_eq!(sim.session(0, 1).poll_timeout(), None);
}

#[test]
fn sending_updates_postpones_keepalives() {
    let mut sim = established_pair(IBGP);
    let before = count_keepalives(&sim, 0, 1);
    sim.run_for(Duration::from_secs(20));
    let now = sim.now;
    sim.session_mut(0, 1).update_sent(now);
    // The KEEPALIVE due at 30 s moved to 50 s.
    sim.run_for(Duration::from_secs(29));
    assert_eq!(count_keepalives(&sim, 0, 1), before);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(count_keepalives(&sim, 0, 1), before + 1);
}

fn retry_gaps(seed: u64) -> Vec<Duration> {
    let mut sim = pair(IBGP);
    let mut c = cfg(0, 1, IBGP);
    c.jitter_seed = seed;
    sim.add_session(0, 1, c);
    sim.start(0, 1); // node 1 is not started: connections are refused
    sim.run_for(Duration::from_secs(600));
    assert_eq!(sim.state(0, 1), State::Active);
    let times: Vec<Instant> = sim.connects.iter().map(|c| c.2).collect();
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn connect_retry_backs_off_exponentially_with_jitter() {
    let gaps = retry_gaps(1);
    assert!(gaps.len() >= 8, "{gaps:?}");
    let base = Duration::from_secs(5);
    for (i, gap) in gaps.iter().enumerate() {
        let full = base * (1 << i.min(4));
        assert!(
            *gap <= full && *gap >= full.mul_f64(0.75),
            "attempt {i}: gap {gap:?} outside [0.75, 1] × {full:?}"
        );
    }
    assert_eq!(gaps, retry_gaps(1), "same seed, same schedule");
    assert_ne!(gaps, retry_gaps(2), "another seed, another schedule");
}

#[test]
fn back_off_resets_once_established() {
    let mut sim = pair(IBGP);
    sim.start(0, 1);
    sim.run_for(Duration::from_secs(100));
    assert!(sim.session(0, 1).failures() >= 3);
    sim.start(1, 0);
    assert_eq!(sim.state(0, 1), State::Established);
    assert_eq!(sim.session(0, 1).failures(), 0);
}

// ---- collisions ----

#[test]
fn simultaneous_connects_resolve_to_the_higher_identifiers_connection() {
    let mut sim = pair(IBGP);
    let now = sim.now;
    sim.session_mut(0, 1).start(now);
    sim.session_mut(1, 0).start(now);
    sim.settle();
    assert_eq!(sim.state(0, 1), State::Established);
    assert_eq!(sim.state(1, 0), State::Established);
    // Node 1 (1.1.1.2) has the higher identifier: the connection it opened survives.
    let dir = |n: usize, p: usize| {
        let s = sim.session(n, p);
        let id = s.established_conn().expect("up");
        s.connections().find(|c| c.0 == id).map(|c| c.1)
    };
    assert_eq!(dir(1, 0), Some(Direction::Outgoing));
    assert_eq!(dir(0, 1), Some(Direction::Incoming));
    assert_eq!(sim.session(0, 1).connections().count(), 1);
    // Each side detects the collision and may send its Cease on the losing connection.
    for (n, p) in [(0, 1), (1, 0)] {
        assert!(sim.notifications(n, p).len() <= 1);
    }
    let ceases: Vec<_> = [(0, 1), (1, 0)]
        .iter()
        .flat_map(|(n, p)| sim.notifications(*n, *p))
        .collect();
    assert!(!ceases.is_empty());
    assert!(ceases
        .iter()
        .all(|n| *n == Notification::cease(CeaseSubcode::ConnectionCollisionResolution)));
    assert!(!sim.seen.iter().any(|s| matches!(s, Seen::Down(..))));
    // Still fine later.
    sim.run_for(Duration::from_secs(600));
    assert_eq!(sim.state(0, 1), State::Established);
}

/// An established session (we connected out) and a second, incoming connection whose
/// OPEN arrives: returns the actions after that OPEN.
fn second_connection(local_id: Ipv4Addr) -> (Session, ConnId, ConnId, Vec<Action>) {
    let mut c = local();
    c.local_id = local_id;
    let mut t = Scripted::new(c);
    t.recv(Message::Open(peer_open(65001)));
    t.recv(Message::Keepalive);
    let up = t.s.established_conn().expect("up");
    let now = t.now;
    let second = t.s.accept(now).expect("accepts");
    let _ = std::iter::from_fn(|| t.s.poll_action()).count();
    t.s.handle_message(now, second, Message::Open(peer_open(65001)));
    let a: Vec<Action> = std::iter::from_fn(|| t.s.poll_action()).collect();
    (t.s, up, second, a)
}

fn collision_cease(conn: ConnId) -> Action {
    Action::Send(
        conn,
        Message::Notification(Notification::cease(
            CeaseSubcode::ConnectionCollisionResolution,
        )),
    )
}

#[test]
fn collision_with_an_established_session_follows_the_identifiers() {
    // Our identifier is higher than the peer's (192.0.2.2): we keep the connection we
    // initiated, the established one, and close the new incoming one.
    let (s, up, second, a) = second_connection(Ipv4Addr::new(192, 0, 2, 9));
    assert_eq!(a, vec![collision_cease(second), Action::Close(second)]);
    assert_eq!(s.established_conn(), Some(up));

    // Lower: the peer's connection wins, also over our established one; the session
    // goes down and comes up on the new connection.
    let (s, up, second, a) = second_connection(Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(a.first(), Some(&collision_cease(up)));
    assert_eq!(a.get(1), Some(&Action::Close(up)));
    assert!(matches!(a.get(2), Some(Action::Down { reason }) if reason.contains("collision")));
    assert!(a.contains(&Action::Send(second, Message::Keepalive)));
    assert_eq!(s.state(), State::OpenConfirm);
}

// ---- Cease, passive, refresh, End-of-RIB ----

#[test]
fn stop_sends_administrative_shutdown_with_communication() {
    let mut sim = established_pair(EBGP);
    let now = sim.now;
    sim.session_mut(0, 1)
        .stop(now, Notification::shutdown("maintenance window", false));
    sim.settle();
    assert_eq!(sim.state(0, 1), State::Idle);
    let n = sim.notifications(0, 1);
    assert_eq!(n.len(), 1);
    assert_eq!(
        n[0].error,
        ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown)
    );
    assert_eq!(n[0].shutdown_communication(), Some("maintenance window"));
    assert!(sim
        .seen
        .iter()
        .any(|s| matches!(s, Seen::Down(1, 0, r) if r.contains("\"maintenance window\""))));
    // Idle refuses the peer's reconnects.
    sim.run_for(Duration::from_secs(300));
    assert_eq!(sim.state(0, 1), State::Idle);
    assert_eq!(sim.state(1, 0), State::Active);
    assert!(sim.session(1, 0).failures() >= 3);
    let now = sim.now;
    assert_eq!(sim.session_mut(0, 1).accept(now), None);
}

#[test]
fn reset_tears_down_and_comes_back() {
    let mut sim = established_pair(EBGP);
    let now = sim.now;
    sim.session_mut(0, 1).reset(
        now,
        Notification::cease(CeaseSubcode::MaximumPrefixesReached),
    );
    sim.settle();
    assert!(sim.seen.iter().any(|s| matches!(s, Seen::Down(0, 1, _))));
    sim.run_for(Duration::from_secs(60));
    assert_eq!(sim.state(0, 1), State::Established);
    assert_eq!(
        sim.seen
            .iter()
            .filter(|s| matches!(s, Seen::Up(0, 1)))
            .count(),
        2
    );
}

#[test]
fn passive_peer_never_connects_but_accepts() {
    let mut sim = pair(EBGP);
    let mut c = cfg(0, 1, EBGP);
    c.passive = true;
    sim.add_session(0, 1, c);
    sim.start(0, 1);
    sim.run_for(Duration::from_secs(600));
    assert_eq!(sim.state(0, 1), State::Active);
    assert!(sim.connects.is_empty());
    sim.start(1, 0);
    assert_eq!(sim.state(0, 1), State::Established);
    assert!(sim.connects.iter().all(|c| c.0 == 1));

    // Two passive ends never meet.
    let mut sim = pair(EBGP);
    for (n, p) in [(0, 1), (1, 0)] {
        let mut c = cfg(n, p, EBGP);
        c.passive = true;
        sim.add_session(n, p, c);
        sim.start(n, p);
    }
    sim.run_for(Duration::from_secs(3600));
    assert_eq!(sim.state(0, 1), State::Active);
    assert!(sim.connects.is_empty());
}

#[test]
fn route_refresh_and_end_of_rib_are_recognised() {
    let mut sim = established_pair(IBGP);
    sim.inject(
        1,
        0,
        Message::RouteRefresh(RouteRefresh {
            family: AddressFamily::IPV4_UNICAST,
            subtype: RouteRefreshSubtype::Normal,
        }),
    );
    assert!(sim.seen.contains(&Seen::Refresh(0, 1)));
    // A family that was not negotiated is ignored.
    let before = sim.seen.len();
    sim.inject(
        1,
        0,
        Message::RouteRefresh(RouteRefresh {
            family: AddressFamily::new(Afi::Ipv4, Safi::Multicast),
            subtype: RouteRefreshSubtype::Normal,
        }),
    );
    assert_eq!(sim.seen.len(), before);
    assert_eq!(sim.state(0, 1), State::Established);

    sim.inject(
        1,
        0,
        Message::Update(Update::end_of_rib_marker(AddressFamily::IPV6_UNICAST)),
    );
    sim.inject(
        1,
        0,
        Message::Update(Update::end_of_rib_marker(AddressFamily::IPV4_UNICAST)),
    );
    assert_eq!(
        sim.session(0, 1).end_of_rib_received(),
        &[AddressFamily::IPV6_UNICAST, AddressFamily::IPV4_UNICAST]
    );
    assert_eq!(
        sim.seen
            .iter()
            .filter(|s| **s == Seen::EndOfRib(0, 1))
            .count(),
        2
    );
}

// ---- a simulated mesh with RIBs ----

fn prefixes(sim: &Sim, node: usize) -> Vec<String> {
    let rib = sim.nodes[node].rib.as_ref().expect("rib");
    let mut v: Vec<String> = rib
        .routes(false)
        .iter()
        .map(|r| r.prefix.to_string())
        .collect();
    v.sort();
    v
}

fn block(i: usize) -> ipnet::IpNet {
    format!("10.244.{i}.0/24").parse().expect("prefix")
}

#[test]
fn mesh_of_four_speakers_converges_and_withdraws() {
    // Nodes 0–2: iBGP full mesh in AS 65000; node 3: AS 65100, eBGP to node 0 only.
    let asn = |i: usize| if i == 3 { 65100 } else { 65000 };
    let mut sim = Sim::new(4);
    let links = [(0, 1), (0, 2), (1, 2), (0, 3)];
    for (a, b) in links {
        sim.add_session(a, b, cfg(a, b, asn));
        sim.add_session(b, a, cfg(b, a, asn));
    }
    sim.with_ribs(asn);
    for i in 0..4 {
        sim.nodes[i].rib.as_mut().expect("rib").originate(block(i));
    }
    let now = sim.now;
    for (a, b) in links {
        sim.session_mut(a, b).start(now);
        sim.session_mut(b, a).start(now);
    }
    sim.run_for(Duration::from_secs(60));
    for (a, b) in links {
        assert_eq!(sim.state(a, b), State::Established, "{a}→{b}");
        assert_eq!(sim.state(b, a), State::Established, "{b}→{a}");
        // Each side sent End-of-RIB after its initial table for each family.
        assert_eq!(sim.session(a, b).end_of_rib_received().len(), 2, "{a}←{b}");
    }
    let all: Vec<String> = (0..4).map(|i| block(i).to_string()).collect();
    for i in 0..4 {
        assert_eq!(prefixes(&sim, i), all, "node {i}");
    }
    // Directly learned routes point at the neighbour.
    let r = sim.nodes[1]
        .rib
        .as_ref()
        .expect("rib")
        .route(block(0), false)
        .expect("route");
    assert_eq!(r.ecmp_next_hops, vec![sim.nodes[0].addr]);

    // Node 3 stops originating: the withdrawal reaches everyone.
    sim.nodes[3]
        .rib
        .as_mut()
        .expect("rib")
        .withdraw_originated(block(3));
    sim.settle();
    for i in 0..4 {
        assert!(
            !prefixes(&sim, i).contains(&block(3).to_string()),
            "node {i}"
        );
    }

    // Node 0 shuts the eBGP session down: node 3 loses the mesh's blocks, the mesh
    // keeps its own.
    let now = sim.now;
    sim.session_mut(0, 3)
        .stop(now, Notification::shutdown("decommissioned", false));
    sim.settle();
    assert_eq!(prefixes(&sim, 3), Vec::<String>::new());
    for i in 0..3 {
        assert_eq!(prefixes(&sim, i), all[..3].to_vec(), "node {i}");
    }

    // An hour later everything is still up and nothing flapped.
    sim.run_for(Duration::from_secs(3600));
    for (a, b) in links.iter().take(3) {
        assert_eq!(sim.state(*a, *b), State::Established);
    }
    let downs: Vec<(usize, usize)> = sim
        .seen
        .iter()
        .filter_map(|s| match s {
            Seen::Down(n, p, _) => Some((*n, *p)),
            _ => None,
        })
        .collect();
    assert_eq!(
        downs,
        vec![(0, 3), (3, 0)],
        "only the stopped session went down"
    );
}

#[test]
fn route_refresh_resends_the_adj_rib_out() {
    let asn = EBGP;
    let mut sim = pair(asn);
    sim.with_ribs(asn);
    sim.nodes[0].rib.as_mut().expect("rib").originate(block(0));
    sim.start(0, 1);
    sim.start(1, 0);
    let updates = |sim: &Sim| {
        sim.sent(0, 1)
            .iter()
            .filter(|m| matches!(m, Message::Update(u) if !u.is_end_of_rib()))
            .count()
    };
    let before = updates(&sim);
    assert!(before >= 1);
    sim.inject(
        1,
        0,
        Message::RouteRefresh(RouteRefresh {
            family: AddressFamily::IPV4_UNICAST,
            subtype: RouteRefreshSubtype::Normal,
        }),
    );
    assert!(updates(&sim) > before, "the table was sent again");
    assert_eq!(prefixes(&sim, 1), vec![block(0).to_string()]);
}
