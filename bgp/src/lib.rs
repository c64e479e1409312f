//! `bgp`: a BGP-4 speaker library for tern.
//!
//! - [`wire`]: the sans-IO codec (messages, capabilities, path attributes, NLRI, errors
//!   mapped to NOTIFICATION codes and RFC 7606 actions).
//! - [`session`]: the per-peer state machine (RFC 4271 §8), sans-IO.
//! - [`rib`]: Adj-RIB-In, Loc-RIB and best path, Adj-RIB-Out, route reflection; sans-IO.
//! - [`policy`]: import filters (pools, own blocks), max-prefix.
//! - [`speaker`]: the tokio driver that owns sessions and the RIB.
#![warn(missing_docs)]

pub mod lograte;
pub mod policy;
pub mod rib;
pub mod session;
pub mod speaker;
pub mod wire;
