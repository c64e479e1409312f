//! The public face of the driver: [`Speaker::start`] and the cloneable [`SpeakerHandle`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, oneshot, watch};

use super::config::{PeerConfig, PeerKind, SpeakerConfig};
use super::conn::ConnEvent;
use super::owner::{Command, Owner, PeerDiff};
use super::sockopt;
use crate::rib::{RouteChange, RouteView};

/// Depth of the connection-event channel (batches of messages): backpressure from the
/// owner task to the readers, and so to the peers' TCP windows.
const EVENT_QUEUE: usize = 64;

/// Why the speaker could not start or be reconfigured.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    /// The listener could not be bound or configured.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The configured listen address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A peer's configuration cannot be run.
    #[error("peer {peer}: {reason}")]
    Peer {
        /// The peer's address.
        peer: IpAddr,
        /// What is wrong.
        reason: String,
    },
    /// The speaker has stopped (after shutdown).
    #[error("the BGP speaker has stopped")]
    Stopped,
}

/// One peer as `tern status` shows it.
#[derive(Debug, Clone)]
pub struct PeerStatus {
    /// Peer address.
    pub address: IpAddr,
    /// Peer AS.
    pub asn: u32,
    /// Mesh or global.
    pub kind: PeerKind,
    /// Free text from the configuration.
    pub description: Option<String>,
    /// FSM state name: "Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established".
    pub state: &'static str,
    /// When the state last changed.
    pub since: Option<SystemTime>,
    /// Time in Established, if established.
    pub uptime: Option<Duration>,
    /// Prefixes received from the peer: its routes in the RIB plus the announcements
    /// rejected in this session.
    pub prefixes_received: u64,
    /// Prefixes accepted by import policy.
    pub prefixes_accepted: u64,
    /// Prefixes advertised to the peer.
    pub prefixes_advertised: u64,
    /// Prefixes not advertised to the peer because their attribute set does not fit
    /// in one UPDATE of its maximum message size.
    pub prefixes_oversized: u64,
    /// Announcements of this session rejected, by reason (counted, not stored).
    pub rejected: Vec<(&'static str, u64)>,
    /// The last error (NOTIFICATION sent or received, connection failure).
    pub last_error: Option<String>,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// UPDATE messages received.
    pub updates_in: u64,
    /// UPDATE messages sent.
    pub updates_out: u64,
    /// Number of transitions into Established.
    pub established_transitions: u64,
    /// Negotiated hold time while established.
    pub hold_time: Option<Duration>,
    /// Paths of this peer kept as stale by graceful restart (RFC 4724): the peer is
    /// restarting, or back and has not sent End-of-RIB yet.
    pub stale_paths: usize,
    /// What the established session negotiated: both OPENs (capabilities), hold time,
    /// keepalive, families.
    pub negotiated: Option<crate::session::Negotiated>,
    /// Hold time as configured (what our OPEN proposes).
    pub hold_time_configured: Duration,
    /// Keepalive interval as configured (`None`: a third of the hold time).
    pub keepalive_configured: Option<Duration>,
    /// Messages received, by type.
    pub received_by_type: super::MessageCounts,
    /// Messages sent, by type.
    pub sent_by_type: super::MessageCounts,
    /// Recent errors of the session with their times, oldest first.
    pub errors: Vec<super::PeerError>,
    /// Families whose End-of-RIB the peer has sent in this session (RFC 4724).
    pub end_of_rib: Vec<crate::wire::AddressFamily>,
}

/// Starts the driver.
pub struct Speaker;

impl Speaker {
    /// Binds the listener (with every peer's TCP-MD5 key), starts the owner task and
    /// the peers' connectors. Returns the handle and the consumer end of the best-path
    /// changes (for the kernel FIB; dropping it discards them). Must be called inside a
    /// tokio runtime.
    pub async fn start(cfg: SpeakerConfig) -> Result<(SpeakerHandle, RouteChanges), SpeakerError> {
        validate_peers(&cfg.peers)?;
        let listener = match cfg.listen {
            Some(addr) => Some(bind(addr, &cfg.peers)?),
            None => None,
        };
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (changes_tx, changes_rx) = mpsc::channel(1);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let mut owner =
            Owner::new(cfg, events_tx.clone(), changes_tx).map_err(|e| SpeakerError::Peer {
                peer: IpAddr::from([0, 0, 0, 0]),
                reason: e.to_string(),
            })?;
        if let Some(l) = listener {
            let l = Arc::new(l);
            owner.listen_sock = Some(l.clone());
            let table = owner.accept_table();
            owner.listener = Some(tokio::spawn(accept_loop(l, table, events_tx)));
        }
        tokio::spawn(owner.run(events_rx, cmd_rx));
        let handle = SpeakerHandle { tx: cmd_tx };
        let changes = RouteChanges {
            handle: handle.clone(),
            pending: changes_rx,
            parked: None,
        };
        Ok((handle, changes))
    }
}

/// Every peer can run, and no address is configured twice.
pub(super) fn validate_peers(peers: &[PeerConfig]) -> Result<(), SpeakerError> {
    for (i, p) in peers.iter().enumerate() {
        validate_peer(p)?;
        let canon = p.address.to_canonical();
        if peers[..i].iter().any(|q| q.address.to_canonical() == canon) {
            return Err(SpeakerError::Peer {
                peer: p.address,
                reason: "configured twice".into(),
            });
        }
    }
    Ok(())
}

fn validate_peer(p: &PeerConfig) -> Result<(), SpeakerError> {
    let err = |reason: String| SpeakerError::Peer {
        peer: p.address,
        reason,
    };
    if let Some(pw) = &p.password {
        if pw.is_empty() || pw.len() > sockopt::MD5_MAX_KEY_LEN {
            return Err(err(format!(
                "password must be 1 to {} octets",
                sockopt::MD5_MAX_KEY_LEN
            )));
        }
    }
    if matches!(p.hold_time.as_secs(), 1 | 2) {
        return Err(err("hold time must be 0 or at least 3 s".into()));
    }
    if p.ttl_security == Some(0) {
        return Err(err("ttlSecurity hops must be at least 1".into()));
    }
    Ok(())
}

fn bind(addr: SocketAddr, peers: &[PeerConfig]) -> Result<TcpListener, SpeakerError> {
    let err = |source| SpeakerError::Listen { addr, source };
    let socket = if addr.is_ipv6() {
        TcpSocket::new_v6()
    } else {
        TcpSocket::new_v4()
    }
    .map_err(err)?;
    socket.set_reuseaddr(true).map_err(err)?;
    for p in peers {
        if let Some(pw) = &p.password {
            // A v4 listener cannot hold a key for an IPv6 peer; such a peer can only
            // connect to us over a v6 listener anyway.
            if p.address.is_ipv6() && !addr.is_ipv6() {
                continue;
            }
            sockopt::set_md5(&socket, p.address, addr.is_ipv6(), Some(pw.as_bytes()))
                .map_err(err)?;
        }
    }
    if peers.iter().any(|p| p.ttl_security.is_some()) {
        sockopt::save_syn(&socket).map_err(err)?;
    }
    socket.bind(addr).map_err(err)?;
    socket.listen(128).map_err(err)
}

/// One entry of the accept loop's table: a configured peer's (canonical) address, its
/// id in the owner task, and its GTSM hop count.
#[derive(Debug, Clone)]
pub struct AcceptPeer {
    /// The peer's address, IPv4-mapped IPv6 folded to IPv4.
    pub address: IpAddr,
    /// The owner's id of the peer.
    pub id: usize,
    /// GTSM (RFC 5082) hops.
    pub ttl_security: Option<u8>,
}

async fn accept_loop(
    listener: Arc<TcpListener>,
    table: watch::Receiver<Vec<AcceptPeer>>,
    events: mpsc::Sender<ConnEvent>,
) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let addr = remote.ip().to_canonical();
        let found = table
            .borrow()
            .iter()
            .find(|p| p.address == addr)
            .map(|p| (p.id, p.ttl_security));
        let Some((peer, ttl_security)) = found else {
            crate::lograte::unknown_peer(remote);
            drop(stream);
            continue;
        };
        if let Some(hops) = ttl_security {
            // GTSM for the connection's first packets: the SYN's TTL, checked here;
            // later segments: IP_MINTTL on the accepted socket.
            let min = 256 - u16::from(hops.max(1));
            match sockopt::syn_ttl(&stream) {
                Ok(Some(ttl)) if u16::from(ttl) >= min => {}
                other => {
                    tracing::warn!(remote = %remote, "GTSM: connection refused, SYN TTL {other:?} below {min}");
                    continue;
                }
            }
            let v6 = stream.local_addr().map(|a| a.is_ipv6()).unwrap_or(false);
            if let Err(e) = sockopt::set_gtsm(&stream, v6, hops) {
                tracing::warn!(remote = %remote, "cannot set GTSM: {e}");
                continue;
            }
        }
        if events
            .send(ConnEvent::Accepted { peer, stream })
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Queries and commands to a running speaker. Cheap to clone. After the speaker has
/// stopped, queries return empty answers.
#[derive(Debug, Clone)]
pub struct SpeakerHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl SpeakerHandle {
    async fn ask<T: Default>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> T {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(make(tx)).is_err() {
            return T::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Status of every configured peer.
    pub async fn peers(&self) -> Vec<PeerStatus> {
        self.ask(Command::Peers).await
    }

    /// The Loc-RIB; with `all`, also the losing and rejected paths.
    pub async fn routes(&self, all: bool) -> Vec<RouteView> {
        self.ask(|tx| Command::Routes(all, tx)).await
    }

    /// Every prefix the RIB stores (with a best path or only rejected paths), sorted:
    /// the index a paged listing walks, with [`SpeakerHandle::routes_of`] for each page,
    /// so that no whole table is ever built at once.
    pub async fn route_prefixes(&self) -> Vec<IpNet> {
        self.ask(Command::RoutePrefixes).await
    }

    /// The views of `prefixes` that are still stored (in the given order); with `all`,
    /// also those with only rejected paths, every path included.
    pub async fn routes_of(&self, prefixes: Vec<IpNet>, all: bool) -> Vec<RouteView> {
        self.ask(|tx| Command::RoutesOf(prefixes, all, tx)).await
    }

    /// (Loc-RIB prefixes, paths).
    pub async fn rib_size(&self) -> (usize, usize) {
        self.ask(Command::RibSize).await
    }

    /// At most `max` (at least 1) pending best-path changes, taken from the RIB's
    /// change log; empty when none is pending. Level-triggered (see
    /// [`crate::rib::Rib::take_route_changes_max`]): apply `Install` and `Replace` as
    /// "set", `Withdraw` as "remove if present".
    pub async fn take_route_changes(&self, max: usize) -> Vec<RouteChange> {
        self.ask(|tx| Command::TakeRouteChanges(max, tx)).await
    }

    /// Replaces the configured peers (declaratively, compared by address with the
    /// running ones). An added peer is started (active or passive as configured); a
    /// removed one gets Cease / Peer De-configured (RFC 4486 subcode 3), its routes
    /// leave the RIB (best-path changes flow to [`RouteChanges`] as for any session
    /// end) and its tasks and sockets are released; a changed one (any field of its
    /// [`PeerConfig`] differs) gets Cease / Other Configuration Change (subcode 6) and
    /// starts again with the new configuration; an unchanged one is not touched (its
    /// session, uptime and counters stay). An invalid list (a bad peer, an address
    /// twice) is an error and changes nothing, as is a call after the speaker has
    /// stopped ([`SpeakerError::Stopped`]).
    pub async fn set_peers(&self, peers: Vec<PeerConfig>) -> Result<PeerDiff, SpeakerError> {
        validate_peers(&peers)?;
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::SetPeers(peers, tx))
            .map_err(|_| SpeakerError::Stopped)?;
        rx.await.unwrap_or(Err(SpeakerError::Stopped))
    }

    /// Ends the session with `peer` now with Cease / `subcode` (e.g. 10, BFD Down,
    /// RFC 9384); its routes are withdrawn from then on, a few thousand prefixes per turn
    /// of the speaker's task as when a session goes down by itself (a full table's take
    /// about half a second, which no other session waits for). The peer stays configured
    /// and connects again after its ConnectRetry back-off. `false` if `peer` is not
    /// configured.
    pub async fn peer_down(&self, peer: IpAddr, subcode: u8) -> bool {
        self.ask(|tx| Command::PeerDown(peer, subcode, tx)).await
    }

    /// Replaces the set of originated prefixes.
    pub async fn set_originated(&self, prefixes: Vec<IpNet>) {
        self.ask(|tx| Command::SetOriginated(prefixes, tx)).await
    }

    /// [`SpeakerHandle::set_originated`] without waiting: `done` is answered once the
    /// UPDATEs it makes are written (dropped if the speaker has stopped). Commands are
    /// taken in the order they are sent, whichever task sends them.
    pub fn start_originated(&self, prefixes: Vec<IpNet>, done: oneshot::Sender<()>) {
        let _ = self.tx.send(Command::SetOriginated(prefixes, done));
    }

    /// Sends Cease / Administrative Shutdown (RFC 8203 message "tern shutting down") to
    /// every peer, waits at most 2 s for the NOTIFICATIONs to be written, and stops the
    /// speaker.
    pub async fn shutdown(&self) {
        self.ask(|tx| Command::Shutdown(false, tx)).await
    }

    /// Stops the speaker for a restart (RFC 4724): sessions with peers that advertised
    /// graceful restart are closed without a NOTIFICATION, so those peers keep our
    /// routes for our restart time (120 s) and refresh them when we are back; every
    /// other peer gets the Cease of [`SpeakerHandle::shutdown`].
    pub async fn shutdown_graceful(&self) {
        self.ask(|tx| Command::Shutdown(true, tx)).await
    }
}

/// A consumer of best-path changes that applies a small batch in the speaker's own turn
/// ([`RouteChanges::set_sink`]), as a single-threaded daemon writes a route to the kernel
/// in the loop that read its UPDATE: the consumer's task is not woken for it.
pub trait RouteSink: Send + 'static {
    /// Applies `changes` now, or gives them back untouched when it cannot (they are then
    /// the first the consumer's next take returns). Runs in the speaker's task: must
    /// not block, and should be quick (a few routes' worth of work).
    fn apply_now(&mut self, changes: Vec<RouteChange>) -> Result<(), Vec<RouteChange>>;
}

/// A [`RouteSink`] and the most pending changes it is offered at once.
pub(super) struct Sink {
    pub(super) max: usize,
    pub(super) inner: Box<dyn RouteSink>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").field("max", &self.max).finish()
    }
}

/// The consumer end of the best-path changes. Changes are not queued: they stay
/// coalesced per prefix in the RIB's change log (8 octets per prefix) until taken
/// here in batches, so a slow consumer (the kernel FIB) costs no memory beyond that log
/// and one batch. Dropping it makes the speaker discard the changes.
#[derive(Debug)]
pub struct RouteChanges {
    handle: SpeakerHandle,
    pending: mpsc::Receiver<()>,
    /// The take [`RouteChanges::next`] left waiting in the speaker.
    parked: Option<oneshot::Receiver<Vec<RouteChange>>>,
}

impl RouteChanges {
    /// Waits until changes are pending, then takes at most `max` of them (see
    /// [`SpeakerHandle::take_route_changes`]). `None` once the speaker has stopped.
    ///
    /// The request waits in the speaker, which answers it right after the RIB has logged
    /// a change: one hop from the UPDATE to the consumer, where a signal and a take
    /// are three. Cancel-safe (use it in a `select!`): a dropped call leaves its
    /// request parked and the next call collects the answer, so no batch is lost.
    pub async fn next(&mut self, max: usize) -> Option<Vec<RouteChange>> {
        loop {
            let rx = match &mut self.parked {
                Some(rx) => rx,
                None => {
                    let (tx, rx) = oneshot::channel();
                    if self
                        .handle
                        .tx
                        .send(Command::TakeRouteChangesWhenPending(max, tx))
                        .is_err()
                    {
                        return None;
                    }
                    self.parked.insert(rx)
                }
            };
            let answer = rx.await;
            self.parked = None;
            match answer {
                Ok(batch) if !batch.is_empty() => return Some(batch),
                Ok(_) => {}
                // The speaker drops a parked request only when it stops.
                Err(_) => return None,
            }
        }
    }

    /// Lets `sink` apply pending changes in the speaker's own turn when there are at most
    /// `max` of them and this consumer waits in [`RouteChanges::next`] with nothing in
    /// hand (a batch it took and has not applied yet is never overtaken); everything
    /// else, and whatever the sink gives back, comes through [`RouteChanges::next`] as
    /// before. The sink and the consumer must agree on order between themselves: the
    /// consumer applies the batches it takes, and its other inputs, under the same lock
    /// the sink tries (and gives up on when it is held).
    pub fn set_sink(&self, max: usize, sink: impl RouteSink) {
        let _ = self.handle.tx.send(Command::SetSink(Sink {
            max,
            inner: Box::new(sink),
        }));
    }

    /// Waits until the speaker signals pending changes (or has one stored); `false`
    /// once it has stopped. Cancel-safe. The signal is a level: after it, take until a
    /// take comes back empty, then wait again.
    pub async fn wait(&mut self) -> bool {
        self.pending.recv().await.is_some()
    }

    /// At most `max` pending changes now (empty when none is pending or the speaker
    /// has stopped).
    pub async fn take(&self, max: usize) -> Vec<RouteChange> {
        self.handle.take_route_changes(max).await
    }
}
