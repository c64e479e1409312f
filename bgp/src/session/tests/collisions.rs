//! Connection collision detection (RFC 4271 §6.8).

use super::*;

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
    assert!(
        matches!(a.get(2), Some(Action::Down { reason, restart: None }) if reason.contains("collision"))
    );
    assert!(a.contains(&Action::Send(second, Message::Keepalive)));
    assert_eq!(s.state(), State::OpenConfirm);
}
