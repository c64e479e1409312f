//! docker: Docker's plugin protocols for tern. The agent serves the libnetwork remote
//! network driver and the remote IPAM driver on `/run/docker/plugins/<pluginName>.sock`
//! (HTTP/1.1, JSON bodies, `{"Err": …}` for failures).
//!
//! - [`protocol`]: the request and answer bodies, field names as on the wire.
//! - [`call`]: a request (path + body) decoded into a [`Call`]; fixed answers
//!   (activation, capabilities, address spaces); HTTP status and body of an outcome.
//! - [`server`]: the HTTP server on the unix socket, handing stateful calls to a
//!   [`Driver`] (the agent's workload task does the work).
//! - [`client`]: a GET on dockerd's Engine API (the agent reads container labels with it).
//! - [`pool`]: the IPAM pool IDs tern hands out and what they mean.
#![warn(missing_docs)]

pub mod call;
pub mod client;
pub mod pool;
pub mod protocol;
pub mod server;

pub use call::{Call, DecodeError, Outcome};
pub use server::{bind, serve, Driver};
