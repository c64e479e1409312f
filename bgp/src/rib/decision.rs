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

impl Candidate {
    /// Whether `other` is equal in everything the steps before the tie-breakers
    /// compare, MED included: between two such paths only the tie-breakers decide.
    pub(crate) fn same_steps(&self, other: &Candidate) -> bool {
        self.steps_but_med() == other.steps_but_med() && self.med == other.med
    }

    /// What the steps before the tie-breakers compare, MED (compared only within a
    /// neighbour AS) aside.
    fn steps_but_med(&self) -> (bool, u32, u32, Origin, bool) {
        (
            self.local,
            self.local_pref,
            self.as_path_len,
            self.origin,
            self.ebgp,
        )
    }

    /// What the tie-breakers compare.
    pub(crate) fn tie_key(&self) -> TieKey {
        TieKey {
            bgp_id: self.bgp_id,
            cluster_len: self.cluster_len,
            peer_addr: self.peer_addr,
        }
    }
}

/// What the tie-breakers compare, in their order: the BGP identifier (ORIGINATOR_ID
/// when present), the CLUSTER_LIST length, the peer address; lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TieKey {
    pub bgp_id: Ipv4Addr,
    pub cluster_len: u32,
    pub peer_addr: IpAddr,
}

impl TieKey {
    /// The tie-breakers' order. Addresses compare as integers (the same order as
    /// their octets; `Ipv4Addr`'s own `cmp` compares byte slices, a visible share of a
    /// fan-in's decisions).
    pub(crate) fn order(&self, other: &TieKey) -> Ordering {
        u32::from(self.bgp_id)
            .cmp(&u32::from(other.bgp_id))
            .then(self.cluster_len.cmp(&other.cluster_len))
            .then_with(|| addr_cmp(self.peer_addr, other.peer_addr))
    }
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
pub(crate) fn decide(c: &[Candidate], order: &mut Indices, lose: impl FnMut(usize, Lost)) -> usize {
    decide_with(c, order, lose, true)
}

/// Whether no step before the tie-breakers can remove a candidate: all are equal in
/// everything those steps compare, and MED removes nobody (equal MEDs, or every
/// neighbour AS has one candidate). The usual case of a prefix learned from several
/// peers with equal attributes (a fan-in, a mesh of hosts): the steps are skipped.
fn all_tie_to_the_tie_breakers(c: &[Candidate]) -> bool {
    let Some(first) = c.first() else {
        return true;
    };
    if !c.iter().all(|x| x.steps_but_med() == first.steps_but_med()) {
        return false;
    }
    c.iter().all(|x| x.med == first.med)
        || c.iter()
            .enumerate()
            .all(|(i, x)| c.iter().skip(i + 1).all(|y| y.neighbor_as != x.neighbor_as))
}

/// [`decide`]; `shortcut` allows skipping the steps when they cannot remove anyone
/// (off only to test that the shortcut gives the same result).
fn decide_with(
    c: &[Candidate],
    order: &mut Indices,
    mut lose: impl FnMut(usize, Lost),
    shortcut: bool,
) -> usize {
    let mut alive = Indices::new();
    alive.extend(0..c.len());
    let mut removed = Indices::new();
    if !(shortcut && all_tie_to_the_tie_breakers(c)) {
        steps(c, &mut alive, &mut removed, &mut lose);
    }
    tie_break(c, alive, removed, order, lose)
}

/// The steps before the tie-breakers: each moves the candidates it removes from
/// `alive` to `removed`, in order.
fn steps(
    c: &[Candidate],
    alive: &mut Indices,
    removed: &mut Indices,
    mut lose: impl FnMut(usize, Lost),
) {
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
        sweep(alive, removed, &mut lose, |i| {
            get(i).filter(|x| !x.local).map(|_| Lost::NotLocal)
        });
    }
    let best_lp = alive
        .iter()
        .filter_map(|&i| get(i))
        .map(|x| x.local_pref)
        .max();
    if let Some(best) = best_lp {
        sweep(alive, removed, &mut lose, |i| {
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
        sweep(alive, removed, &mut lose, |i| {
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
        sweep(alive, removed, &mut lose, |i| {
            get(i).filter(|x| x.origin > best).map(|x| Lost::Origin {
                ours: x.origin,
                best,
            })
        });
    }
    // MED: compared only among routes from the same neighbour AS.
    let mut snapshot = Indices::new();
    snapshot.extend_from_slice(alive);
    sweep(alive, removed, &mut lose, |i| {
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
        sweep(alive, removed, &mut lose, |i| {
            get(i).filter(|x| !x.ebgp && !x.local).map(|_| Lost::Ibgp)
        });
    }
}

/// The tie-breakers order what is left; fills `order` and returns the ECMP set size.
fn tie_break(
    c: &[Candidate],
    mut alive: Indices,
    removed: Indices,
    order: &mut Indices,
    mut lose: impl FnMut(usize, Lost),
) -> usize {
    let get = |i: usize| c.get(i).copied();
    // Tie-breakers: order what is left; equal keys (paths of one peer) keep their
    // order.
    alive.sort_by(|&a, &b| match (get(a), get(b)) {
        (Some(x), Some(y)) => x.tie_key().order(&y.tie_key()).then(a.cmp(&b)),
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

    /// Candidates that mostly tie up to the tie-breakers: each step's value differs
    /// from the shared one in about one candidate in eight.
    fn mostly_tied() -> impl Strategy<Value = Vec<Candidate>> {
        (cand(), prop::collection::vec((cand(), any::<u8>()), 1..12)).prop_map(|(base, cs)| {
            cs.into_iter()
                .map(|(c, bits)| {
                    let mut x = base;
                    let pick = |k: u8| bits % (8 + k) == 0;
                    if pick(0) {
                        x.local = c.local;
                    }
                    if pick(1) {
                        x.local_pref = c.local_pref;
                    }
                    if pick(2) {
                        x.as_path_len = c.as_path_len;
                    }
                    if pick(3) {
                        x.origin = c.origin;
                    }
                    if pick(4) {
                        x.ebgp = c.ebgp;
                    }
                    if bits % 2 == 0 {
                        x.med = c.med;
                    }
                    if bits % 3 != 0 {
                        x.neighbor_as = c.neighbor_as;
                    }
                    x.bgp_id = c.bgp_id;
                    x.cluster_len = c.cluster_len;
                    x.peer_addr = c.peer_addr;
                    x
                })
                .collect()
        })
    }

    fn run(c: &[Candidate], shortcut: bool) -> (Vec<usize>, usize, Vec<(usize, Lost)>) {
        let mut order = Indices::new();
        let mut lost = Vec::new();
        let ecmp = decide_with(c, &mut order, |i, r| lost.push((i, r)), shortcut);
        (order.to_vec(), ecmp, lost)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Skipping the steps when all candidates tie up to the tie-breakers gives
        /// exactly the step-by-step result: order, ECMP set and every reason.
        #[test]
        fn the_tie_shortcut_changes_nothing(c in mostly_tied()) {
            prop_assert_eq!(run(&c, true), run(&c, false));
        }
    }

    #[test]
    fn the_tie_shortcut_is_taken_for_a_fan_in_and_not_across_a_med_step() {
        let peer = |id: u8, asn: u32, med: u32| Candidate {
            local: false,
            local_pref: 100,
            as_path_len: 2,
            origin: Origin::Igp,
            med,
            neighbor_as: Some(asn),
            ebgp: true,
            bgp_id: Ipv4Addr::new(10, 0, 0, id),
            cluster_len: 0,
            peer_addr: IpAddr::V4(Ipv4Addr::new(10, 1, 0, id)),
        };
        // Ten peers in ten ASes, MEDs all different: nobody can lose before the
        // tie-breakers; the lowest router ID wins alone.
        let fan: Vec<Candidate> = (1..=10)
            .map(|i| peer(11 - i, 65000 + u32::from(i), u32::from(i)))
            .collect();
        assert!(all_tie_to_the_tie_breakers(&fan));
        let (order, ecmp, lost) = run(&fan, true);
        assert_eq!((order[0], ecmp, lost.len()), (9, 1, 9));
        // Two paths from one AS with different MEDs: the MED step must run.
        let med = [peer(1, 65001, 5), peer(2, 65001, 1)];
        assert!(!all_tie_to_the_tie_breakers(&med));
        assert_eq!(run(&med, true).0, vec![1, 0]);
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
