//! Adj-RIB-Out per peer: what we last sent (prefix → interned exported attributes),
//! which prefixes changed since (the queue), and the pending End-of-RIB markers.
//! `take_updates` turns the queue into packed UPDATEs.

use std::collections::VecDeque;

use hashbrown::{HashMap, HashSet};
use ipnet::IpNet;

use crate::wire::{AddressFamily, Update};

use super::attrs::{AttrId, AttrTable};
use super::export::{export, Source};
use super::pack;
use super::peers::peer;
use super::table::LOCAL_SLOT;
use super::types::PeerId;
use super::Rib;

/// One peer's Adj-RIB-Out.
#[derive(Debug, Default)]
pub(crate) struct AdjOut {
    sent: HashMap<IpNet, AttrId>,
    pending: HashSet<IpNet>,
    queue: VecDeque<IpNet>,
    /// Prefixes to send again even if unchanged (route refresh).
    force: HashSet<IpNet>,
    /// End-of-RIB markers to send once the initial table is out.
    eor: Vec<AddressFamily>,
}

impl AdjOut {
    pub fn was_sent(&self, p: &IpNet) -> bool {
        self.sent.contains_key(p)
    }

    pub fn mark(&mut self, p: IpNet) {
        self.pending.insert(p);
    }

    pub fn force(&mut self, p: IpNet) {
        self.force.insert(p);
        self.pending.insert(p);
    }

    pub fn sent_prefixes(&self) -> impl Iterator<Item = &IpNet> {
        self.sent.keys()
    }

    pub fn set_eor(&mut self, families: Vec<AddressFamily>) {
        self.eor = families;
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty() || !self.queue.is_empty() || !self.eor.is_empty()
    }

    pub fn advertised(&self) -> usize {
        self.sent.len()
    }

    /// Forgets everything (session down), releasing the attribute references.
    pub fn clear(&mut self, attrs: &mut AttrTable) {
        for (_, id) in self.sent.drain() {
            attrs.release(id);
        }
        self.pending.clear();
        self.queue.clear();
        self.force.clear();
        self.eor.clear();
    }
}

fn family_of(p: &IpNet) -> AddressFamily {
    match p {
        IpNet::V4(_) => AddressFamily::IPV4_UNICAST,
        IpNet::V6(_) => AddressFamily::IPV6_UNICAST,
    }
}

impl Rib {
    /// The exported attribute id for `prefix` toward peer `slot` (one new reference),
    /// or `None` when nothing is to be sent.
    fn export_id(
        &mut self,
        slot: u16,
        prefix: &IpNet,
        cache: &mut HashMap<(AttrId, u16, bool), Option<AttrId>>,
    ) -> Option<AttrId> {
        let best = self.best_path(prefix)?;
        // The exported set depends on the source path and the family (next hop).
        let key = (best.attr, best.peer, matches!(prefix, IpNet::V6(_)));
        if let Some(&hit) = cache.get(&key) {
            if let Some(id) = hit {
                self.attrs.retain(id);
            }
            return hit;
        }
        let target = peer(&self.peers, slot)?;
        let up = target.up.as_ref()?;
        let src = if best.peer == LOCAL_SLOT {
            Source::Local
        } else {
            Source::Peer(peer(&self.peers, best.peer)?)
        };
        let interned = self.attrs.get(best.attr);
        let out = export(&self.local, src, interned, target, up, family_of(prefix));
        let id = out.map(|(a, nh)| self.attrs.intern(&a, nh));
        if let Some(id) = id {
            // One reference for the cache, one for the caller.
            self.attrs.retain(id);
        }
        cache.insert(key, id);
        id
    }

    pub(super) fn take_updates_impl(&mut self, id: PeerId, budget: usize) -> Vec<Update> {
        let Some(slot) = self.slot_of(id) else {
            return Vec::new();
        };
        let (max_len, four) = match peer(&self.peers, slot).and_then(|p| p.up.as_ref()) {
            Some(up) => (
                if up.extended_message {
                    crate::wire::MAX_EXTENDED_MESSAGE_LEN
                } else {
                    crate::wire::MAX_MESSAGE_LEN
                },
                up.four_octet_as,
            ),
            None => return Vec::new(),
        };
        let Some(Some(p)) = self.peers.get_mut(usize::from(slot)) else {
            return Vec::new();
        };
        let mut out = std::mem::take(&mut p.out);
        if out.queue.is_empty() {
            let mut v: Vec<IpNet> = out.pending.drain().collect();
            v.sort_unstable();
            out.queue = v.into();
        }
        let mut cache = HashMap::new();
        let mut groups: HashMap<AttrId, Vec<IpNet>> = HashMap::new();
        let mut group_order: Vec<AttrId> = Vec::new();
        let mut withdrawn: Vec<IpNet> = Vec::new();
        let mut bytes = 0usize;
        while bytes < budget {
            let Some(prefix) = out.queue.pop_front() else {
                break;
            };
            let want = self.export_id(slot, &prefix, &mut cache);
            let forced = out.force.remove(&prefix);
            let had = out.sent.get(&prefix).copied();
            match (want, had) {
                (Some(w), Some(h)) if w == h && !forced => self.attrs.release(w),
                (Some(w), had) => {
                    out.sent.insert(prefix, w);
                    if let Some(h) = had {
                        self.attrs.release(h);
                    }
                    let g = groups.entry(w).or_insert_with(|| {
                        group_order.push(w);
                        bytes += pack::UPDATE_OVERHEAD + 64;
                        Vec::new()
                    });
                    g.push(prefix);
                    bytes += pack::nlri_len(&prefix);
                }
                (None, Some(h)) => {
                    out.sent.remove(&prefix);
                    self.attrs.release(h);
                    withdrawn.push(prefix);
                    bytes += pack::nlri_len(&prefix);
                }
                (None, None) => {}
            }
        }
        let mut updates = Vec::new();
        for family in [AddressFamily::IPV4_UNICAST, AddressFamily::IPV6_UNICAST] {
            let w: Vec<IpNet> = withdrawn
                .iter()
                .filter(|p| family_of(p) == family)
                .copied()
                .collect();
            if !w.is_empty() {
                updates.extend(pack::withdraw(family, &w, max_len));
            }
        }
        for gid in group_order {
            let Some(prefixes) = groups.get(&gid) else {
                continue;
            };
            let value = &self.attrs.get(gid).value;
            for family in [AddressFamily::IPV4_UNICAST, AddressFamily::IPV6_UNICAST] {
                let ps: Vec<IpNet> = prefixes
                    .iter()
                    .filter(|p| family_of(p) == family)
                    .copied()
                    .collect();
                if !ps.is_empty() {
                    updates.extend(pack::announce(
                        &value.attrs,
                        value.next_hop,
                        family,
                        &ps,
                        max_len,
                        four,
                    ));
                }
            }
        }
        for (_, id) in cache.drain() {
            if let Some(id) = id {
                self.attrs.release(id);
            }
        }
        if out.queue.is_empty() && out.pending.is_empty() {
            for family in out.eor.drain(..) {
                updates.push(Update::end_of_rib_marker(family));
            }
        }
        if let Some(Some(p)) = self.peers.get_mut(usize::from(slot)) {
            p.out = out;
        }
        updates
    }
}
