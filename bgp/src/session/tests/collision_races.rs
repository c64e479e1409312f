//! Connection collisions (RFC 4271 §6.8) under many orderings: two sessions that
//! connect to each other at once, driven by hand so that each TCP set-up step and each
//! message arrives in an order a seeded schedule picks. Whatever the order, one session
//! must remain, on the connection the higher identifier initiated, without waiting for
//! ConnectRetry.

use std::collections::VecDeque;

use super::*;

/// What travels on one direction of a TCP connection.
// UPDATE makes Message large; a test queue of a few entries does not care.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Segment {
    Msg(Message),
    Fin,
}

/// One TCP connection between side 0 and side 1.
#[derive(Debug)]
struct Tcp {
    /// The side that connected.
    from: usize,
    /// Each side's name for it (the acceptor's once it accepted).
    ids: [Option<ConnId>; 2],
    accepted: bool,
    connected: bool,
    /// The acceptor refused it: the initiator's attempt fails.
    refused: bool,
    /// Side i closed its end.
    closed: [bool; 2],
    /// In flight towards side i.
    towards: [VecDeque<Segment>; 2],
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Event {
    Accept(usize),
    Connected(usize),
    Deliver(usize, usize),
}

struct Race {
    now: Instant,
    sides: [Session; 2],
    tcps: Vec<Tcp>,
    /// (side, tcp index) of each Established.
    ups: Vec<(usize, usize)>,
    downs: Vec<(usize, String)>,
    /// An Established happened while a TCP connection was still being set up (the
    /// other side may then legitimately move the session to the other connection).
    early_up: bool,
    /// Events so far, for failure messages.
    log: Vec<Event>,
}

impl Race {
    fn new() -> Self {
        let now = Instant::now();
        let mut sides = [
            Session::new(cfg(0, 1, IBGP), now),
            Session::new(cfg(1, 0, IBGP), now),
        ];
        for s in &mut sides {
            s.start(now);
        }
        let mut race = Self {
            now,
            sides,
            tcps: Vec::new(),
            ups: Vec::new(),
            downs: Vec::new(),
            early_up: false,
            log: Vec::new(),
        };
        race.drain();
        race
    }

    fn tcp_of(&self, side: usize, conn: ConnId) -> Option<usize> {
        self.tcps.iter().position(|t| t.ids[side] == Some(conn))
    }

    /// Carries out every queued action of both sessions.
    fn drain(&mut self) {
        loop {
            let mut moved = false;
            for side in 0..2 {
                while let Some(action) = self.sides[side].poll_action() {
                    moved = true;
                    self.act(side, action);
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn act(&mut self, side: usize, action: Action) {
        let other = 1 - side;
        match action {
            Action::Connect(c) => {
                let mut ids = [None, None];
                ids[side] = Some(c);
                self.tcps.push(Tcp {
                    from: side,
                    ids,
                    accepted: false,
                    connected: false,
                    refused: false,
                    closed: [false; 2],
                    towards: [VecDeque::new(), VecDeque::new()],
                });
            }
            Action::Send(c, msg) => {
                if let Some(t) = self.tcp_of(side, c) {
                    let t = &mut self.tcps[t];
                    if !t.closed[side] {
                        t.towards[other].push_back(Segment::Msg(msg));
                    }
                }
            }
            Action::Close(c) => {
                if let Some(t) = self.tcp_of(side, c) {
                    let t = &mut self.tcps[t];
                    if !t.closed[side] {
                        t.closed[side] = true;
                        t.towards[other].push_back(Segment::Fin);
                    }
                }
            }
            Action::Established(c) => {
                let t = self
                    .tcp_of(side, c)
                    .expect("established on a known connection");
                self.ups.push((side, t));
                if self
                    .tcps
                    .iter()
                    .any(|t| !t.refused && (!t.accepted || !t.connected))
                {
                    self.early_up = true;
                }
            }
            Action::Down { reason, .. } => self.downs.push((side, reason)),
            _ => {}
        }
    }

    /// Events that can happen now.
    fn enabled(&self) -> Vec<Event> {
        let mut events = Vec::new();
        for (i, t) in self.tcps.iter().enumerate() {
            let acceptor = 1 - t.from;
            if !t.accepted && !t.refused && !t.closed[t.from] {
                events.push(Event::Accept(i));
            }
            if (t.accepted || t.refused) && !t.connected {
                events.push(Event::Connected(i));
            }
            // The acceptor reads once it accepted, the initiator once connected.
            if t.accepted && !t.towards[acceptor].is_empty() {
                events.push(Event::Deliver(i, acceptor));
            }
            if t.connected && !t.towards[t.from].is_empty() {
                events.push(Event::Deliver(i, t.from));
            }
        }
        events
    }

    fn step(&mut self, event: Event) {
        let now = self.now;
        self.log.push(event);
        match event {
            Event::Accept(i) => {
                let acceptor = 1 - self.tcps[i].from;
                match self.sides[acceptor].accept(now) {
                    Some(id) => {
                        self.tcps[i].ids[acceptor] = Some(id);
                        self.tcps[i].accepted = true;
                    }
                    None => self.tcps[i].refused = true,
                }
            }
            Event::Connected(i) => {
                let t = &mut self.tcps[i];
                t.connected = true;
                let (from, id) = (t.from, t.ids[t.from].expect("initiator's id"));
                if t.refused {
                    self.sides[from].connect_failed(now, id, "refused");
                } else {
                    self.sides[from].connected(now, id);
                }
            }
            Event::Deliver(i, to) => {
                let t = &mut self.tcps[i];
                let id = t.ids[to].expect("reader's id");
                match t.towards[to].pop_front() {
                    Some(Segment::Msg(m)) => self.sides[to].handle_message(now, id, m),
                    Some(Segment::Fin) => self.sides[to].closed(now, id, "closed by peer"),
                    None => {}
                }
            }
        }
        self.drain();
    }

    /// Runs `pick` over the enabled events until none is left (no timer fires).
    fn run(&mut self, mut pick: impl FnMut(&[Event]) -> usize) {
        for _ in 0..10_000 {
            let events = self.enabled();
            if events.is_empty() {
                return;
            }
            let i = pick(&events);
            self.step(events[i]);
        }
        panic!("the race did not settle");
    }

    /// Both sessions Established on the same connection, the one side 1 (the higher
    /// identifier, 1.1.1.2) initiated; no session went down unless one came up while a
    /// connection was still being set up.
    fn check(&self, what: &str) {
        for side in 0..2 {
            assert_eq!(
                self.sides[side].state(),
                State::Established,
                "{what}: side {side} not Established (ups {:?}, downs {:?}, tcps {:#?})",
                self.ups,
                self.downs,
                self.tcps
            );
        }
        let t0 = self.tcp_of(0, self.sides[0].established_conn().expect("up"));
        let t1 = self.tcp_of(1, self.sides[1].established_conn().expect("up"));
        assert_eq!(t0, t1, "{what}: different connections");
        let t = t0.expect("known connection");
        assert_eq!(self.sides[0].connections().count(), 1, "{what}");
        assert_eq!(self.sides[1].connections().count(), 1, "{what}");
        // A session goes down at most once, and only one that came up on the lower
        // identifier's connection before the other connection's OPEN settled it.
        for side in 0..2 {
            let downs = self.downs.iter().filter(|(s, _)| *s == side).count();
            let early = self
                .ups
                .iter()
                .filter(|(s, t)| *s == side && self.tcps[*t].from == 0)
                .count();
            assert!(
                downs <= 1 && downs <= early,
                "{what}: {:?} {:?}",
                self.downs,
                self.log
            );
        }
        if !self.early_up {
            let from = self.tcps[t].from;
            assert_eq!(from, 1, "{what}: lower identifier's kept {:?}", self.log);
        }
    }
}

#[test]
fn crossing_opens_and_keepalives_leave_the_higher_identifiers_session() {
    // An order seen between two agents started together: both TCP connections up;
    // the OPENs on the lower identifier's connection (0 → 1) cross and each side sends
    // its KEEPALIVE on it; side 1 gets side 0's OPEN on its own connection (1 → 0) and
    // keeps that one, while side 0 gets the KEEPALIVE on 0 → 1 before side 1's OPEN on
    // 1 → 0. Side 0 must not then drop 1 → 0: nothing would remain.
    let mut r = Race::new();
    let (lo, hi) = (0, 1);
    assert_eq!(r.tcps.len(), 2);
    assert_eq!((r.tcps[lo].from, r.tcps[hi].from), (0, 1));
    for e in [
        Event::Accept(lo),
        Event::Connected(lo),
        Event::Accept(hi),
        Event::Connected(hi),
        Event::Deliver(lo, 1), // OPEN
        Event::Deliver(lo, 0), // OPEN
        Event::Deliver(hi, 1), // side 0's OPEN on 1 → 0
        Event::Deliver(lo, 0), // KEEPALIVE
    ] {
        if r.enabled().contains(&e) {
            r.step(e);
        }
    }
    r.run(|_| 0);
    r.check("crossing");
    assert!(r.downs.is_empty(), "{:?}", r.downs);
    assert_eq!(r.ups.len(), 2, "{:?}", r.ups);
}

#[test]
fn simultaneous_connects_settle_on_one_session_in_any_order() {
    // Seeded schedules over every enabled event (xorshift64*): deterministic.
    let (mut early, mut flaps) = (0, 0);
    for seed in 1..=3000u64 {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut r = Race::new();
        r.run(|events| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % events.len()
        });
        r.check(&format!("seed {seed}"));
        early += usize::from(r.early_up);
        flaps += usize::from(!r.downs.is_empty());
    }
    // The schedules cover both kinds: sessions up before the second connection was set
    // up, and both connections set up first.
    assert!(early > 0 && early < 3000, "{early}");
    eprintln!("3000 schedules: {early} with a session up early, {flaps} with a flap");
}
