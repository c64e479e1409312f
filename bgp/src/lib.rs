//! `bgp`: a BGP-4 speaker library for tern.
//!
//! - [`wire`]: the sans-IO codec (messages, capabilities, path attributes, NLRI, errors
//!   mapped to NOTIFICATION codes and RFC 7606 actions).
//!
//! The session state machine, the RIB and the tokio driver build on these types.
#![warn(missing_docs)]

pub mod wire;
