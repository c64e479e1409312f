//! ROUTE-REFRESH (RFC 2918) as a re-advertisement of the Adj-RIB-Out, bounded in work.
//!
//! A refresh re-sends what was exported to the peer in that family (its Adj-RIB-Out,
//! re-evaluated through export as every UPDATE is), never the whole table: rejected
//! or unexportable prefixes cost nothing. Requests coalesce per peer and family: one
//! re-advertisement runs, at most one more waits behind it (for requests that arrive
//! after the running one has sent something), and every further request is absorbed.
//! A run is fed to the peer's Adj-RIB-Out in chunks of [`REFRESH_CHUNK`] prefixes, and
//! only when nothing else is pending for the peer, so the work follows the pace at
//! which the peer reads, and a refresh storm costs one walk of the Adj-RIB-Out per
//! completed re-advertisement, as BIRD does (a refresh while its feed has not started
//! is dropped).

use std::collections::VecDeque;

use hashbrown::HashMap;
use ipnet::IpNet;

use super::types::PeerId;
use super::Rib;
use crate::wire::AddressFamily;

/// Prefixes handed from a running refresh to the Adj-RIB-Out at a time.
pub const REFRESH_CHUNK: usize = 4096;

/// What became of a ROUTE-REFRESH request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRequest {
    /// A re-advertisement of the family starts.
    Started,
    /// One is running: another one follows it.
    Queued,
    /// One is already waiting to run: this request is covered by it.
    Absorbed,
    /// The peer is not up, or the family is not a unicast one.
    Ignored,
}

/// One family's re-advertisement.
#[derive(Debug)]
struct Run {
    family: AddressFamily,
    /// Prefixes of the Adj-RIB-Out still to be sent again.
    queue: VecDeque<IpNet>,
    /// Part of it was handed to the Adj-RIB-Out.
    started: bool,
    /// Another request arrived after it started: run once more afterwards.
    again: bool,
}

/// Running refreshes per peer slot.
#[derive(Debug, Default)]
pub(crate) struct Refreshes(HashMap<u16, Vec<Run>>);

impl Refreshes {
    pub fn pending(&self, slot: u16) -> bool {
        self.0.get(&slot).is_some_and(|runs| !runs.is_empty())
    }

    /// The session ended: its refreshes are void.
    pub fn forget(&mut self, slot: u16) {
        self.0.remove(&slot);
    }
}

fn family_of(p: &IpNet) -> AddressFamily {
    match p {
        IpNet::V4(_) => AddressFamily::IPV4_UNICAST,
        IpNet::V6(_) => AddressFamily::IPV6_UNICAST,
    }
}

impl Rib {
    /// The peer asked for `family` again (ROUTE-REFRESH): what we advertised to it in
    /// that family is sent again, in chunks, coalesced with other requests (see the
    /// module docs).
    pub fn route_refresh(&mut self, id: PeerId, family: AddressFamily) -> RefreshRequest {
        let unicast = [AddressFamily::IPV4_UNICAST, AddressFamily::IPV6_UNICAST];
        let Some(slot) = self.slot_of(id) else {
            return RefreshRequest::Ignored;
        };
        let up = super::peers::peer(&self.peers, slot).is_some_and(|p| p.up.is_some());
        if !up || !unicast.contains(&family) {
            return RefreshRequest::Ignored;
        }
        let runs = self.refresh.0.entry(slot).or_default();
        if let Some(run) = runs.iter_mut().find(|r| r.family == family) {
            return if !run.started || run.again {
                RefreshRequest::Absorbed
            } else {
                run.again = true;
                RefreshRequest::Queued
            };
        }
        let queue = self.advertised(slot, family);
        self.refresh.0.entry(slot).or_default().push(Run {
            family,
            queue,
            started: false,
            again: false,
        });
        RefreshRequest::Started
    }

    /// Whether a refresh of this peer is still running or waiting.
    pub fn refresh_pending(&self, id: PeerId) -> bool {
        self.slot_of(id).is_some_and(|s| self.refresh.pending(s))
    }

    /// The Adj-RIB-Out of `slot` in `family`, in prefix order.
    fn advertised(&self, slot: u16, family: AddressFamily) -> VecDeque<IpNet> {
        let v6 = family == AddressFamily::IPV6_UNICAST;
        let mut v: Vec<IpNet> = super::peers::peer(&self.peers, slot)
            .map(|p| {
                let by_slot = p
                    .out
                    .sent_slots(v6)
                    .filter_map(|s| self.at_slot(v6, s).map(|(prefix, _)| prefix));
                let add_path = p.out.add_path_prefixes();
                by_slot
                    .chain(add_path.filter(|n| family_of(n) == family))
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v.into()
    }

    /// Hands the next chunk of a running refresh to the peer's Adj-RIB-Out when
    /// nothing else is pending for it.
    pub(super) fn feed_refresh(&mut self, id: PeerId) {
        let Some(slot) = self.slot_of(id) else {
            return;
        };
        if !self.refresh.pending(slot) {
            return;
        }
        let Some(Some(p)) = self.peers.get_mut(usize::from(slot)) else {
            return;
        };
        if p.up.is_none() {
            self.refresh.forget(slot);
            return;
        }
        if p.out.has_pending() {
            return;
        }
        let Some(run) = self.refresh.0.get_mut(&slot).and_then(|r| r.first_mut()) else {
            return;
        };
        let n = run.queue.len().min(REFRESH_CHUNK);
        for prefix in run.queue.drain(..n) {
            // A prefix removed meanwhile is being withdrawn already.
            if let Some((v6, s)) = super::adj_out::key_in(&self.v4, &self.v6, &prefix) {
                p.out.force(prefix, v6, s);
            }
        }
        run.started = true;
        if !run.queue.is_empty() {
            return;
        }
        let (family, again) = (run.family, run.again);
        if let Some(runs) = self.refresh.0.get_mut(&slot) {
            runs.remove(0);
        }
        if again {
            let queue = self.advertised(slot, family);
            self.refresh.0.entry(slot).or_default().push(Run {
                family,
                queue,
                started: false,
                again: false,
            });
        }
        if self.refresh.0.get(&slot).is_some_and(Vec::is_empty) {
            self.refresh.forget(slot);
        }
    }
}
