//! Random announce / withdraw / peer-down / originate sequences leave the Loc-RIB
//! equal to a naive recomputation from the surviving paths, and the change stream,
//! applied to a model FIB, reproduces the naive FIB with only real changes.

mod rib_common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use bgp::rib::{PeerId, PeerUp, Rib, RouteAction};
use bgp::wire::{Origin, PathAttributes};
use ipnet::IpNet;
use proptest::prelude::*;
use rib_common::*;

/// Peers 1–2 iBGP, 3–5 eBGP (3 and 4 in AS 65001, 5 in AS 65002).
const PEERS: [(u32, u32); 5] = [
    (1, LOCAL_AS),
    (2, LOCAL_AS),
    (3, 65001),
    (4, 65001),
    (5, 65002),
];
const PREFIXES: [&str; 6] = [
    "10.244.1.0/24",
    "10.244.2.0/24",
    "10.244.3.0/25",
    "10.244.3.0/24",
    "fd00:244:1::/64",
    "fd00:244:2::/64",
];
const NEXT_HOPS: [&str; 3] = ["192.0.2.101", "192.0.2.102", "192.0.2.103"];
const NEXT_HOPS6: [&str; 3] = ["2001:db8::101", "2001:db8::102", "2001:db8::103"];

#[derive(Debug, Clone)]
enum Op {
    Announce {
        peer: usize,
        prefix: usize,
        variant: usize,
        nh: usize,
    },
    Withdraw {
        peer: usize,
        prefix: usize,
    },
    /// Down and up again; with `steps` > 0 the paths go through `begin_peer_down`,
    /// `steps - 1` one-prefix `prune`s, and the rest when the peer comes up.
    Bounce {
        peer: usize,
        steps: usize,
    },
    GracefulRestart {
        peer: usize,
    },
    FlushStale {
        peer: usize,
    },
    Originate {
        prefix: usize,
    },
    StopOriginating {
        prefix: usize,
    },
    Take,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..5usize, 0..6usize, 0..8usize, 0..3usize)
            .prop_map(|(peer, prefix, variant, nh)| Op::Announce { peer, prefix, variant, nh }),
        3 => (0..5usize, 0..6usize).prop_map(|(peer, prefix)| Op::Withdraw { peer, prefix }),
        1 => (0..5usize, 0..4usize).prop_map(|(peer, steps)| Op::Bounce { peer, steps }),
        1 => (0..5usize).prop_map(|peer| Op::GracefulRestart { peer }),
        1 => (0..5usize).prop_map(|peer| Op::FlushStale { peer }),
        1 => (0..6usize).prop_map(|prefix| Op::Originate { prefix }),
        1 => (0..6usize).prop_map(|prefix| Op::StopOriginating { prefix }),
        2 => Just(Op::Take),
    ]
}

/// Attribute variants; the first AS is patched to the sending peer's AS for eBGP.
fn variant(v: usize, peer_as: u32) -> PathAttributes {
    let ebgp = peer_as != LOCAL_AS;
    let path = |rest: &[u32]| {
        let mut p: Vec<u32> = if ebgp { vec![peer_as] } else { vec![] };
        p.extend_from_slice(rest);
        p
    };
    let mut a = match v {
        0 => attrs(&path(&[])),
        1 => attrs(&path(&[65100])),
        2 => attrs(&path(&[65100, 65200])),
        3 => {
            let mut a = attrs(&path(&[65100]));
            a.med = Some(10);
            a
        }
        4 => {
            let mut a = attrs(&path(&[65100]));
            a.med = Some(20);
            a.local_pref = Some(200);
            a
        }
        5 => {
            let mut a = attrs(&path(&[]));
            a.origin = Some(Origin::Incomplete);
            a
        }
        6 => attrs(&path(&[LOCAL_AS])), // AS loop: rejected
        _ => {
            let mut a = attrs(&path(&[65100]));
            a.local_pref = Some(50);
            a.originator_id = Some(Ipv4Addr::new(1, 1, 1, 1));
            a
        }
    };
    if a.local_pref.is_none() && !ebgp {
        a.local_pref = Some(100);
    }
    a
}

#[derive(Debug, Clone)]
struct ModelPath {
    attrs: PathAttributes,
    nh: IpAddr,
    stale: bool,
}

/// The naive decision: the sorted ECMP next hops, or None (no route, or ours).
fn naive(paths: &BTreeMap<usize, ModelPath>, originated: bool) -> Option<Vec<IpAddr>> {
    match naive_best(paths, originated) {
        Some((Some(_), hops)) => Some(hops),
        _ => None,
    }
}

/// The naive decision: the best path's peer (index into PEERS; None for our own
/// route) and the ECMP next hops.
fn naive_best(
    paths: &BTreeMap<usize, ModelPath>,
    originated: bool,
) -> Option<(Option<usize>, Vec<IpAddr>)> {
    if originated {
        return Some((None, Vec::new()));
    }
    struct C {
        k: usize,
        lp: u32,
        len: usize,
        origin: Origin,
        med: u32,
        nas: Option<u32>,
        ebgp: bool,
        id: Ipv4Addr,
        addr: IpAddr,
        nh: IpAddr,
    }
    let mut c: Vec<C> = paths
        .iter()
        .filter(|(_, p)| !p.attrs.as_path.as_ref().unwrap().contains(LOCAL_AS))
        .map(|(&k, p)| {
            let (n, asn) = PEERS[k];
            let ebgp = asn != LOCAL_AS;
            C {
                k,
                lp: if ebgp {
                    100
                } else {
                    p.attrs.local_pref.unwrap_or(100)
                },
                len: p.attrs.as_path.as_ref().unwrap().length(),
                origin: p.attrs.origin.unwrap(),
                med: p.attrs.med.unwrap_or(0),
                nas: p.attrs.as_path.as_ref().unwrap().first_asn(),
                ebgp,
                id: p
                    .attrs
                    .originator_id
                    .unwrap_or(Ipv4Addr::new(10, 0, 0, n as u8)),
                addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + n as u8)),
                nh: p.nh,
            }
        })
        .collect();
    if c.is_empty() {
        return None;
    }
    let max_lp = c.iter().map(|x| x.lp).max()?;
    c.retain(|x| x.lp == max_lp);
    let min_len = c.iter().map(|x| x.len).min()?;
    c.retain(|x| x.len == min_len);
    let min_origin = c.iter().map(|x| x.origin).min()?;
    c.retain(|x| x.origin == min_origin);
    let meds: Vec<(Option<u32>, u32)> = c.iter().map(|x| (x.nas, x.med)).collect();
    c.retain(|x| !meds.iter().any(|(nas, med)| *nas == x.nas && *med < x.med));
    if c.iter().any(|x| x.ebgp) {
        c.retain(|x| x.ebgp);
    }
    c.sort_by(|a, b| a.id.cmp(&b.id).then(a.addr.cmp(&b.addr)));
    let best_nas = c.first()?.nas;
    let best_peer = c.first()?.k;
    let mut hops: Vec<IpAddr> = c
        .iter()
        .filter(|x| x.nas == best_nas)
        .map(|x| x.nh)
        .collect();
    hops.sort();
    hops.dedup();
    Some((Some(best_peer), hops))
}

/// Whether the best path of a prefix is to be advertised to peer `t`: ours go to
/// everyone; a path never goes back to its peer; iBGP-learned paths do not go to
/// iBGP peers (no route-reflector clients here).
fn exported(best: Option<(Option<usize>, Vec<IpAddr>)>, t: usize) -> bool {
    let ibgp = |k: usize| PEERS[k].1 == LOCAL_AS;
    match best {
        None => false,
        Some((None, _)) => true,
        Some((Some(s), _)) => s != t && !(ibgp(s) && ibgp(t)),
    }
}

/// Applies UPDATEs to what a peer holds (prefix -> attributes).
fn apply_updates(held: &mut BTreeMap<IpNet, PathAttributes>, ups: &[bgp::wire::Update]) {
    for p in withdrawn(ups) {
        held.remove(&p);
    }
    for (p, a, _) in announced(ups) {
        held.insert(p, a);
    }
}

fn up(n: u32) -> PeerUp {
    let mut up = PeerUp::new(Ipv4Addr::new(10, 0, 0, n as u8), IpAddr::V4(ROUTER_ID));
    up.local_ipv6 = Some("2001:db8::1".parse().unwrap());
    up
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut rib = rib();
    for (n, asn) in PEERS {
        peer(&mut rib, n, asn);
    }
    let mut model: Vec<BTreeMap<usize, ModelPath>> = vec![BTreeMap::new(); PREFIXES.len()];
    let mut originated = [false; PREFIXES.len()];
    let mut fib: BTreeMap<IpNet, Vec<IpAddr>> = BTreeMap::new();
    let mut held: Vec<BTreeMap<IpNet, PathAttributes>> = vec![BTreeMap::new(); PEERS.len()];
    let take =
        |rib: &mut Rib, fib: &mut BTreeMap<IpNet, Vec<IpAddr>>| -> Result<(), TestCaseError> {
            for ch in rib.take_route_changes() {
                match ch.action {
                    RouteAction::Install(h) => {
                        prop_assert!(
                            !fib.contains_key(&ch.prefix),
                            "install over a route: {}",
                            ch.prefix
                        );
                        fib.insert(ch.prefix, h);
                    }
                    RouteAction::Replace(h) => {
                        let old = fib.insert(ch.prefix, h.clone());
                        prop_assert!(
                            old.is_some() && old != Some(h),
                            "replace without a change: {}",
                            ch.prefix
                        );
                    }
                    RouteAction::Withdraw => {
                        prop_assert!(
                            fib.remove(&ch.prefix).is_some(),
                            "withdraw of nothing: {}",
                            ch.prefix
                        );
                    }
                }
            }
            Ok(())
        };
    for op in ops {
        match op {
            Op::Announce {
                peer,
                prefix,
                variant: v,
                nh,
            } => {
                let (n, asn) = PEERS[peer];
                let a = variant(v, asn);
                let p = PREFIXES[prefix];
                let (u, hop) = if p.contains(':') {
                    (announce6(&a, NEXT_HOPS6[nh], &[p]), ip(NEXT_HOPS6[nh]))
                } else {
                    (announce(&a, NEXT_HOPS[nh], &[p]), ip(NEXT_HOPS[nh]))
                };
                rib.receive(PeerId(n), &u).unwrap();
                model[prefix].insert(
                    peer,
                    ModelPath {
                        attrs: a,
                        nh: hop,
                        stale: false,
                    },
                );
            }
            Op::Withdraw { peer, prefix } => {
                let p = PREFIXES[prefix];
                let u = if p.contains(':') {
                    bgp::wire::Update {
                        mp_unreach: Some(Box::new(bgp::wire::MpUnreach {
                            family: bgp::wire::AddressFamily::IPV6_UNICAST,
                            withdrawn: vec![bgp::wire::Nlri::new(net(p))],
                        })),
                        ..Default::default()
                    }
                } else {
                    withdraw(&[p])
                };
                rib.receive(PeerId(PEERS[peer].0), &u).unwrap();
                model[prefix].remove(&peer);
            }
            Op::Bounce { peer, steps } => {
                let n = PEERS[peer].0;
                held[peer].clear();
                if steps == 0 {
                    rib.peer_down(PeerId(n));
                } else {
                    rib.begin_peer_down(PeerId(n));
                    for _ in 1..steps {
                        rib.prune(1);
                    }
                }
                rib.peer_up(PeerId(n), up(n)).unwrap();
                for m in model.iter_mut() {
                    m.remove(&peer);
                }
            }
            Op::GracefulRestart { peer } => {
                let n = PEERS[peer].0;
                let fams = [
                    bgp::wire::AddressFamily::IPV4_UNICAST,
                    bgp::wire::AddressFamily::IPV6_UNICAST,
                ];
                rib.peer_down_graceful(PeerId(n), &fams);
                rib.peer_up(PeerId(n), up(n)).unwrap();
                held[peer].clear();
                for m in model.iter_mut() {
                    if let Some(p) = m.get_mut(&peer) {
                        p.stale = true;
                    }
                }
            }
            Op::FlushStale { peer } => {
                let n = PEERS[peer].0;
                let fams = [
                    bgp::wire::AddressFamily::IPV4_UNICAST,
                    bgp::wire::AddressFamily::IPV6_UNICAST,
                ];
                rib.flush_stale(PeerId(n), &fams);
                for m in model.iter_mut() {
                    if m.get(&peer).is_some_and(|p| p.stale) {
                        m.remove(&peer);
                    }
                }
            }
            Op::Originate { prefix } => {
                rib.originate(net(PREFIXES[prefix]));
                originated[prefix] = true;
            }
            Op::StopOriginating { prefix } => {
                rib.withdraw_originated(net(PREFIXES[prefix]));
                originated[prefix] = false;
            }
            Op::Take => {
                take(&mut rib, &mut fib)?;
                for (t, (n, _)) in PEERS.iter().enumerate() {
                    let ups = rib.take_updates(PeerId(*n), 3000);
                    apply_updates(&mut held[t], &ups);
                }
            }
        }
        for (k, p) in PREFIXES.iter().enumerate() {
            let want = naive(&model[k], originated[k]);
            let got = rib.route(net(p), false);
            let got_hops = got.as_ref().and_then(|v| {
                let b = v.best.as_ref()?;
                b.peer.map(|_| v.ecmp_next_hops.clone())
            });
            prop_assert_eq!(&got_hops, &want, "prefix {}", p);
        }
        // Rejected (AS-loop) paths are counted, not stored.
        let paths: usize = model
            .iter()
            .flat_map(BTreeMap::values)
            .filter(|p| !p.attrs.as_path.as_ref().unwrap().contains(LOCAL_AS))
            .count()
            + originated.iter().filter(|o| **o).count();
        prop_assert_eq!(rib.path_count(), paths);
    }
    take(&mut rib, &mut fib)?;
    let mut want: BTreeMap<IpNet, Vec<IpAddr>> = BTreeMap::new();
    for (k, p) in PREFIXES.iter().enumerate() {
        if let Some(h) = naive(&model[k], originated[k]) {
            want.insert(net(p), h);
        }
    }
    prop_assert_eq!(fib, want);
    // What each peer was sent, applied in order, is exactly the exportable part of
    // the naive Loc-RIB; toward eBGP our AS leads the path.
    for (t, (n, asn)) in PEERS.iter().enumerate() {
        let ups = rib.take_updates(PeerId(*n), usize::MAX);
        apply_updates(&mut held[t], &ups);
        prop_assert!(!rib.has_pending_updates(PeerId(*n)));
        let want: Vec<IpNet> = PREFIXES
            .iter()
            .enumerate()
            .filter(|(k, _)| exported(naive_best(&model[*k], originated[*k]), t))
            .map(|(_, p)| net(p))
            .collect();
        let got: Vec<IpNet> = held[t].keys().copied().collect();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        prop_assert_eq!(got, want_sorted, "peer {}", n);
        if *asn != LOCAL_AS {
            for a in held[t].values() {
                prop_assert_eq!(
                    a.as_path.as_ref().and_then(|p| p.first_asn()),
                    Some(LOCAL_AS)
                );
            }
        }
        prop_assert_eq!(
            rib.peer_counters(PeerId(*n)).advertised,
            held[t].len() as u64
        );
    }
    // No attribute set outlives its last user: with every peer down and nothing
    // originated, only the (permanent) set for originated routes may remain.
    for (n, _) in PEERS {
        rib.peer_down(PeerId(n));
    }
    for p in PREFIXES {
        rib.withdraw_originated(net(p));
    }
    rib.take_route_changes();
    nothing_left(&rib)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn loc_rib_matches_naive_recomputation(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops)?;
    }
}
