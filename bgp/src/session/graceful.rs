//! Graceful restart (RFC 4724) in the session: the capability we send, whether a lost
//! session is a peer restart we help with (receiving speaker, §4.2), and the two
//! timers that end the retention of that peer's stale routes.
//!
//! - Our OPEN carries the Graceful Restart capability with our restart time and, per
//!   family, the F bit (the kernel keeps our routes while we restart).
//! - When an Established session is lost without a NOTIFICATION (the TCP connection
//!   closed or reset, or the peer opened a new one) and the peer sent the capability
//!   with a non-zero restart time, the session reports [`crate::session::Action::Down`] with a
//!   [`PeerRestart`]: keep the peer's routes of those families, marked stale. The
//!   Restart timer (the peer's restart time) starts.
//! - The peer back: families missing from its new capability, without the F bit, or
//!   all of them when the capability is gone, are flushed at once
//!   ([`crate::session::Action::FlushStale`]); for the others the stale-path timer
//!   starts, and the family is flushed when the peer sends its End-of-RIB or when the
//!   timer expires. The Restart timer expiring before the peer is back flushes all.
//! - A NOTIFICATION sent or received, a manual stop: everything is withdrawn (RFC 8538's
//!   N bit is not advertised, so every NOTIFICATION ends graceful restart). That
//!   includes our hold timer expiring: as in BIRD (without long-lived graceful
//!   restart), a peer that went silent is treated as dead, not as restarting — a
//!   restarting speaker's socket is closed by its kernel, and that we do see.

use std::time::{Duration, Instant};

use crate::wire::{AddressFamily, Capability, GracefulRestart, GracefulRestartFamily};

use super::negotiate::Negotiated;

/// Largest restart time the capability can carry (12 bits).
pub const MAX_RESTART_TIME: Duration = Duration::from_secs(4095);

/// Graceful restart settings of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// Restart time we advertise: how long the peer is to keep our routes after our
    /// session is lost (clamped to 4095 s).
    pub restart_time: Duration,
    /// How long we keep a restarted peer's stale routes once it is back, waiting for
    /// its End-of-RIB.
    pub stale_time: Duration,
    /// Restart State (R) bit: we have just restarted.
    pub restarting: bool,
    /// Forwarding State (F) bit for every family: our forwarding state (the kernel FIB)
    /// survives a restart of the speaker.
    pub forwarding_preserved: bool,
}

impl Default for GracefulRestartConfig {
    /// Restart time 120 s (BIRD's default), stale-path time 360 s (FRR's), R bit clear,
    /// F bit set.
    fn default() -> Self {
        Self {
            restart_time: Duration::from_secs(120),
            stale_time: Duration::from_secs(360),
            restarting: false,
            forwarding_preserved: true,
        }
    }
}

impl GracefulRestartConfig {
    /// The capability for our OPEN, listing `families`.
    pub fn capability(&self, families: &[AddressFamily]) -> Capability {
        let secs = self.restart_time.min(MAX_RESTART_TIME).as_secs();
        let flags = if self.forwarding_preserved {
            GracefulRestartFamily::FORWARDING_STATE
        } else {
            0
        };
        Capability::GracefulRestart(GracefulRestart {
            restart_flags: if self.restarting {
                GracefulRestart::RESTART_STATE
            } else {
                0
            },
            restart_time: u16::try_from(secs).unwrap_or(4095),
            families: families
                .iter()
                .map(|f| GracefulRestartFamily { family: *f, flags })
                .collect(),
        })
    }
}

/// A peer restart we help with: keep its routes of `families`, marked stale, for at
/// most `restart_time` unless it comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRestart {
    /// Families whose routes are kept.
    pub families: Vec<AddressFamily>,
    /// The peer's advertised restart time.
    pub restart_time: Duration,
}

/// Whether losing the session `n` is a peer restart we help with: we advertised the
/// capability and so did the peer, with a non-zero restart time and at least one
/// family of the session.
pub(super) fn peer_restart(
    ours: Option<&GracefulRestartConfig>,
    n: &Negotiated,
) -> Option<PeerRestart> {
    ours?;
    let cap = n.peer_open.graceful_restart()?;
    if cap.restart_time == 0 {
        return None;
    }
    let families: Vec<AddressFamily> = n
        .families
        .iter()
        .copied()
        .filter(|f| cap.families.iter().any(|g| g.family == *f))
        .collect();
    (!families.is_empty()).then(|| PeerRestart {
        families,
        restart_time: Duration::from_secs(u64::from(cap.restart_time)),
    })
}

/// Whether the peer may be closed without a NOTIFICATION for our own restart: both
/// sides advertised the capability (the peer then keeps our routes for our restart
/// time).
pub(super) fn peer_helps(ours: Option<&GracefulRestartConfig>, n: &Negotiated) -> bool {
    ours.is_some() && n.peer_open.graceful_restart().is_some()
}

/// The stale routes of a restarting peer that the session still accounts for.
#[derive(Debug, Default)]
pub(super) struct Retention {
    stale: Vec<AddressFamily>,
    restart_deadline: Option<Instant>,
    stale_deadline: Option<Instant>,
}

impl Retention {
    /// Families with stale routes.
    pub fn stale(&self) -> &[AddressFamily] {
        &self.stale
    }

    /// The next deadline (Restart or stale-path timer).
    pub fn deadline(&self) -> Option<Instant> {
        self.restart_deadline
            .into_iter()
            .chain(self.stale_deadline)
            .min()
    }

    /// The session was lost gracefully: `r.families` become stale (on top of what may
    /// still be stale from an earlier restart) and the Restart timer starts.
    pub fn peer_restarting(&mut self, now: Instant, r: &PeerRestart) {
        for f in &r.families {
            if !self.stale.contains(f) {
                self.stale.push(*f);
            }
        }
        self.restart_deadline = Some(now + r.restart_time);
        self.stale_deadline = None;
    }

    /// The peer is back with `n`: the Restart timer stops; returns the families to
    /// flush at once (RFC 4724 §4.2). The stale-path timer starts for the rest.
    pub fn reestablished(
        &mut self,
        now: Instant,
        n: &Negotiated,
        stale_time: Duration,
    ) -> Vec<AddressFamily> {
        self.restart_deadline = None;
        let cap = n.peer_open.graceful_restart();
        let keep = |f: &AddressFamily| {
            n.families.contains(f)
                && cap.is_some_and(|c| {
                    c.families
                        .iter()
                        .any(|g| g.family == *f && g.forwarding_preserved())
                })
        };
        let (kept, flush): (Vec<_>, Vec<_>) = self.stale.iter().partition(|f| keep(f));
        self.stale = kept;
        self.stale_deadline = (!self.stale.is_empty()).then(|| now + stale_time);
        flush
    }

    /// The peer's End-of-RIB for `family`: whether its stale routes are to go now.
    pub fn end_of_rib(&mut self, family: AddressFamily) -> bool {
        let Some(pos) = self.stale.iter().position(|f| *f == family) else {
            return false;
        };
        self.stale.remove(pos);
        if self.stale.is_empty() {
            self.stale_deadline = None;
        }
        true
    }

    /// Timers at `now`: the families to flush when one expired (then everything).
    pub fn timeout(&mut self, now: Instant) -> Vec<AddressFamily> {
        if self.deadline().is_some_and(|t| t <= now) {
            self.clear()
        } else {
            Vec::new()
        }
    }

    /// Ends the retention (manual stop, or the session lost hard): the families that
    /// were stale.
    pub fn clear(&mut self) -> Vec<AddressFamily> {
        self.restart_deadline = None;
        self.stale_deadline = None;
        std::mem::take(&mut self.stale)
    }
}
