//! Test-only network simulator: speakers (sessions per peer, optionally a RIB) joined
//! by in-memory byte pipes, on a virtual clock. Every message goes through the real
//! codec (encode with the sender's context, decode with the receiver's).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::{Action, ConnId, Session, SessionConfig, State};
use crate::rib::{PeerId, PeerSettings, PeerUp, Rib};
use crate::wire::codec::{decode_message, encode_message};
use crate::wire::{AddressFamily, DecodeContext, EncodeContext, FamilySet, Message, Notification};

/// (node, peer node, connection id on that node).
pub type End = (usize, usize, ConnId);

/// Something that happened, for assertions.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// A message went out (node, peer, message).
    Sent(usize, usize, Message),
    /// The session reached Established.
    Up(usize, usize),
    /// The session went down.
    Down(usize, usize, String),
    /// End-of-RIB received.
    EndOfRib(usize, usize),
    /// ROUTE-REFRESH received.
    Refresh(usize, usize),
    /// A restarting peer's stale routes of these families were flushed.
    FlushStale(usize, usize, Vec<AddressFamily>),
}

enum Delivery {
    Bytes(End, Vec<u8>),
    Closed(End),
}

/// One speaker.
pub struct Node {
    /// Its address (10.0.0.n).
    pub addr: IpAddr,
    /// Sessions by peer node index.
    pub sessions: HashMap<usize, Session>,
    /// Its RIB, for mesh tests.
    pub rib: Option<Rib>,
}

/// The simulated network.
pub struct Sim {
    /// Virtual now.
    pub now: Instant,
    /// The speakers.
    pub nodes: Vec<Node>,
    wires: HashMap<End, End>,
    enc: HashMap<End, EncodeContext>,
    dec: HashMap<End, DecodeContext>,
    queue: VecDeque<Delivery>,
    /// Everything that happened, in order.
    pub seen: Vec<Seen>,
    /// Nodes that refuse incoming connections (as if nothing listened).
    pub deaf: Vec<usize>,
    /// Hook: drop every message sent by (node, peer) (a silent peer).
    pub mute: Vec<(usize, usize)>,
    /// Connection attempts (node, peer, when).
    pub connects: Vec<(usize, usize, Instant)>,
}

/// Router ID of node `i`.
pub fn router_id(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(1, 1, 1, i as u8 + 1)
}

impl Sim {
    /// `n` nodes with no sessions yet.
    pub fn new(n: usize) -> Self {
        let nodes = (0..n)
            .map(|i| Node {
                addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1)),
                sessions: HashMap::new(),
                rib: None,
            })
            .collect();
        Self {
            now: Instant::now(),
            nodes,
            wires: HashMap::new(),
            enc: HashMap::new(),
            dec: HashMap::new(),
            queue: VecDeque::new(),
            seen: Vec::new(),
            deaf: Vec::new(),
            mute: Vec::new(),
            connects: Vec::new(),
        }
    }

    /// Adds a session on `node` towards `peer` (not started).
    pub fn add_session(&mut self, node: usize, peer: usize, cfg: SessionConfig) {
        let s = Session::new(cfg, self.now);
        self.nodes[node].sessions.insert(peer, s);
    }

    /// The session on `node` towards `peer`.
    pub fn session(&self, node: usize, peer: usize) -> &Session {
        &self.nodes[node].sessions[&peer]
    }

    /// Mutable access to that session.
    pub fn session_mut(&mut self, node: usize, peer: usize) -> &mut Session {
        self.nodes[node].sessions.get_mut(&peer).expect("session")
    }

    /// Its state.
    pub fn state(&self, node: usize, peer: usize) -> State {
        self.session(node, peer).state()
    }

    /// Starts a session and settles.
    pub fn start(&mut self, node: usize, peer: usize) {
        let now = self.now;
        self.session_mut(node, peer).start(now);
        self.settle();
    }

    /// Runs every queued action and delivery until nothing moves (bounded).
    pub fn settle(&mut self) {
        for _ in 0..1_000_000 {
            let mut moved = false;
            let keys: Vec<(usize, usize)> = self
                .nodes
                .iter()
                .enumerate()
                .flat_map(|(n, node)| node.sessions.keys().map(move |p| (n, *p)))
                .collect();
            for (n, p) in keys {
                moved |= self.drive(n, p);
            }
            moved |= self.pump_ribs();
            if let Some(d) = self.queue.pop_front() {
                self.deliver(d);
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("simulation did not settle");
    }

    /// Advances the virtual clock to `until`, firing timers on the way.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..1_000_000 {
            self.settle();
            let next = self
                .nodes
                .iter()
                .flat_map(|n| n.sessions.values())
                .filter_map(|s| s.poll_timeout())
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    for node in &mut self.nodes {
                        for s in node.sessions.values_mut() {
                            if s.poll_timeout().is_some_and(|t| t <= now) {
                                s.handle_timeout(now);
                            }
                        }
                    }
                }
                _ => {
                    self.now = self.now.max(until);
                    self.settle();
                    return;
                }
            }
        }
        panic!("timers did not quiesce");
    }

    /// Advances the virtual clock by `d`.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn other_end(&self, end: End) -> Option<End> {
        self.wires.get(&end).copied()
    }

    fn drive(&mut self, n: usize, p: usize) -> bool {
        let mut moved = false;
        loop {
            let now = self.now;
            let Some(action) = self.session_mut(n, p).poll_action() else {
                return moved;
            };
            moved = true;
            match action {
                Action::Connect(c) => {
                    self.connects.push((n, p, now));
                    let accepted = if self.deaf.contains(&p) {
                        None
                    } else {
                        self.nodes[p]
                            .sessions
                            .get_mut(&n)
                            .and_then(|s| s.accept(now))
                    };
                    match accepted {
                        Some(pc) => {
                            self.wires.insert((n, p, c), (p, n, pc));
                            self.wires.insert((p, n, pc), (n, p, c));
                            self.session_mut(n, p).connected(now, c);
                        }
                        None => self.session_mut(n, p).connect_failed(now, c, "refused"),
                    }
                }
                Action::Send(c, msg) => {
                    self.seen.push(Seen::Sent(n, p, msg.clone()));
                    if self.mute.contains(&(n, p)) {
                        continue;
                    }
                    let ctx = self.enc.get(&(n, p, c)).copied().unwrap_or_default();
                    let mut out = BytesMut::new();
                    encode_message(&msg, &ctx, &mut out).expect("encode");
                    if let Some(other) = self.other_end((n, p, c)) {
                        self.queue.push_back(Delivery::Bytes(other, out.to_vec()));
                    }
                }
                Action::Close(c) => {
                    if let Some(other) = self.wires.remove(&(n, p, c)) {
                        self.wires.remove(&other);
                        self.queue.push_back(Delivery::Closed(other));
                    }
                }
                Action::Negotiated {
                    conn,
                    decode,
                    encode,
                } => {
                    self.enc.insert((n, p, conn), encode);
                    self.dec.insert((n, p, conn), decode);
                }
                Action::Established(_) => {
                    self.seen.push(Seen::Up(n, p));
                    let neg = self
                        .session(n, p)
                        .negotiated()
                        .cloned()
                        .expect("negotiated");
                    let addr = self.nodes[n].addr;
                    if let Some(rib) = &mut self.nodes[n].rib {
                        let mut up = PeerUp::new(neg.peer_id, addr);
                        up.families = neg.families.iter().copied().collect::<FamilySet>();
                        up.four_octet_as = neg.four_octet_as;
                        up.extended_message = neg.encode.extended_message;
                        up.add_path_send = neg.encode.add_path;
                        rib.peer_up(PeerId(p as u32), up).expect("peer up");
                    }
                }
                Action::Down { reason, restart } => {
                    self.seen.push(Seen::Down(n, p, reason));
                    if let Some(rib) = &mut self.nodes[n].rib {
                        match restart {
                            Some(r) => rib.peer_down_graceful(PeerId(p as u32), &r.families),
                            None => rib.peer_down(PeerId(p as u32)),
                        }
                    }
                }
                Action::FlushStale(families) => {
                    if let Some(rib) = &mut self.nodes[n].rib {
                        rib.flush_stale(PeerId(p as u32), &families);
                    }
                    self.seen.push(Seen::FlushStale(n, p, families));
                }
                Action::Update(u) => {
                    if let Some(rib) = &mut self.nodes[n].rib {
                        rib.receive(PeerId(p as u32), &u).expect("receive");
                    }
                }
                Action::EndOfRib(_) => self.seen.push(Seen::EndOfRib(n, p)),
                Action::RouteRefresh(family) => {
                    self.seen.push(Seen::Refresh(n, p));
                    if let Some(rib) = &mut self.nodes[n].rib {
                        rib.route_refresh(PeerId(p as u32), family);
                    }
                }
            }
        }
    }

    fn pump_ribs(&mut self) -> bool {
        let mut moved = false;
        for n in 0..self.nodes.len() {
            let peers: Vec<usize> = self.nodes[n].sessions.keys().copied().collect();
            for p in peers {
                let Some(conn) = self.session(n, p).established_conn() else {
                    continue;
                };
                let Some(rib) = &mut self.nodes[n].rib else {
                    continue;
                };
                if !rib.has_pending_updates(PeerId(p as u32)) {
                    continue;
                }
                let updates = rib.take_updates(PeerId(p as u32), 4096);
                for u in updates {
                    let ctx = self.enc.get(&(n, p, conn)).copied().unwrap_or_default();
                    let msg = Message::Update(u);
                    let mut out = BytesMut::new();
                    encode_message(&msg, &ctx, &mut out).expect("encode update");
                    if let Some(other) = self.other_end((n, p, conn)) {
                        self.queue.push_back(Delivery::Bytes(other, out.to_vec()));
                    }
                    self.seen.push(Seen::Sent(n, p, msg));
                    moved = true;
                }
                let now = self.now;
                self.session_mut(n, p).update_sent(now);
            }
        }
        moved
    }

    fn deliver(&mut self, d: Delivery) {
        let now = self.now;
        match d {
            Delivery::Bytes((n, p, c), bytes) => {
                let ctx = self.dec.get(&(n, p, c)).copied().unwrap_or_default();
                let s = self.session_mut(n, p);
                match decode_message(&bytes, &ctx) {
                    Ok((msg, used)) => {
                        assert_eq!(used, bytes.len(), "one message per delivery");
                        s.handle_message(now, c, msg);
                    }
                    Err(e) => {
                        let n = e.notification().cloned().unwrap_or_else(|| {
                            Notification::new(
                                crate::wire::ErrorCode::Unknown {
                                    code: 0,
                                    subcode: 0,
                                },
                                Vec::new(),
                            )
                        });
                        s.decode_error(now, c, n);
                    }
                }
            }
            Delivery::Closed((n, p, c)) => self.session_mut(n, p).closed(now, c, "closed by peer"),
        }
    }

    /// `node`'s speaker dies as far as `peer` is concerned: its session toward `peer`
    /// is replaced by a fresh one with `cfg`, not started ([`Sim::start`] brings it
    /// back), its connections vanish without a NOTIFICATION (the peer sees the TCP
    /// connection close), and its RIB forgets what `peer` had sent.
    pub fn crash_session(&mut self, node: usize, peer: usize, cfg: SessionConfig) {
        let old: Vec<ConnId> = self
            .session(node, peer)
            .connections()
            .map(|(c, _)| c)
            .collect();
        let now = self.now;
        *self.session_mut(node, peer) = Session::new(cfg, now);
        for c in old {
            if let Some(other) = self.wires.remove(&(node, peer, c)) {
                self.wires.remove(&other);
                self.queue.push_back(Delivery::Closed(other));
            }
        }
        if let Some(rib) = &mut self.nodes[node].rib {
            rib.peer_down(PeerId(peer as u32));
        }
        self.settle();
    }

    /// Adds a RIB to every node and a RIB peer for every session.
    pub fn with_ribs(&mut self, asn: impl Fn(usize) -> u32) {
        for i in 0..self.nodes.len() {
            let mut rib = Rib::new(crate::rib::LocalSettings {
                asn: asn(i),
                router_id: router_id(i),
                cluster_id: None,
            });
            let peers: Vec<usize> = self.nodes[i].sessions.keys().copied().collect();
            for p in peers {
                let addr = self.nodes[p].addr;
                rib.add_peer(PeerId(p as u32), PeerSettings::new(addr, asn(p)))
                    .expect("add peer");
            }
            self.nodes[i].rib = Some(rib);
        }
    }

    /// Sends `msg` from `node` to `peer` on the established connection, bypassing the
    /// session (a peer misbehaving or asking for something).
    pub fn inject(&mut self, node: usize, peer: usize, msg: Message) {
        let conn = self
            .session(node, peer)
            .established_conn()
            .expect("established");
        let ctx = self
            .enc
            .get(&(node, peer, conn))
            .copied()
            .unwrap_or_default();
        let mut out = BytesMut::new();
        encode_message(&msg, &ctx, &mut out).expect("encode");
        let other = self.other_end((node, peer, conn)).expect("wire");
        self.queue.push_back(Delivery::Bytes(other, out.to_vec()));
        self.settle();
    }

    /// Messages sent by (node, peer), in order.
    pub fn sent(&self, node: usize, peer: usize) -> Vec<&Message> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Sent(n, p, m) if *n == node && *p == peer => Some(m),
                _ => None,
            })
            .collect()
    }

    /// NOTIFICATIONs sent by (node, peer).
    pub fn notifications(&self, node: usize, peer: usize) -> Vec<Notification> {
        self.sent(node, peer)
            .into_iter()
            .filter_map(|m| match m {
                Message::Notification(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }
}

/// The default session config of node `i` towards node `p` with ASNs from `asn`.
pub fn cfg(i: usize, p: usize, asn: impl Fn(usize) -> u32) -> SessionConfig {
    let mut c = SessionConfig::new(asn(i), router_id(i), asn(p));
    c.jitter_seed = (i * 31 + p) as u64;
    c
}
