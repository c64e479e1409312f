//! The tokio driver: the only part of `bgp` that touches sockets and the clock.
//!
//! [`Speaker::start`] binds the listener, spawns one *owner task* that holds every
//! [`crate::session::Session`] and the [`crate::rib::Rib`], and returns a
//! [`SpeakerHandle`] (queries and commands over a channel) plus the stream of best-path
//! changes for the kernel. Per TCP connection a reader task frames and decodes
//! messages in batches and a writer task encodes and writes batches; neither holds
//! protocol state. TCP-MD5 (RFC 2385) and GTSM (RFC 5082) are socket options.

mod config;
mod handle;

pub use config::{PeerConfig, PeerKind, SpeakerConfig};
pub use handle::{PeerStatus, Speaker, SpeakerError, SpeakerHandle};
