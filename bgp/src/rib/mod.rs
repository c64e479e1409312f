//! Routing information bases: Adj-RIB-In, Loc-RIB with the RFC 4271 §9.1 decision
//! process, Adj-RIB-Out with route reflection (RFC 4456), UPDATE packing, and the
//! best-path change stream for the kernel. Sans-IO: no clock, no sockets.
//!
//! (API skeleton; the implementation follows.)

mod types;

pub use types::{
    LocalSettings, PathView, PeerId, PeerSettings, PeerUp, PrefixCounters, RibError,
    RouteAction, RouteChange, RouteView,
};

use ipnet::IpNet;

use crate::wire::Update;

/// The RIB of one speaker: every peer's received paths, the best paths, and what is
/// to be sent to each peer.
#[derive(Debug)]
pub struct Rib {
    local: LocalSettings,
}

impl Rib {
    /// An empty RIB.
    pub fn new(local: LocalSettings) -> Self {
        Self { local }
    }

    /// Our settings.
    pub fn local(&self) -> &LocalSettings {
        &self.local
    }

    /// Registers a peer (down).
    pub fn add_peer(&mut self, _id: PeerId, _settings: PeerSettings) -> Result<(), RibError> {
        todo!()
    }

    /// Removes a peer; its routes are withdrawn first.
    pub fn remove_peer(&mut self, _id: PeerId) {
        todo!()
    }

    /// The session reached Established: queue the initial table and End-of-RIB.
    pub fn peer_up(&mut self, _id: PeerId, _up: PeerUp) -> Result<(), RibError> {
        todo!()
    }

    /// The session went down: its paths leave the RIB, its Adj-RIB-Out is forgotten.
    pub fn peer_down(&mut self, _id: PeerId) {
        todo!()
    }

    /// Applies a received UPDATE (announcements and withdrawals, RFC 7606
    /// treat-as-withdraw honoured).
    pub fn receive(&mut self, _id: PeerId, _update: &Update) -> Result<(), RibError> {
        todo!()
    }

    /// The peer asked for our routes again (ROUTE-REFRESH): re-send the whole table.
    pub fn route_refresh(&mut self, _id: PeerId) {
        todo!()
    }

    /// Originates one of this node's blocks.
    pub fn originate(&mut self, _prefix: IpNet) {
        todo!()
    }

    /// Stops originating a block.
    pub fn withdraw_originated(&mut self, _prefix: IpNet) {
        todo!()
    }

    /// Best-path changes since the last call, coalesced per prefix.
    pub fn take_route_changes(&mut self) -> Vec<RouteChange> {
        todo!()
    }

    /// Whether UPDATEs are waiting for this peer.
    pub fn has_pending_updates(&self, _id: PeerId) -> bool {
        todo!()
    }

    /// Packed UPDATEs for this peer, about `max_bytes_hint` encoded octets of them
    /// (at least one when any is pending; `usize::MAX` for all).
    pub fn take_updates(&mut self, _id: PeerId, _max_bytes_hint: usize) -> Vec<Update> {
        todo!()
    }

    /// The Loc-RIB for display.
    pub fn routes(&self, _all: bool) -> Vec<RouteView> {
        todo!()
    }

    /// One prefix for display.
    pub fn route(&self, _prefix: IpNet, _all: bool) -> Option<RouteView> {
        todo!()
    }

    /// A peer's prefix counters.
    pub fn peer_counters(&self, _id: PeerId) -> PrefixCounters {
        todo!()
    }

    /// Prefixes with at least one accepted path (the Loc-RIB size).
    pub fn len(&self) -> usize {
        todo!()
    }

    /// Whether the Loc-RIB is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Paths stored (all peers' Adj-RIB-In plus originated routes).
    pub fn path_count(&self) -> usize {
        todo!()
    }
}
