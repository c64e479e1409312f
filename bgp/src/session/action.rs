//! The session's vocabulary: [`State`], connection names ([`ConnId`], [`Direction`])
//! and the [`Action`]s a session asks its driver to carry out.

use crate::wire::{AddressFamily, DecodeContext, EncodeContext, Message, Update};

use super::graceful::PeerRestart;

/// The RFC 4271 §8.2.2 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Stopped: refuses connections.
    Idle,
    /// An outgoing connection attempt is in progress.
    Connect,
    /// Waiting for an incoming connection (or for the next connect attempt).
    Active,
    /// OPEN sent, waiting for the peer's.
    OpenSent,
    /// OPENs exchanged, waiting for the KEEPALIVE.
    OpenConfirm,
    /// Up: UPDATEs flow.
    Established,
}

impl State {
    /// The RFC name: "Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established".
    pub fn name(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Connect => "Connect",
            Self::Active => "Active",
            Self::OpenSent => "OpenSent",
            Self::OpenConfirm => "OpenConfirm",
            Self::Established => "Established",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A TCP connection of one session, named by the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We connected to the peer.
    Outgoing,
    /// The peer connected to us.
    Incoming,
}

/// What the session asks the driver to do, or tells it.
// UPDATE is the large variant and the common one; boxing it costs an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open an outgoing TCP connection; report
    /// [`Session::connected`](super::Session::connected) or
    /// [`Session::connect_failed`](super::Session::connect_failed) with this id.
    Connect(ConnId),
    /// Send a message on a connection.
    Send(ConnId, Message),
    /// Close the connection once the messages queued before this action are written
    /// (or abandon the connection attempt).
    Close(ConnId),
    /// The peer's OPEN was accepted on `conn`: decode its further messages with
    /// `decode` and encode ours with `encode`.
    Negotiated {
        /// The connection.
        conn: ConnId,
        /// Context for the peer's messages.
        decode: DecodeContext,
        /// Context for our messages.
        encode: EncodeContext,
    },
    /// The session reached Established on `conn`
    /// ([`Session::negotiated`](super::Session::negotiated) has the rest):
    /// hand the peer to the RIB and start sending the table.
    Established(ConnId),
    /// The session left Established: withdraw the peer's routes, or, for a peer
    /// restart we help with (RFC 4724 §4.2), keep those of `restart.families` marked
    /// stale (and withdraw the rest).
    Down {
        /// Why, for logs and status.
        reason: String,
        /// `Some`: graceful restart of the peer; `None`: withdraw everything.
        restart: Option<PeerRestart>,
    },
    /// Remove the peer's routes of these families that are still stale (End-of-RIB
    /// received, Restart or stale-path timer expired, the peer came back without
    /// preserving them, or the session was stopped).
    FlushStale(Vec<AddressFamily>),
    /// An UPDATE (not an End-of-RIB marker) for the RIB.
    Update(Update),
    /// The peer finished its initial table for this family (RFC 4724 §2).
    EndOfRib(AddressFamily),
    /// The peer asked for our Adj-RIB-Out of this family again (RFC 2918).
    RouteRefresh(AddressFamily),
}
