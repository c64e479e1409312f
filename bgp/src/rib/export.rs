//! Export rules: whether a best path goes to a peer, and the attributes it carries.
//!
//! - Never back to the peer it came from; NO_ADVERTISE goes nowhere, NO_EXPORT not to
//!   eBGP peers (RFC 1997).
//! - iBGP split horizon: a path learned over iBGP is not sent to iBGP peers, except by
//!   route reflection (RFC 4456): we reflect a client's paths to every iBGP peer and a
//!   non-client's paths to clients only; reflected paths get ORIGINATOR_ID (the source
//!   peer's BGP identifier, if not set yet) and our CLUSTER_ID prepended to CLUSTER_LIST.
//! - Toward eBGP: our AS prepended, next hop self (the session's local address; for
//!   IPv6 the global one plus the link-local one when known), LOCAL_PREF removed, MED
//!   removed unless the route is ours, ORIGINATOR_ID and CLUSTER_LIST removed. A
//!   learned route whose next hop lies in a subnet we share with the peer
//!   ([`PeerUp::shared_subnets`]) keeps it (third-party next hop, RFC 4271 §5.1.3 (2),
//!   BIRD's default): the peer forwards straight to that router, not through us.
//! - Toward iBGP: LOCAL_PREF sent (the effective value, default 100); next hop self for
//!   our own blocks; next hop kept for paths learned from eBGP or reflected (BIRD's and
//!   RFC 4271 §5.1.3's default: the iBGP peers must reach the eBGP next hop, as they do
//!   on a shared ToR subnet).
//! - Originated blocks: ORIGIN IGP, empty AS_PATH (our AS prepended toward eBGP).

use std::net::{IpAddr, Ipv4Addr};

use crate::wire::{AddressFamily, Community, MpNextHop, PathAttributes};

use super::attrs::Interned;
use super::peers::{local_pref, Peer};
use super::types::{is_link_local, LocalSettings, PeerUp};

/// Where the best path came from.
pub(crate) enum Source<'a> {
    /// Originated by us.
    Local,
    /// Learned from this peer.
    Peer(&'a Peer),
}

/// The attributes and next hop to send `best` with to `target`, or `None` when it is
/// not to be sent there.
pub(crate) fn export(
    local: &LocalSettings,
    src: Source<'_>,
    best: &Interned,
    target: &Peer,
    up: &PeerUp,
    family: AddressFamily,
) -> Option<(PathAttributes, MpNextHop)> {
    if !up.families.contains(family) {
        return None;
    }
    let a = &best.value.attrs;
    if a.communities.contains(&Community::NO_ADVERTISE) {
        return None;
    }
    if !target.ibgp && a.communities.contains(&Community::NO_EXPORT) {
        return None;
    }
    let is_local = matches!(src, Source::Local);
    if let Source::Peer(from) = src {
        if from.id == target.id {
            return None;
        }
        if from.ibgp
            && target.ibgp
            && !from.settings.route_reflector_client
            && !target.settings.route_reflector_client
        {
            return None;
        }
    }
    let mut out = if is_local {
        PathAttributes::clone(a)
    } else {
        a.for_readvertise()
    };
    out.next_hop = None;
    let keep_next_hop = !is_local
        && (target.ibgp
            || up
                .shared_subnets
                .iter()
                .any(|n| n.contains(&best.value.next_hop.global)));
    let next_hop = if keep_next_hop {
        MpNextHop {
            // A link-local next hop is only meaningful on the link it was learned on;
            // toward eBGP the third-party next hop goes without it.
            link_local: best.value.next_hop.link_local.filter(|_| target.ibgp),
            ..best.value.next_hop
        }
    } else {
        self_next_hop(up, family, !target.ibgp)?
    };
    if target.ibgp {
        let from = match src {
            Source::Peer(p) => Some(p),
            Source::Local => None,
        };
        out.local_pref = Some(local_pref(&best.summary, from));
        if let Source::Peer(p) = src {
            if p.ibgp {
                out.originator_id.get_or_insert(p.bgp_id());
                out.cluster_list
                    .insert(0, local.cluster_id.unwrap_or(local.router_id));
            }
        }
    } else {
        out.as_path
            .get_or_insert_with(Default::default)
            .prepend(local.asn);
        out.local_pref = None;
        if !is_local {
            out.med = None;
        }
        out.originator_id = None;
        out.cluster_list.clear();
    }
    if family == AddressFamily::IPV4_UNICAST {
        match next_hop.global {
            IpAddr::V4(v4) => out.next_hop = Some(v4),
            IpAddr::V6(_) => return None,
        }
    } else if !next_hop.global.is_ipv6() {
        return None;
    }
    Some((out, next_hop))
}

fn self_next_hop(up: &PeerUp, family: AddressFamily, ebgp: bool) -> Option<MpNextHop> {
    if family == AddressFamily::IPV4_UNICAST {
        let v4: Ipv4Addr = up.self_ipv4()?;
        return Some(MpNextHop {
            global: IpAddr::V4(v4),
            link_local: None,
        });
    }
    let global = up.self_ipv6()?;
    let link_local = if ebgp {
        up.link_local.filter(|l| is_link_local(*l))
    } else {
        None
    };
    Some(MpNextHop {
        global: IpAddr::V6(global),
        link_local,
    })
}
