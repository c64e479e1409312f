//! BFD beside the BGP sessions (`bfd: { interval, multiplier }` on a peer or the mesh):
//! owns the `bfd` crate's driver, one BFD session per BFD-enabled peer, and what a BFD
//! state change does to BGP.
//!
//! - The driver is spawned when the first peer with `bfd` appears (at start or at a
//!   reload, [`BfdHandle::set_peers`]), so a node without BFD opens no UDP port.
//! - Our address in a session: the peer's `sourceAddress`, else the `listen.address` when
//!   it is one address of the peer's family, else the address the kernel picks towards the
//!   peer (a route lookup; nothing is sent). A session that cannot start yet (no route, the
//!   address not assigned, the port busy) is retried every [`RETRY`].
//! - A session leaving Up because the neighbour went silent (diag 1) or said it stopped
//!   hearing us (diag 3, remote Down) closes the BGP session at once with Cease / BFD Down
//!   (RFC 9384 subcode 10): its routes leave the RIB and the FIB without waiting for the
//!   hold time; BGP reconnects on its own retry timer. A neighbour that turned BFD off on
//!   purpose (remote AdminDown) leaves BGP alone (RFC 5882 §3.2), as does a session that
//!   never came Up (a neighbour without BFD).
//! - `tern status` reads each peer's BFD state here; the `tern_bfd_*` metrics are kept
//!   here (transitions on every event, packet counters every second).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use bfd::{BfdEvent, Diag, Driver, DriverConfig, DriverHandle, PeerKey, SessionParams, State};
use bgp::speaker::SpeakerHandle;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use tokio::sync::{mpsc, oneshot};

/// How often sessions that could not start are tried again.
pub const RETRY: Duration = Duration::from_secs(2);

/// Cease subcode "BFD Down" (RFC 9384).
pub const CEASE_BFD_DOWN: u8 = 10;

/// What BFD needs of BGP: close one session now.
pub trait SessionCloser: Send + Sync + 'static {
    /// Ends the BGP session with `peer` with Cease / `subcode`; false if no such peer.
    fn peer_down(&self, peer: IpAddr, subcode: u8) -> impl Future<Output = bool> + Send;
}

impl SessionCloser for SpeakerHandle {
    fn peer_down(&self, peer: IpAddr, subcode: u8) -> impl Future<Output = bool> + Send {
        SpeakerHandle::peer_down(self, peer, subcode)
    }
}

/// One peer's BFD as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdPeer {
    /// The BGP peer's address (the BFD neighbour).
    pub address: IpAddr,
    /// Our address towards it, if fixed by the config.
    pub local: Option<IpAddr>,
    /// Timers.
    pub bfd: config::node::Bfd,
}

/// The BFD-enabled peers of `peers`; `listen` is the BGP listener's address.
pub fn bfd_peers(peers: &[config::node::Peer], listen: IpAddr) -> Vec<BfdPeer> {
    peers
        .iter()
        .filter_map(|p| {
            let bfd = p.bfd?;
            let listen = (!listen.is_unspecified() && listen.is_ipv4() == p.address.is_ipv4())
                .then_some(listen);
            Some(BfdPeer {
                address: p.address,
                local: p.source_address.or(listen),
                bfd,
            })
        })
        .collect()
}

/// The address the kernel would send from towards `peer` (a UDP `connect` does the route
/// lookup; no packet leaves).
fn route_source(peer: IpAddr) -> std::io::Result<IpAddr> {
    let any: SocketAddr = if peer.is_ipv4() {
        ([0u8; 4], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let s = UdpSocket::bind(any)?;
    s.connect((peer, bfd::driver::CONTROL_PORT))?;
    Ok(s.local_addr()?.ip())
}

/// A peer's BFD as `tern status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdState {
    /// `Up`, `Init`, `Down`, `AdminDown`, or `-` while the session cannot start.
    pub state: String,
    /// Why the session is not running, or why it last went down.
    pub note: Option<String>,
}

enum Cmd {
    SetPeers(Vec<BfdPeer>, oneshot::Sender<()>),
    States(oneshot::Sender<HashMap<IpAddr, BfdState>>),
    Shutdown(oneshot::Sender<()>),
}

/// The BFD task's handle (cheap to clone).
#[derive(Clone, Debug)]
pub struct BfdHandle {
    tx: mpsc::Sender<Cmd>,
}

impl BfdHandle {
    /// Replaces the BFD-enabled peers (at start and at every reload): sessions of removed
    /// peers end (AdminDown is sent), new ones start, changed timers take effect through a
    /// Poll Sequence. Unchanged sessions are not touched.
    pub async fn set_peers(&self, peers: Vec<BfdPeer>) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::SetPeers(peers, tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Ends every session, telling each neighbour AdminDown (so its BGP stays up, RFC 5882
    /// §3.2: a graceful restart is not a path failure), and stops the driver.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Each BFD-enabled peer's state.
    pub async fn states(&self) -> HashMap<IpAddr, BfdState> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::States(tx)).await.is_err() {
            return HashMap::new();
        }
        rx.await.unwrap_or_default()
    }
}

/// The `tern_bfd_*` families.
#[derive(Clone)]
pub struct BfdMetrics {
    up: IntGaugeVec,
    transitions: IntCounterVec,
    received: IntCounterVec,
    sent: IntCounterVec,
}

impl BfdMetrics {
    /// Registers the families in `registry`.
    pub fn register(registry: &Registry) -> BfdMetrics {
        let gauge = |name: &str, help: &str| {
            let g = IntGaugeVec::new(Opts::new(name, help), &["peer"]).expect("valid metric");
            if let Err(e) = registry.register(Box::new(g.clone())) {
                tracing::error!("metrics registration: {e}");
            }
            g
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            if let Err(e) = registry.register(Box::new(c.clone())) {
                tracing::error!("metrics registration: {e}");
            }
            c
        };
        BfdMetrics {
            up: gauge(
                "tern_bfd_session_up",
                "1 while the BFD session with the peer is Up",
            ),
            transitions: counter(
                "tern_bfd_transitions_total",
                "BFD session transitions into (to=up) and out of (to=down) Up",
                &["peer", "to"],
            ),
            received: counter(
                "tern_bfd_packets_received_total",
                "BFD Control packets accepted by the peer's session",
                &["peer"],
            ),
            sent: counter(
                "tern_bfd_packets_sent_total",
                "BFD Control packets sent to the peer",
                &["peer"],
            ),
        }
    }
}

/// What a BFD event means for BGP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The session came Up: nothing to do.
    Up,
    /// Close the BGP session (Cease / BFD Down).
    CloseBgp,
    /// Leave BGP alone: the neighbour took BFD down on purpose (RFC 5882 §3.2), or we did.
    KeepBgp,
}

/// RFC 5882 §3.2 and RFC 5880 §6.8.6: which Down events take the BGP session down.
pub fn verdict(ev: &BfdEvent) -> Verdict {
    match ev {
        BfdEvent::Up { .. } => Verdict::Up,
        BfdEvent::Down { remote_state, .. } if *remote_state == State::AdminDown => {
            Verdict::KeepBgp
        }
        BfdEvent::Down { diag, .. } if *diag == Diag::AdministrativelyDown => Verdict::KeepBgp,
        BfdEvent::Down { .. } => Verdict::CloseBgp,
    }
}

/// Starts the BFD task with `peers` (it spawns the driver only when there are any).
pub fn spawn<C: SessionCloser>(
    peers: Vec<BfdPeer>,
    closer: C,
    metrics: Option<BfdMetrics>,
) -> BfdHandle {
    let (tx, rx) = mpsc::channel(16);
    let task = Task {
        closer,
        metrics,
        driver: None,
        events: None,
        sessions: HashMap::new(),
        driver_error: None,
        last: HashMap::new(),
    };
    tokio::spawn(task.run(peers, rx));
    BfdHandle { tx }
}

struct Session {
    want: BfdPeer,
    /// The running session's key; `None` while it could not start.
    key: Option<PeerKey>,
    /// Why it could not start, or why it last went down.
    note: Option<String>,
}

/// Last seen counters of a session (to advance the Prometheus counters by differences).
#[derive(Default, Clone, Copy)]
struct Seen {
    up: u64,
    down: u64,
    rx: u64,
    tx: u64,
}

struct Task<C> {
    closer: C,
    metrics: Option<BfdMetrics>,
    driver: Option<DriverHandle>,
    events: Option<mpsc::UnboundedReceiver<BfdEvent>>,
    sessions: HashMap<IpAddr, Session>,
    driver_error: Option<String>,
    last: HashMap<PeerKey, Seen>,
}

impl<C: SessionCloser> Task<C> {
    async fn run(mut self, peers: Vec<BfdPeer>, mut cmds: mpsc::Receiver<Cmd>) {
        self.set_peers(peers).await;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut since_retry = Duration::ZERO;
        loop {
            let event = async {
                match self.events.as_mut() {
                    Some(e) => e.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(Cmd::SetPeers(p, done)) => {
                        self.set_peers(p).await;
                        let _ = done.send(());
                    }
                    Some(Cmd::States(reply)) => {
                        let _ = reply.send(self.states().await);
                    }
                    Some(Cmd::Shutdown(done)) => {
                        self.set_peers(Vec::new()).await;
                        self.driver = None;
                        self.events = None;
                        let _ = done.send(());
                        break;
                    }
                    None => break,
                },
                ev = event => match ev {
                    Some(ev) => self.on_event(ev).await,
                    None => {
                        tracing::error!("BFD driver stopped; BFD sessions start again in {RETRY:?}");
                        self.driver = None;
                        self.events = None;
                        for s in self.sessions.values_mut() {
                            s.key = None;
                        }
                    }
                },
                _ = tick.tick() => {
                    self.refresh_metrics().await;
                    since_retry += Duration::from_secs(1);
                    if since_retry >= RETRY {
                        since_retry = Duration::ZERO;
                        self.start_pending().await;
                    }
                }
            }
        }
        // Dropping the driver handle sends AdminDown to every neighbour.
    }

    async fn set_peers(&mut self, peers: Vec<BfdPeer>) {
        let wanted: HashMap<IpAddr, BfdPeer> = peers.into_iter().map(|p| (p.address, p)).collect();
        let gone: Vec<IpAddr> = self
            .sessions
            .keys()
            .filter(|a| !wanted.contains_key(a))
            .copied()
            .collect();
        for a in gone {
            if let Some(s) = self.sessions.remove(&a) {
                self.stop(a, s.key).await;
            }
        }
        for (a, want) in wanted {
            match self.sessions.get_mut(&a) {
                Some(s) if s.want == want => {}
                Some(s) if s.want.local == want.local && s.key.is_some() => {
                    s.want = want;
                    let key = s.key.expect("checked");
                    if let Some(d) = &self.driver {
                        let params = SessionParams::new(want.bfd.interval, want.bfd.multiplier);
                        if let Err(e) = d.set_params(key, params).await {
                            tracing::warn!(peer = %a, "BFD timers not changed: {e}");
                        }
                    }
                }
                Some(s) => {
                    let old = s.key.take();
                    s.want = want;
                    self.stop(a, old).await;
                }
                None => {
                    self.sessions.insert(
                        a,
                        Session {
                            want,
                            key: None,
                            note: None,
                        },
                    );
                }
            }
        }
        self.start_pending().await;
    }

    async fn stop(&mut self, peer: IpAddr, key: Option<PeerKey>) {
        let (Some(key), Some(d)) = (key, &self.driver) else {
            return;
        };
        if let Err(e) = d.remove_peer(key).await {
            tracing::warn!(%peer, "BFD session not removed: {e}");
        }
        self.last.remove(&key);
        if let Some(m) = &self.metrics {
            m.up.with_label_values(&[&peer.to_string()]).set(0);
        }
    }

    /// Starts the sessions that are not running (spawning the driver first if needed).
    async fn start_pending(&mut self) {
        if self.sessions.values().all(|s| s.key.is_some()) {
            return;
        }
        if self.driver.is_none() {
            match Driver::spawn(DriverConfig::default()) {
                Ok((d, events)) => {
                    tracing::info!("BFD started (UDP 3784)");
                    self.driver = Some(d);
                    self.events = Some(events);
                    self.driver_error = None;
                }
                Err(e) => {
                    if self.driver_error.as_deref() != Some(&e.to_string()) {
                        tracing::error!("BFD cannot start: {e}; trying again every {RETRY:?}");
                    }
                    self.driver_error = Some(e.to_string());
                    return;
                }
            }
        }
        let Some(d) = self.driver.clone() else {
            return;
        };
        for (addr, s) in self.sessions.iter_mut().filter(|(_, s)| s.key.is_none()) {
            let local = match s.want.local {
                Some(l) => Ok(l),
                None => route_source(*addr).map_err(|e| format!("no route to the peer: {e}")),
            };
            let key = local.map(|local| PeerKey {
                peer: *addr,
                local,
                ifindex: None,
            });
            let params = SessionParams::new(s.want.bfd.interval, s.want.bfd.multiplier);
            let started = match key {
                Ok(key) => d
                    .add_peer(key, params)
                    .await
                    .map(|()| key)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match started {
                Ok(key) => {
                    tracing::info!(peer = %addr, local = %key.local, interval = ?s.want.bfd.interval,
                        multiplier = s.want.bfd.multiplier, "BFD session started");
                    s.key = Some(key);
                    s.note = None;
                }
                Err(e) => {
                    if s.note.as_deref() != Some(&e) {
                        tracing::warn!(peer = %addr, "BFD session cannot start yet: {e}");
                    }
                    s.note = Some(e);
                }
            }
        }
    }

    async fn on_event(&mut self, ev: BfdEvent) {
        let key = ev.peer();
        let Some(s) = self
            .sessions
            .get_mut(&key.peer)
            .filter(|s| s.key == Some(key))
        else {
            return;
        };
        match (verdict(&ev), ev) {
            (Verdict::Up, _) => {
                tracing::info!(peer = %key.peer, "BFD session Up");
                s.note = None;
            }
            (Verdict::CloseBgp, BfdEvent::Down { diag, .. }) => {
                tracing::warn!(peer = %key.peer, ?diag,
                    "BFD session Down: closing the BGP session (Cease, BFD Down)");
                s.note = Some(format!("down: {diag:?}"));
                if !self.closer.peer_down(key.peer, CEASE_BFD_DOWN).await {
                    tracing::warn!(peer = %key.peer, "BGP has no such peer to close");
                }
            }
            (
                _,
                BfdEvent::Down {
                    diag, remote_state, ..
                },
            ) => {
                tracing::info!(peer = %key.peer, ?diag, ?remote_state,
                    "BFD session Down by the neighbour's or our choice: the BGP session stays");
                s.note = Some(format!("down: {diag:?}, remote {remote_state:?}"));
            }
            (_, BfdEvent::Up { .. }) => {}
        }
        self.refresh_metrics().await;
    }

    async fn states(&mut self) -> HashMap<IpAddr, BfdState> {
        let running = match &self.driver {
            Some(d) => d.status().await.unwrap_or_default(),
            None => Vec::new(),
        };
        self.sessions
            .iter()
            .map(|(a, s)| {
                let st = running
                    .iter()
                    .find(|r| Some(r.peer) == s.key)
                    .map(|r| format!("{:?}", r.session.state));
                let note = s.note.clone().or_else(|| {
                    (s.key.is_none())
                        .then(|| self.driver_error.clone())
                        .flatten()
                });
                (
                    *a,
                    BfdState {
                        state: st.unwrap_or_else(|| "-".into()),
                        note,
                    },
                )
            })
            .collect()
    }

    async fn refresh_metrics(&mut self) {
        let (Some(m), Some(d)) = (&self.metrics, &self.driver) else {
            return;
        };
        let Ok(running) = d.status().await else {
            return;
        };
        for r in running {
            let peer = r.peer.peer.to_string();
            let l = [peer.as_str()];
            let snap = r.session;
            m.up.with_label_values(&l)
                .set(i64::from(snap.state == State::Up));
            let prev = self.last.get(&r.peer).copied().unwrap_or_default();
            let inc = |c: &IntCounterVec, labels: &[&str], now: u64, before: u64| {
                c.with_label_values(labels)
                    .inc_by(now.saturating_sub(before));
            };
            inc(&m.transitions, &[&peer, "up"], snap.up_transitions, prev.up);
            inc(
                &m.transitions,
                &[&peer, "down"],
                snap.down_transitions,
                prev.down,
            );
            inc(&m.received, &l, snap.packets_in, prev.rx);
            inc(&m.sent, &l, snap.packets_out, prev.tx);
            self.last.insert(
                r.peer,
                Seen {
                    up: snap.up_transitions,
                    down: snap.down_transitions,
                    rx: snap.packets_in,
                    tx: snap.packets_out,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PeerKey {
        PeerKey {
            peer: "10.0.0.2".parse().unwrap(),
            local: "10.0.0.1".parse().unwrap(),
            ifindex: None,
        }
    }

    #[test]
    fn only_a_path_failure_closes_bgp() {
        let down = |diag, remote_state| BfdEvent::Down {
            peer: key(),
            diag,
            remote_state,
        };
        assert_eq!(verdict(&BfdEvent::Up { peer: key() }), Verdict::Up);
        // Nothing heard for a detection time, or the neighbour stopped hearing us.
        assert_eq!(
            verdict(&down(Diag::ControlDetectionTimeExpired, State::Up)),
            Verdict::CloseBgp
        );
        assert_eq!(
            verdict(&down(Diag::NeighborSignaledSessionDown, State::Down)),
            Verdict::CloseBgp
        );
        // RFC 5882 §3.2: the neighbour turned BFD off on purpose.
        assert_eq!(
            verdict(&down(Diag::NeighborSignaledSessionDown, State::AdminDown)),
            Verdict::KeepBgp
        );
        // We held the session down ourselves.
        assert_eq!(
            verdict(&down(Diag::AdministrativelyDown, State::Up)),
            Verdict::KeepBgp
        );
    }

    fn peer(addr: &str, bfd: Option<config::node::Bfd>, src: Option<&str>) -> config::node::Peer {
        let cfg = config::NodeConfig::from_str(
            std::path::Path::new("n.yaml"),
            &format!("nodeName: a\nasNumber: 1\nrouterId: 192.0.2.1\npeers: [{{ peerIP: \"{addr}\", asNumber: 2 }}]\n"),
        )
        .expect("config");
        let mut p = cfg.peers[0].clone();
        p.bfd = bfd;
        p.source_address = src.map(|s| s.parse().unwrap());
        p
    }

    #[test]
    fn local_address_from_source_then_listen() {
        let b = config::node::Bfd {
            interval: Duration::from_millis(100),
            multiplier: 3,
        };
        let peers = [
            peer("10.0.0.2", Some(b), Some("10.0.0.9")),
            peer("10.0.0.3", Some(b), None),
            peer("fd00::3", Some(b), None),
            peer("10.0.0.4", None, None),
        ];
        let listen: IpAddr = "10.0.0.1".parse().unwrap();
        let got = bfd_peers(&peers, listen);
        let locals: Vec<(String, Option<String>)> = got
            .iter()
            .map(|p| (p.address.to_string(), p.local.map(|l| l.to_string())))
            .collect();
        assert_eq!(
            locals,
            [
                ("10.0.0.2".into(), Some("10.0.0.9".into())),
                ("10.0.0.3".into(), Some("10.0.0.1".into())),
                ("fd00::3".into(), None),
            ]
        );
        let any: IpAddr = "::".parse().unwrap();
        assert_eq!(bfd_peers(&peers, any)[1].local, None);
    }

    #[derive(Clone, Default)]
    struct Closer(std::sync::Arc<std::sync::Mutex<Vec<(IpAddr, u8)>>>);

    impl SessionCloser for Closer {
        async fn peer_down(&self, peer: IpAddr, subcode: u8) -> bool {
            self.0.lock().unwrap().push((peer, subcode));
            true
        }
    }

    #[tokio::test]
    async fn no_bfd_peers_no_sessions() {
        let closer = Closer::default();
        let h = spawn(Vec::new(), closer.clone(), None);
        assert!(h.states().await.is_empty());
        h.shutdown().await;
        assert!(closer.0.lock().unwrap().is_empty());
    }
}
