//! Unit tests of the session FSM on a virtual clock: OPEN exchange and checks, timers,
//! back-off, collisions, Cease, passive peers, ROUTE-REFRESH and End-of-RIB, and a
//! simulated mesh with RIBs. Shared helpers here, one file per topic.

mod add_path;
mod collision_races;
mod collisions;
mod conns;
mod graceful;
mod lifecycle;
mod mesh;
mod open;
mod timers;

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

// OPEN checks drive one session against a scripted peer.

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
