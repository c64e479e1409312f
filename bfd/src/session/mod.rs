//! One BFD session's state machine (RFC 5880 §6.2, §6.8), sans-IO: no sockets, no clock.
//!
//! Every entry point takes `now`; the session says what it wants sent
//! ([`Session::poll_transmit`]), when it next wants to be woken ([`Session::poll_timeout`])
//! and which state changes happened ([`Session::poll_event`]). Two timers are plain data:
//! the next periodic transmission and the detection deadline.
//!
//! Asynchronous mode only: no Echo function, and this side never asks for Demand mode (a
//! remote that does is honoured as §6.8.7 requires). Authentication: none (packets with the
//! A bit are discarded, §6.8.6) or Keyed SHA1 / Meticulous Keyed SHA1 ([`crate::auth`]).

pub(crate) mod jitter;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::auth::{AuthError, AuthKey};
use crate::packet::{ControlPacket, Diag, State};
use jitter::Rng;

/// While a session is not Up it transmits no faster than this (§6.8.3).
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// What this side asks for and offers (the configured timers), and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionParams {
    /// bfd.DesiredMinTxInterval once Up.
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval.
    pub required_min_rx: Duration,
    /// bfd.DetectMult.
    pub detect_mult: u8,
    /// Keyed SHA1 authentication, or none.
    pub auth: Option<AuthKey>,
}

impl SessionParams {
    /// The same interval for both directions, like `bfd: { interval, multiplier }`.
    pub fn new(interval: Duration, multiplier: u8) -> SessionParams {
        SessionParams {
            desired_min_tx: interval,
            required_min_rx: interval,
            detect_mult: multiplier.max(1),
            auth: None,
        }
    }

    /// The same, authenticated with `key`.
    pub fn with_auth(self, key: AuthKey) -> SessionParams {
        SessionParams {
            auth: Some(key),
            ..self
        }
    }

    /// Checks what the wire can carry: intervals from 1 µs to 2^32-1 µs (about 71
    /// minutes; §4.1 forbids a zero Desired Min TX), a multiplier of at least 1, a key of
    /// 1–20 bytes.
    pub fn validate(&self) -> Result<(), ParamsError> {
        let max = Duration::from_micros(u64::from(u32::MAX));
        for (name, d) in [
            ("desired min tx", self.desired_min_tx),
            ("required min rx", self.required_min_rx),
        ] {
            if d < Duration::from_micros(1) || d > max {
                return Err(ParamsError::Interval(name, d));
            }
        }
        if self.detect_mult == 0 {
            return Err(ParamsError::Multiplier);
        }
        if let Some(k) = &self.auth {
            if k.secret.is_empty() || k.secret.len() > 20 {
                return Err(ParamsError::KeyLength(k.secret.len()));
            }
        }
        Ok(())
    }
}

/// Parameters the wire cannot carry ([`SessionParams::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// An interval of zero or beyond 2^32-1 µs.
    #[error("{0} {1:?} outside 1 µs ..= 4294.967295 s")]
    Interval(&'static str, Duration),
    /// Detect multiplier 0.
    #[error("detect multiplier 0")]
    Multiplier,
    /// A key of 0 or more than 20 bytes.
    #[error("keyed SHA1 secret of {0} bytes (1-20)")]
    KeyLength(usize),
}

impl Default for SessionParams {
    /// 100 ms × 3, tern's documented default.
    fn default() -> Self {
        SessionParams::new(Duration::from_millis(100), 3)
    }
}

/// A change of the local session state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// bfd.LocalDiag after the change (why the session left Up, when it did).
    pub diag: Diag,
    /// The state the remote system last reported.
    pub remote_state: State,
    /// When it happened.
    pub at: Instant,
}

/// Why [`Session::handle_packet`] discarded a packet that decoded fine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionDrop {
    /// The A bit is set but this session uses no authentication.
    #[error("authentication present but not configured")]
    AuthNotConfigured,
    /// Your Discriminator names another session.
    #[error("your discriminator {0:#x} is not this session's")]
    WrongDiscriminator(u32),
    /// The session is authenticated and the packet does not pass.
    #[error("authentication: {0}")]
    Auth(#[from] AuthError),
}

/// A point-in-time view of a session, for status output and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// bfd.SessionState.
    pub state: State,
    /// bfd.RemoteSessionState.
    pub remote_state: State,
    /// bfd.LocalDiag.
    pub local_diag: Diag,
    /// The Diag the remote system last sent.
    pub remote_diag: Diag,
    /// bfd.LocalDiscr.
    pub local_discr: u32,
    /// bfd.RemoteDiscr (0 when not heard within a detection time).
    pub remote_discr: u32,
    /// The interval between this side's periodic packets before jitter, if it sends any.
    pub tx_interval: Option<Duration>,
    /// How long without a packet before the session goes down, once the remote is heard.
    pub detection_time: Option<Duration>,
    /// The remote's Detect Mult.
    pub remote_detect_mult: u8,
    /// A Poll Sequence is in progress.
    pub polling: bool,
    /// Packets accepted by the session.
    pub packets_in: u64,
    /// Packets handed out for sending.
    pub packets_out: u64,
    /// Packets discarded by the session ([`SessionDrop`]).
    pub packets_dropped: u64,
    /// Times the session went Up.
    pub up_transitions: u64,
    /// Times the session left Up.
    pub down_transitions: u64,
}

/// One BFD session.
#[derive(Debug)]
pub struct Session {
    params: SessionParams,
    state: State,
    remote_state: State,
    local_diag: Diag,
    remote_diag: Diag,
    local_discr: u32,
    remote_discr: u32,
    remote_min_rx: Duration,
    remote_desired_tx: Duration,
    remote_detect_mult: u8,
    remote_demand: bool,
    /// Desired Min TX as advertised now.
    adv_tx: Duration,
    /// Required Min RX as advertised now.
    adv_rx: Duration,
    /// Desired Min TX used for pacing (lags `adv_tx` on an increase until the poll ends).
    pace_tx: Duration,
    /// Required Min RX used for detection (lags `adv_rx` on a decrease until the poll ends).
    detect_rx: Duration,
    polling: bool,
    pending_final: bool,
    immediate: Option<Instant>,
    next_tx: Option<Instant>,
    detect_at: Option<Instant>,
    rng: Rng,
    /// bfd.XmitAuthSeq.
    xmit_seq: u32,
    /// bfd.RcvAuthSeq when bfd.AuthSeqKnown.
    rcv_seq: Option<u32>,
    /// When bfd.AuthSeqKnown lapses (twice the detection time after the last packet).
    rcv_seq_until: Option<Instant>,
    events: VecDeque<StateChange>,
    packets_in: u64,
    packets_out: u64,
    packets_dropped: u64,
    up_transitions: u64,
    down_transitions: u64,
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

impl Session {
    /// A session in state Down with discriminator `local_discr` (non-zero, unique among
    /// the caller's sessions). `seed` drives the transmit jitter. The first packet is due
    /// at `now`.
    /// Out-of-range parameters are clamped (a multiplier of at least 1); callers that
    /// take them from outside check them first with [`SessionParams::validate`].
    pub fn new(params: SessionParams, local_discr: u32, seed: u64, now: Instant) -> Session {
        let params = SessionParams {
            detect_mult: params.detect_mult.max(1),
            ..params
        };
        let adv_tx = params.desired_min_tx.max(SLOW_TX);
        let mut rng = Rng::new(seed);
        let xmit_seq = rng.next_u64() as u32;
        Session {
            state: State::Down,
            remote_state: State::Down,
            local_diag: Diag::None,
            remote_diag: Diag::None,
            local_discr,
            remote_discr: 0,
            remote_min_rx: Duration::from_micros(1),
            remote_desired_tx: Duration::ZERO,
            remote_detect_mult: 0,
            remote_demand: false,
            adv_tx,
            adv_rx: params.required_min_rx,
            pace_tx: adv_tx,
            detect_rx: params.required_min_rx,
            params,
            polling: false,
            pending_final: false,
            immediate: None,
            next_tx: Some(now),
            detect_at: None,
            rng,
            xmit_seq,
            rcv_seq: None,
            rcv_seq_until: None,
            events: VecDeque::new(),
            packets_in: 0,
            packets_out: 0,
            packets_dropped: 0,
            up_transitions: 0,
            down_transitions: 0,
        }
    }

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }

    /// bfd.LocalDiscr.
    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }

    /// The configured timers and key.
    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    /// The interval between periodic packets before jitter: the larger of our Desired
    /// Min TX and the remote's Required Min RX; `None` when no periodic packets are sent
    /// (the remote asked for none, or it runs Demand mode while both are Up).
    pub fn tx_interval(&self) -> Option<Duration> {
        let demand =
            self.remote_demand && self.state == State::Up && self.remote_state == State::Up;
        if self.remote_min_rx.is_zero() || demand {
            None
        } else {
            Some(self.pace_tx.max(self.remote_min_rx))
        }
    }

    /// The Detection Time (§6.8.4, asynchronous mode): the remote's Detect Mult times the
    /// larger of our Required Min RX and the remote's Desired Min TX. `None` until the
    /// remote is heard.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_detect_mult > 0).then(|| {
            self.detect_rx.max(self.remote_desired_tx) * u32::from(self.remote_detect_mult)
        })
    }

    /// A packet from the remote system that passed [`ControlPacket::decode`] and the
    /// driver's demultiplexing and TTL checks (§6.8.6, the session's part).
    pub fn handle_packet(&mut self, now: Instant, p: &ControlPacket) -> Result<(), SessionDrop> {
        if let Err(e) = self.accept(p) {
            self.packets_dropped += 1;
            return Err(e);
        }
        self.packets_in += 1;
        self.remote_discr = p.my_discr;
        self.remote_state = p.state;
        self.remote_diag = p.diag;
        self.remote_demand = p.demand;
        self.remote_min_rx = Duration::from_micros(u64::from(p.required_min_rx));
        self.remote_desired_tx = Duration::from_micros(u64::from(p.desired_min_tx));
        self.remote_detect_mult = p.detect_mult;
        if p.final_ && self.polling {
            self.polling = false;
            self.pace_tx = self.adv_tx;
            self.detect_rx = self.adv_rx;
        }
        if self.state == State::AdminDown {
            self.detect_at = None;
            return Ok(());
        }
        self.detect_at = self.detection_time().map(|d| now + d);
        if self.rcv_seq.is_some() {
            self.rcv_seq_until = self.detection_time().map(|d| now + 2 * d);
        }
        match (self.state, p.state) {
            (State::Init | State::Up, State::AdminDown) => {
                self.set_state(now, State::Down, Diag::NeighborSignaledSessionDown)
            }
            (State::Down, State::Down) => self.set_state(now, State::Init, Diag::None),
            (State::Down, State::Init) => self.set_state(now, State::Up, Diag::None),
            (State::Init, State::Init | State::Up) => self.set_state(now, State::Up, Diag::None),
            (State::Up, State::Down) => {
                self.set_state(now, State::Down, Diag::NeighborSignaledSessionDown)
            }
            _ => {}
        }
        if p.poll {
            self.pending_final = true;
            self.immediate.get_or_insert(now);
        }
        self.repace(now);
        Ok(())
    }

    /// Advances the timers to `now`: the detection time expiring takes an Init or Up
    /// session Down with diagnostic 1 and forgets the remote discriminator (§6.8.1).
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.rcv_seq_until, Some(t) if t <= now) {
            self.rcv_seq_until = None;
            self.rcv_seq = None;
        }
        if matches!(self.detect_at, Some(t) if t <= now) {
            self.detect_at = None;
            self.remote_discr = 0;
            if matches!(self.state, State::Init | State::Up) {
                self.set_state(now, State::Down, Diag::ControlDetectionTimeExpired);
            }
        }
    }

    /// The next packet to send at `now`, if one is due: the periodic packet, an answer
    /// with the Final bit to a Poll, or an immediate packet after a state change. Call
    /// until it returns `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ControlPacket> {
        let periodic = self.tx_interval();
        let due = periodic.is_some() && matches!(self.next_tx, Some(t) if t <= now);
        if !(due || self.immediate.is_some()) {
            return None;
        }
        let final_ = std::mem::take(&mut self.pending_final);
        self.immediate = None;
        self.next_tx = periodic.map(|i| now + self.rng.jittered(i, self.params.detect_mult));
        self.packets_out += 1;
        let mut p = ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll: self.polling && !final_,
            final_,
            cpi: false,
            demand: false,
            multipoint: false,
            detect_mult: self.params.detect_mult,
            my_discr: self.local_discr,
            your_discr: self.remote_discr,
            desired_min_tx: micros(self.adv_tx),
            required_min_rx: micros(self.adv_rx),
            required_min_echo_rx: 0,
            auth: None,
        };
        if let Some(key) = &self.params.auth {
            self.xmit_seq = self.xmit_seq.wrapping_add(1);
            key.sign(&mut p, self.xmit_seq);
        }
        Some(p)
    }

    /// The earliest moment the session wants [`Session::handle_timeout`] or
    /// [`Session::poll_transmit`] called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tx = if self.tx_interval().is_some() {
            self.next_tx
        } else {
            None
        };
        [self.immediate, tx, self.detect_at, self.rcv_seq_until]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next state change, oldest first.
    pub fn poll_event(&mut self) -> Option<StateChange> {
        self.events.pop_front()
    }

    /// Holds the session administratively down (diagnostic 7), or releases it to Down.
    pub fn set_admin_down(&mut self, now: Instant, down: bool) {
        match (down, self.state) {
            (true, State::AdminDown) | (false, State::Down | State::Init | State::Up) => {}
            (true, _) => {
                self.detect_at = None;
                self.set_state(now, State::AdminDown, Diag::AdministrativelyDown);
            }
            (false, State::AdminDown) => self.set_state(now, State::Down, Diag::None),
        }
    }

    /// Changes the timers (and key); a changed interval starts a Poll Sequence (§6.8.3).
    pub fn set_params(&mut self, now: Instant, params: SessionParams) {
        self.params = SessionParams {
            detect_mult: params.detect_mult.max(1),
            ..params
        };
        self.advertise(now);
    }

    /// The session's part of §6.8.6 before any state is touched: the discriminator, then
    /// authentication (type, key, hash, sequence window). Records the sequence number.
    fn accept(&mut self, p: &ControlPacket) -> Result<(), SessionDrop> {
        if p.your_discr != 0 && p.your_discr != self.local_discr {
            return Err(SessionDrop::WrongDiscriminator(p.your_discr));
        }
        let Some(key) = &self.params.auth else {
            return match p.auth {
                Some(_) => Err(SessionDrop::AuthNotConfigured),
                None => Ok(()),
            };
        };
        let seq = key.verify(p)?;
        if let Some(last) = self.rcv_seq {
            if !key.in_window(last, seq, p.detect_mult) {
                return Err(AuthError::Sequence(seq).into());
            }
        }
        self.rcv_seq = Some(seq);
        Ok(())
    }

    /// Counters and negotiated values.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state,
            remote_state: self.remote_state,
            local_diag: self.local_diag,
            remote_diag: self.remote_diag,
            local_discr: self.local_discr,
            remote_discr: self.remote_discr,
            tx_interval: self.tx_interval(),
            detection_time: self.detection_time(),
            remote_detect_mult: self.remote_detect_mult,
            polling: self.polling,
            packets_in: self.packets_in,
            packets_out: self.packets_out,
            packets_dropped: self.packets_dropped,
            up_transitions: self.up_transitions,
            down_transitions: self.down_transitions,
        }
    }

    fn set_state(&mut self, now: Instant, to: State, diag: Diag) {
        let from = self.state;
        self.state = to;
        self.local_diag = diag;
        if to == State::Up {
            self.up_transitions += 1;
        } else if from == State::Up {
            self.down_transitions += 1;
        }
        self.immediate.get_or_insert(now);
        self.events.push_back(StateChange {
            from,
            to,
            diag,
            remote_state: self.remote_state,
            at: now,
        });
        self.advertise(now);
    }

    /// Recomputes the advertised intervals (slow while not Up); a change starts a Poll
    /// Sequence when the remote is known. An increase of TX and a decrease of RX take
    /// effect when the poll ends while Up; everything else at once (§6.8.3).
    fn advertise(&mut self, now: Instant) {
        let tx = if self.state == State::Up {
            self.params.desired_min_tx
        } else {
            self.params.desired_min_tx.max(SLOW_TX)
        };
        let rx = self.params.required_min_rx;
        if tx == self.adv_tx && rx == self.adv_rx {
            return;
        }
        let up = self.state == State::Up;
        self.pace_tx = if up { self.pace_tx.min(tx) } else { tx };
        if !up || rx > self.detect_rx {
            self.detect_rx = rx;
        }
        self.adv_tx = tx;
        self.adv_rx = rx;
        if self.remote_discr != 0 {
            self.polling = true;
            self.immediate.get_or_insert(now);
        }
        self.repace(now);
    }

    /// Brings the next periodic packet forward when the interval shrank.
    fn repace(&mut self, now: Instant) {
        match (self.tx_interval(), self.next_tx) {
            (None, _) => {}
            (Some(i), Some(t)) if now + i >= t => {}
            (Some(i), _) => {
                self.next_tx = Some(now + self.rng.jittered(i, self.params.detect_mult))
            }
        }
    }
}
