//! Graceful restart (RFC 4724) on a virtual clock: the capability, which losses keep a
//! peer's routes as stale, the Restart and stale-path timers, End-of-RIB, and closing
//! without a NOTIFICATION for our own restart.

use super::*;
use crate::wire::{GracefulRestart, GracefulRestartFamily};

const V4: AddressFamily = AddressFamily::IPV4_UNICAST;
const V6: AddressFamily = AddressFamily::IPV6_UNICAST;

/// The peer's OPEN: both unicast families, hold time `hold`, and the Graceful Restart
/// capability with `restart_time` and (family, F bit) entries when `gr` is `Some`.
fn open_with(hold: u16, gr: Option<(u16, &[(AddressFamily, bool)])>) -> Open {
    let mut caps = vec![
        Capability::Multiprotocol(V4),
        Capability::Multiprotocol(V6),
        Capability::RouteRefresh,
    ];
    if let Some((restart_time, fams)) = gr {
        caps.push(Capability::GracefulRestart(GracefulRestart {
            restart_flags: 0,
            restart_time,
            families: fams
                .iter()
                .map(|(family, f)| GracefulRestartFamily {
                    family: *family,
                    flags: if *f {
                        GracefulRestartFamily::FORWARDING_STATE
                    } else {
                        0
                    },
                })
                .collect(),
        }));
    }
    Open::new(65001, hold, Ipv4Addr::new(192, 0, 2, 2), caps)
}

fn gr_open(hold: u16) -> Open {
    open_with(hold, Some((120, &[(V4, true), (V6, true)])))
}

fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

/// Brings `s` to Established on its next outgoing connection (stepping timers up to
/// the next connect attempt), the peer answering with `open`. Returns the connection,
/// the time, and every action seen on the way.
fn establish(s: &mut Session, mut now: Instant, open: Open) -> (ConnId, Instant, Vec<Action>) {
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.extend(drain(s));
        if let Some(conn) = seen.iter().find_map(|a| match a {
            Action::Connect(c) => Some(*c),
            _ => None,
        }) {
            s.connected(now, conn);
            s.handle_message(now, conn, Message::Open(open));
            s.handle_message(now, conn, Message::Keepalive);
            seen.extend(drain(s));
            assert_eq!(s.state(), State::Established, "{seen:?}");
            return (conn, now, seen);
        }
        now = s.poll_timeout().expect("a timer");
        s.handle_timeout(now);
    }
    panic!("no connect attempt: {seen:?}");
}

fn started(c: SessionConfig) -> (Session, Instant) {
    let now = Instant::now();
    let mut s = Session::new(c, now);
    s.start(now);
    (s, now)
}

fn down_restart(actions: &[Action]) -> Option<Option<PeerRestart>> {
    actions.iter().find_map(|a| match a {
        Action::Down { restart, .. } => Some(restart.clone()),
        _ => None,
    })
}

fn flushed(actions: &[Action]) -> Vec<Vec<AddressFamily>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::FlushStale(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn our_open_carries_the_capability_with_forwarding_state() {
    let open = local().local_open();
    let gr = open.graceful_restart().expect("GR capability");
    assert_eq!(gr.restart_time, 120);
    assert!(!gr.restart_state());
    assert!(!gr.notification());
    let fams: Vec<(AddressFamily, bool)> = gr
        .families
        .iter()
        .map(|f| (f.family, f.forwarding_preserved()))
        .collect();
    assert_eq!(fams, [(V4, true), (V6, true)]);

    let mut c = local();
    c.graceful_restart = None;
    assert!(c.local_open().graceful_restart().is_none());
    let mut c = local();
    c.graceful_restart = Some(GracefulRestartConfig {
        restart_time: Duration::from_secs(100_000),
        restarting: true,
        ..GracefulRestartConfig::default()
    });
    let open = c.local_open();
    let gr = open.graceful_restart().expect("GR capability");
    assert_eq!(gr.restart_time, 4095, "clamped to 12 bits");
    assert!(gr.restart_state());
}

#[test]
fn lost_connection_keeps_routes_until_end_of_rib() {
    let (mut s, now) = started(local());
    let (conn, now, _) = establish(&mut s, now, gr_open(90));
    s.closed(now, conn, "connection reset by peer");
    let a = drain(&mut s);
    assert_eq!(
        down_restart(&a),
        Some(Some(PeerRestart {
            families: vec![V4, V6],
            restart_time: Duration::from_secs(120),
        })),
        "{a:?}"
    );
    assert_eq!(s.stale_families(), [V4, V6]);

    // Back, with forwarding state preserved for IPv4 only: IPv6 is flushed at once.
    let back = open_with(90, Some((120, &[(V4, true), (V6, false)])));
    let (conn, now, a) = establish(&mut s, now, back);
    assert_eq!(flushed(&a), [vec![V6]], "{a:?}");
    let est = a.iter().position(|x| matches!(x, Action::Established(_)));
    let flush = a.iter().position(|x| matches!(x, Action::FlushStale(_)));
    assert!(est < flush, "Established (peer_up) before the flush: {a:?}");
    assert_eq!(s.stale_families(), [V4]);

    // End-of-RIB for IPv4 ends the retention.
    s.handle_message(now, conn, Message::Update(Update::end_of_rib_marker(V4)));
    let a = drain(&mut s);
    assert_eq!(a, [Action::EndOfRib(V4), Action::FlushStale(vec![V4])]);
    assert!(s.stale_families().is_empty());
    // A second End-of-RIB flushes nothing.
    s.handle_message(now, conn, Message::Update(Update::end_of_rib_marker(V4)));
    assert_eq!(drain(&mut s), [Action::EndOfRib(V4)]);
}

#[test]
fn restart_timer_flushes_when_the_peer_stays_away() {
    let (mut s, now) = started(local());
    let (conn, t0, _) = establish(&mut s, now, gr_open(0));
    s.closed(t0, conn, "connection reset by peer");
    drain(&mut s);
    // Every reconnect fails; step the clock through the attempts.
    let mut now = t0;
    let mut flush_at = None;
    for _ in 0..100 {
        for a in drain(&mut s) {
            match a {
                Action::Connect(c) => s.connect_failed(now, c, "connection refused"),
                Action::FlushStale(f) => {
                    assert_eq!(f, [V4, V6]);
                    flush_at = Some(now);
                }
                _ => {}
            }
        }
        if flush_at.is_some() {
            break;
        }
        now = s.poll_timeout().expect("a timer");
        s.handle_timeout(now);
    }
    assert_eq!(flush_at, Some(t0 + Duration::from_secs(120)));
    assert!(s.stale_families().is_empty());
}

#[test]
fn stale_path_timer_flushes_without_end_of_rib() {
    let (mut s, now) = started(local());
    // Hold time 0: no hold or keepalive timers, only graceful restart's.
    let (conn, now, _) = establish(&mut s, now, gr_open(0));
    s.closed(now, conn, "connection reset by peer");
    drain(&mut s);
    let (_, back, a) = establish(&mut s, now, gr_open(0));
    assert!(flushed(&a).is_empty(), "{a:?}");
    let deadline = s.poll_timeout().expect("stale-path timer");
    assert_eq!(deadline, back + Duration::from_secs(360));
    s.handle_timeout(deadline - Duration::from_millis(1));
    assert!(flushed(&drain(&mut s)).is_empty());
    s.handle_timeout(deadline);
    assert_eq!(flushed(&drain(&mut s)), [vec![V4, V6]]);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn hold_timer_expiry_is_not_a_restart() {
    let (mut s, now) = started(local());
    let (_, now, _) = establish(&mut s, now, gr_open(9));
    s.handle_timeout(now + Duration::from_secs(9));
    let a = drain(&mut s);
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::Send(_, Message::Notification(n))
            if matches!(n.error, ErrorCode::HoldTimerExpired(_)))),
        "{a:?}"
    );
    assert_eq!(down_restart(&a), Some(None), "{a:?}");
    assert!(s.stale_families().is_empty());
}

#[test]
fn routes_are_withdrawn_without_a_helpable_restart() {
    // The peer did not advertise graceful restart.
    let (mut s, now) = started(local());
    let (conn, now, _) = establish(&mut s, now, open_with(90, None));
    s.closed(now, conn, "reset");
    assert_eq!(down_restart(&drain(&mut s)), Some(None));

    // Restart time 0.
    let (mut s, now) = started(local());
    let (conn, now, _) = establish(&mut s, now, open_with(90, Some((0, &[(V4, true)]))));
    s.closed(now, conn, "reset");
    assert_eq!(down_restart(&drain(&mut s)), Some(None));

    // We do not do graceful restart.
    let mut c = local();
    c.graceful_restart = None;
    let (mut s, now) = started(c);
    let (conn, now, _) = establish(&mut s, now, gr_open(90));
    s.closed(now, conn, "reset");
    assert_eq!(down_restart(&drain(&mut s)), Some(None));

    // A NOTIFICATION ends the session for good (no RFC 8538 N bit).
    let (mut s, now) = started(local());
    let (conn, now, _) = establish(&mut s, now, gr_open(90));
    let cease = Notification::shutdown("bye", false);
    s.handle_message(now, conn, Message::Notification(cease));
    assert_eq!(down_restart(&drain(&mut s)), Some(None));
    assert!(s.stale_families().is_empty());
}

#[test]
fn a_hard_loss_or_stop_during_the_restart_flushes_stale_routes() {
    let (mut s, now) = started(local());
    let (conn, now, _) = establish(&mut s, now, gr_open(90));
    s.closed(now, conn, "reset");
    drain(&mut s);
    s.stop(now, Notification::shutdown("maintenance", false));
    assert_eq!(flushed(&drain(&mut s)), [vec![V4, V6]]);
    assert_eq!(s.poll_timeout(), None);

    // Back without the capability at all: everything stale goes at once.
    let (mut s, now) = started(local());
    let (conn, now, _) = establish(&mut s, now, gr_open(90));
    s.closed(now, conn, "reset");
    drain(&mut s);
    let (_, _, a) = establish(&mut s, now, open_with(90, None));
    assert_eq!(flushed(&a), [vec![V4, V6]]);
}

#[test]
fn a_new_open_while_established_means_the_peer_restarted() {
    let mut c = local();
    c.passive = true;
    let (mut s, now) = started(c);
    let c1 = s.accept(now).expect("accepted");
    s.handle_message(now, c1, Message::Open(gr_open(90)));
    s.handle_message(now, c1, Message::Keepalive);
    drain(&mut s);
    assert_eq!(s.state(), State::Established);
    // The peer restarted and connects again before we noticed the old one died.
    let c2 = s.accept(now).expect("accepted");
    s.handle_message(now, c2, Message::Open(gr_open(90)));
    let a = drain(&mut s);
    assert!(a.contains(&Action::Close(c1)), "{a:?}");
    assert!(matches!(down_restart(&a), Some(Some(_))), "{a:?}");
    s.handle_message(now, c2, Message::Keepalive);
    assert!(drain(&mut s).contains(&Action::Established(c2)));
    assert_eq!(s.stale_families(), [V4, V6]);
}

#[test]
fn graceful_stop_closes_silently_only_toward_helpers() {
    let (mut s, now) = started(local());
    let (conn, now, _) = establish(&mut s, now, gr_open(90));
    s.stop_graceful(now, Notification::shutdown("bye", false));
    let a = drain(&mut s);
    assert!(
        matches!(a.as_slice(), [Action::Close(c), Action::Down { restart: None, .. }] if *c == conn),
        "{a:?}"
    );
    assert_eq!(s.state(), State::Idle);

    let (mut s, now) = started(local());
    let (conn, now, _) = establish(&mut s, now, open_with(90, None));
    s.stop_graceful(now, Notification::shutdown("bye", false));
    let a = drain(&mut s);
    assert!(
        matches!(a.as_slice(), [Action::Send(c, Message::Notification(_)), Action::Close(_), Action::Down { .. }] if *c == conn),
        "{a:?}"
    );
}

// Two speakers with RIBs: what the receiving speaker's Loc-RIB and FIB stream do.

fn block(s: &str) -> ipnet::IpNet {
    s.parse().expect("prefix")
}

fn rib(sim: &mut Sim, node: usize) -> &mut crate::rib::Rib {
    sim.nodes[node].rib.as_mut().expect("rib")
}

fn has(sim: &mut Sim, node: usize, prefix: &str) -> bool {
    rib(sim, node)
        .route(block(prefix), false)
        .is_some_and(|r| r.best.is_some())
}

/// Node 1 originates 10.244.1.0/24 and 10.244.9.0/24 to node 0 (eBGP), both settled;
/// node 0's change stream drained.
fn two_speakers(cfg0: SessionConfig) -> Sim {
    let mut sim = Sim::new(2);
    sim.add_session(0, 1, cfg0);
    sim.add_session(1, 0, cfg(1, 0, EBGP));
    sim.with_ribs(EBGP);
    rib(&mut sim, 1).originate(block("10.244.1.0/24"));
    rib(&mut sim, 1).originate(block("10.244.9.0/24"));
    sim.start(0, 1);
    sim.start(1, 0);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.state(0, 1), State::Established);
    assert!(has(&mut sim, 0, "10.244.1.0/24") && has(&mut sim, 0, "10.244.9.0/24"));
    rib(&mut sim, 0).take_route_changes();
    sim
}

#[test]
fn a_restarting_peers_routes_stay_until_its_end_of_rib() {
    let mut sim = two_speakers(cfg(0, 1, EBGP));
    sim.crash_session(1, 0, cfg(1, 0, EBGP));
    assert_ne!(sim.state(0, 1), State::Established);
    assert_eq!(sim.session(0, 1).stale_families(), [V4, V6]);
    // While node 1 is away (node 0's reconnects refused), nothing changes for the FIB.
    rib(&mut sim, 1).withdraw_originated(block("10.244.9.0/24"));
    sim.run_for(Duration::from_secs(60));
    assert!(has(&mut sim, 0, "10.244.1.0/24") && has(&mut sim, 0, "10.244.9.0/24"));
    assert_eq!(rib(&mut sim, 0).take_route_changes(), []);

    // Node 1 is back without 10.244.9.0/24: its End-of-RIB flushes that one only.
    sim.start(1, 0);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.state(0, 1), State::Established);
    assert!(sim
        .seen
        .iter()
        .any(|s| matches!(s, Seen::FlushStale(0, 1, f) if f == &[V4])));
    assert!(sim.session(0, 1).stale_families().is_empty());
    assert!(has(&mut sim, 0, "10.244.1.0/24"));
    assert!(!has(&mut sim, 0, "10.244.9.0/24"));
    assert_eq!(
        rib(&mut sim, 0).take_route_changes(),
        [crate::rib::RouteChange {
            prefix: block("10.244.9.0/24"),
            action: crate::rib::RouteAction::Withdraw,
        }]
    );
}

#[test]
fn a_peer_that_stays_away_loses_its_routes_after_the_restart_time() {
    let mut sim = two_speakers(cfg(0, 1, EBGP));
    let t0 = sim.now;
    sim.crash_session(1, 0, cfg(1, 0, EBGP));
    sim.run_until(t0 + Duration::from_secs(119));
    assert!(has(&mut sim, 0, "10.244.1.0/24"));
    assert_eq!(rib(&mut sim, 0).take_route_changes(), []);
    sim.run_until(t0 + Duration::from_secs(121));
    assert!(!has(&mut sim, 0, "10.244.1.0/24"));
    assert!(!has(&mut sim, 0, "10.244.9.0/24"));
    assert_eq!(rib(&mut sim, 0).take_route_changes().len(), 2);
}

#[test]
fn without_graceful_restart_a_lost_peers_routes_go_at_once() {
    let mut c = cfg(0, 1, EBGP);
    c.graceful_restart = None;
    let mut sim = two_speakers(c);
    sim.crash_session(1, 0, cfg(1, 0, EBGP));
    assert!(!has(&mut sim, 0, "10.244.1.0/24"));
    assert_eq!(rib(&mut sim, 0).take_route_changes().len(), 2);
}
