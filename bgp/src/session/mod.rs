//! The per-peer BGP session: the RFC 4271 §8 finite state machine, sans-IO.
//!
//! A [`Session`] owns one peer's protocol state: its connections (one outgoing and one
//! incoming during a collision, RFC 4271 §6.8; at most [`MAX_PENDING_CONNECTIONS`]
//! waiting for the peer's OPEN, extras with a short [`EXTRA_OPEN_WAIT`]), the OPEN exchange and its checks
//! ([`check_open`]: version, peer AS incl. RFC 6793 AS_TRANS, BGP identifier, hold
//! time, common families → NOTIFICATION otherwise), the Hold, Keepalive and
//! ConnectRetry timers (jittered exponential back-off from a seed), Cease handling
//! (RFC 4486, RFC 8203 shutdown communication), passive peers, ROUTE-REFRESH and
//! End-of-RIB recognition, and graceful restart (RFC 4724, [`graceful`]): the
//! capability, a lost session kept as a peer restart with stale routes, and the Restart
//! and stale-path timers that end it.
//!
//! It does no I/O and reads no clock, in the style of quinn-proto: every entry point
//! takes `now`, [`Session::poll_action`] yields what to do ([`Action`]), and
//! [`Session::poll_timeout`] says when to call [`Session::handle_timeout`]. The driver
//! ([`crate::speaker`]) moves the bytes; tests step a virtual clock.
//!
//! UPDATE contents are not the session's business: it hands received UPDATEs out as
//! [`Action::Update`] and the driver sends the RIB's UPDATEs on
//! [`Session::established_conn`], telling the session via [`Session::update_sent`].

mod action;
mod backoff;
mod config;
mod fsm;
pub mod graceful;
mod negotiate;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

pub use action::{Action, ConnId, Direction, State};
pub use backoff::Jitter;
pub use config::SessionConfig;
pub use fsm::{Session, EXTRA_OPEN_WAIT, LARGE_HOLD_TIME, MAX_PENDING_CONNECTIONS};
pub use graceful::{GracefulRestartConfig, PeerRestart};
pub use negotiate::{check_open, Negotiated};
