//! A peer gone down has its paths removed a step at a time (`begin_peer_down`, `prune`):
//! the RIB ends as `peer_down` leaves it, stays as it was until each step, and a peer
//! coming back (or sending) first sees its old paths gone.

mod rib_common;

use bgp::rib::{PeerId, PeerUp, Rib, RouteView};
use ipnet::IpNet;
use rib_common::*;

fn up(n: u32) -> PeerUp {
    PeerUp::new(v4(&format!("192.0.2.{n}")), ip("192.0.2.1"))
}

/// Peers 1 and 2 (eBGP) and 3 (iBGP, Established, sent what the others announce).
/// Peer 1 has 60 IPv4 and 20 IPv6 prefixes, half of them also from peer 2 (which
/// loses to peer 1 on AS path length).
fn loaded() -> Rib {
    let mut rib = rib();
    let (a, b) = (peer(&mut rib, 1, 65001), peer(&mut rib, 2, 65002));
    let c = peer(&mut rib, 3, LOCAL_AS);
    rib.peer_up(c, up(3)).unwrap();
    let v4: Vec<String> = (0..60).map(|i| format!("10.{i}.0.0/16")).collect();
    let v6: Vec<String> = (0..20).map(|i| format!("fd00:{i}::/48")).collect();
    rib.receive(a, &announce(&attrs(&[65001]), "192.0.2.11", &refs(&v4)))
        .unwrap();
    rib.receive(a, &announce6(&attrs(&[65001]), "2001:db8::11", &refs(&v6)))
        .unwrap();
    let half4 = refs(&v4[..30]);
    rib.receive(b, &announce(&attrs(&[65002, 65009]), "192.0.2.12", &half4))
        .unwrap();
    let half6 = refs(&v6[..10]);
    rib.receive(
        b,
        &announce6(&attrs(&[65002, 65009]), "2001:db8::12", &half6),
    )
    .unwrap();
    rib.take_route_changes();
    rib.take_updates(c, usize::MAX);
    rib
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn views(rib: &Rib) -> Vec<RouteView> {
    rib.routes(true)
}

/// (prefixes, paths).
fn size(rib: &Rib) -> (usize, usize) {
    (rib.len(), rib.path_count())
}

#[test]
fn steps_end_where_peer_down_does() {
    let mut once = loaded();
    once.peer_down(PeerId(1));
    let mut steps = loaded();
    steps.begin_peer_down(PeerId(1));
    assert!(steps.pruning());
    assert_eq!(
        views(&steps),
        views(&loaded()),
        "nothing removed before a step"
    );
    let mut n = 0;
    while steps.prune(7) {
        n += 1;
        assert!(n < 100, "prune never ends");
    }
    assert_eq!(n, 80 / 7, "80 prefixes, 7 a step");
    assert!(!steps.pruning());
    assert_eq!(views(&steps), views(&once));
    assert_eq!(size(&steps), size(&once));
    assert_eq!(size(&steps), (40, 40));
    assert_eq!(steps.take_route_changes(), once.take_route_changes());
    let c = PeerId(3);
    let sent = |rib: &mut Rib| {
        let ups = rib.take_updates(c, usize::MAX);
        let mut a = announced(&ups);
        a.sort_by_key(|x| x.0);
        let mut w = withdrawn(&ups);
        w.sort();
        (a, w)
    };
    let (a, w) = sent(&mut steps);
    assert_eq!((a.len(), w.len()), (40, 40));
    assert_eq!((a, w), sent(&mut once));
}

#[test]
fn a_peer_coming_back_first_loses_its_old_paths() {
    let mut rib = loaded();
    rib.begin_peer_down(PeerId(1));
    rib.prune(5);
    assert!(rib.pruning());
    rib.peer_up(PeerId(1), up(1)).unwrap();
    assert!(!rib.pruning(), "finished by the peer coming up");
    assert_eq!(size(&rib), (40, 40));
    // What it sends again is kept: nothing of the old session's removal is left to
    // remove it.
    rib.receive(
        PeerId(1),
        &announce(
            &attrs(&[65001]),
            "192.0.2.11",
            &["10.0.0.0/16", "10.59.0.0/16"],
        ),
    )
    .unwrap();
    while rib.prune(1) {}
    assert_eq!(size(&rib), (41, 42));
    for p in ["10.0.0.0/16", "10.59.0.0/16"] {
        assert_eq!(route(&rib, p).ecmp_next_hops, [ip("192.0.2.11")], "{p}");
    }
}

#[test]
fn other_peers_paths_change_between_the_steps() {
    let mut rib = loaded();
    rib.begin_peer_down(PeerId(1));
    rib.prune(3);
    // Peer 2 withdraws one of the shared prefixes and announces a new one meanwhile.
    rib.receive(PeerId(2), &withdraw(&["10.29.0.0/16"]))
        .unwrap();
    rib.receive(
        PeerId(2),
        &announce(&attrs(&[65002]), "192.0.2.12", &["10.200.0.0/16"]),
    )
    .unwrap();
    while rib.prune(3) {}
    assert_eq!(size(&rib), (40, 40));
    let left: Vec<IpNet> = views(&rib).iter().map(|v| v.prefix).collect();
    assert!(left.contains(&net("10.200.0.0/16")));
    assert!(!left.contains(&net("10.29.0.0/16")));
    assert!(!left.contains(&net("10.30.0.0/16")), "peer 1's alone");
    // Its removal from the RIB does not wait for steps when it is removed.
    rib.begin_peer_down(PeerId(2));
    rib.remove_peer(PeerId(2));
    assert!(!rib.pruning());
    assert_eq!(size(&rib), (0, 0));
}
