//! The decision process (RFC 4271 §9.1.2.2, with RFC 4456's ORIGINATOR_ID and
//! CLUSTER_LIST rules), run as the RFC describes it: each step removes the candidates
//! that are worse than the best remaining one, and every removed candidate keeps the
//! step and values that removed it (for `tern routes --all` and tests).
//!
//! Steps: a locally originated route; highest LOCAL_PREF; shortest AS_PATH; lowest
//! ORIGIN; lowest MED among routes with the same neighbour AS; eBGP over iBGP; lowest
//! BGP identifier (ORIGINATOR_ID when present); shortest CLUSTER_LIST; lowest peer
//! address.
//!
//! ECMP rule (documented for operators): the ECMP set is every candidate that
//! survives through the eBGP-over-iBGP step *and* has the same neighbour AS as the best
//! path (first AS of the AS_PATH; an empty AS_PATH counts as our own AS), i.e.
//! "multipath-relax" off. An iBGP mesh where several hosts announce the same prefix
//! with equal attributes (empty AS_PATH) thus yields ECMP over their next hops.

use std::cmp::Ordering;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use smallvec::SmallVec;

use crate::wire::Origin;

/// What the decision process looks at for one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub local: bool,
    pub local_pref: u32,
    pub as_path_len: u32,
    pub origin: Origin,
    /// MED, absent counting as 0 (RFC 4271 §9.1.2.2 c).
    pub med: u32,
    /// First AS of the AS_PATH; `None` for an empty one (our own AS).
    pub neighbor_as: Option<u32>,
    pub ebgp: bool,
    /// ORIGINATOR_ID if present, else the peer's BGP identifier.
    pub bgp_id: Ipv4Addr,
    pub cluster_len: u32,
    pub peer_addr: IpAddr,
}

/// Why a candidate lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lost {
    NotLocal,
    LocalPref {
        ours: u32,
        best: u32,
    },
    AsPath {
        ours: u32,
        best: u32,
    },
    Origin {
        ours: Origin,
        best: Origin,
    },
    Med {
        ours: u32,
        best: u32,
        neighbor_as: Option<u32>,
    },
    Ibgp,
    RouterId {
        ours: Ipv4Addr,
        best: Ipv4Addr,
    },
    ClusterList {
        ours: u32,
        best: u32,
    },
    PeerAddress {
        ours: IpAddr,
        best: IpAddr,
    },
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Lost::NotLocal => f.write_str("locally originated route preferred"),
            Lost::LocalPref { ours, best } => write!(f, "lower LOCAL_PREF {ours} < {best}"),
            Lost::AsPath { ours, best } => write!(f, "longer AS_PATH {ours} > {best}"),
            Lost::Origin { ours, best } => {
                write!(f, "worse ORIGIN {} > {}", ours.name(), best.name())
            }
            Lost::Med {
                ours,
                best,
                neighbor_as,
            } => match neighbor_as {
                Some(asn) => write!(f, "higher MED {ours} > {best} from neighbour AS {asn}"),
                None => write!(f, "higher MED {ours} > {best} from our own AS"),
            },
            Lost::Ibgp => f.write_str("iBGP path, eBGP path preferred"),
            Lost::RouterId { ours, best } => write!(f, "higher router ID {ours} > {best}"),
            Lost::ClusterList { ours, best } => {
                write!(f, "longer CLUSTER_LIST {ours} > {best}")
            }
            Lost::PeerAddress { ours, best } => write!(f, "higher peer address {ours} > {best}"),
        }
    }
}

/// The outcome: candidate indices best first, then the rest of the ECMP set, then the
/// losers in the order they were removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    pub order: Vec<usize>,
    pub ecmp: usize,
    /// Per candidate index: why it lost (None for the best and ECMP members).
    pub lost: Vec<Option<Lost>>,
}

/// Candidate index lists of one decision: on the stack for up to 16 paths.
pub(crate) type Indices = SmallVec<[usize; 16]>;

/// Runs the decision process over `c` (all accepted paths of one prefix).
pub(crate) fn select(c: &[Candidate]) -> Selection {
    let mut lost: Vec<Option<Lost>> = vec![None; c.len()];
    let mut order = Indices::new();
    let ecmp = decide(c, &mut order, |i, r| {
        if let Some(slot) = lost.get_mut(i) {
            *slot = Some(r);
        }
    });
    Selection {
        order: order.into_vec(),
        ecmp,
        lost,
    }
}

/// The decision process without the reasons kept: fills `order` (best first, then
/// the rest of the ECMP set, then the losers in the order they were removed) and
/// returns the ECMP set size. `lose(i, why)` hears every removal. No heap allocation
/// for up to 16 candidates.
pub(crate) fn decide(
    c: &[Candidate],
    order: &mut Indices,
    mut lose: impl FnMut(usize, Lost),
) -> usize {
    let mut alive = Indices::new();
    alive.extend(0..c.len());
    let mut removed = Indices::new();

    // Removes every alive candidate for which `reason` gives a reason.
    fn sweep(
        alive: &mut Indices,
        removed: &mut Indices,
        lose: &mut impl FnMut(usize, Lost),
        reason: impl Fn(usize) -> Option<Lost>,
    ) {
        alive.retain(|i| match reason(*i) {
            Some(r) => {
                lose(*i, r);
                removed.push(*i);
                false
            }
            None => true,
        });
    }
    let get = |i: usize| c.get(i).copied();

    if alive.iter().any(|&i| get(i).is_some_and(|x| x.local)) {
        sweep(&mut alive, &mut removed, &mut lose, |i| {
            get(i).filter(|x| !x.local).map(|_| Lost::NotLocal)
        });
    }
    let best_lp = alive
        .iter()
        .filter_map(|&i| get(i))
        .map(|x| x.local_pref)
        .max();
    if let Some(best) = best_lp {
        sweep(&mut alive, &mut removed, &mut lose, |i| {
            get(i)
                .filter(|x| x.local_pref < best)
                .map(|x| Lost::LocalPref {
                    ours: x.local_pref,
                    best,
                })
        });
    }
    let best_len = alive
        .iter()
        .filter_map(|&i| get(i))
        .map(|x| x.as_path_len)
        .min();
    if let Some(best) = best_len {
        sweep(&mut alive, &mut removed, &mut lose, |i| {
            get(i)
                .filter(|x| x.as_path_len > best)
                .map(|x| Lost::AsPath {
                    ours: x.as_path_len,
                    best,
                })
        });
    }
    let best_origin = alive.iter().filter_map(|&i| get(i)).map(|x| x.origin).min();
    if let Some(best) = best_origin {
        sweep(&mut alive, &mut removed, &mut lose, |i| {
            get(i).filter(|x| x.origin > best).map(|x| Lost::Origin {
                ours: x.origin,
                best,
            })
        });
    }
    // MED: compared only among routes from the same neighbour AS.
    let mut snapshot = Indices::new();
    snapshot.extend_from_slice(&alive);
    sweep(&mut alive, &mut removed, &mut lose, |i| {
        let x = get(i)?;
        let best = snapshot
            .iter()
            .filter_map(|&j| get(j))
            .filter(|y| y.neighbor_as == x.neighbor_as)
            .map(|y| y.med)
            .min()?;
        (x.med > best).then_some(Lost::Med {
            ours: x.med,
            best,
            neighbor_as: x.neighbor_as,
        })
    });
    if alive
        .iter()
        .any(|&i| get(i).is_some_and(|x| x.ebgp || x.local))
    {
        sweep(&mut alive, &mut removed, &mut lose, |i| {
            get(i).filter(|x| !x.ebgp && !x.local).map(|_| Lost::Ibgp)
        });
    }
    // Tie-breakers: order what is left. Addresses compare as integers (the same
    // order as their octets; `Ipv4Addr`'s own `cmp` compares byte slices, a visible
    // share of a fan-in's decisions).
    alive.sort_by(|&a, &b| match (get(a), get(b)) {
        (Some(x), Some(y)) => u32::from(x.bgp_id)
            .cmp(&u32::from(y.bgp_id))
            .then(x.cluster_len.cmp(&y.cluster_len))
            .then_with(|| addr_cmp(x.peer_addr, y.peer_addr))
            .then(a.cmp(&b)),
        _ => Ordering::Equal,
    });
    order.clear();
    let Some(best) = alive.first().and_then(|&i| get(i)) else {
        order.extend(removed);
        return 0;
    };
    // The ECMP set (same neighbour AS as the best), then the other survivors, each
    // in tie-break order.
    order.extend(
        alive
            .iter()
            .copied()
            .filter(|&i| get(i).is_some_and(|x| x.neighbor_as == best.neighbor_as)),
    );
    let ecmp = order.len();
    for &i in &alive {
        if let Some(x) = get(i).filter(|x| x.neighbor_as != best.neighbor_as) {
            lose(i, tie_break_reason(&x, &best));
            order.push(i);
        }
    }
    order.extend(removed);
    ecmp
}

/// `IpAddr`'s order (IPv4 before IPv6, then by address), comparing integers.
fn addr_cmp(a: IpAddr, b: IpAddr) -> Ordering {
    match (a, b) {
        (IpAddr::V4(x), IpAddr::V4(y)) => u32::from(x).cmp(&u32::from(y)),
        (IpAddr::V6(x), IpAddr::V6(y)) => u128::from(x).cmp(&u128::from(y)),
        (IpAddr::V4(_), IpAddr::V6(_)) => Ordering::Less,
        (IpAddr::V6(_), IpAddr::V4(_)) => Ordering::Greater,
    }
}

fn tie_break_reason(x: &Candidate, best: &Candidate) -> Lost {
    if x.bgp_id != best.bgp_id {
        Lost::RouterId {
            ours: x.bgp_id,
            best: best.bgp_id,
        }
    } else if x.cluster_len != best.cluster_len {
        Lost::ClusterList {
            ours: x.cluster_len,
            best: best.cluster_len,
        }
    } else {
        Lost::PeerAddress {
            ours: x.peer_addr,
            best: best.peer_addr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cand() -> impl Strategy<Value = Candidate> {
        // Small value ranges, so that ties and MED across neighbour ASes are common.
        (
            (any::<bool>(), prop_oneof![Just(100u32), Just(200)], 1u32..4),
            (0u8..3, 0u32..3, prop::option::of(1u32..4), any::<bool>()),
            (1u8..4, 0u32..2, 1u8..4),
        )
            .prop_map(|((local, lp, len), (o, med, nas, ebgp), (id, cl, addr))| {
                Candidate {
                    local,
                    local_pref: lp,
                    as_path_len: len,
                    origin: [Origin::Igp, Origin::Egp, Origin::Incomplete][usize::from(o)],
                    med,
                    neighbor_as: nas,
                    ebgp,
                    bgp_id: Ipv4Addr::new(10, 0, 0, id),
                    cluster_len: cl,
                    peer_addr: IpAddr::V4(Ipv4Addr::new(10, 1, 0, addr)),
                }
            })
    }

    proptest! {
        /// The integer comparisons of the tie-breakers are the addresses' own order.
        #[test]
        fn integer_address_order_is_the_address_order(
            a in any::<IpAddr>(),
            b in any::<IpAddr>(),
            x in any::<Ipv4Addr>(),
            y in any::<Ipv4Addr>(),
        ) {
            prop_assert_eq!(addr_cmp(a, b), a.cmp(&b));
            prop_assert_eq!(addr_cmp(a, a), Ordering::Equal);
            prop_assert_eq!(u32::from(x).cmp(&u32::from(y)), x.cmp(&y));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The stored order is a fixed point: deciding again over the candidates in
        /// the order the decision gave (what the RIB stores and re-decides on the next
        /// change) gives that order back, with the same ECMP set. `select` and
        /// `decide` agree, and exactly the non-ECMP candidates have a reason.
        #[test]
        fn decision_order_is_a_fixed_point(c in prop::collection::vec(cand(), 1..12)) {
            let sel = select(&c);
            let mut order = Indices::new();
            let ecmp = decide(&c, &mut order, |_, _| {});
            prop_assert_eq!(&sel.order[..], &order[..]);
            prop_assert_eq!(sel.ecmp, ecmp);
            let mut seen = order.to_vec();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..c.len()).collect::<Vec<_>>());
            prop_assert!(ecmp >= 1 && ecmp <= c.len());
            for (k, &i) in order.iter().enumerate() {
                prop_assert_eq!(sel.lost[i].is_none(), k < ecmp);
            }
            let again: Vec<Candidate> = order.iter().map(|&i| c[i]).collect();
            let mut order2 = Indices::new();
            let ecmp2 = decide(&again, &mut order2, |_, _| {});
            prop_assert_eq!(&order2[..], &(0..c.len()).collect::<Vec<_>>()[..]);
            prop_assert_eq!(ecmp2, ecmp);
        }
    }
}
