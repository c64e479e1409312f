//! `bfd`: Bidirectional Forwarding Detection for tern (RFC 5880, single hop RFC 5881),
//! asynchronous mode.
//!
//! - [`packet`]: the Control packet codec with the packet-level reception checks.
//! - [`session`]: one session's state machine, sans-IO (packets and `now` in; packets,
//!   the next deadline and state changes out).
#![warn(missing_docs)]

pub mod packet;
pub mod session;

pub use packet::{ControlPacket, Diag, State};
pub use session::{Session, SessionParams, StateChange};
