//! Random ADD-PATH announcements and withdrawals (path ids 1–4 of one reflector client
//! for a few prefixes, with LOCAL_PREF 100 or 200 and one of three next hops), with
//! session bounces: after every step
//! - the FIB change stream applied to a model FIB gives, per prefix, the next hops of
//!   the paths with the highest LOCAL_PREF (the ECMP set), computed naively;
//! - an ADD-PATH send client's view (its received UPDATEs applied by path id) holds
//!   exactly those next hops, under distinct path ids, and a plain client holds the
//!   best path only;
//! - when everything is gone, no attribute set is left.

mod rib_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use bgp::rib::{PeerId, PeerSettings, PeerUp, Rib, RouteAction};
use bgp::wire::{FamilySet, Update};
use ipnet::IpNet;
use proptest::prelude::*;
use rib_common::*;

const PREFIXES: [&str; 3] = ["10.244.1.0/24", "10.244.2.0/24", "10.244.2.0/25"];
const NEXT_HOPS: [&str; 3] = ["192.0.2.101", "192.0.2.102", "192.0.2.103"];
const SOURCE: PeerId = PeerId(1);
const AP: PeerId = PeerId(2);
const PLAIN: PeerId = PeerId(3);

#[derive(Debug, Clone)]
enum Op {
    Announce {
        prefix: usize,
        id: u32,
        high: bool,
        nh: usize,
    },
    Withdraw {
        prefix: usize,
        id: u32,
    },
    /// The ADD-PATH client's session goes down and up again.
    BounceReceiver,
    /// The source's session goes down and up again (its paths leave).
    BounceSource,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..PREFIXES.len(), 1..5u32, any::<bool>(), 0..NEXT_HOPS.len())
            .prop_map(|(prefix, id, high, nh)| Op::Announce { prefix, id, high, nh }),
        3 => (0..PREFIXES.len(), 1..5u32).prop_map(|(prefix, id)| Op::Withdraw { prefix, id }),
        1 => Just(Op::BounceReceiver),
        1 => Just(Op::BounceSource),
    ]
}

fn client(rib: &mut Rib, id: PeerId, add_path: bool) {
    let n = id.0 as u8;
    let mut s = PeerSettings::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + n)), LOCAL_AS);
    s.route_reflector_client = true;
    rib.add_peer(id, s).unwrap();
    up(rib, id, add_path);
}

fn up(rib: &mut Rib, id: PeerId, add_path: bool) {
    let mut up = PeerUp::new(Ipv4Addr::new(10, 0, 0, id.0 as u8), IpAddr::V4(ROUTER_ID));
    if add_path {
        up.add_path_send = FamilySet::UNICAST;
    }
    rib.peer_up(id, up).unwrap();
}

/// A receiver's view: prefix → path id (0 without ADD-PATH) → next hop.
type View = BTreeMap<IpNet, BTreeMap<u32, IpAddr>>;

fn apply(view: &mut View, ups: &[Update]) -> Result<(), TestCaseError> {
    for u in ups {
        for n in &u.withdrawn {
            let id = n.path_id.unwrap_or(0);
            let gone = view.get_mut(&n.prefix).and_then(|m| m.remove(&id));
            prop_assert!(gone.is_some(), "withdrawal of {:?} never sent", n);
            if view.get(&n.prefix).is_some_and(BTreeMap::is_empty) {
                view.remove(&n.prefix);
            }
        }
        for n in &u.nlri {
            let nh = IpAddr::V4(u.attributes.next_hop.expect("next hop"));
            view.entry(n.prefix)
                .or_default()
                .insert(n.path_id.unwrap_or(0), nh);
        }
    }
    Ok(())
}

/// The naive ECMP next hops per prefix: paths with the highest LOCAL_PREF.
fn naive(model: &[BTreeMap<u32, (bool, usize)>]) -> BTreeMap<IpNet, BTreeSet<IpAddr>> {
    let mut out = BTreeMap::new();
    for (k, paths) in model.iter().enumerate() {
        let Some(top) = paths.values().map(|(h, _)| *h).max() else {
            continue;
        };
        let hops: BTreeSet<IpAddr> = paths
            .values()
            .filter(|(h, _)| *h == top)
            .map(|(_, nh)| ip(NEXT_HOPS[*nh]))
            .collect();
        out.insert(net(PREFIXES[k]), hops);
    }
    out
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut rib = rib();
    client(&mut rib, SOURCE, false);
    client(&mut rib, AP, true);
    client(&mut rib, PLAIN, false);
    let mut model: Vec<BTreeMap<u32, (bool, usize)>> = vec![BTreeMap::new(); PREFIXES.len()];
    let mut fib: BTreeMap<IpNet, BTreeSet<IpAddr>> = BTreeMap::new();
    let (mut ap_view, mut plain_view) = (View::new(), View::new());
    for op in ops {
        match op {
            Op::Announce {
                prefix,
                id,
                high,
                nh,
            } => {
                let mut a = attrs(&[]);
                a.local_pref = Some(if high { 200 } else { 100 });
                let mut u = announce(&a, NEXT_HOPS[nh], &[PREFIXES[prefix]]);
                u.nlri[0].path_id = Some(id);
                rib.receive(SOURCE, &u).unwrap();
                model[prefix].insert(id, (high, nh));
            }
            Op::Withdraw { prefix, id } => {
                let mut u = withdraw(&[PREFIXES[prefix]]);
                u.withdrawn[0].path_id = Some(id);
                rib.receive(SOURCE, &u).unwrap();
                model[prefix].remove(&id);
            }
            Op::BounceReceiver => {
                rib.peer_down(AP);
                ap_view.clear();
                up(&mut rib, AP, true);
            }
            Op::BounceSource => {
                rib.peer_down(SOURCE);
                model.iter_mut().for_each(BTreeMap::clear);
                up(&mut rib, SOURCE, false);
            }
        }
        for c in rib.take_route_changes() {
            match c.action {
                RouteAction::Install(h) | RouteAction::Replace(h) => {
                    fib.insert(c.prefix, h.into_iter().collect());
                }
                RouteAction::Withdraw => {
                    fib.remove(&c.prefix);
                }
            }
        }
        let want = naive(&model);
        prop_assert_eq!(&fib, &want);
        apply(&mut ap_view, &rib.take_updates(AP, usize::MAX))?;
        apply(&mut plain_view, &rib.take_updates(PLAIN, usize::MAX))?;
        rib.take_updates(SOURCE, usize::MAX);
        let ap_hops: BTreeMap<IpNet, BTreeSet<IpAddr>> = ap_view
            .iter()
            .map(|(p, m)| (*p, m.values().copied().collect()))
            .collect();
        prop_assert_eq!(&ap_hops, &want, "ADD-PATH client");
        for (p, m) in &ap_view {
            prop_assert_eq!(m.len(), want[p].len(), "one path id per next hop of {}", p);
        }
        for (p, m) in &plain_view {
            prop_assert_eq!(m.len(), 1);
            prop_assert!(m.contains_key(&0));
            prop_assert!(want.get(p).is_some_and(|h| h.contains(&m[&0])));
        }
        prop_assert_eq!(
            plain_view.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
    }
    // No attribute set outlives its last user (only the permanent one for originated
    // routes may exist): the source leaves, the clients are sent the withdrawals.
    rib.peer_down(SOURCE);
    rib.take_route_changes();
    for id in [AP, PLAIN] {
        rib.take_updates(id, usize::MAX);
    }
    nothing_left(&rib)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn add_path_fib_and_exports_match_naive_ecmp(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
