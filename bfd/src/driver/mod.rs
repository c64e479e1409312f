//! The tokio driver: one task owns every [`Session`], the listeners on UDP 3784 and one
//! sender socket per session; it moves packets, checks TTL 255, demultiplexes, re-arms
//! one timer to the earliest deadline, and tells its client about Up and Down through a
//! channel. Clients talk to it only through a [`DriverHandle`] (no shared state).

mod socket;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::packet::{ControlPacket, Diag, State};
use crate::session::jitter::Rng;
use crate::session::{ParamsError, Session, SessionParams, Snapshot};

pub use socket::{SOURCE_PORTS, TTL};

/// The well-known port of single-hop BFD Control packets (RFC 5881 §4).
pub const CONTROL_PORT: u16 = 3784;

/// How the driver listens.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// UDP port to listen on and send to ([`CONTROL_PORT`]).
    pub port: u16,
    /// Listen for IPv4 peers.
    pub ipv4: bool,
    /// Listen for IPv6 peers (skipped with a warning where the kernel has no IPv6).
    pub ipv6: bool,
    /// Seed for discriminators, source ports and transmit jitter.
    pub seed: u64,
}

impl Default for DriverConfig {
    /// Both families on port 3784, seeded from the clock and the process id.
    fn default() -> Self {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        DriverConfig {
            port: CONTROL_PORT,
            ipv4: true,
            ipv6: true,
            seed: t ^ (u64::from(std::process::id()) << 32),
        }
    }
}

/// Names one session: the neighbour, our address towards it, and optionally the
/// interface (needed for IPv6 link-local neighbours; packets from another interface are
/// then not taken for this session).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerKey {
    /// The neighbour's address.
    pub peer: IpAddr,
    /// Our address the session runs from.
    pub local: IpAddr,
    /// Interface index, if the session is tied to one.
    pub ifindex: Option<u32>,
}

/// What the client (BGP) hears. Sent for sessions entering and leaving Up only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BfdEvent {
    /// The session came Up.
    Up {
        /// Which session.
        peer: PeerKey,
    },
    /// The session left Up.
    Down {
        /// Which session.
        peer: PeerKey,
        /// Why: 1 detection time expired, 3 neighbour signalled down, 7 we held it down.
        diag: Diag,
        /// The remote's last reported state. `AdminDown` means the neighbour took BFD
        /// down on purpose; RFC 5882 §3.2 says its client session should stay up.
        remote_state: State,
    },
}

impl BfdEvent {
    /// The session the event is about.
    pub fn peer(&self) -> PeerKey {
        match self {
            BfdEvent::Up { peer } | BfdEvent::Down { peer, .. } => *peer,
        }
    }
}

/// One session's status for `tern status` and the `tern_bfd_*` metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionStatus {
    /// Which session.
    pub peer: PeerKey,
    /// The configured timers and key (its Debug hides the secret).
    pub params: SessionParams,
    /// UDP source port of our packets.
    pub source_port: u16,
    /// State, diagnostics, negotiated intervals and counters.
    pub session: Snapshot,
}

/// Packets the driver discarded before any session saw them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverCounters {
    /// TTL / Hop Limit not 255 or not reported (RFC 5881 §5).
    pub bad_ttl: u64,
    /// Failed [`ControlPacket::decode`].
    pub malformed: u64,
    /// No session for the discriminator or the addresses.
    pub no_session: u64,
    /// Sends that failed.
    pub send_errors: u64,
}

/// Errors of the driver API.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// A listener could not be opened.
    #[error("BFD listener on UDP {port} ({family}): {source}")]
    Listen {
        /// The port.
        port: u16,
        /// `ipv4` or `ipv6`.
        family: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The session's sender socket could not be bound.
    #[error("BFD source socket for {local}: {source}")]
    Source {
        /// Our address.
        local: IpAddr,
        /// The OS error.
        source: io::Error,
    },
    /// `add_peer` for a key that already has a session.
    #[error("a BFD session for {0:?} exists")]
    Exists(PeerKey),
    /// `peer` and `local` are of different families.
    #[error("peer and local address of {0:?} differ in family")]
    Family(PeerKey),
    /// Parameters the wire cannot carry.
    #[error("BFD parameters for {0:?}: {1}")]
    Params(PeerKey, ParamsError),
    /// The driver task has stopped.
    #[error("BFD driver stopped")]
    Stopped,
}

enum Command {
    Add(
        PeerKey,
        SessionParams,
        oneshot::Sender<Result<(), DriverError>>,
    ),
    Remove(PeerKey, oneshot::Sender<bool>),
    Params(
        PeerKey,
        SessionParams,
        oneshot::Sender<Result<bool, DriverError>>,
    ),
    AdminDown(PeerKey, bool, oneshot::Sender<bool>),
    Status(oneshot::Sender<Vec<SessionStatus>>),
    Counters(oneshot::Sender<DriverCounters>),
}

/// The client's side of a running driver. Cloning is cheap; the driver stops (sending
/// AdminDown to every peer) when the last handle is dropped.
#[derive(Clone, Debug)]
pub struct DriverHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl DriverHandle {
    async fn ask<T>(
        &self,
        f: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(f(tx)).map_err(|_| DriverError::Stopped)?;
        rx.await.map_err(|_| DriverError::Stopped)
    }

    /// Starts a session (Down, slow transmission until the neighbour answers).
    pub async fn add_peer(&self, peer: PeerKey, params: SessionParams) -> Result<(), DriverError> {
        self.ask(|tx| Command::Add(peer, params, tx)).await?
    }

    /// Ends a session, telling the neighbour AdminDown first. False if there was none.
    pub async fn remove_peer(&self, peer: PeerKey) -> Result<bool, DriverError> {
        self.ask(|tx| Command::Remove(peer, tx)).await
    }

    /// Changes a session's timers or key (a Poll Sequence). False if there is no such
    /// session; `DriverError::Params` if the wire cannot carry them.
    pub async fn set_params(
        &self,
        peer: PeerKey,
        params: SessionParams,
    ) -> Result<bool, DriverError> {
        self.ask(|tx| Command::Params(peer, params, tx)).await?
    }

    /// Holds a session AdminDown, or releases it. False if there is no such session.
    pub async fn set_admin_down(&self, peer: PeerKey, down: bool) -> Result<bool, DriverError> {
        self.ask(|tx| Command::AdminDown(peer, down, tx)).await
    }

    /// Every session's status, in no particular order.
    pub async fn status(&self) -> Result<Vec<SessionStatus>, DriverError> {
        self.ask(Command::Status).await
    }

    /// Packets discarded before demultiplexing.
    pub async fn counters(&self) -> Result<DriverCounters, DriverError> {
        self.ask(Command::Counters).await
    }
}

/// Starts the driver task.
pub struct Driver;

impl Driver {
    /// Opens the listeners (so a busy port is reported here) and spawns the task on the
    /// current tokio runtime. Returns the handle and the stream of [`BfdEvent`]s.
    pub fn spawn(
        config: DriverConfig,
    ) -> Result<(DriverHandle, mpsc::UnboundedReceiver<BfdEvent>), DriverError> {
        let open = |v6: bool, family: &'static str| -> Result<Option<UdpSocket>, DriverError> {
            match socket::listener(v6, config.port) {
                Ok(s) => Ok(Some(s)),
                Err(e) if v6 && e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                    tracing::warn!("no IPv6 in this network namespace: BFD listens on IPv4 only");
                    Ok(None)
                }
                Err(source) => Err(DriverError::Listen {
                    port: config.port,
                    family,
                    source,
                }),
            }
        };
        let v4 = if config.ipv4 {
            open(false, "ipv4")?
        } else {
            None
        };
        let v6 = if config.ipv6 {
            open(true, "ipv6")?
        } else {
            None
        };
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let task = Task {
            port: config.port,
            rng: Rng::new(config.seed),
            v4,
            v6,
            sessions: HashMap::new(),
            by_key: HashMap::new(),
            counters: DriverCounters::default(),
            events: ev_tx,
        };
        tokio::spawn(task.run(cmd_rx));
        Ok((DriverHandle { tx: cmd_tx }, ev_rx))
    }
}

struct Entry {
    key: PeerKey,
    session: Session,
    sock: UdpSocket,
    port: u16,
    dst: SocketAddr,
}

struct Task {
    port: u16,
    rng: Rng,
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    /// By local discriminator.
    sessions: HashMap<u32, Entry>,
    by_key: HashMap<PeerKey, u32>,
    counters: DriverCounters,
    events: mpsc::UnboundedSender<BfdEvent>,
}

async fn recv_on(sock: Option<&UdpSocket>, buf: &mut [u8]) -> io::Result<socket::Received> {
    match sock {
        Some(s) => {
            s.async_io(Interest::READABLE, || socket::recv(s, buf))
                .await
        }
        None => std::future::pending().await,
    }
}

impl Task {
    async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Command>) {
        let mut buf4 = [0u8; 1500];
        let mut buf6 = [0u8; 1500];
        let far = || tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
        let timer = tokio::time::sleep_until(far());
        tokio::pin!(timer);
        loop {
            self.flush(Instant::now());
            let next = self
                .sessions
                .values()
                .filter_map(|e| e.session.poll_timeout())
                .min();
            timer
                .as_mut()
                .reset(next.map(tokio::time::Instant::from_std).unwrap_or_else(far));
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(c) => self.command(c),
                    None => break,
                },
                r = recv_on(self.v4.as_ref(), &mut buf4) => self.received(r, &buf4),
                r = recv_on(self.v6.as_ref(), &mut buf6) => self.received(r, &buf6),
                () = &mut timer => {
                    let now = Instant::now();
                    for e in self.sessions.values_mut() {
                        e.session.handle_timeout(now);
                    }
                }
            }
        }
        // Every handle is gone: tell the neighbours we stop on purpose (AdminDown).
        let now = Instant::now();
        for e in self.sessions.values_mut() {
            e.session.set_admin_down(now, true);
        }
        self.flush(now);
    }

    fn received(&mut self, r: io::Result<socket::Received>, buf: &[u8]) {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("BFD receive: {e}");
                return;
            }
        };
        if r.ttl != Some(TTL) {
            self.counters.bad_ttl += 1;
            tracing::debug!(from = %r.from, ttl = ?r.ttl, "BFD packet dropped: TTL is not 255");
            return;
        }
        let pkt = match ControlPacket::decode(&buf[..r.len]) {
            Ok(p) => p,
            Err(e) => {
                self.counters.malformed += 1;
                tracing::debug!(from = %r.from, "BFD packet dropped: {e}");
                return;
            }
        };
        let from = r.from.ip();
        let matches = |k: &PeerKey| {
            k.peer == from
                && r.local.is_none_or(|l| l == k.local)
                && k.ifindex.is_none_or(|i| r.ifindex == 0 || i == r.ifindex)
        };
        let discr = if pkt.your_discr != 0 {
            Some(pkt.your_discr).filter(|d| self.sessions.get(d).is_some_and(|e| matches(&e.key)))
        } else {
            self.by_key
                .iter()
                .find(|(k, _)| matches(k))
                .map(|(_, d)| *d)
        };
        let Some(entry) = discr.and_then(|d| self.sessions.get_mut(&d)) else {
            self.counters.no_session += 1;
            tracing::debug!(from = %r.from, your = pkt.your_discr, "BFD packet for no session");
            return;
        };
        if let Err(e) = entry.session.handle_packet(Instant::now(), &pkt) {
            tracing::debug!(peer = %from, "BFD packet dropped: {e}");
        }
    }

    fn command(&mut self, c: Command) {
        let now = Instant::now();
        match c {
            Command::Add(key, params, reply) => {
                let _ = reply.send(self.add(key, params, now));
            }
            Command::Remove(key, reply) => {
                let found = self
                    .by_key
                    .remove(&key)
                    .and_then(|d| self.sessions.remove(&d));
                let removed = found.is_some();
                if let Some(mut e) = found {
                    e.session.set_admin_down(now, true);
                    while let Some(p) = e.session.poll_transmit(now) {
                        send(&mut self.counters, &e, &p);
                    }
                }
                let _ = reply.send(removed);
            }
            Command::Params(key, params, reply) => {
                let r = match params.validate() {
                    Err(e) => Err(DriverError::Params(key, e)),
                    Ok(()) => Ok(self
                        .entry(&key)
                        .map(|e| e.session.set_params(now, params))
                        .is_some()),
                };
                let _ = reply.send(r);
            }
            Command::AdminDown(key, down, reply) => {
                let e = self.entry(&key);
                let ok = e.is_some();
                if let Some(e) = e {
                    e.session.set_admin_down(now, down);
                }
                let _ = reply.send(ok);
            }
            Command::Status(reply) => {
                let st = self
                    .sessions
                    .values()
                    .map(|e| SessionStatus {
                        peer: e.key,
                        params: e.session.params().clone(),
                        source_port: e.port,
                        session: e.session.snapshot(),
                    })
                    .collect();
                let _ = reply.send(st);
            }
            Command::Counters(reply) => {
                let _ = reply.send(self.counters);
            }
        }
    }

    fn entry(&mut self, key: &PeerKey) -> Option<&mut Entry> {
        let d = self.by_key.get(key)?;
        self.sessions.get_mut(d)
    }

    fn add(
        &mut self,
        key: PeerKey,
        params: SessionParams,
        now: Instant,
    ) -> Result<(), DriverError> {
        if self.by_key.contains_key(&key) {
            return Err(DriverError::Exists(key));
        }
        params.validate().map_err(|e| DriverError::Params(key, e))?;
        if key.peer.is_ipv4() != key.local.is_ipv4() {
            return Err(DriverError::Family(key));
        }
        let scope = key.ifindex.unwrap_or(0);
        let first = SOURCE_PORTS.0 + (self.rng.next_u64() % 16384) as u16;
        let (sock, port) =
            socket::sender(key.local, scope, first).map_err(|source| DriverError::Source {
                local: key.local,
                source,
            })?;
        let discr = loop {
            let d = self.rng.next_u64() as u32;
            if d != 0 && !self.sessions.contains_key(&d) {
                break d;
            }
        };
        let dst = match key.peer {
            IpAddr::V4(a) => SocketAddr::new(IpAddr::V4(a), self.port),
            IpAddr::V6(a) => SocketAddr::V6(SocketAddrV6::new(a, self.port, 0, scope)),
        };
        let session = Session::new(params, discr, self.rng.next_u64(), now);
        self.sessions.insert(
            discr,
            Entry {
                key,
                session,
                sock,
                port,
                dst,
            },
        );
        self.by_key.insert(key, discr);
        Ok(())
    }

    /// Sends what every session has to send and passes its Up/Down changes on.
    fn flush(&mut self, now: Instant) {
        for e in self.sessions.values_mut() {
            while let Some(p) = e.session.poll_transmit(now) {
                send(&mut self.counters, e, &p);
            }
            while let Some(ch) = e.session.poll_event() {
                tracing::info!(
                    peer = %e.key.peer, from = %ch.from, to = %ch.to, diag = %ch.diag,
                    "BFD session state change"
                );
                let ev = if ch.to == State::Up {
                    Some(BfdEvent::Up { peer: e.key })
                } else if ch.from == State::Up {
                    Some(BfdEvent::Down {
                        peer: e.key,
                        diag: ch.diag,
                        remote_state: ch.remote_state,
                    })
                } else {
                    None
                };
                if let Some(ev) = ev {
                    // A client that went away does not stop BFD.
                    let _ = self.events.send(ev);
                }
            }
        }
    }
}

fn send(counters: &mut DriverCounters, e: &Entry, p: &ControlPacket) {
    if let Err(err) = e.sock.try_send_to(&p.encode(), e.dst) {
        counters.send_errors += 1;
        tracing::debug!(peer = %e.key.peer, "BFD send: {err}");
    }
}
