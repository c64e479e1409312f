//! Connection bookkeeping: every way a connection ends tells the driver to close it,
//! and a session holds only a bounded number of connections that wait for an OPEN.

use super::*;

fn passive() -> (Session, Instant) {
    let mut c = local();
    c.passive = true;
    let now = Instant::now();
    let mut s = Session::new(c, now);
    s.start(now);
    (s, now)
}

fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

#[test]
fn a_connection_closed_by_the_peer_is_released() {
    // Before OPEN.
    let (mut s, now) = passive();
    let c1 = s.accept(now).expect("accepted");
    drain(&mut s);
    s.closed(now, c1, "closed by peer");
    assert_eq!(drain(&mut s), vec![Action::Close(c1)]);
    assert_eq!(s.connections().count(), 0);

    // Established (the session goes down as well).
    let mut t = Scripted::new(local());
    t.recv(Message::Open(peer_open(65001)));
    t.recv(Message::Keepalive);
    let conn = t.s.established_conn().expect("up");
    t.s.closed(t.now, conn, "connection reset by peer");
    let a = drain(&mut t.s);
    assert_eq!(a.first(), Some(&Action::Close(conn)), "{a:?}");
    assert!(a.iter().any(|x| matches!(x, Action::Down { .. })), "{a:?}");
    assert_eq!(t.s.connections().count(), 0);
}

#[test]
fn pending_connections_are_bounded_and_extras_wait_briefly_for_open() {
    let (mut s, now) = passive();
    let first = s.accept(now).expect("first accepted");
    let second = s.accept(now).expect("second accepted");
    assert_eq!(MAX_PENDING_CONNECTIONS, 2);
    for _ in 0..100 {
        assert_eq!(s.accept(now), None, "a third waiting connection is refused");
    }
    assert_eq!(s.connections().count(), 2);
    assert_eq!(
        s.state(),
        State::OpenSent,
        "refusals leave the session as it was"
    );
    drain(&mut s);

    // The extra one waits only EXTRA_OPEN_WAIT for the peer's OPEN.
    assert_eq!(s.poll_timeout(), Some(now + EXTRA_OPEN_WAIT));
    let later = now + EXTRA_OPEN_WAIT;
    s.handle_timeout(later);
    let a = drain(&mut s);
    assert!(
        a.contains(&Action::Send(
            second,
            Message::Notification(Notification::hold_timer_expired())
        )),
        "{a:?}"
    );
    assert!(a.contains(&Action::Close(second)), "{a:?}");
    assert!(!a.contains(&Action::Close(first)), "{a:?}");

    // Room again: the real peer connects and establishes; the idle first one goes.
    let real = s.accept(later).expect("room for the real peer");
    drain(&mut s);
    s.handle_message(later, real, Message::Open(peer_open(65001)));
    s.handle_message(later, real, Message::Keepalive);
    let a = drain(&mut s);
    assert!(a.contains(&Action::Established(real)), "{a:?}");
    assert!(a.contains(&Action::Close(first)), "{a:?}");
    assert_eq!(s.connections().count(), 1);
}

#[test]
fn the_first_connection_keeps_the_large_open_wait() {
    let (mut s, now) = passive();
    let c = s.accept(now).expect("accepted");
    assert_eq!(s.poll_timeout(), Some(now + LARGE_HOLD_TIME));
    drain(&mut s);
    s.handle_timeout(now + LARGE_HOLD_TIME);
    assert!(drain(&mut s).contains(&Action::Close(c)));
}

#[test]
fn an_established_session_still_accepts_a_restarting_peer() {
    let (mut s, now) = passive();
    let c1 = s.accept(now).expect("accepted");
    s.handle_message(now, c1, Message::Open(peer_open(65001)));
    s.handle_message(now, c1, Message::Keepalive);
    assert_eq!(s.state(), State::Established);
    // Two waiting connections beside the established one, a third is refused.
    let c2 = s.accept(now).expect("accepted");
    let _c3 = s.accept(now).expect("accepted");
    assert_eq!(s.accept(now), None);
    drain(&mut s);
    s.handle_message(now, c2, Message::Open(peer_open(65001)));
    let a = drain(&mut s);
    assert!(a.contains(&Action::Close(c1)), "{a:?}");
}
