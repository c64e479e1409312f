//! Two sessions in an in-memory pair on a virtual clock: time jumps to the next deadline
//! or delivery, so seconds of protocol run in microseconds and every run is the same.

use super::*;
use crate::auth::AuthError;

const MS: Duration = Duration::from_millis(1);
/// One-way delay of the simulated link.
const DELAY: Duration = Duration::from_micros(200);

struct Pair {
    now: Instant,
    start: Instant,
    a: Session,
    b: Session,
    /// In flight: (delivery time, to_b, packet), bytes on the wire in between.
    flight: Vec<(Instant, bool, Vec<u8>)>,
    drop_a_to_b: bool,
    drop_b_to_a: bool,
    /// Every packet sent: (time, from_a, packet).
    sent: Vec<(Instant, bool, ControlPacket)>,
    events_a: Vec<StateChange>,
    events_b: Vec<StateChange>,
}

impl Pair {
    fn new(pa: SessionParams, pb: SessionParams) -> Pair {
        let now = Instant::now();
        let mut p = Pair {
            now,
            start: now,
            a: Session::new(pa, 0x1111, 1, now),
            b: Session::new(pb, 0x2222, 2, now + 7 * MS),
            flight: Vec::new(),
            drop_a_to_b: false,
            drop_b_to_a: false,
            sent: Vec::new(),
            events_a: Vec::new(),
            events_b: Vec::new(),
        };
        p.flush();
        p
    }

    fn flush(&mut self) {
        let now = self.now;
        while let Some(pkt) = self.a.poll_transmit(now) {
            self.sent.push((now, true, pkt.clone()));
            if !self.drop_a_to_b {
                self.flight.push((now + DELAY, true, pkt.encode()));
            }
        }
        while let Some(pkt) = self.b.poll_transmit(now) {
            self.sent.push((now, false, pkt.clone()));
            if !self.drop_b_to_a {
                self.flight.push((now + DELAY, false, pkt.encode()));
            }
        }
        while let Some(e) = self.a.poll_event() {
            self.events_a.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.events_b.push(e);
        }
    }

    /// Advances to the next thing that happens.
    fn step(&mut self) {
        let next = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .chain(self.flight.iter().map(|f| f.0))
            .min()
            .expect("something always happens");
        self.now = self.now.max(next);
        let now = self.now;
        let (due, rest): (Vec<_>, Vec<_>) = self.flight.drain(..).partition(|f| f.0 <= now);
        self.flight = rest;
        for (_, to_b, bytes) in due {
            let pkt = ControlPacket::decode(&bytes).expect("own packets decode");
            let s = if to_b { &mut self.b } else { &mut self.a };
            s.handle_packet(now, &pkt).expect("accepted");
        }
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        self.flush();
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    fn run_until(&mut self, limit: Duration, mut f: impl FnMut(&Pair) -> bool) -> Duration {
        let end = self.now + limit;
        while !f(self) {
            assert!(self.now < end, "condition not reached within {limit:?}");
            self.step();
        }
        self.now - self.start
    }

    fn both_up(&self) -> bool {
        self.a.state() == State::Up && self.b.state() == State::Up
    }
}

fn p100() -> SessionParams {
    SessionParams::new(100 * MS, 3)
}

#[test]
fn two_sessions_come_up_with_three_way_handshake() {
    let mut p = Pair::new(p100(), p100());
    let t = p.run_until(Duration::from_secs(5), Pair::both_up);
    assert!(t < Duration::from_secs(2), "up after {t:?}");
    // a speaks first: b hears a's Down (Down -> Init -> Up), a hears b's Init (Down -> Up).
    let a: Vec<_> = p.events_a.iter().map(|e| (e.from, e.to)).collect();
    let b: Vec<_> = p.events_b.iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(b, [(State::Down, State::Init), (State::Init, State::Up)]);
    assert_eq!(a, [(State::Down, State::Up)]);
    // Up, both ask for 100 ms through a Poll Sequence that ends; then 100 ms pacing.
    p.run_for(Duration::from_secs(1));
    for s in [&p.a, &p.b] {
        let snap = s.snapshot();
        assert!(!snap.polling, "{snap:?}");
        assert_eq!(snap.tx_interval, Some(100 * MS));
        assert_eq!(snap.detection_time, Some(300 * MS));
        assert_eq!(snap.up_transitions, 1);
    }
    assert!(p.sent.iter().any(|(_, a, k)| *a && k.poll));
    assert!(p.sent.iter().any(|(_, a, k)| !*a && k.final_));
}

#[test]
fn silent_link_takes_both_down_within_detection_time_with_diag_1() {
    let mut p = Pair::new(p100(), p100());
    p.run_until(Duration::from_secs(5), Pair::both_up);
    p.run_for(Duration::from_secs(2));
    let t0 = p.now;
    p.drop_a_to_b = true;
    p.drop_b_to_a = true;
    p.run_until(Duration::from_secs(5), |p| {
        p.a.state() == State::Down && p.b.state() == State::Down
    });
    for ev in [&p.events_a, &p.events_b] {
        let down = ev.last().expect("event");
        assert_eq!((down.from, down.to), (State::Up, State::Down));
        assert_eq!(down.diag, Diag::ControlDetectionTimeExpired);
        // The last packet heard came at most one interval before the cut.
        let took = down.at - t0;
        assert!(took <= 300 * MS + DELAY, "down after {took:?}");
        assert!(took >= 200 * MS, "down after {took:?}");
    }
    // Down: the remote discriminator is forgotten and transmission slows to 1 s.
    let snap = p.a.snapshot();
    assert_eq!(snap.remote_discr, 0);
    assert_eq!(snap.down_transitions, 1);
    assert_eq!(snap.tx_interval, Some(SLOW_TX));
    // The link heals: up again.
    p.drop_a_to_b = false;
    p.drop_b_to_a = false;
    p.run_until(Duration::from_secs(10), Pair::both_up);
    assert_eq!(p.a.snapshot().up_transitions, 2);
}

#[test]
fn one_way_loss_signals_neighbor_down() {
    let mut p = Pair::new(p100(), p100());
    p.run_until(Duration::from_secs(5), Pair::both_up);
    p.drop_a_to_b = true;
    p.run_until(Duration::from_secs(5), |p| p.a.state() != State::Up);
    // b times out (diag 1) and tells a, which goes down with diag 3.
    let b_down = p
        .events_b
        .iter()
        .find(|e| e.to == State::Down)
        .expect("b down");
    assert_eq!(b_down.diag, Diag::ControlDetectionTimeExpired);
    let a_down = p.events_a.last().expect("a down");
    assert_eq!(
        (a_down.to, a_down.diag),
        (State::Down, Diag::NeighborSignaledSessionDown)
    );
    assert_eq!(a_down.remote_state, State::Down);
}

#[test]
fn remote_admin_down_and_back() {
    let mut p = Pair::new(p100(), p100());
    p.run_until(Duration::from_secs(5), Pair::both_up);
    let now = p.now;
    p.a.set_admin_down(now, true);
    p.flush();
    p.run_until(Duration::from_secs(2), |p| p.b.state() == State::Down);
    let a = p.events_a.last().expect("a event");
    assert_eq!(
        (a.to, a.diag),
        (State::AdminDown, Diag::AdministrativelyDown)
    );
    let b = p.events_b.last().expect("b event");
    assert_eq!((b.from, b.to), (State::Up, State::Down));
    assert_eq!(b.diag, Diag::NeighborSignaledSessionDown);
    assert_eq!(b.remote_state, State::AdminDown);
    // Held down: b stays Down (it never sees Down from a), a stays AdminDown.
    p.run_for(Duration::from_secs(5));
    assert_eq!((p.a.state(), p.b.state()), (State::AdminDown, State::Down));
    assert!(p
        .sent
        .iter()
        .rev()
        .take(3)
        .all(|(_, from_a, k)| !*from_a || k.state == State::AdminDown));
    let now = p.now;
    p.a.set_admin_down(now, false);
    p.flush();
    p.run_until(Duration::from_secs(5), Pair::both_up);
}

#[test]
fn interval_change_runs_a_poll_sequence() {
    let mut p = Pair::new(p100(), p100());
    p.run_until(Duration::from_secs(5), Pair::both_up);
    p.run_for(Duration::from_secs(1));
    let mark = p.sent.len();
    let now = p.now;
    p.a.set_params(now, SessionParams::new(300 * MS, 3));
    // Until b's Final arrives, a keeps pacing at 100 ms (an increase waits for the poll)
    // and keeps timing b out with the old RX.
    assert!(p.a.snapshot().polling);
    assert_eq!(p.a.tx_interval(), Some(100 * MS));
    p.flush();
    p.run_until(Duration::from_secs(2), |p| !p.a.snapshot().polling);
    let after: Vec<_> = p.sent[mark..].to_vec();
    let first_poll = after
        .iter()
        .position(|(_, a, k)| *a && k.poll)
        .expect("a polled");
    assert_eq!(after[first_poll].2.desired_min_tx, 300_000);
    let fin = after
        .iter()
        .position(|(_, a, k)| !*a && k.final_)
        .expect("b answered");
    assert!(fin > first_poll);
    assert!(!after[fin].2.poll, "Final never carries Poll");
    // Now a paces at 300 ms, b detects a after 3 x 300 ms, a detects b after 3 x 300 ms.
    assert_eq!(p.a.tx_interval(), Some(300 * MS));
    assert_eq!(p.b.detection_time(), Some(900 * MS));
    assert_eq!(p.a.detection_time(), Some(900 * MS));
    assert_eq!(
        p.b.tx_interval(),
        Some(300 * MS),
        "b honours a's Required Min RX"
    );
    p.run_for(Duration::from_secs(5));
    assert!(p.both_up());
}

#[test]
fn detection_time_uses_remote_mult_and_larger_interval() {
    let pb = SessionParams {
        desired_min_tx: 200 * MS,
        required_min_rx: 50 * MS,
        detect_mult: 5,
        auth: None,
    };
    let mut p = Pair::new(p100(), pb);
    p.run_until(Duration::from_secs(5), Pair::both_up);
    p.run_for(Duration::from_secs(2));
    // a: b's mult (5) x max(a's RX 100, b's TX 200) = 1 s.
    assert_eq!(p.a.detection_time(), Some(1000 * MS));
    // b: a's mult (3) x max(b's RX 50, a's TX 100) = 300 ms.
    assert_eq!(p.b.detection_time(), Some(300 * MS));
    // Pacing: a sends at max(100, b's RX 50) = 100; b at max(200, a's RX 100) = 200.
    assert_eq!(p.a.tx_interval(), Some(100 * MS));
    assert_eq!(p.b.tx_interval(), Some(200 * MS));
}

fn gaps(p: &Pair, from_a: bool, after: Instant) -> Vec<Duration> {
    let times: Vec<Instant> = p
        .sent
        .iter()
        .filter(|(t, a, k)| *a == from_a && *t >= after && !k.final_ && !k.poll)
        .map(|(t, _, _)| *t)
        .collect();
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn periodic_transmission_jitters_between_75_and_100_percent() {
    let mut p = Pair::new(p100(), SessionParams::new(100 * MS, 1));
    p.run_until(Duration::from_secs(5), Pair::both_up);
    p.run_for(Duration::from_secs(1));
    let t = p.now;
    p.run_for(Duration::from_secs(60));
    for (from_a, hi) in [(true, 100), (false, 90)] {
        let g = gaps(&p, from_a, t);
        assert!(g.len() > 500, "{}", g.len());
        let (min, max) = (g.iter().min().copied(), g.iter().max().copied());
        let (min, max) = (min.expect("gaps"), max.expect("gaps"));
        assert!(min >= 75 * MS, "min gap {min:?}");
        assert!(
            max <= hi * MS,
            "max gap {max:?} (detect mult 1 caps at 90 %)"
        );
        // Really spread, not a constant.
        assert!(max - min > 10 * MS, "{min:?}..{max:?}");
    }
}

#[test]
fn not_up_transmits_slowly_and_advertises_at_least_one_second() {
    let mut p = Pair::new(p100(), p100());
    p.drop_a_to_b = true;
    p.drop_b_to_a = true;
    p.flight.clear();
    p.run_for(Duration::from_secs(30));
    let g = gaps(&p, true, p.start);
    assert!(g.len() >= 25);
    assert!(g.iter().all(|d| *d >= 750 * MS && *d <= SLOW_TX), "{g:?}");
    assert!(p
        .sent
        .iter()
        .all(|(_, _, k)| k.desired_min_tx >= 1_000_000 && k.state == State::Down));
    assert!(p.events_a.is_empty());
}

#[test]
fn same_seed_same_schedule() {
    let run = || {
        let mut p = Pair::new(p100(), p100());
        p.run_for(Duration::from_secs(10));
        p.sent
            .iter()
            .map(|(t, a, _)| (*t - p.start, *a))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn foreign_discriminator_and_auth_are_dropped_without_state_change() {
    let now = Instant::now();
    let mut s = Session::new(p100(), 5, 1, now);
    let mut pkt = ControlPacket {
        diag: Diag::None,
        state: State::Init,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        multipoint: false,
        detect_mult: 3,
        my_discr: 9,
        your_discr: 6,
        desired_min_tx: 100_000,
        required_min_rx: 100_000,
        required_min_echo_rx: 0,
        auth: None,
    };
    assert_eq!(
        s.handle_packet(now, &pkt),
        Err(SessionDrop::WrongDiscriminator(6))
    );
    pkt.your_discr = 5;
    pkt.auth = Some(crate::packet::Auth::SimplePassword {
        key_id: 1,
        password: b"x".to_vec(),
    });
    assert_eq!(
        s.handle_packet(now, &pkt),
        Err(SessionDrop::AuthNotConfigured)
    );
    assert_eq!(s.state(), State::Down);
    assert_eq!(s.snapshot().packets_dropped, 2);
    assert!(s.poll_event().is_none());
    pkt.auth = None;
    s.handle_packet(now, &pkt).expect("accepted");
    assert_eq!(s.state(), State::Up);
}

#[test]
fn poll_is_answered_with_final_at_once() {
    let now = Instant::now();
    let mut s = Session::new(p100(), 5, 1, now);
    while s.poll_transmit(now).is_some() {}
    let pkt = ControlPacket {
        diag: Diag::None,
        state: State::Down,
        poll: true,
        final_: false,
        cpi: false,
        demand: false,
        multipoint: false,
        detect_mult: 3,
        my_discr: 9,
        your_discr: 0,
        desired_min_tx: 1_000_000,
        required_min_rx: 100_000,
        required_min_echo_rx: 0,
        auth: None,
    };
    let t = now + 10 * MS;
    s.handle_packet(t, &pkt).expect("accepted");
    assert_eq!(s.poll_timeout(), Some(t));
    let out = s.poll_transmit(t).expect("final");
    assert!(out.final_ && !out.poll);
    assert_eq!((out.state, out.your_discr), (State::Init, 9));
    assert!(s.poll_transmit(t).is_none());
}

fn key(secret: &[u8], meticulous: bool) -> crate::auth::AuthKey {
    crate::auth::AuthKey {
        key_id: 7,
        secret: secret.to_vec(),
        meticulous,
    }
}

#[test]
fn keyed_sha1_sessions_come_up_and_survive_loss() {
    for meticulous in [false, true] {
        let k = key(b"tern-secret", meticulous);
        let mut p = Pair::new(p100().with_auth(k.clone()), p100().with_auth(k));
        p.run_until(Duration::from_secs(5), Pair::both_up);
        assert!(p.sent.iter().all(|(_, _, k)| matches!(
            k.auth,
            Some(crate::packet::Auth::KeyedSha1 { meticulous: m, key_id: 7, .. }) if m == meticulous
        )));
        // Sequence numbers rise by one per packet of each side.
        let seqs: Vec<u32> = p
            .sent
            .iter()
            .filter(|(_, a, _)| *a)
            .filter_map(|(_, _, k)| match k.auth {
                Some(crate::packet::Auth::KeyedSha1 { sequence, .. }) => Some(sequence),
                _ => None,
            })
            .collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        // A cut longer than the sequence window: Down, then Up again once the window
        // is forgotten (twice the detection time without packets).
        p.drop_a_to_b = true;
        p.drop_b_to_a = true;
        p.run_for(Duration::from_secs(3));
        assert_eq!((p.a.state(), p.b.state()), (State::Down, State::Down));
        p.drop_a_to_b = false;
        p.drop_b_to_a = false;
        p.run_until(Duration::from_secs(10), Pair::both_up);
        assert_eq!(p.a.snapshot().packets_dropped, 0);
    }
}

#[test]
fn wrong_key_or_missing_auth_never_comes_up() {
    for (pa, pb) in [
        (
            p100().with_auth(key(b"one", false)),
            p100().with_auth(key(b"two", false)),
        ),
        (p100().with_auth(key(b"one", false)), p100()),
        (
            p100().with_auth(key(b"one", false)),
            p100().with_auth(key(b"one", true)),
        ),
    ] {
        let now = Instant::now();
        let mut a = Session::new(pa, 1, 1, now);
        let mut b = Session::new(pb, 2, 2, now);
        for i in 0..20u32 {
            let t = now + Duration::from_secs(u64::from(i));
            while let Some(pkt) = b.poll_transmit(t) {
                assert!(a.handle_packet(t, &pkt).is_err());
            }
            a.handle_timeout(t);
            b.handle_timeout(t);
        }
        assert_eq!(a.state(), State::Down);
        assert!(a.snapshot().packets_dropped >= 10);
        assert_eq!(a.snapshot().packets_in, 0);
    }
}

#[test]
fn meticulous_refuses_a_replayed_packet_and_keyed_takes_it() {
    for meticulous in [true, false] {
        let k = key(b"s", meticulous);
        let now = Instant::now();
        let mut a = Session::new(p100().with_auth(k.clone()), 1, 1, now);
        let mut b = Session::new(p100().with_auth(k), 2, 2, now);
        let pkt = b.poll_transmit(now).expect("first packet");
        a.handle_packet(now, &pkt).expect("fresh packet");
        let again = a.handle_packet(now, &pkt);
        if meticulous {
            assert!(matches!(
                again,
                Err(SessionDrop::Auth(AuthError::Sequence(_)))
            ));
        } else {
            assert_eq!(again, Ok(()));
        }
        // Far ahead of the window (3 x detect mult): refused by both kinds.
        let mut far = pkt.clone();
        if let Some(crate::packet::Auth::KeyedSha1 { sequence, .. }) = far.auth {
            crate::auth::AuthKey {
                key_id: 7,
                secret: b"s".to_vec(),
                meticulous,
            }
            .sign(&mut far, sequence.wrapping_add(10));
        }
        assert!(matches!(
            a.handle_packet(now, &far),
            Err(SessionDrop::Auth(AuthError::Sequence(_)))
        ));
    }
}

#[test]
fn params_the_wire_cannot_carry_are_refused() {
    use super::ParamsError;
    assert_eq!(p100().validate(), Ok(()));
    let zero_tx = SessionParams {
        desired_min_tx: Duration::ZERO,
        ..p100()
    };
    assert!(matches!(zero_tx.validate(), Err(ParamsError::Interval(..))));
    let huge_rx = SessionParams {
        required_min_rx: Duration::from_secs(5000),
        ..p100()
    };
    assert!(matches!(huge_rx.validate(), Err(ParamsError::Interval(..))));
    let mult0 = SessionParams {
        detect_mult: 0,
        ..p100()
    };
    assert_eq!(mult0.validate(), Err(ParamsError::Multiplier));
    // Session::new clamps what it is handed anyway.
    let now = Instant::now();
    let mut s = Session::new(mult0, 1, 1, now);
    assert_eq!(s.poll_transmit(now).map(|p| p.detect_mult), Some(1));
    let long_key = p100().with_auth(key(&[1u8; 21], false));
    assert_eq!(long_key.validate(), Err(ParamsError::KeyLength(21)));
}

#[test]
fn remote_demand_mode_and_zero_rx_stop_periodic_packets() {
    let mut p = Pair::new(p100(), p100());
    p.run_until(Duration::from_secs(5), Pair::both_up);
    p.run_for(Duration::from_secs(1));
    // b claims Demand mode (Up, D bit): a stops its periodic packets (§6.8.7) but still
    // answers a Poll with a Final.
    let now = p.now;
    let mut pkt = p
        .sent
        .iter()
        .rev()
        .find(|(_, from_a, k)| !*from_a && !k.poll && !k.final_)
        .map(|(_, _, k)| k.clone())
        .expect("a periodic packet of b");
    pkt.demand = true;
    p.a.handle_packet(now, &pkt).expect("accepted");
    assert_eq!(p.a.tx_interval(), None);
    while p.a.poll_transmit(now).is_some() {}
    let later = now + Duration::from_millis(250);
    assert!(p.a.poll_transmit(later).is_none(), "no periodic packet");
    pkt.poll = true;
    p.a.handle_packet(later, &pkt).expect("accepted");
    let fin = p.a.poll_transmit(later).expect("final");
    assert!(fin.final_);
    // A Required Min RX of 0 asks for no packets at all.
    pkt.poll = false;
    pkt.demand = false;
    pkt.required_min_rx = 0;
    p.a.handle_packet(later, &pkt).expect("accepted");
    assert_eq!(p.a.tx_interval(), None);
    assert!(p
        .a
        .poll_transmit(later + Duration::from_millis(500))
        .is_none());
    // Back to 100 ms: periodic packets resume.
    pkt.required_min_rx = 100_000;
    p.a.handle_packet(later, &pkt).expect("accepted");
    assert_eq!(p.a.tx_interval(), Some(100 * MS));
    assert!(p
        .a
        .poll_transmit(later + Duration::from_millis(100))
        .is_some());
}
