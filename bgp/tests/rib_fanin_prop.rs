//! Many peers announcing one prefix with mostly equal attributes, in any order, with
//! withdrawals, sessions going down, and restarting peers that come back with another
//! BGP identifier: the stored order of the prefix's paths is the decision's. The ECMP
//! set and the other paths that reach the tie-breakers come in the tie-breakers' order,
//! the rest are the paths an earlier step removed; checked against a naive
//! recomputation after every change of the prefix. (Test builds also check every
//! placement made without a full decision against the full decision.)

mod rib_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use bgp::rib::{PeerId, PeerUp, Rib};
use bgp::wire::{AddressFamily, PathAttributes};
use proptest::prelude::*;
use rib_common::*;

/// Peers 1–3 iBGP, 4–5 in AS 65001, 6–7 in AS 65002, 8 in AS 65003 (at 192.0.2.(10+n)).
const PEERS: [(u32, u32); 8] = [
    (1, LOCAL_AS),
    (2, LOCAL_AS),
    (3, LOCAL_AS),
    (4, 65001),
    (5, 65001),
    (6, 65002),
    (7, 65002),
    (8, 65003),
];
const PREFIX: &str = "10.9.0.0/24";
const FAMILIES: [AddressFamily; 1] = [AddressFamily::IPV4_UNICAST];

#[derive(Debug, Clone)]
enum Op {
    Announce {
        peer: usize,
        variant: usize,
    },
    Withdraw {
        peer: usize,
    },
    /// The session goes down and comes back at once (its paths are gone).
    Bounce {
        peer: usize,
    },
    /// The peer restarts gracefully and comes back with BGP identifier 10.0.0.`id`.
    Restart {
        peer: usize,
        id: u8,
    },
    FlushStale {
        peer: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Mostly the shared attributes (variant 0), so that most prefixes stay tied.
        10 => (0..8usize, prop_oneof![6 => Just(0usize), 1 => 1..5usize])
            .prop_map(|(peer, variant)| Op::Announce { peer, variant }),
        3 => (0..8usize).prop_map(|peer| Op::Withdraw { peer }),
        1 => (0..8usize).prop_map(|peer| Op::Bounce { peer }),
        1 => (0..8usize, 1..5u8).prop_map(|(peer, id)| Op::Restart { peer, id }),
        1 => (0..8usize).prop_map(|peer| Op::FlushStale { peer }),
    ]
}

/// Variant 0 is the shared one; 1 a MED, 2 an ORIGINATOR_ID, 3 a longer AS path,
/// 4 a higher LOCAL_PREF (ignored from eBGP peers).
fn variant(v: usize, peer_as: u32) -> PathAttributes {
    let mut a = if peer_as == LOCAL_AS {
        attrs(&[])
    } else if v == 3 {
        attrs(&[peer_as, 65100])
    } else {
        attrs(&[peer_as])
    };
    if peer_as == LOCAL_AS {
        a.local_pref = Some(if v == 4 { 200 } else { 100 });
    }
    match v {
        1 => a.med = Some(10),
        2 => a.originator_id = Some(Ipv4Addr::new(10, 0, 0, 3)),
        3 if peer_as == LOCAL_AS => a.as_path = Some(bgp::wire::AsPath::sequence(vec![65100])),
        _ => {}
    }
    a
}

/// What a path looks like to the decision.
#[derive(Debug, Clone, Copy)]
struct Path {
    peer: usize,
    lp: u32,
    len: usize,
    med: u32,
    nas: Option<u32>,
    ebgp: bool,
    id: u32,
    cluster_len: u32,
}

impl Path {
    fn tie_key(&self) -> (u32, u32, u32) {
        (self.id, self.cluster_len, 10 + self.peer as u32)
    }
}

/// The naive decision over the stored paths: the ECMP set and the other paths that
/// reach the tie-breakers, each in the tie-breakers' order, and the removed ones.
fn naive(paths: &[Path]) -> (Vec<usize>, Vec<usize>, BTreeSet<usize>) {
    let mut c: Vec<Path> = paths.to_vec();
    let mut removed = BTreeSet::new();
    let mut keep = |c: &mut Vec<Path>, f: &dyn Fn(&Path) -> bool| {
        for p in c.iter().filter(|p| !f(p)) {
            removed.insert(p.peer);
        }
        c.retain(|p| f(p));
    };
    let lp = c.iter().map(|p| p.lp).max().unwrap_or(0);
    keep(&mut c, &|p| p.lp == lp);
    let len = c.iter().map(|p| p.len).min().unwrap_or(0);
    keep(&mut c, &|p| p.len == len);
    let meds: Vec<(Option<u32>, u32)> = c.iter().map(|p| (p.nas, p.med)).collect();
    keep(&mut c, &|p| {
        !meds.iter().any(|(nas, med)| *nas == p.nas && *med < p.med)
    });
    if c.iter().any(|p| p.ebgp) {
        keep(&mut c, &|p| p.ebgp);
    }
    c.sort_by_key(Path::tie_key);
    let best_nas = c.first().map(|p| p.nas);
    let (ecmp, rest): (Vec<Path>, Vec<Path>) = c.iter().partition(|p| Some(p.nas) == best_nas);
    (
        ecmp.iter().map(|p| p.peer).collect(),
        rest.iter().map(|p| p.peer).collect(),
        removed,
    )
}

fn up(id: u8) -> PeerUp {
    PeerUp::new(Ipv4Addr::new(10, 0, 0, id), IpAddr::V4(ROUTER_ID))
}

fn run(ids: Vec<u8>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut rib: Rib = rib();
    let mut id: Vec<u8> = ids;
    for (k, (n, asn)) in PEERS.iter().enumerate() {
        peer(&mut rib, *n, *asn);
        // Router IDs from a small set: equal ones fall to the peer address.
        rib.peer_down(PeerId(*n));
        rib.peer_up(PeerId(*n), up(id[k])).unwrap();
    }
    // Per peer: the attributes it announced and whether the path is stale. A change
    // of the prefix is a change here (announcing the same attributes again changes
    // nothing, unless the path was stale).
    let mut model: BTreeMap<usize, (PathAttributes, bool)> = BTreeMap::new();
    for op in ops {
        let before = model.clone();
        match op {
            Op::Announce { peer, variant: v } => {
                let (n, asn) = PEERS[peer];
                let nh = format!("192.0.2.{}", 100 + n);
                let a = variant(v, asn);
                rib.receive(PeerId(n), &announce(&a, &nh, &[PREFIX]))
                    .unwrap();
                model.insert(peer, (a, false));
            }
            Op::Withdraw { peer } => {
                rib.receive(PeerId(PEERS[peer].0), &withdraw(&[PREFIX]))
                    .unwrap();
                model.remove(&peer);
            }
            Op::Bounce { peer } => {
                let n = PEERS[peer].0;
                rib.peer_down(PeerId(n));
                rib.peer_up(PeerId(n), up(id[peer])).unwrap();
                model.remove(&peer);
            }
            Op::Restart { peer, id: new } => {
                let n = PEERS[peer].0;
                rib.peer_down_graceful(PeerId(n), &FAMILIES);
                rib.peer_up(PeerId(n), up(new)).unwrap();
                id[peer] = new;
                if let Some(p) = model.get_mut(&peer) {
                    p.1 = true;
                }
                // Nothing re-decides the prefix until one of its paths changes.
                continue;
            }
            Op::FlushStale { peer } => {
                rib.flush_stale(PeerId(PEERS[peer].0), &FAMILIES);
                if model.get(&peer).is_some_and(|p| p.1) {
                    model.remove(&peer);
                }
            }
        }
        if model == before {
            continue;
        }
        let paths: Vec<Path> = model
            .iter()
            .map(|(&peer, (a, _))| {
                let (_, asn) = PEERS[peer];
                let ebgp = asn != LOCAL_AS;
                Path {
                    peer,
                    lp: if ebgp {
                        100
                    } else {
                        a.local_pref.unwrap_or(100)
                    },
                    len: a.as_path.as_ref().map_or(0, |p| p.length()),
                    med: a.med.unwrap_or(0),
                    nas: a.as_path.as_ref().and_then(|p| p.first_asn()),
                    ebgp,
                    id: u32::from(a.originator_id.unwrap_or(Ipv4Addr::new(10, 0, 0, id[peer]))),
                    cluster_len: 0,
                }
            })
            .collect();
        let stored: Vec<(usize, bool)> = match rib.route(net(PREFIX), true) {
            None => Vec::new(),
            Some(v) => v
                .paths
                .iter()
                .map(|p| {
                    let Some(IpAddr::V4(a)) = p.from else {
                        panic!("a path without its peer: {p:?}");
                    };
                    (usize::from(a.octets()[3]) - 11, p.ecmp)
                })
                .collect(),
        };
        let (ecmp, rest, removed) = naive(&paths);
        let got_ecmp: Vec<usize> = stored.iter().filter(|p| p.1).map(|p| p.0).collect();
        prop_assert_eq!(&got_ecmp, &ecmp, "ECMP set, stored {:?}", stored);
        let got_rest: Vec<usize> = stored
            .iter()
            .skip(ecmp.len())
            .take(rest.len())
            .map(|p| p.0)
            .collect();
        prop_assert_eq!(
            &got_rest,
            &rest,
            "paths after the ECMP set, stored {:?}",
            stored
        );
        let got_removed: BTreeSet<usize> = stored
            .iter()
            .skip(ecmp.len() + rest.len())
            .map(|p| p.0)
            .collect();
        prop_assert_eq!(&got_removed, &removed, "stored {:?}", stored);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn stored_order_is_the_decisions_in_any_arrival_order(
        ids in proptest::collection::vec(1..5u8, 8),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run(ids, ops)?;
    }
}
