//! The owner task: the one place that holds protocol state (every [`Session`] and the
//! [`Rib`]). It turns connection events and handle commands into session and RIB calls,
//! carries out the sessions' [`Action`]s, re-arms one timer, and pumps the RIB's
//! UPDATEs to the writers with backpressure. Peers are keyed by an id that is never
//! reused, so events of a removed peer's connections are recognised and ignored; adding
//! and removing peers at run time is in `reconfig`.

mod reconfig;

pub use reconfig::PeerDiff;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

use super::config::{PeerConfig, SpeakerConfig};
use super::conn::{self, ConnEvent};
use super::handle::{AcceptPeer, PeerStatus, SpeakerError};
use super::ifaddr;
use super::reader::{self, Item, Numbered, One};
use super::writer::{Writer, QUEUE_LOW};
use super::{sorted_diff, sorted_set};
use crate::rib::{
    LimitAction, PeerId, PeerSettings, PeerUp, Rib, RibError, RouteChange, RouteView, SetHint,
    Upcoming,
};
use crate::session::{Action, ConnId, Session, SessionConfig, State};
use crate::wire::{AddressFamily, CeaseSubcode, FamilySet, Message, Notification, Update};

/// Stop taking UPDATEs from the RIB for a peer while its writer has this many queued.
const QUEUE_HIGH: usize = 4 * QUEUE_LOW;
/// Octets of UPDATEs taken from the RIB per pump step.
const PUMP_BYTES: usize = 1 << 20;
/// Prefixes whose paths of a peer gone down are removed per turn of the owner (a few
/// milliseconds): a full table's million would otherwise hold up every other session's
/// messages and KEEPALIVEs for about a second.
const PRUNE_STEP: usize = 8192;
/// Text of the shutdown communication (RFC 8203) sent on shutdown.
const SHUTDOWN_MESSAGE: &str = "tern shutting down";

/// Commands from [`super::SpeakerHandle`].
#[derive(Debug)]
pub enum Command {
    /// Status of every peer.
    Peers(oneshot::Sender<Vec<PeerStatus>>),
    /// The Loc-RIB.
    Routes(bool, oneshot::Sender<Vec<RouteView>>),
    /// Every stored prefix, sorted (the index of a paged listing).
    RoutePrefixes(oneshot::Sender<Vec<IpNet>>),
    /// The views of these prefixes (a page of a listing).
    RoutesOf(Vec<IpNet>, bool, oneshot::Sender<Vec<RouteView>>),
    /// (prefixes, paths).
    RibSize(oneshot::Sender<(usize, usize)>),
    /// Replace the originated prefixes.
    SetOriginated(Vec<IpNet>, oneshot::Sender<()>),
    /// Cease to everyone (with `true`: close without NOTIFICATION where the peer helps
    /// with our graceful restart), then stop.
    Shutdown(bool, oneshot::Sender<()>),
    /// At most this many pending best-path changes.
    TakeRouteChanges(usize, oneshot::Sender<Vec<RouteChange>>),
    /// At most this many pending best-path changes, answered as soon as there are any
    /// (parked until then; a newer request replaces a parked one).
    TakeRouteChangesWhenPending(usize, oneshot::Sender<Vec<RouteChange>>),
    /// Offer small batches of changes to this sink in the owner's turn
    /// ([`super::RouteChanges::set_sink`]).
    SetSink(super::handle::Sink),
    /// Replace the configured peers (declarative).
    SetPeers(
        Vec<PeerConfig>,
        oneshot::Sender<Result<PeerDiff, SpeakerError>>,
    ),
    /// End one peer's session with Cease / this subcode; `false` if no such peer.
    PeerDown(IpAddr, u8, oneshot::Sender<bool>),
}

struct ConnTasks {
    writer: Option<Writer>,
    writer_task: Option<JoinHandle<()>>,
    reader_task: Option<JoinHandle<()>>,
    reader_stop: Option<oneshot::Sender<()>>,
    connect_task: Option<JoinHandle<()>>,
    decode_ctx: Option<oneshot::Sender<crate::wire::DecodeContext>>,
    local: Option<SocketAddr>,
    /// The attribute sets the connection's reader numbered (see [`reader::Batch`]).
    sets: ConnSets,
}

impl ConnTasks {
    fn new(connect_task: Option<JoinHandle<()>>) -> Self {
        Self {
            writer: None,
            writer_task: None,
            reader_task: None,
            reader_stop: None,
            connect_task,
            decode_ctx: None,
            local: None,
            sets: ConnSets::default(),
        }
    }
}

/// The attribute sets a connection's reader numbered, by number, each with where the
/// RIB interned it (tried first: no probe of the RIB's index by address).
type ConnSets = Numbered<SetHint>;

/// Applies a one-prefix UPDATE to the RIB.
fn receive_one(sets: &mut ConnSets, rib: &mut Rib, id: PeerId, one: &One) -> Result<(), RibError> {
    match sets.get_mut(one.set) {
        Some((set, hint)) => rib.receive_one(id, set, hint, &one.nlri),
        // The reader gives every set before its first use: not reached.
        None => Ok(()),
    }
}

#[derive(Default)]
struct Counters {
    /// Messages by type and recent errors (`tern status PEER`).
    log: super::peer_log::PeerLog,
    messages_in: u64,
    messages_out: u64,
    updates_in: u64,
    updates_out: u64,
    established_transitions: u64,
}

struct Peer {
    cfg: PeerConfig,
    session: Session,
    conns: HashMap<ConnId, ConnTasks>,
    counters: Counters,
    established_at: Option<Instant>,
}

/// The owner task's state.
pub struct Owner {
    local: SpeakerConfig,
    rib: Rib,
    /// Peers by id (also their [`PeerId`] in the RIB); ids are never reused.
    peers: BTreeMap<usize, Peer>,
    /// Ids in configuration order (the order of status output).
    order: Vec<usize>,
    /// The next peer id.
    next_id: usize,
    /// Which addresses the accept loop hands over, under which id.
    accept: watch::Sender<Vec<AcceptPeer>>,
    /// The listening socket (shared with the accept loop) for TCP-MD5 keys and the
    /// saved SYN of peers added at run time.
    pub listen_sock: Option<Arc<TcpListener>>,
    /// The originated prefixes, sorted, without duplicates.
    originated: Vec<IpNet>,
    events_tx: mpsc::Sender<ConnEvent>,
    /// "Best-path changes pending" to the consumer (capacity 1: a level, not a queue);
    /// closed when the consumer is gone, and the changes are then dropped here.
    changes: mpsc::Sender<()>,
    /// Wire octets read and not yet handled, shared by every reader.
    read_budget: Arc<Semaphore>,
    /// A batch taken from the RIB whose requester went away before the reply (its
    /// future was dropped, e.g. in a `select!`): served first on the next take.
    untaken: Vec<RouteChange>,
    /// The consumer's take waiting for changes (see [`Command::TakeRouteChangesWhenPending`]):
    /// answered by [`Owner::flush`] right after the RIB logs one.
    parked_take: Option<(usize, oneshot::Sender<Vec<RouteChange>>)>,
    /// Applies a small batch in this task's turn (see [`Owner::offer_to_sink`]).
    sink: Option<super::handle::Sink>,
    /// Monotonic/wall clock pair for turning session instants into `SystemTime`.
    epoch: (Instant, SystemTime),
    /// The listener task, stopped on shutdown.
    pub listener: Option<JoinHandle<()>>,
    /// Encoding buffer of the messages written from this task ([`Writer::send`]).
    scratch: BytesMut,
    /// Callers to answer once this turn's UPDATEs are handed to the writers: waking
    /// them first could put another thread of the process ahead of those writes.
    answer_after_flush: Vec<oneshot::Sender<()>>,
}

fn jitter_seed(router_id: std::net::Ipv4Addr, peer: IpAddr) -> u64 {
    let p = match peer {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => (u128::from(a) as u64) ^ ((u128::from(a) >> 64) as u64),
    };
    (u64::from(u32::from(router_id)) << 32) ^ p ^ 0x7465_726e
}

impl Owner {
    /// Builds the state: one session per peer (started), the RIB with the peers and the
    /// originated prefixes.
    pub fn new(
        cfg: SpeakerConfig,
        events_tx: mpsc::Sender<ConnEvent>,
        changes: mpsc::Sender<()>,
    ) -> Result<Self, RibError> {
        let now = Instant::now();
        let mut rib = Rib::new(crate::rib::LocalSettings {
            asn: cfg.asn,
            router_id: cfg.router_id,
            cluster_id: cfg.cluster_id,
        });
        let originated = sorted_set(cfg.originate.clone());
        for p in &originated {
            rib.originate(*p);
        }
        let peers = cfg.peers.clone();
        let mut owner = Self {
            local: cfg,
            rib,
            peers: BTreeMap::new(),
            order: Vec::new(),
            next_id: 0,
            accept: watch::Sender::new(Vec::new()),
            listen_sock: None,
            originated,
            events_tx,
            changes,
            read_budget: Arc::new(Semaphore::new(reader::READ_BUDGET)),
            untaken: Vec::new(),
            parked_take: None,
            sink: None,
            epoch: (now, SystemTime::now()),
            listener: None,
            scratch: BytesMut::new(),
            answer_after_flush: Vec::new(),
        };
        for p in peers {
            let id = owner.add_peer(p, now, true)?;
            owner.order.push(id);
        }
        owner.publish_accept();
        Ok(owner)
    }

    /// Registers a peer under a fresh id: its session (started with `start`, else
    /// Idle until [`ConnEvent::Released`]) and its RIB entry.
    fn add_peer(&mut self, p: PeerConfig, now: Instant, start: bool) -> Result<usize, RibError> {
        let cfg = &self.local;
        let id = self.next_id;
        let mut sc = SessionConfig::new(cfg.asn, cfg.router_id, p.asn);
        sc.hold_time = p.hold_time;
        sc.keepalive = p.keepalive;
        sc.connect_retry = p.connect_retry;
        sc.passive = p.passive;
        sc.graceful_restart = cfg.graceful_restart;
        sc.add_path = p.add_path;
        sc.jitter_seed = jitter_seed(cfg.router_id, p.address);
        let mut session = Session::new(sc, now);
        if start {
            session.start(now);
        }
        let mut settings = PeerSettings::new(p.address, p.asn);
        settings.route_reflector_client = p.route_reflector_client;
        settings.import = cfg.import.clone();
        settings.import_limit = p.import_limit;
        settings.receive_limit = p.receive_limit;
        settings.local_address = p.source_address;
        self.rib.add_peer(PeerId(id as u32), settings)?;
        self.next_id += 1;
        self.peers.insert(
            id,
            Peer {
                cfg: p,
                session,
                conns: HashMap::new(),
                counters: Counters::default(),
                established_at: None,
            },
        );
        Ok(id)
    }

    /// A receiver of the accept loop's address table.
    pub fn accept_table(&self) -> watch::Receiver<Vec<AcceptPeer>> {
        self.accept.subscribe()
    }

    /// Tells the accept loop the current peers.
    fn publish_accept(&self) {
        let table = self
            .peers
            .iter()
            .map(|(&id, p)| AcceptPeer {
                address: p.cfg.address.to_canonical(),
                id,
                ttl_security: p.cfg.ttl_security,
            })
            .collect();
        self.accept.send_replace(table);
    }

    fn ids(&self) -> Vec<usize> {
        self.peers.keys().copied().collect()
    }

    /// Runs until shutdown (or until every handle is gone).
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<ConnEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let now = Instant::now();
        for i in self.ids() {
            self.drive(i, now);
        }
        // One timer for every session, set again only when the earliest deadline comes
        // sooner than the one it is set for. A deadline that moves later (the hold timer,
        // restarted by every message) lets it go off early, and the turn that finds no
        // session due sets it for the new earliest one. (A timer made afresh every turn
        // put an entry into the runtime's timer wheel and took it out for each event.)
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            let deadline = self
                .peers
                .values()
                .filter_map(|p| p.session.poll_timeout())
                .min();
            if let Some(t) = deadline.filter(|&t| armed.is_none_or(|a| t < a)) {
                timer.as_mut().reset(tokio::time::Instant::from_std(t));
                armed = Some(t);
            }
            tokio::select! {
                ev = events.recv() => {
                    // The owner holds a sender itself, so this never ends.
                    if let Some(ev) = ev {
                        self.handle_event(ev);
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown(graceful, done)) => {
                        self.shutdown(graceful).await;
                        let _ = done.send(());
                        return;
                    }
                    Some(cmd) => self.handle_command(cmd),
                    None => {
                        self.shutdown(false).await;
                        return;
                    }
                },
                () = std::future::ready(()), if self.rib.pruning() => {
                    self.rib.prune(PRUNE_STEP);
                    // Always ready: let the runtime run the writers and readers too.
                    tokio::task::yield_now().await;
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    let now = Instant::now();
                    for i in self.ids() {
                        if let Some(p) = self.peers.get_mut(&i) {
                            if p.session.poll_timeout().is_some_and(|t| t <= now) {
                                p.session.handle_timeout(now);
                                self.drive(i, now);
                            }
                        }
                    }
                }
            }
            self.flush();
            for done in self.answer_after_flush.drain(..) {
                let _ = done.send(());
            }
        }
    }

    fn handle_event(&mut self, ev: ConnEvent) {
        let now = Instant::now();
        trace_event(&ev);
        match ev {
            ConnEvent::Accepted { peer, stream } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                match p.session.accept(now) {
                    Some(conn) => self.attach(peer, conn, stream),
                    None if p.session.state() == State::Idle => {
                        tracing::info!(peer = %p.cfg.address, "refusing connection: session is administratively down");
                        reject(stream);
                    }
                    None => {
                        tracing::debug!(
                            peer = %p.cfg.address,
                            "refusing connection: {} connections already wait for the peer's OPEN",
                            p.session.pending_connections()
                        );
                        reject(stream);
                    }
                }
                self.drive(peer, now);
            }
            ConnEvent::Connected { peer, conn, stream } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                if p.conns.contains_key(&conn) {
                    self.attach(peer, conn, stream);
                    if let Some(p) = self.peers.get_mut(&peer) {
                        p.session.connected(now, conn);
                    }
                }
                self.drive(peer, now);
            }
            ConnEvent::ConnectFailed { peer, conn, error } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    tracing::debug!(peer = %p.cfg.address, "connect failed: {error}");
                    p.conns.remove(&conn);
                    p.session.connect_failed(now, conn, &error);
                }
                self.drive(peer, now);
            }
            // `_permit` returns the batch's read budget when this arm is done.
            ConnEvent::Messages {
                peer,
                conn,
                mut msgs,
                permit: _permit,
            } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                p.counters.messages_in += msgs.len() as u64;
                msgs.msgs().iter().for_each(|m| p.counters.log.received(m));
                let ones = msgs.ones().len() as u64;
                p.counters.log.received_updates(ones);
                p.counters.updates_in += ones;
                if let Some(c) = p.conns.get_mut(&conn) {
                    c.sets.take(&msgs);
                }
                // The index buckets of the next prefixes are loaded ahead, a few hundred
                // at a time (`Rib::warm_upcoming`).
                let (mut m, mut o, mut done, mut warmed) = (0, 0, 0, 0);
                loop {
                    if done == warmed {
                        let ahead = msgs.items_from(m, o).map(|item| match item {
                            Item::One(one) => Upcoming::Prefix(one.nlri),
                            Item::Msg(i) => match msgs.msgs().get(i) {
                                Some(Message::Update(u)) => Upcoming::Update(u),
                                _ => Upcoming::Other,
                            },
                        });
                        warmed = done + self.rib.warm_upcoming(ahead);
                    }
                    let Some(p) = self.peers.get_mut(&peer) else {
                        break;
                    };
                    let run_end = msgs.ones_before(m).min(o + (warmed - done));
                    if o < run_end {
                        // A run of one-prefix UPDATEs: the peer and its connection looked
                        // up once, the hold timer restarted once (`now` is the batch's).
                        let ones = msgs.ones().get(o..run_end).unwrap_or_default();
                        if !p.session.accept_one(now, conn) {
                            // Not Established (or actions pending): the session decides
                            // about the first as about any UPDATE.
                            done += 1;
                            o += 1;
                            let u = ones.first().and_then(|one| {
                                p.conns.get(&conn).and_then(|c| c.sets.update(one))
                            });
                            if let Some(u) = u {
                                p.session.handle_message(now, conn, u);
                                self.drive(peer, now);
                            }
                            continue;
                        }
                        let Some(c) = p.conns.get_mut(&conn) else {
                            done += run_end - o;
                            o = run_end;
                            continue;
                        };
                        let id = PeerId(peer as u32);
                        for one in ones {
                            done += 1;
                            o += 1;
                            if let Err(e) = receive_one(&mut c.sets, &mut self.rib, id, one) {
                                limit_crossed(&p.cfg.address, &mut p.session, e, now);
                                if p.session.has_actions() {
                                    break;
                                }
                            }
                        }
                        if p.session.has_actions() {
                            self.drive(peer, now);
                        }
                        continue;
                    }
                    done += 1;
                    let i = m;
                    m += 1;
                    let Some(msg) = msgs.msg_mut(i) else {
                        break;
                    };
                    if matches!(msg, Message::Update(_)) {
                        p.counters.updates_in += 1;
                    }
                    match msg {
                        // The common case goes to the RIB by reference: the message
                        // (112 octets) is neither moved out of the batch nor through
                        // the session's queue.
                        Message::Update(u) if p.session.accept_update(now, conn, u) => {
                            receive(&mut self.rib, p, PeerId(peer as u32), u, now);
                            // An UPDATE the RIB took leaves the session as it was unless
                            // a prefix limit acted on it: nothing to drive.
                            if !p.session.has_actions() {
                                continue;
                            }
                        }
                        _ => {
                            let msg = std::mem::replace(msg, Message::Keepalive);
                            p.session.handle_message(now, conn, msg);
                        }
                    }
                    self.drive(peer, now);
                }
            }
            ConnEvent::ReadFailed {
                peer,
                conn,
                notification,
                reason,
            } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    match notification {
                        Some(n) => {
                            tracing::warn!(peer = %p.cfg.address, "malformed message: {reason}");
                            p.session.decode_error(now, conn, n);
                        }
                        None => p.session.closed(now, conn, &reason),
                    }
                }
                self.drive(peer, now);
            }
            ConnEvent::Released { peer } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.session.start(now);
                }
                self.drive(peer, now);
            }
            ConnEvent::Drained => {}
        }
    }

    /// Starts the reader and writer of a connected stream.
    fn attach(&mut self, peer: usize, conn: ConnId, stream: TcpStream) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let local = stream.local_addr().ok();
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let (ctx_tx, ctx_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let events = self.events_tx.clone();
        let budget = self.read_budget.clone();
        let reader = tokio::spawn(reader::reader(
            peer, conn, rd, events, budget, ctx_rx, stop_rx,
        ));
        let (w, task) = Writer::new(wr, self.events_tx.clone(), p.cfg.address);
        let writer = tokio::spawn(task);
        let entry = p.conns.entry(conn).or_insert_with(|| ConnTasks::new(None));
        entry.connect_task = None;
        entry.writer = Some(w);
        entry.writer_task = Some(writer);
        entry.reader_task = Some(reader);
        entry.reader_stop = Some(stop_tx);
        entry.decode_ctx = Some(ctx_tx);
        entry.local = local;
    }

    /// Carries out everything the peer's session asked for; afterwards the peer holds
    /// tasks and sockets only for the connections its session still has.
    fn drive(&mut self, peer: usize, now: Instant) {
        loop {
            let Some(p) = self.peers.get_mut(&peer) else {
                return;
            };
            let Some(action) = p.session.poll_action() else {
                p.counters
                    .log
                    .note_error(p.session.last_error(), now, self.epoch);
                release_orphans(p);
                return;
            };
            let id = PeerId(peer as u32);
            trace_action(p.cfg.address, &action);
            match action {
                Action::Connect(conn) => {
                    let task = tokio::spawn(conn::connect(
                        peer,
                        conn,
                        p.cfg.clone(),
                        self.events_tx.clone(),
                    ));
                    p.conns.insert(conn, ConnTasks::new(Some(task)));
                }
                Action::Send(conn, msg) => {
                    if let Some(c) = p.conns.get(&conn) {
                        if let Some(w) = &c.writer {
                            if let Message::Notification(n) = &msg {
                                tracing::info!(peer = %p.cfg.address, "sending NOTIFICATION {n}");
                            }
                            p.counters.messages_out += 1;
                            p.counters.log.sent(&msg, 1);
                            w.send(vec![msg], &mut self.scratch);
                        }
                    }
                }
                Action::Close(conn) => {
                    if let Some(c) = p.conns.remove(&conn) {
                        close(c);
                    }
                }
                Action::Negotiated {
                    conn,
                    decode,
                    encode,
                } => {
                    if let Some(c) = p.conns.get_mut(&conn) {
                        if let Some(w) = &mut c.writer {
                            w.set_context(encode);
                        }
                        if let Some(tx) = c.decode_ctx.take() {
                            let _ = tx.send(decode);
                        }
                    }
                }
                Action::Established(conn) => {
                    let local = p.conns.get(&conn).and_then(|c| c.local);
                    let Some(n) = p.session.negotiated() else {
                        continue;
                    };
                    let local_ip = local.map(|a| a.ip().to_canonical());
                    let mut up = PeerUp::new(
                        n.peer_id,
                        local_ip.unwrap_or(IpAddr::V4(self.local.router_id)),
                    );
                    up.families = n.families.iter().copied().collect::<FamilySet>();
                    up.four_octet_as = n.four_octet_as;
                    up.extended_message = n.encode.extended_message;
                    up.add_path_send = n.encode.add_path;
                    if let Some(link) = local_ip.and_then(|ip| local_link(ip, p.cfg.address)) {
                        // RFC 2545 §3: our link-local address goes with the global
                        // next hop only to a peer on a subnet we share.
                        // RFC 4271 §5.1.3 (2): next hops in the subnets we share with
                        // the peer are kept toward it (third-party next hop).
                        if link.shares_subnet(p.cfg.address) {
                            up.link_local = link.link_local;
                            up.shared_subnets = link.prefixes.clone();
                            // The other family's next hop over this session: the
                            // interface's address of that family (as BIRD does for a
                            // direct eBGP neighbour, e.g. a ToR with IPv4 and IPv6
                            // channels on one IPv4 session). Not toward iBGP, where
                            // meshes run one session per family.
                            if p.cfg.asn != self.local.asn {
                                match local_ip {
                                    Some(IpAddr::V4(_)) => up.local_ipv6 = link.global_ipv6,
                                    Some(IpAddr::V6(_)) => up.local_ipv4 = link.ipv4,
                                    None => {}
                                }
                            }
                        }
                        tracing::debug!(
                            peer = %p.cfg.address, interface = %link.interface, local = %link.net,
                            link_local = ?up.link_local, "session link"
                        );
                    }
                    tracing::info!(
                        peer = %p.cfg.address, asn = p.cfg.asn, hold = n.hold_time.as_secs(),
                        "BGP session established"
                    );
                    p.counters.established_transitions += 1;
                    p.established_at = Some(now);
                    if let Err(e) = self.rib.peer_up(id, up) {
                        tracing::error!("rib refused peer up: {e}");
                    }
                }
                Action::Down { reason, restart } => {
                    p.established_at = None;
                    match restart {
                        Some(r) => {
                            tracing::warn!(
                                peer = %p.cfg.address,
                                "BGP session down: {reason}; graceful restart: keeping its routes ({}) as stale for up to {} s",
                                families_text(&r.families), r.restart_time.as_secs()
                            );
                            self.rib.peer_down_graceful(id, &r.families);
                        }
                        None => {
                            tracing::warn!(peer = %p.cfg.address, "BGP session down: {reason}");
                            // Its paths go a step at a time between other work (`run`).
                            self.rib.begin_peer_down(id);
                        }
                    }
                }
                Action::FlushStale(families) => {
                    tracing::info!(
                        peer = %p.cfg.address,
                        "graceful restart: removing stale routes ({})",
                        families_text(&families)
                    );
                    self.rib.flush_stale(id, &families);
                }
                Action::Update(update) => receive(&mut self.rib, p, id, &update, now),
                Action::EndOfRib(family) => {
                    tracing::debug!(peer = %p.cfg.address, "End-of-RIB for {family}");
                }
                Action::RouteRefresh(family) => {
                    let outcome = self.rib.route_refresh(id, family);
                    tracing::debug!(peer = %p.cfg.address, "ROUTE-REFRESH for {family}: {outcome:?}");
                }
            }
        }
    }

    /// At most `max` pending changes: a batch whose requester went away first, else
    /// from the RIB's log (empty when nothing is pending).
    fn take_changes(&mut self, max: usize) -> Vec<RouteChange> {
        let mut out = std::mem::take(&mut self.untaken);
        // A bounded take can yield nothing (all records coalesced away) while more are
        // logged.
        while out.is_empty() && self.rib.pending_route_changes() > 0 {
            out = self.rib.take_route_changes_max(max);
        }
        out
    }

    /// Answers the parked take when changes are pending; a batch its requester no
    /// longer waits for is kept for the next take.
    fn answer_parked_take(&mut self) {
        if self.rib.pending_route_changes() == 0 && self.untaken.is_empty() {
            return;
        }
        let Some((max, reply)) = self.parked_take.take() else {
            return;
        };
        let out = self.take_changes(max);
        if out.is_empty() {
            self.parked_take = Some((max, reply));
        } else if let Err(out) = reply.send(out) {
            self.untaken = out;
        }
    }

    /// Hands a small batch of pending changes to the sink, when the consumer waits with
    /// nothing in hand (its take parked, nothing untaken): a batch it took before must
    /// reach the FIB before these. What the sink gives back is the next take's first.
    fn offer_to_sink(&mut self) {
        let Some(sink) = &self.sink else {
            return;
        };
        let pending = self.rib.pending_route_changes();
        let waiting = self
            .parked_take
            .as_ref()
            .is_some_and(|(_, reply)| !reply.is_closed());
        if pending == 0 || pending > sink.max || !waiting || !self.untaken.is_empty() {
            return;
        }
        let out = self.take_changes(sink.max);
        if out.is_empty() {
            return;
        }
        if let Some(sink) = &mut self.sink {
            if let Err(back) = sink.inner.apply_now(out) {
                self.untaken = back;
            }
        }
    }

    /// Sends pending UPDATEs to established peers, then answers the consumer's parked
    /// take or tells it that best-path changes are pending (they stay coalesced in the
    /// RIB until it takes them).
    fn flush(&mut self) {
        let now = Instant::now();
        for (&i, p) in self.peers.iter_mut() {
            let id = PeerId(i as u32);
            let Some(conn) = p.session.established_conn() else {
                continue;
            };
            let Some(c) = p.conns.get(&conn) else {
                continue;
            };
            let Some(w) = &c.writer else {
                continue;
            };
            let max = p
                .session
                .negotiated()
                .map_or(crate::wire::MAX_MESSAGE_LEN, |n| n.max_message_len());
            let mut sent = false;
            while w.queued() < QUEUE_HIGH && self.rib.has_pending_updates(id) {
                let updates = self.rib.take_updates(id, PUMP_BYTES.max(max));
                if updates.is_empty() {
                    break;
                }
                let n = updates.len();
                p.counters.updates_out += n as u64;
                p.counters.messages_out += n as u64;
                p.counters.log.sent_updates(n as u64);
                let msgs = updates.into_iter().map(Message::Update).collect();
                w.send(msgs, &mut self.scratch);
                sent = true;
            }
            if sent {
                p.session.update_sent(now);
            }
        }
        // The FIB's consumer is woken (or its sink run) after the peers' UPDATEs are
        // written (a reflected route leaves before this host's own kernel work starts).
        self.offer_to_sink();
        self.answer_parked_take();
        if self.rib.pending_route_changes() > 0 || !self.untaken.is_empty() {
            if let Err(mpsc::error::TrySendError::Closed(())) = self.changes.try_send(()) {
                // Nobody consumes the stream: stop logging.
                self.rib.stop_route_changes();
                self.untaken = Vec::new();
                self.parked_take = None;
            }
        }
    }

    fn handle_command(&mut self, cmd: Command) {
        match cmd {
            Command::Peers(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Routes(all, reply) => {
                let _ = reply.send(self.rib.routes(all));
            }
            Command::RoutePrefixes(reply) => {
                let _ = reply.send(self.rib.prefixes());
            }
            Command::RoutesOf(prefixes, all, reply) => {
                let _ = reply.send(self.rib.routes_of(&prefixes, all));
            }
            Command::RibSize(reply) => {
                let _ = reply.send((self.rib.len(), self.rib.path_count()));
            }
            Command::SetOriginated(prefixes, reply) => {
                // A sorted merge (a reload hands over its whole list, usually sorted
                // already): two B-tree sets and their differences were ~20 µs of the
                // reloading host's way to its UPDATE at 100 blocks.
                let want = sorted_set(prefixes);
                let (added, removed) = sorted_diff(&self.originated, &want);
                for gone in removed {
                    self.rib.withdraw_originated(gone);
                }
                for new in added {
                    self.rib.originate(new);
                }
                self.originated = want;
                self.answer_after_flush.push(reply);
            }
            Command::TakeRouteChanges(max, reply) => {
                let out = self.take_changes(max);
                if let Err(out) = reply.send(out) {
                    self.untaken = out;
                }
            }
            // Answered by the flush that follows every command and event.
            Command::TakeRouteChangesWhenPending(max, reply) => {
                self.parked_take = Some((max, reply));
            }
            Command::SetSink(sink) => self.sink = Some(sink),
            Command::SetPeers(peers, reply) => {
                let _ = reply.send(self.set_peers(peers));
            }
            Command::PeerDown(peer, subcode, reply) => {
                let _ = reply.send(self.peer_down(peer, subcode));
            }
            Command::Shutdown(..) => {}
        }
    }

    fn status(&self) -> Vec<PeerStatus> {
        let now = Instant::now();
        self.order
            .iter()
            .filter_map(|&i| self.peers.get(&i).map(|p| (i, p)))
            .map(|(i, p)| {
                let counters = self.rib.peer_counters(PeerId(i as u32));
                let since = p.session.since();
                let since = self
                    .epoch
                    .1
                    .checked_add(since.saturating_duration_since(self.epoch.0));
                PeerStatus {
                    address: p.cfg.address,
                    asn: p.cfg.asn,
                    kind: p.cfg.kind,
                    description: p.cfg.description.clone(),
                    state: p.session.state().name(),
                    since,
                    uptime: p.established_at.map(|t| now.saturating_duration_since(t)),
                    prefixes_received: counters.received,
                    prefixes_accepted: counters.accepted,
                    prefixes_advertised: counters.advertised,
                    prefixes_oversized: counters.oversized,
                    rejected: self.rib.rejected(PeerId(i as u32)),
                    last_error: p.session.last_error().map(str::to_owned),
                    messages_in: p.counters.messages_in,
                    messages_out: p.counters.messages_out,
                    updates_in: p.counters.updates_in,
                    updates_out: p.counters.updates_out,
                    established_transitions: p.counters.established_transitions,
                    hold_time: p.session.negotiated().map(|n| n.hold_time),
                    negotiated: p.session.negotiated().cloned(),
                    hold_time_configured: p.session.config().hold_time,
                    keepalive_configured: p.session.config().keepalive,
                    received_by_type: p.counters.log.received,
                    sent_by_type: p.counters.log.sent,
                    errors: p.counters.log.errors(),
                    end_of_rib: p.session.end_of_rib_received().to_vec(),
                    // Counting walks the table: only while a restart is in progress.
                    stale_paths: if p.session.stale_families().is_empty() {
                        0
                    } else {
                        self.rib.stale_count(PeerId(i as u32))
                    },
                }
            })
            .collect()
    }

    /// Cease / Administrative Shutdown to every peer (with `graceful`, silence toward
    /// peers that help with our restart); waits at most 2 s for the writes.
    async fn shutdown(&mut self, graceful: bool) {
        // Nothing of the shutdown reaches the consumer's FIB from this task: routes stay
        // in the kernel for a restart unless the consumer removes them itself.
        self.sink = None;
        if let Some(l) = self.listener.take() {
            l.abort();
            // Returns once the task (and with it the listening socket) is dropped. The
            // port can still be held for up to `reader::LINGER` by accepted connections
            // whose readers drain them after the Cease: a new listener on the same
            // address in this process may get EADDRINUSE until then.
            let _ = l.await;
        }
        let now = Instant::now();
        let mut writers = Vec::new();
        self.listen_sock = None;
        for i in self.ids() {
            if let Some(p) = self.peers.get_mut(&i) {
                let cease = Notification::shutdown(SHUTDOWN_MESSAGE, false);
                if graceful {
                    p.session.stop_graceful(now, cease);
                } else {
                    p.session.stop(now, cease);
                }
                // Keep the writer handles: Close lets them finish, we wait below.
                for c in p.conns.values_mut() {
                    if let Some(t) = c.writer_task.take() {
                        writers.push(t);
                    }
                }
            }
            self.drive(i, now);
        }
        self.flush();
        let wait = async {
            for w in writers {
                let _ = w.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), wait).await;
        tracing::info!("BGP speaker stopped");
    }
}

/// Closes the connection tasks of connections the session no longer has. Every way a
/// connection ends yields an [`Action::Close`]; this keeps that promise also for a path
/// that might forget it, so a socket never outlives its connection.
/// Debug log of a connection event (not of UPDATE batches' contents).
fn trace_event(ev: &ConnEvent) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    match ev {
        ConnEvent::Accepted { peer, stream } => {
            tracing::debug!(peer, remote = ?stream.peer_addr().ok(), "event: accepted")
        }
        ConnEvent::Connected { peer, conn, stream } => {
            tracing::debug!(peer, ?conn, local = ?stream.local_addr().ok(), "event: connected")
        }
        ConnEvent::ConnectFailed { peer, conn, error } => {
            tracing::debug!(peer, ?conn, "event: connect failed: {error}")
        }
        ConnEvent::Messages {
            peer, conn, msgs, ..
        } => {
            let kinds: Vec<&str> = msgs
                .msgs()
                .iter()
                .take(4)
                .map(|m| m.kind().name())
                .collect();
            let ones = msgs.ones().len();
            tracing::debug!(peer, ?conn, n = msgs.len(), ones, first = ?kinds, "event: messages")
        }
        ConnEvent::ReadFailed {
            peer, conn, reason, ..
        } => tracing::debug!(peer, ?conn, "event: read failed: {reason}"),
        ConnEvent::Released { peer } => tracing::debug!(peer, "event: released"),
        ConnEvent::Drained => {}
    }
}

/// Debug log of a session action (UPDATEs and route changes left out: too many).
fn trace_action(peer: IpAddr, action: &Action) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    match action {
        Action::Send(conn, msg) if !matches!(msg, Message::Update(_)) => {
            tracing::debug!(%peer, ?conn, "action: send {}", msg.kind().name())
        }
        Action::Connect(conn) | Action::Close(conn) | Action::Established(conn) => {
            tracing::debug!(%peer, ?conn, "action: {action:?}")
        }
        Action::Negotiated { conn, .. } => tracing::debug!(%peer, ?conn, "action: negotiated"),
        _ => {}
    }
}

fn release_orphans(p: &mut Peer) {
    if p.conns.len() <= p.session.connections().count() {
        return;
    }
    let live: Vec<ConnId> = p.session.connections().map(|(id, _)| id).collect();
    let gone: Vec<ConnId> = p
        .conns
        .keys()
        .filter(|id| !live.contains(id))
        .copied()
        .collect();
    for id in gone {
        if let Some(c) = p.conns.remove(&id) {
            tracing::debug!(peer = %p.cfg.address, "releasing connection {id:?} the session has forgotten");
            close(c);
        }
    }
}

/// Applies an UPDATE of peer `p` to the RIB; a crossed prefix limit acts on its session.
fn receive(rib: &mut Rib, p: &mut Peer, id: PeerId, update: &Update, now: Instant) {
    if let Err(e) = rib.receive(id, update) {
        limit_crossed(&p.cfg.address, &mut p.session, e, now);
    }
}

/// Logs what the RIB refused of the UPDATE of the peer at `address`; a crossed prefix
/// limit acts on its session.
fn limit_crossed(address: &IpAddr, session: &mut Session, e: RibError, now: Instant) {
    tracing::warn!(peer = %address, "{e}");
    if let RibError::PrefixLimit { action, .. } = e {
        prefix_limit(session, now, action);
    }
}

/// Carries out a prefix limit's action (RFC 4486 Cease subcode 1 for `restart` and
/// `disable`; `warn` and `block` were logged and done by the RIB).
fn prefix_limit(session: &mut Session, now: Instant, action: LimitAction) {
    let cease = || Notification::cease(CeaseSubcode::MaximumPrefixesReached);
    match action {
        LimitAction::Warn | LimitAction::Block => {}
        LimitAction::Restart => session.reset(now, cease()),
        LimitAction::Disable => session.stop(now, cease()),
    }
}

/// Closes a connection: abandons a connect, lets the writer flush and close, stops the
/// reader (which drains the socket a little longer so the close sends no RST).
fn close(c: ConnTasks) {
    if let Some(t) = c.connect_task {
        t.abort();
    }
    if let Some(stop) = c.reader_stop {
        let _ = stop.send(());
    }
    match c.writer {
        Some(w) => w.close(),
        None => {
            if let Some(t) = c.writer_task {
                t.abort();
            }
        }
    }
}

fn families_text(families: &[AddressFamily]) -> String {
    let names: Vec<String> = families.iter().map(ToString::to_string).collect();
    names.join(", ")
}

/// The link of a session's local address; `None` (logged) when the lookup fails.
fn local_link(local: IpAddr, peer: IpAddr) -> Option<ifaddr::LocalLink> {
    match ifaddr::lookup(local) {
        Ok(link) => link,
        Err(e) => {
            tracing::warn!(%peer, "cannot read interface addresses: {e}");
            None
        }
    }
}

/// Refuses a connection of a configured peer whose session is down: Cease /
/// Connection Rejected (RFC 4486), written best-effort, then close.
fn reject(stream: TcpStream) {
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut stream = stream;
        let n = Message::Notification(Notification::cease(CeaseSubcode::ConnectionRejected));
        if let Ok(bytes) = crate::wire::codec::encode_to_vec(&n, &Default::default()) {
            let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&bytes)).await;
        }
        let _ = stream.shutdown().await;
    });
}
