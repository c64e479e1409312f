//! Cease and shutdown communication, reset, passive peers, ROUTE-REFRESH, End-of-RIB.

use super::*;

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

#[test]
fn failed_connection_attempts_are_forgotten_once_established() {
    let now = Instant::now();
    let mut s = Session::new(local(), now);
    s.start(now);
    let Some(Action::Connect(first)) = s.poll_action() else {
        panic!("expected Connect");
    };
    s.connect_failed(now, first, "Connection refused");
    assert_eq!(s.last_error(), Some("connect failed: Connection refused"));
    while s.poll_action().is_some() {}

    // The next attempt succeeds and the session comes up: the refused attempt is noise.
    let later = now + Duration::from_secs(130);
    s.handle_timeout(later);
    let conn = std::iter::from_fn(|| s.poll_action())
        .find_map(|a| match a {
            Action::Connect(c) => Some(c),
            _ => None,
        })
        .expect("a new connection attempt after ConnectRetry");
    s.connected(later, conn);
    s.handle_message(later, conn, Message::Open(peer_open(65001)));
    s.handle_message(later, conn, Message::Keepalive);
    assert_eq!(s.state(), State::Established);
    assert_eq!(s.last_error(), None);

    // Why an Established session went down is kept.
    s.handle_message(
        later,
        conn,
        Message::Notification(Notification::new(
            ErrorCode::Cease(CeaseSubcode::AdministrativeReset),
            Vec::new(),
        )),
    );
    assert!(s
        .last_error()
        .unwrap_or_default()
        .contains("received NOTIFICATION"));
}

#[test]
fn accept_update_takes_only_ordinary_updates_on_an_idle_established_session() {
    let mut t = Scripted::new(local());
    let conn = t.conn;
    let mut update = Update::default();
    update.withdrawn.push(crate::wire::Nlri::new(
        "10.1.0.0/24".parse().expect("prefix"),
    ));
    // Not yet Established: the message goes through handle_message.
    assert!(!t.s.accept_update(t.now, conn, &update));
    t.recv(Message::Open(peer_open(65001)));
    t.recv(Message::Keepalive);
    assert_eq!(t.s.state(), State::Established);
    // Taken, and the hold timer (90 s) restarts as for a message through
    // handle_message: the session outlives the first deadline.
    let start = t.now;
    t.now = start + Duration::from_secs(80);
    assert!(t.s.accept_update(t.now, conn, &update));
    assert!(t.s.poll_action().is_none(), "nothing queued");
    t.now = start + Duration::from_secs(95);
    t.s.handle_timeout(t.now);
    assert_eq!(t.s.state(), State::Established, "hold timer restarted");
    while t.s.poll_action().is_some() {}
    // End-of-RIB is the session's own business.
    let eor = Update::end_of_rib_marker(AddressFamily::IPV4_UNICAST);
    assert!(!t.s.accept_update(t.now, conn, &eor));
    // While actions wait, order is kept by queueing behind them.
    t.s.handle_message(t.now, conn, Message::Update(eor));
    assert!(!t.s.accept_update(t.now, conn, &update));
    assert!(matches!(t.s.poll_action(), Some(Action::EndOfRib(_))));
    // Another connection id is not the Established one.
    assert!(!t.s.accept_update(t.now, ConnId(conn.0 + 100), &update));
}
