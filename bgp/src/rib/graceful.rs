//! Graceful restart, receiving side (RFC 4724 §4.2): a restarting peer's paths stay in
//! the RIB, marked stale, still used for forwarding, until the peer announces them
//! again (fresh) or the session says to flush what is left (End-of-RIB received, or a
//! restart / stale-path timer expired — the timers live in `bgp::session`).

use crate::wire::AddressFamily;

use super::update::{remove_paths, Cx};
use super::{PeerId, Rib};

impl Rib {
    /// The session went down in a way that RFC 4724 graceful restart covers: the
    /// peer's paths of `families` stay (marked stale, still used, no FIB change) until
    /// the peer re-announces them or [`Rib::flush_stale`] removes what is left; its
    /// paths of other families go as with [`Rib::peer_down`]. Its Adj-RIB-Out is
    /// forgotten (the peer restarts with an empty table).
    pub fn peer_down_graceful(&mut self, id: PeerId, families: &[AddressFamily]) {
        let Some(slot) = self.slot_of(id) else {
            return;
        };
        self.finish_prune(slot);
        let keep4 = families.contains(&AddressFamily::IPV4_UNICAST);
        let keep6 = families.contains(&AddressFamily::IPV6_UNICAST);
        let keys4 = self.v4.indices_with_peer(slot, false);
        let keys6 = self.v6.indices_with_peer(slot, false);
        let mut cx = Cx {
            attrs: &mut self.attrs,
            peers: &mut self.peers,
            snapshots: &mut self.snapshots,
        };
        if keep4 {
            keys4.iter().for_each(|&k| self.v4.set_stale(k, slot));
        } else {
            remove_paths(&mut cx, &mut self.v4, &mut self.log4, &keys4, slot, false);
        }
        if keep6 {
            keys6.iter().for_each(|&k| self.v6.set_stale(k, slot));
        } else {
            remove_paths(&mut cx, &mut self.v6, &mut self.log6, &keys6, slot, false);
        }
        if let Some(Some(p)) = self.peers.get_mut(usize::from(slot)) {
            p.out.clear(&mut self.attrs);
            p.up = None;
            p.reset_rejected();
        }
        self.refresh_local_addrs();
    }

    /// Removes the peer's paths of `families` that are still stale (its End-of-RIB
    /// arrived, or a graceful-restart timer expired).
    pub fn flush_stale(&mut self, id: PeerId, families: &[AddressFamily]) {
        let Some(slot) = self.slot_of(id) else {
            return;
        };
        self.finish_prune(slot);
        let mut cx = Cx {
            attrs: &mut self.attrs,
            peers: &mut self.peers,
            snapshots: &mut self.snapshots,
        };
        if families.contains(&AddressFamily::IPV4_UNICAST) {
            let keys = self.v4.indices_with_peer(slot, true);
            remove_paths(&mut cx, &mut self.v4, &mut self.log4, &keys, slot, true);
        }
        if families.contains(&AddressFamily::IPV6_UNICAST) {
            let keys = self.v6.indices_with_peer(slot, true);
            remove_paths(&mut cx, &mut self.v6, &mut self.log6, &keys, slot, true);
        }
    }

    /// Paths of this peer kept stale by graceful restart.
    pub fn stale_count(&self, id: PeerId) -> usize {
        self.slot_of(id).map_or(0, |slot| {
            self.v4.indices_with_peer(slot, true).len()
                + self.v6.indices_with_peer(slot, true).len()
        })
    }
}
