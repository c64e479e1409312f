//! ADD-PATH (RFC 7911) in the RIB: several paths of one peer for one prefix, keyed by
//! (peer, path id), withdrawn by path id and decided over together; export of the
//! ECMP set with stable path ids to ADD-PATH send peers, the best path to the others.

mod rib_common;

use std::net::{IpAddr, Ipv4Addr};

use bgp::rib::{PeerId, PeerUp, Rib, RouteAction, RouteChange};
use bgp::wire::{AddressFamily, FamilySet, PathAttributes, Update};
use rib_common::*;

/// A reflected path: empty AS_PATH, LOCAL_PREF 100, ORIGINATOR_ID of the host.
fn reflected(originator: &str) -> PathAttributes {
    let mut a = attrs(&[]);
    a.local_pref = Some(100);
    a.originator_id = Some(v4(originator));
    a.cluster_list = vec![v4("10.0.0.99")];
    a
}

fn with_ids(mut u: Update, id: u32) -> Update {
    for n in u.nlri.iter_mut().chain(u.withdrawn.iter_mut()) {
        n.path_id = Some(id);
    }
    u
}

/// Peer `n` (iBGP, a route-reflector client of ours) with ADD-PATH send negotiated
/// for IPv4 unicast when `add_path`.
fn client(rib: &mut Rib, n: u32, add_path: bool) -> PeerId {
    let id = PeerId(n);
    let mut s =
        bgp::rib::PeerSettings::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + n as u8)), LOCAL_AS);
    s.route_reflector_client = true;
    rib.add_peer(id, s).unwrap();
    let mut up = PeerUp::new(Ipv4Addr::new(10, 0, 0, n as u8), IpAddr::V4(ROUTER_ID));
    if add_path {
        up.add_path_send = [AddressFamily::IPV4_UNICAST]
            .into_iter()
            .collect::<FamilySet>();
    }
    rib.peer_up(id, up).unwrap();
    rib.take_updates(id, usize::MAX);
    id
}

fn hops(changes: &[RouteChange]) -> Vec<(String, RouteAction)> {
    changes
        .iter()
        .map(|c| (c.prefix.to_string(), c.action.clone()))
        .collect()
}

/// (prefix, path id, next hop) of every announcement, and (prefix, path id) of every
/// withdrawal.
type Sent = (
    Vec<(String, Option<u32>, Ipv4Addr)>,
    Vec<(String, Option<u32>)>,
);

fn sent(updates: &[Update]) -> Sent {
    let mut ann = Vec::new();
    let mut wd = Vec::new();
    for u in updates {
        for n in &u.nlri {
            let nh = u.attributes.next_hop.unwrap();
            ann.push((n.prefix.to_string(), n.path_id, nh));
        }
        for n in &u.withdrawn {
            wd.push((n.prefix.to_string(), n.path_id));
        }
    }
    ann.sort();
    wd.sort();
    (ann, wd)
}

#[test]
fn two_paths_of_one_reflector_make_an_ecmp_route_and_leave_by_path_id() {
    let mut rib = rib();
    let rr = peer(&mut rib, 1, LOCAL_AS);
    let block = "10.244.9.0/26";
    let a = with_ids(announce(&reflected("10.0.0.21"), "192.0.2.21", &[block]), 1);
    let b = with_ids(announce(&reflected("10.0.0.22"), "192.0.2.22", &[block]), 2);
    rib.receive(rr, &a).unwrap();
    rib.receive(rr, &b).unwrap();
    assert_eq!(
        hops(&rib.take_route_changes()),
        vec![(
            block.to_string(),
            RouteAction::Install(vec![ip("192.0.2.21"), ip("192.0.2.22")])
        )]
    );
    let view = route(&rib, block);
    assert_eq!(view.paths.len(), 2);
    assert!(view.paths.iter().all(|p| p.ecmp && p.peer == Some(rr)));
    let mut ids: Vec<Option<u32>> = view.paths.iter().map(|p| p.path_id).collect();
    ids.sort();
    assert_eq!(ids, [Some(1), Some(2)]);
    assert_eq!(rib.path_count(), 2);
    // The same path id again replaces, it does not add.
    let b2 = with_ids(announce(&reflected("10.0.0.22"), "192.0.2.23", &[block]), 2);
    rib.receive(rr, &b2).unwrap();
    assert_eq!(rib.path_count(), 2);
    assert_eq!(
        hops(&rib.take_route_changes()),
        vec![(
            block.to_string(),
            RouteAction::Replace(vec![ip("192.0.2.21"), ip("192.0.2.23")])
        )]
    );
    // Withdraw path 1 only.
    rib.receive(rr, &with_ids(withdraw(&[block]), 1)).unwrap();
    assert_eq!(
        hops(&rib.take_route_changes()),
        vec![(
            block.to_string(),
            RouteAction::Replace(vec![ip("192.0.2.23")])
        )]
    );
    // A withdrawal of an unknown path id changes nothing.
    rib.receive(rr, &with_ids(withdraw(&[block]), 7)).unwrap();
    assert!(rib.take_route_changes().is_empty());
    rib.receive(rr, &with_ids(withdraw(&[block]), 2)).unwrap();
    assert_eq!(
        hops(&rib.take_route_changes()),
        vec![(block.to_string(), RouteAction::Withdraw)]
    );
    assert_eq!(rib.path_count(), 0);
}

#[test]
fn peer_down_removes_every_path_of_the_peer() {
    let mut rib = rib();
    let rr = peer(&mut rib, 1, LOCAL_AS);
    let other = peer(&mut rib, 2, LOCAL_AS);
    let block = "10.244.9.0/26";
    for (id, host) in [(1, "21"), (2, "22"), (3, "23")] {
        let u = announce(
            &reflected(&format!("10.0.0.{host}")),
            &format!("192.0.2.{host}"),
            &[block],
        );
        rib.receive(rr, &with_ids(u, id)).unwrap();
    }
    rib.receive(
        other,
        &announce(&reflected("10.0.0.24"), "192.0.2.24", &[block]),
    )
    .unwrap();
    assert_eq!(rib.path_count(), 4);
    rib.take_route_changes();
    rib.peer_down(rr);
    assert_eq!(rib.path_count(), 1);
    assert_eq!(
        hops(&rib.take_route_changes()),
        vec![(
            block.to_string(),
            RouteAction::Replace(vec![ip("192.0.2.24")])
        )]
    );
}

#[test]
fn graceful_restart_keeps_every_path_stale_and_flushes_them_all() {
    let mut rib = rib();
    let rr = peer(&mut rib, 1, LOCAL_AS);
    let block = "10.244.9.0/26";
    for (id, host) in [(1, "21"), (2, "22")] {
        let u = announce(
            &reflected(&format!("10.0.0.{host}")),
            &format!("192.0.2.{host}"),
            &[block],
        );
        rib.receive(rr, &with_ids(u, id)).unwrap();
    }
    rib.take_route_changes();
    rib.peer_down_graceful(rr, &[AddressFamily::IPV4_UNICAST]);
    assert_eq!(rib.path_count(), 2);
    assert!(
        rib.take_route_changes().is_empty(),
        "stale paths still forward"
    );
    rib.flush_stale(rr, &[AddressFamily::IPV4_UNICAST]);
    assert_eq!(rib.path_count(), 0);
    assert_eq!(
        hops(&rib.take_route_changes()),
        vec![(block.to_string(), RouteAction::Withdraw)]
    );
}

#[test]
fn add_path_peers_get_the_ecmp_set_with_stable_ids_others_the_best_path() {
    let mut rib = rib();
    let h1 = client(&mut rib, 1, false);
    let h2 = client(&mut rib, 2, false);
    let ap = client(&mut rib, 3, true);
    let plain = client(&mut rib, 4, false);
    let block = "10.244.9.0/26";
    // An anycast block announced by two hosts (equal attributes: ECMP).
    rib.receive(h1, &announce(&attrs(&[]), "192.0.2.11", &[block]))
        .unwrap();
    rib.receive(h2, &announce(&attrs(&[]), "192.0.2.12", &[block]))
        .unwrap();
    let (ann, wd) = sent(&rib.take_updates(ap, usize::MAX));
    assert!(wd.is_empty());
    assert_eq!(
        ann,
        vec![
            (block.to_string(), Some(1), v4("192.0.2.11")),
            (block.to_string(), Some(2), v4("192.0.2.12")),
        ]
    );
    let (ann, _) = sent(&rib.take_updates(plain, usize::MAX));
    assert_eq!(ann, vec![(block.to_string(), None, v4("192.0.2.11"))]);
    // A change of one path keeps its id.
    let mut a = attrs(&[]);
    a.med = Some(0);
    rib.receive(h2, &announce(&a, "192.0.2.12", &[block]))
        .unwrap();
    let (ann, wd) = sent(&rib.take_updates(ap, usize::MAX));
    assert!(wd.is_empty());
    assert_eq!(ann, vec![(block.to_string(), Some(2), v4("192.0.2.12"))]);
    assert!(
        rib.take_updates(plain, usize::MAX).is_empty(),
        "best unchanged"
    );
    // The first host leaves: its path id is withdrawn, the other stays.
    rib.receive(h1, &withdraw(&[block])).unwrap();
    let (ann, wd) = sent(&rib.take_updates(ap, usize::MAX));
    assert!(ann.is_empty());
    assert_eq!(wd, vec![(block.to_string(), Some(1))]);
    let (ann, _) = sent(&rib.take_updates(plain, usize::MAX));
    assert_eq!(ann, vec![(block.to_string(), None, v4("192.0.2.12"))]);
    // A new path takes the smallest free id.
    rib.receive(h1, &announce(&attrs(&[]), "192.0.2.11", &[block]))
        .unwrap();
    let (ann, _) = sent(&rib.take_updates(ap, usize::MAX));
    assert_eq!(ann, vec![(block.to_string(), Some(1), v4("192.0.2.11"))]);
    assert_eq!(rib.peer_counters(ap).advertised, 1, "prefixes, not paths");
    // Route refresh sends both again with the same ids.
    rib.route_refresh(ap, AddressFamily::IPV4_UNICAST);
    let (ann, _) = sent(&rib.take_updates(ap, usize::MAX));
    assert_eq!(
        ann,
        vec![
            (block.to_string(), Some(1), v4("192.0.2.11")),
            (block.to_string(), Some(2), v4("192.0.2.12")),
        ]
    );
}

#[test]
fn an_add_path_peer_that_comes_up_gets_every_ecmp_path_and_a_losing_path_is_not_sent() {
    let mut rib = rib();
    let h1 = client(&mut rib, 1, false);
    let h2 = client(&mut rib, 2, false);
    let h3 = client(&mut rib, 3, false);
    let block = "10.244.9.0/26";
    rib.receive(h1, &announce(&attrs(&[]), "192.0.2.11", &[block]))
        .unwrap();
    rib.receive(h2, &announce(&attrs(&[]), "192.0.2.12", &[block]))
        .unwrap();
    let mut worse = attrs(&[]);
    worse.local_pref = Some(50);
    rib.receive(h3, &announce(&worse, "192.0.2.13", &[block]))
        .unwrap();
    let ap = PeerId(9);
    let s = bgp::rib::PeerSettings::new(ip("192.0.2.19"), LOCAL_AS);
    rib.add_peer(ap, s).unwrap();
    let mut up = PeerUp::new(v4("10.0.0.9"), IpAddr::V4(ROUTER_ID));
    up.add_path_send = FamilySet::UNICAST;
    rib.peer_up(ap, up).unwrap();
    let ups = rib.take_updates(ap, usize::MAX);
    let (ann, _) = sent(&ups);
    assert_eq!(
        ann,
        vec![
            (block.to_string(), Some(1), v4("192.0.2.11")),
            (block.to_string(), Some(2), v4("192.0.2.12")),
        ]
    );
    // The UPDATEs encode with path ids under the negotiated context.
    let ctx = bgp::wire::EncodeContext {
        four_octet_as: true,
        add_path: FamilySet::UNICAST,
        ..Default::default()
    };
    let dctx = bgp::wire::DecodeContext {
        four_octet_as: true,
        add_path: FamilySet::UNICAST,
        ..Default::default()
    };
    for u in ups {
        let bytes = bgp::wire::encode_to_vec(&bgp::wire::Message::Update(u.clone()), &ctx).unwrap();
        let (back, _) = bgp::wire::decode_message(&bytes, &dctx).unwrap();
        assert_eq!(back, bgp::wire::Message::Update(u));
    }
}
