//! Per-peer state kept by the RIB: settings, what the session negotiated, prefix
//! counters and the Adj-RIB-Out; and how a path's peer feeds the decision process.

use std::net::{IpAddr, Ipv4Addr};

use super::adj_out::AdjOut;
use super::attrs::Summary;
use super::decision::{Candidate, TieKey};
use super::table::{PathRef, LOCAL_SLOT};
use super::types::{PeerId, PeerSettings, PeerUp};

/// Default LOCAL_PREF (RFC 4271 leaves it to configuration; BIRD, FRR and GoBGP use 100).
pub(crate) const DEFAULT_LOCAL_PREF: u32 = 100;

#[derive(Debug)]
pub(crate) struct Peer {
    pub id: PeerId,
    pub settings: PeerSettings,
    pub ibgp: bool,
    pub up: Option<PeerUp>,
    /// Paths stored (all accepted: rejected ones are only counted).
    pub received: u64,
    pub accepted: u64,
    /// Rejected announcements of this session by [`super::import::Reject`] code.
    pub rejected: [u64; 16],
    /// A limit crossing was reported (receive, import); cleared below the limit.
    pub limit_reported: [bool; 2],
    pub out: AdjOut,
}

impl Peer {
    pub fn new(id: PeerId, settings: PeerSettings, local_asn: u32) -> Self {
        Self {
            id,
            ibgp: settings.asn == local_asn,
            settings,
            up: None,
            received: 0,
            accepted: 0,
            rejected: [0; 16],
            limit_reported: [false; 2],
            out: AdjOut::default(),
        }
    }

    /// Rejected announcements of this session.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// Forgets the session's rejection counts and limit reports.
    pub fn reset_rejected(&mut self) {
        self.rejected = [0; 16];
        self.limit_reported = [false; 2];
    }

    pub fn bgp_id(&self) -> Ipv4Addr {
        self.up.as_ref().map_or(Ipv4Addr::UNSPECIFIED, |u| u.bgp_id)
    }
}

/// The peer table, indexed by slot (slot 0 is the local pseudo-peer and stays empty).
pub(crate) type Peers = Vec<Option<Peer>>;

pub(crate) fn peer(peers: &Peers, slot: u16) -> Option<&Peer> {
    peers.get(usize::from(slot)).and_then(Option::as_ref)
}

/// Effective LOCAL_PREF of a path: ignored from eBGP peers (RFC 4271 §5.1.5), 100 when
/// absent.
pub(crate) fn local_pref(s: &Summary, from: Option<&Peer>) -> u32 {
    match from {
        Some(p) if p.ibgp => s.local_pref.unwrap_or(DEFAULT_LOCAL_PREF),
        _ => DEFAULT_LOCAL_PREF,
    }
}

/// The decision-process view of a path.
pub(crate) fn candidate(p: PathRef, s: &Summary, peers: &Peers) -> Candidate {
    let from = peer(peers, p.peer);
    let peer_key = peer_tie_key(from);
    Candidate {
        local: p.peer == LOCAL_SLOT,
        local_pref: local_pref(s, from),
        as_path_len: s.as_path_len,
        origin: s.origin,
        med: s.med.unwrap_or(0),
        neighbor_as: s.neighbor_as,
        ebgp: from.is_some_and(|f| !f.ibgp),
        bgp_id: s.originator_id.unwrap_or(peer_key.bgp_id),
        cluster_len: s.cluster_len,
        peer_addr: peer_key.peer_addr,
    }
}

/// The tie-breakers' key of a path whose attributes carry neither ORIGINATOR_ID nor
/// CLUSTER_LIST (see [`Summary::reflected`]): the peer's alone, no attribute read.
pub(crate) fn plain_tie_key(slot: u16, peers: &Peers) -> TieKey {
    peer_tie_key(peer(peers, slot))
}

fn peer_tie_key(from: Option<&Peer>) -> TieKey {
    TieKey {
        bgp_id: from.map_or(Ipv4Addr::UNSPECIFIED, Peer::bgp_id),
        cluster_len: 0,
        peer_addr: from.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |f| f.settings.address),
    }
}
