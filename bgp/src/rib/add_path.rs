//! ADD-PATH send (RFC 7911): toward a peer with ADD-PATH send negotiated for a family,
//! a prefix is advertised with every path of its ECMP set (not only the best path,
//! not the losing paths), each with a path identifier of ours.
//!
//! Why the ECMP set and not every path: what a receiver needs from a route reflector
//! is the set of paths it would itself spread traffic over — an anycast block on two
//! hosts stays ECMP on every client. Losing paths only cost the clients memory (BIRD
//! sends them all; GoBGP's `send-max` bounds them).
//!
//! Path identifiers are stable: a path keeps its id for as long as it stays in the
//! set (keyed by its source: peer slot and that peer's own path id), and a new path
//! takes the smallest id from 1 up that the prefix does not use. Paths whose exported
//! attributes are the same (next hop self toward eBGP, for instance) are sent once.

use ipnet::IpNet;

use crate::wire::Nlri;

use super::adj_out::{Batch, ExportCache};
use super::attrs::AttrId;
use super::pack;
use super::table::PathRef;
use super::Rib;

/// One path advertised to an ADD-PATH peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SentPath {
    /// Where it came from: (peer slot, that peer's path id).
    pub src: (u16, u32),
    /// Our path id toward this peer.
    pub id: u32,
    /// The exported attribute set (one reference).
    pub attr: AttrId,
}

/// Smallest path id from 1 up that none of `used` has.
fn free_id(used: &[SentPath], more: &[SentPath]) -> u32 {
    let mut ids: Vec<u32> = used.iter().chain(more).map(|p| p.id).collect();
    ids.sort_unstable();
    let mut next = 1;
    for id in ids {
        if id == next {
            next += 1;
        } else if id > next {
            break;
        }
    }
    next
}

impl Rib {
    /// The ECMP set of a prefix (best first); empty when it has no accepted path.
    fn ecmp_of(&self, prefix: &IpNet) -> Vec<PathRef> {
        match prefix {
            IpNet::V4(n) => self
                .v4
                .find(u32::from(n.network()), n.prefix_len())
                .map(|i| self.v4.paths(i).ecmp().to_vec()),
            IpNet::V6(n) => self
                .v6
                .find(u128::from(n.network()), n.prefix_len())
                .map(|i| self.v6.paths(i).ecmp().to_vec()),
        }
        .unwrap_or_default()
    }

    /// Brings `sent` (the paths of `prefix` last sent to peer `slot`) in line with the
    /// prefix's ECMP set: announcements and withdrawals go into `batch`. Returns the
    /// octets added. `forced` (route refresh) sends unchanged paths again.
    pub(super) fn export_paths(
        &mut self,
        (slot, limits, forced): (u16, (usize, bool), bool),
        prefix: IpNet,
        sent: &mut Vec<SentPath>,
        cache: &mut ExportCache,
        batch: &mut Batch,
    ) -> usize {
        let mut want: Vec<((u16, u32), AttrId)> = Vec::new();
        for path in self.ecmp_of(&prefix) {
            match self.export_path(slot, &prefix, path, limits, cache) {
                Some((id, true)) if !want.iter().any(|w| w.1 == id) => {
                    want.push(((path.peer, path.path_id), id));
                }
                // Too large for the peer's messages (not sent; the single-path code
                // counts such sets), or the same attributes as a path already sent.
                Some((id, _)) => self.attrs.release(id),
                None => {}
            }
        }
        let had = std::mem::take(sent);
        let mut bytes = 0;
        for (src, attr) in want {
            let old = had.iter().find(|h| h.src == src).copied();
            let id = match old {
                Some(h) if h.attr == attr => {
                    self.attrs.release(attr);
                    sent.push(h);
                    if forced {
                        let n = Nlri {
                            path_id: Some(h.id),
                            ..Nlri::new(prefix)
                        };
                        bytes += batch.announce(&self.attrs, attr, n, limits.1);
                    }
                    continue;
                }
                Some(h) => {
                    self.attrs.release(h.attr);
                    h.id
                }
                None => free_id(&had, sent),
            };
            sent.push(SentPath { src, id, attr });
            let n = Nlri {
                path_id: Some(id),
                ..Nlri::new(prefix)
            };
            bytes += batch.announce(&self.attrs, attr, n, limits.1);
        }
        for h in had {
            if sent.iter().any(|s| s.src == h.src) {
                continue;
            }
            self.attrs.release(h.attr);
            let n = Nlri {
                path_id: Some(h.id),
                ..Nlri::new(prefix)
            };
            bytes += pack::path_nlri_len(&n);
            batch.withdrawn.push(n);
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(id: u32) -> SentPath {
        SentPath {
            src: (1, id),
            id,
            attr: 0,
        }
    }

    #[test]
    fn free_id_takes_the_smallest_unused() {
        assert_eq!(free_id(&[], &[]), 1);
        assert_eq!(free_id(&[sp(1), sp(2)], &[]), 3);
        assert_eq!(free_id(&[sp(2)], &[sp(3)]), 1);
        assert_eq!(free_id(&[sp(1)], &[sp(3)]), 2);
    }
}
