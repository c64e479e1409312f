//! The per-peer state machine (RFC 4271 §8) over up to a few TCP connections at once
//! (an outgoing and an incoming one during a collision, §6.8).
//!
//! The session is driven by method calls that each take `now`; it queues [`Action`]s
//! for the driver ([`Session::poll_action`]) and says when it next needs
//! [`Session::handle_timeout`] ([`Session::poll_timeout`]). It reads no clock and does
//! no I/O; connections are named by [`ConnId`]s that the session hands out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::{
    AddressFamily, CeaseSubcode, ErrorCode, FsmError, Message, Notification, Open,
    RouteRefreshSubtype, Update,
};

use super::action::{Action, ConnId, Direction, State};
use super::backoff::Jitter;
use super::config::SessionConfig;
use super::graceful::{peer_helps, peer_restart, Retention};
use super::negotiate::{check_open, Negotiated};

/// Hold time while waiting for the peer's OPEN (RFC 4271 §8.2.2 suggests 4 minutes).
pub const LARGE_HOLD_TIME: Duration = Duration::from_secs(240);

/// Most connections a session holds that have not seen the peer's OPEN yet (our own
/// connect attempt included): collision detection (RFC 4271 §6.8) needs two, one in
/// each direction. Further incoming connections are refused.
pub const MAX_PENDING_CONNECTIONS: usize = 2;

/// How long a connection accepted while the session already has another one waits for
/// the peer's OPEN (instead of [`LARGE_HOLD_TIME`]): a real peer's second connection
/// (a collision, or a restart) sends its OPEN at once.
pub const EXTRA_OPEN_WAIT: Duration = Duration::from_secs(10);

/// Where a connection is in the OPEN exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ConnState {
    Connecting,
    OpenSent,
    OpenConfirm,
    Established,
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    direction: Direction,
    state: ConnState,
    hold_deadline: Option<Instant>,
    keepalive_deadline: Option<Instant>,
    negotiated: Option<Negotiated>,
}

/// One peer's session.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    local_open: Open,
    running: bool,
    conns: Vec<Conn>,
    connect_retry_at: Option<Instant>,
    next_conn: u64,
    jitter: Jitter,
    failures: u32,
    actions: VecDeque<Action>,
    state: State,
    since: Instant,
    last_error: Option<String>,
    /// The last error when it came from one of our connection attempts: an attempt
    /// that failed before the peer was up is noise once the session is Established.
    connect_error: Option<String>,
    end_of_rib: Vec<AddressFamily>,
    retention: Retention,
}

impl Session {
    /// A session in Idle.
    pub fn new(cfg: SessionConfig, now: Instant) -> Self {
        let local_open = cfg.local_open();
        let jitter = Jitter::new(cfg.jitter_seed);
        Self {
            cfg,
            local_open,
            running: false,
            conns: Vec::new(),
            connect_retry_at: None,
            next_conn: 0,
            jitter,
            failures: 0,
            actions: VecDeque::new(),
            state: State::Idle,
            since: now,
            last_error: None,
            connect_error: None,
            end_of_rib: Vec::new(),
            retention: Retention::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// The OPEN this session sends.
    pub fn local_open(&self) -> &Open {
        &self.local_open
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// When the state last changed.
    pub fn since(&self) -> Instant {
        self.since
    }

    /// The last error: NOTIFICATION sent or received, hold timer, connection failure.
    /// A failed connection attempt is forgotten once the session is Established; the
    /// reason an Established session went down is kept until the next one.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    fn set_connect_error(&mut self, message: String) {
        self.last_error = Some(message.clone());
        self.connect_error = Some(message);
    }

    /// Consecutive failed connection attempts or sessions (reset on Established).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The established connection, if any.
    pub fn established_conn(&self) -> Option<ConnId> {
        self.established().map(|c| c.id)
    }

    /// What the established session negotiated.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.established().and_then(|c| c.negotiated.as_ref())
    }

    /// Families whose End-of-RIB the peer has sent in this session.
    pub fn end_of_rib_received(&self) -> &[AddressFamily] {
        &self.end_of_rib
    }

    /// Families of a restarting peer whose stale routes are still kept (graceful
    /// restart, RFC 4724).
    pub fn stale_families(&self) -> &[AddressFamily] {
        self.retention.stale()
    }

    /// Connections the session currently has (for the driver's bookkeeping).
    pub fn connections(&self) -> impl Iterator<Item = (ConnId, Direction)> + '_ {
        self.conns.iter().map(|c| (c.id, c.direction))
    }

    fn established(&self) -> Option<&Conn> {
        self.conns
            .iter()
            .find(|c| c.state == ConnState::Established)
    }

    /// Whether actions are waiting for [`Session::poll_action`].
    pub fn has_actions(&self) -> bool {
        !self.actions.is_empty()
    }

    /// The next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Session::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns
            .iter()
            .flat_map(|c| [c.hold_deadline, c.keepalive_deadline])
            .chain([self.connect_retry_at, self.retention.deadline()])
            .flatten()
            .min()
    }

    /// ManualStart / AutomaticStart: leave Idle; connect unless passive.
    pub fn start(&mut self, now: Instant) {
        if self.running {
            return;
        }
        self.running = true;
        if !self.cfg.passive {
            self.connect(now);
        }
        self.refresh_state(now);
    }

    /// ManualStop: send `notification` (normally Cease / Administrative Shutdown) on
    /// every connection that has sent its OPEN, close all and stay in Idle.
    pub fn stop(&mut self, now: Instant, notification: Notification) {
        self.running = false;
        self.connect_retry_at = None;
        self.last_error = Some(format!("sent NOTIFICATION {notification}"));
        self.close_all(now, &notification, false);
        self.end_retention();
        self.refresh_state(now);
    }

    /// ManualStop for our own restart (RFC 4724): an Established connection to a peer
    /// that also advertised graceful restart is closed without a NOTIFICATION, so the
    /// peer keeps our routes for our restart time; every other connection gets
    /// `notification` as in [`Session::stop`].
    pub fn stop_graceful(&mut self, now: Instant, notification: Notification) {
        self.running = false;
        self.connect_retry_at = None;
        self.last_error = Some("closed for a graceful restart".into());
        self.close_all(now, &notification, true);
        self.end_retention();
        self.refresh_state(now);
    }

    /// Tears the session down with `notification` (e.g. Cease / Maximum Number of
    /// Prefixes Reached) and restarts it after the back-off.
    pub fn reset(&mut self, now: Instant, notification: Notification) {
        self.last_error = Some(format!("sent NOTIFICATION {notification}"));
        self.close_all(now, &notification, false);
        self.end_retention();
        self.failed(now);
        self.refresh_state(now);
    }

    /// The peer connected to us. `None`: refused (Idle, or already
    /// [`MAX_PENDING_CONNECTIONS`] connections waiting for the peer's OPEN); close the
    /// socket. A connection accepted beside another one waits at most
    /// [`EXTRA_OPEN_WAIT`] for the peer's OPEN.
    pub fn accept(&mut self, now: Instant) -> Option<ConnId> {
        if !self.running || self.pending_connections() >= MAX_PENDING_CONNECTIONS {
            return None;
        }
        let extra = !self.conns.is_empty();
        let id = self.new_conn(Direction::Incoming);
        self.open_sent(now, id);
        if extra {
            if let Some(c) = self.conn_mut(id) {
                c.hold_deadline = Some(now + EXTRA_OPEN_WAIT);
            }
        }
        self.refresh_state(now);
        Some(id)
    }

    /// Connections that have not received the peer's OPEN yet.
    pub fn pending_connections(&self) -> usize {
        self.conns
            .iter()
            .filter(|c| c.state <= ConnState::OpenSent)
            .count()
    }

    /// Our connection attempt `conn` succeeded.
    pub fn connected(&mut self, now: Instant, conn: ConnId) {
        if self.conn(conn).map(|c| c.state) != Some(ConnState::Connecting) {
            // Abandoned meanwhile: the driver already got a Close for it.
            return;
        }
        self.open_sent(now, conn);
        self.refresh_state(now);
    }

    /// Our connection attempt `conn` failed. The next attempt is at the ConnectRetry
    /// deadline (Connect → Active).
    pub fn connect_failed(&mut self, now: Instant, conn: ConnId, reason: &str) {
        if self.remove_conn(conn).is_some() {
            self.set_connect_error(format!("connect failed: {reason}"));
            if self.connect_retry_at.is_none() {
                self.arm_connect_retry(now);
            }
        }
        self.refresh_state(now);
    }

    /// The connection `conn` was closed by the peer or failed; the driver gets its
    /// [`Action::Close`] (to release the socket and its tasks) like for every other way
    /// a connection ends.
    pub fn closed(&mut self, now: Instant, conn: ConnId, reason: &str) {
        if self.conn(conn).is_some() {
            self.last_error = Some(format!("connection closed: {reason}"));
            self.drop_conn(now, conn, true);
        }
    }

    /// A message from `conn` could not be decoded: send its NOTIFICATION and close.
    pub fn decode_error(&mut self, now: Instant, conn: ConnId, notification: Notification) {
        if self.conn(conn).is_some() {
            self.fail_conn(now, conn, notification);
        }
    }

    /// We sent an UPDATE on the established connection: restart its keepalive timer
    /// (RFC 4271 §8.2.2, Established, "each time the local system sends a KEEPALIVE or
    /// UPDATE message").
    pub fn update_sent(&mut self, now: Instant) {
        if let Some(c) = self
            .conns
            .iter_mut()
            .find(|c| c.state == ConnState::Established)
        {
            let ka = c.negotiated.as_ref().and_then(|n| n.keepalive);
            c.keepalive_deadline = ka.map(|k| now + k);
        }
    }

    /// An UPDATE arrived on `conn`. When it is an ordinary UPDATE (not End-of-RIB) on
    /// the Established connection and no action is waiting, the hold timer restarts as
    /// in [`Session::handle_message`] and the answer is `true`: the caller applies it
    /// as it would [`Action::Update`], without moving the message through the action
    /// queue. Otherwise nothing changes and the caller passes the message to
    /// [`Session::handle_message`].
    pub fn accept_update(&mut self, now: Instant, conn: ConnId, update: &Update) -> bool {
        update.end_of_rib().is_none() && self.accept_one(now, conn)
    }

    /// [`Session::accept_update`] for an UPDATE known to carry a prefix (so not an
    /// End-of-RIB).
    pub fn accept_one(&mut self, now: Instant, conn: ConnId) -> bool {
        let established = self
            .conn(conn)
            .is_some_and(|c| c.state == ConnState::Established);
        if !established || !self.actions.is_empty() {
            return false;
        }
        self.restart_hold(now, conn);
        true
    }

    /// A message arrived on `conn`.
    pub fn handle_message(&mut self, now: Instant, conn: ConnId, msg: Message) {
        let Some(state) = self.conn(conn).map(|c| c.state) else {
            return;
        };
        match (state, msg) {
            (_, Message::Notification(n)) => {
                self.last_error = Some(format!("received NOTIFICATION {n}"));
                self.drop_conn(now, conn, false);
            }
            (ConnState::OpenSent, Message::Open(open)) => self.receive_open(now, conn, open),
            (ConnState::OpenSent, _) => self.fail_conn(
                now,
                conn,
                Notification::new(
                    ErrorCode::Fsm(FsmError::UnexpectedMessageInOpenSent),
                    Vec::new(),
                ),
            ),
            (ConnState::OpenConfirm, Message::Keepalive) => self.establish(now, conn),
            (ConnState::OpenConfirm, _) => self.fail_conn(
                now,
                conn,
                Notification::new(
                    ErrorCode::Fsm(FsmError::UnexpectedMessageInOpenConfirm),
                    Vec::new(),
                ),
            ),
            (ConnState::Established, Message::Open(_)) => self.fail_conn(
                now,
                conn,
                Notification::new(
                    ErrorCode::Fsm(FsmError::UnexpectedMessageInEstablished),
                    Vec::new(),
                ),
            ),
            (ConnState::Established, msg) => {
                self.restart_hold(now, conn);
                match msg {
                    Message::Update(u) => match u.end_of_rib() {
                        Some(family) => {
                            if !self.end_of_rib.contains(&family) {
                                self.end_of_rib.push(family);
                            }
                            self.actions.push_back(Action::EndOfRib(family));
                            if self.retention.end_of_rib(family) {
                                self.actions.push_back(Action::FlushStale(vec![family]));
                            }
                        }
                        None => self.actions.push_back(Action::Update(u)),
                    },
                    Message::RouteRefresh(rr) => {
                        let ours = self
                            .negotiated()
                            .is_some_and(|n| n.families.contains(&rr.family));
                        // RFC 7313 §5: BoRR/EoRR are markers for the receiver of a
                        // refresh, and unknown subtypes are ignored.
                        if ours && rr.subtype == RouteRefreshSubtype::Normal {
                            self.actions.push_back(Action::RouteRefresh(rr.family));
                        }
                    }
                    _ => {}
                }
            }
            (ConnState::Connecting, _) => {}
        }
    }

    /// Timers: ConnectRetry, and per connection Hold and Keepalive.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.connect_retry_at.is_some_and(|t| t <= now) {
            self.connect_retry_at = None;
            self.connect_retry_expired(now);
        }
        let expired: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|c| c.hold_deadline.is_some_and(|t| t <= now))
            .map(|c| c.id)
            .collect();
        for id in expired {
            // Not graceful (as BIRD without long-lived GR): a silent peer is more often
            // a dead host than a restarting speaker, whose closed socket we would see.
            self.fail_conn(now, id, Notification::hold_timer_expired());
        }
        let flush = self.retention.timeout(now);
        if !flush.is_empty() {
            self.actions.push_back(Action::FlushStale(flush));
        }
        for c in &mut self.conns {
            if c.keepalive_deadline.is_some_and(|t| t <= now) {
                let ka = c.negotiated.as_ref().and_then(|n| n.keepalive);
                c.keepalive_deadline = ka.map(|k| now + k);
                self.actions
                    .push_back(Action::Send(c.id, Message::Keepalive));
            }
        }
        self.refresh_state(now);
    }

    fn connect_retry_expired(&mut self, now: Instant) {
        if !self.running || self.cfg.passive {
            return;
        }
        let progressing = self.conns.iter().any(|c| c.state != ConnState::Connecting);
        if progressing {
            return;
        }
        let stale: Vec<ConnId> = self.conns.iter().map(|c| c.id).collect();
        if !stale.is_empty() {
            self.set_connect_error("connect timed out (no answer within ConnectRetry)".into());
        }
        for id in stale {
            self.remove_conn(id);
            self.actions.push_back(Action::Close(id));
        }
        self.failures = self.failures.saturating_add(1);
        self.connect(now);
    }

    fn connect(&mut self, now: Instant) {
        let id = self.new_conn(Direction::Outgoing);
        self.actions.push_back(Action::Connect(id));
        self.arm_connect_retry(now);
    }

    fn arm_connect_retry(&mut self, now: Instant) {
        if self.running && !self.cfg.passive {
            let delay = self.jitter.backoff(self.cfg.connect_retry, self.failures);
            self.connect_retry_at = Some(now + delay);
        }
    }

    fn new_conn(&mut self, direction: Direction) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.push(Conn {
            id,
            direction,
            state: ConnState::Connecting,
            hold_deadline: None,
            keepalive_deadline: None,
            negotiated: None,
        });
        id
    }

    fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.iter().find(|c| c.id == id)
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == id)
    }

    fn remove_conn(&mut self, id: ConnId) -> Option<Conn> {
        let pos = self.conns.iter().position(|c| c.id == id)?;
        Some(self.conns.remove(pos))
    }

    fn open_sent(&mut self, now: Instant, id: ConnId) {
        let open = self.local_open.clone();
        if let Some(c) = self.conn_mut(id) {
            c.state = ConnState::OpenSent;
            c.hold_deadline = Some(now + LARGE_HOLD_TIME);
            self.actions
                .push_back(Action::Send(id, Message::Open(open)));
        }
    }

    fn receive_open(&mut self, now: Instant, id: ConnId, open: Open) {
        let negotiated = match check_open(&self.cfg, &self.local_open, &open) {
            Ok(n) => n,
            Err(notification) => return self.fail_conn(now, id, notification),
        };
        if let Some(loser) = self.collision_loser(id, &negotiated) {
            let direction = |c: &Conn| c.direction;
            let restarted = loser != id
                && self
                    .conn(loser)
                    .is_some_and(|c| c.state == ConnState::Established)
                && self.conn(loser).map(direction) == self.conn(id).map(direction);
            if restarted {
                // RFC 4724 §4.2: an OPEN on a new connection while the old session is
                // Established means the peer restarted; the old session ends as if
                // its TCP connection had been reset.
                self.last_error = Some("peer opened a new connection (restarted)".into());
                self.drop_conn(now, loser, true);
            } else {
                self.close_collision(now, loser);
            }
            if loser == id {
                return;
            }
        }
        let (decode, encode) = (negotiated.decode, negotiated.encode);
        let hold = negotiated.hold_time;
        let keepalive = negotiated.keepalive;
        if let Some(c) = self.conn_mut(id) {
            c.state = ConnState::OpenConfirm;
            c.hold_deadline = (!hold.is_zero()).then(|| now + hold);
            c.keepalive_deadline = keepalive.map(|k| now + k);
            c.negotiated = Some(negotiated);
        }
        self.actions.push_back(Action::Negotiated {
            conn: id,
            decode,
            encode,
        });
        self.actions.push_back(Action::Send(id, Message::Keepalive));
        self.refresh_state(now);
    }

    /// Connection collision detection (RFC 4271 §6.8, RFC 6286 §2.3) when the OPEN on
    /// `id` was accepted: the connection to close, if another one has also seen an OPEN,
    /// or if the connection that will win is still waiting for its OPEN.
    fn collision_loser(&self, id: ConnId, negotiated: &Negotiated) -> Option<ConnId> {
        let new = self.conn(id)?;
        let keep = keep_direction(&self.cfg, negotiated);
        let Some(other) = self
            .conns
            .iter()
            .filter(|c| c.id != id)
            .max_by_key(|c| c.state)
            .filter(|c| c.state >= ConnState::OpenConfirm)
        else {
            // §6.8 lets a speaker look at OpenSent connections once it knows the
            // peer's identifier, which this OPEN just told us. When the connection the
            // identifiers keep is the other one, the peer drops this one as soon as
            // our OPEN on the other arrives: answering here with a KEEPALIVE could get
            // this one Established on the peer just before it is closed, and closing
            // the other one later (on that KEEPALIVE) would leave no connection at all.
            let winner_pending = new.direction != keep
                && self
                    .conns
                    .iter()
                    .any(|c| c.id != id && c.state == ConnState::OpenSent && c.direction == keep);
            return winner_pending.then_some(id);
        };
        if other.direction == new.direction {
            // Of two connections in the same direction the newer one is the peer's
            // current attempt (e.g. it restarted): the older one goes.
            return Some(other.id);
        }
        // Also against an Established connection (RFC 4271 §8.1.1
        // CollisionDetectEstablishedState): both ends then pick the same connection
        // even when one of them reached Established before it saw the other OPEN.
        Some(if new.direction == keep { other.id } else { id })
    }

    fn close_collision(&mut self, now: Instant, id: ConnId) {
        let n = Notification::cease(CeaseSubcode::ConnectionCollisionResolution);
        self.actions
            .push_back(Action::Send(id, Message::Notification(n.clone())));
        self.actions.push_back(Action::Close(id));
        if let Some(c) = self.remove_conn(id) {
            if c.state == ConnState::Established {
                let reason = format!("sent NOTIFICATION {n}");
                self.last_error = Some(reason.clone());
                self.end_retention();
                self.actions.push_back(Action::Down {
                    reason,
                    restart: None,
                });
            }
        }
        self.refresh_state(now);
    }

    fn establish(&mut self, now: Instant, id: ConnId) {
        self.restart_hold(now, id);
        if let Some(c) = self.conn_mut(id) {
            c.state = ConnState::Established;
        }
        self.failures = 0;
        self.connect_retry_at = None;
        self.end_of_rib.clear();
        let others: Vec<(ConnId, ConnState)> = self
            .conns
            .iter()
            .filter(|c| c.id != id)
            .map(|c| (c.id, c.state))
            .collect();
        let keep = self
            .conn(id)
            .and_then(|c| c.negotiated.as_ref())
            .map(|n| keep_direction(&self.cfg, n));
        let direction = self.conn(id).map(|c| c.direction);
        for (other, state) in others {
            let other_direction = self.conn(other).map(|c| c.direction);
            if state == ConnState::OpenSent
                && other_direction != direction
                && other_direction == keep
            {
                // The connection the identifiers keep has not brought the peer's OPEN
                // yet (RFC 4271 §8.2.2: tracked until it does). The peer may already
                // have chosen it and be closing this one; its OPEN settles it.
                continue;
            }
            if state == ConnState::Connecting {
                self.remove_conn(other);
                self.actions.push_back(Action::Close(other));
            } else {
                self.close_collision(now, other);
            }
        }
        if self.last_error.is_some() && self.last_error == self.connect_error {
            self.last_error = None;
        }
        self.actions.push_back(Action::Established(id));
        let stale_time = self.cfg.graceful_restart.map(|g| g.stale_time);
        let negotiated = self.conn(id).and_then(|c| c.negotiated.clone());
        let flush = match (negotiated, stale_time) {
            (Some(n), Some(t)) => self.retention.reestablished(now, &n, t),
            _ => self.retention.clear(),
        };
        if !flush.is_empty() {
            self.actions.push_back(Action::FlushStale(flush));
        }
        self.refresh_state(now);
    }

    fn restart_hold(&mut self, now: Instant, id: ConnId) {
        if let Some(c) = self.conn_mut(id) {
            let hold = c.negotiated.as_ref().map(|n| n.hold_time);
            if let Some(hold) = hold {
                c.hold_deadline = (!hold.is_zero()).then(|| now + hold);
            }
        }
    }

    /// Sends `notification` on `id`, closes it and counts a failure.
    fn fail_conn(&mut self, now: Instant, id: ConnId, notification: Notification) {
        self.last_error = Some(format!("sent NOTIFICATION {notification}"));
        self.actions
            .push_back(Action::Send(id, Message::Notification(notification)));
        self.drop_conn(now, id, false);
    }

    /// Ends `id`: the driver gets [`Action::Close`] (every way a connection ends goes
    /// through here or pushes its own Close, so no socket outlives its connection); a
    /// lost session goes Down (a peer restart when `graceful` and the peer advertised
    /// graceful restart), and with nothing left the ConnectRetry back-off starts.
    fn drop_conn(&mut self, now: Instant, id: ConnId, graceful: bool) {
        let Some(c) = self.remove_conn(id) else {
            return;
        };
        self.actions.push_back(Action::Close(id));
        if c.state == ConnState::Established {
            let restart = c
                .negotiated
                .as_ref()
                .filter(|_| graceful)
                .and_then(|n| peer_restart(self.cfg.graceful_restart.as_ref(), n));
            match &restart {
                Some(r) => self.retention.peer_restarting(now, r),
                None => {
                    self.retention.clear();
                }
            }
            self.actions.push_back(Action::Down {
                reason: self.last_error.clone().unwrap_or_default(),
                restart,
            });
        }
        if self.conns.is_empty() {
            self.failed(now);
        }
        self.refresh_state(now);
    }

    fn failed(&mut self, now: Instant) {
        if self.connect_retry_at.is_none() {
            self.arm_connect_retry(now);
        }
        self.failures = self.failures.saturating_add(1);
    }

    /// Closes every connection with `notification`; with `graceful`, an Established
    /// one whose peer helps with our restart is closed without it.
    fn close_all(&mut self, _now: Instant, notification: &Notification, graceful: bool) {
        let conns = std::mem::take(&mut self.conns);
        for c in conns {
            let silent = graceful
                && c.state == ConnState::Established
                && c.negotiated
                    .as_ref()
                    .is_some_and(|n| peer_helps(self.cfg.graceful_restart.as_ref(), n));
            if c.state != ConnState::Connecting && !silent {
                let n = Message::Notification(notification.clone());
                self.actions.push_back(Action::Send(c.id, n));
            }
            self.actions.push_back(Action::Close(c.id));
            if c.state == ConnState::Established {
                let reason = if silent {
                    "closed without NOTIFICATION for a graceful restart".to_owned()
                } else {
                    format!("sent NOTIFICATION {notification}")
                };
                self.actions.push_back(Action::Down {
                    reason,
                    restart: None,
                });
            }
        }
    }

    /// Ends a peer restart's retention: its remaining stale routes go.
    fn end_retention(&mut self) {
        let flush = self.retention.clear();
        if !flush.is_empty() {
            self.actions.push_back(Action::FlushStale(flush));
        }
    }

    fn refresh_state(&mut self, now: Instant) {
        let best = self.conns.iter().map(|c| c.state).max();
        let state = match (self.running, best) {
            (false, _) => State::Idle,
            (true, Some(ConnState::Established)) => State::Established,
            (true, Some(ConnState::OpenConfirm)) => State::OpenConfirm,
            (true, Some(ConnState::OpenSent)) => State::OpenSent,
            (true, Some(ConnState::Connecting)) => State::Connect,
            (true, None) => State::Active,
        };
        if state != self.state {
            self.state = state;
            self.since = now;
        }
    }
}

/// The direction of the connection a collision keeps (RFC 4271 §6.8): the higher BGP
/// Identifier keeps the connection it initiated; equal identifiers (possible between
/// ASes, RFC 6286 §2.3) fall back to the higher AS number.
fn keep_direction(cfg: &SessionConfig, negotiated: &Negotiated) -> Direction {
    let local = u32::from(cfg.local_id);
    let remote = u32::from(negotiated.peer_id);
    if (local, cfg.local_asn) > (remote, negotiated.peer_asn) {
        Direction::Outgoing
    } else {
        Direction::Incoming
    }
}
