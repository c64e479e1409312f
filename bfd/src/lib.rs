//! `bfd`: Bidirectional Forwarding Detection for tern (RFC 5880, single hop RFC 5881),
//! asynchronous mode.
//!
//! - [`packet`]: the Control packet codec with the packet-level reception checks.
//! - [`auth`]: Keyed SHA1 / Meticulous Keyed SHA1 signing and checking.
//! - [`session`]: one session's state machine, sans-IO (packets and `now` in; packets,
//!   the next deadline and state changes out).
//! - [`driver`]: the tokio driver: UDP port 3784, TTL 255 on send and checked on
//!   receive, one task owning every session; clients get [`BfdEvent`]s.
#![warn(missing_docs)]

pub mod auth;
pub mod driver;
pub mod packet;
pub mod session;

pub use auth::AuthKey;
pub use driver::{
    BfdEvent, Driver, DriverConfig, DriverCounters, DriverError, DriverHandle, PeerKey,
    SessionStatus,
};
pub use packet::{ControlPacket, Diag, State};
pub use session::{ParamsError, Session, SessionParams, StateChange};
