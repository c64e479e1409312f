//! The kernel backend: rtnetlink over our own sockets, many requests per send.

pub(crate) mod codec;
pub(crate) mod sys;
mod table;

pub use table::{EventRead, EventSocket, NetlinkTable};
