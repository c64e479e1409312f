//! ROUTE-REFRESH in the RIB (sans-IO): a refresh re-sends the peer's Adj-RIB-Out in
//! that family only, in chunks, and requests coalesce (one running, at most one more
//! waiting, the rest absorbed).

mod rib_common;

use bgp::rib::{PeerId, RefreshRequest, Rib, REFRESH_CHUNK};
use bgp::wire::{AddressFamily, Nlri};
use ipnet::IpNet;
use rib_common::*;

const V4: AddressFamily = AddressFamily::IPV4_UNICAST;
const V6: AddressFamily = AddressFamily::IPV6_UNICAST;
const TABLE: u32 = 10_000;

fn prefix(i: u32) -> IpNet {
    IpNet::V4(ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap())
}

/// Everything pending for `id`, as announced and withdrawn prefix counts.
fn drain(rib: &mut Rib, id: PeerId) -> (usize, usize) {
    let (mut a, mut w) = (0, 0);
    while rib.has_pending_updates(id) {
        let u = rib.take_updates(id, usize::MAX);
        a += announced(&u).len();
        w += withdrawn(&u).len();
    }
    (a, w)
}

/// eBGP peer 1 sends a table of TABLE prefixes; eBGP peer 2 and iBGP peer 3 (which
/// itself sends 500 other prefixes, not exported back to it) have received theirs.
fn setup() -> (Rib, PeerId, PeerId, PeerId) {
    let mut rib = rib();
    let a = peer(&mut rib, 1, 65001);
    let b = peer(&mut rib, 2, 65002);
    let c = peer(&mut rib, 3, LOCAL_AS);
    let table: Vec<Nlri> = (0..TABLE).map(|i| Nlri::new(prefix(i))).collect();
    let mut u = announce(&attrs(&[65001]), "192.0.2.11", &[]);
    u.nlri = table.into();
    rib.receive(a, &u).unwrap();
    let own: Vec<Nlri> = (0..500).map(|i| Nlri::new(prefix(TABLE + i))).collect();
    let mut u = announce(&attrs(&[]), "192.0.2.13", &[]);
    u.nlri = own.into();
    rib.receive(c, &u).unwrap();
    for id in [a, b, c] {
        drain(&mut rib, id);
    }
    (rib, a, b, c)
}

#[test]
fn a_refresh_resends_only_what_was_exported_to_the_peer() {
    let (mut rib, _a, b, c) = setup();
    assert_eq!(rib.route_refresh(c, V4), RefreshRequest::Started);
    assert_eq!(
        drain(&mut rib, c),
        (TABLE as usize, 0),
        "peer 1's table, not its own"
    );
    assert_eq!(rib.route_refresh(b, V4), RefreshRequest::Started);
    assert_eq!(drain(&mut rib, b), (TABLE as usize + 500, 0));
    // Another family: nothing of IPv4 again.
    assert_eq!(rib.route_refresh(b, V6), RefreshRequest::Started);
    assert_eq!(drain(&mut rib, b), (0, 0));
    assert!(!rib.refresh_pending(b));
}

#[test]
fn a_burst_of_refreshes_is_one_re_advertisement() {
    let (mut rib, _a, b, _c) = setup();
    assert_eq!(rib.route_refresh(b, V4), RefreshRequest::Started);
    for _ in 0..1999 {
        assert_eq!(rib.route_refresh(b, V4), RefreshRequest::Absorbed);
    }
    assert_eq!(drain(&mut rib, b), (TABLE as usize + 500, 0));
    assert!(!rib.refresh_pending(b));
}

#[test]
fn a_refresh_during_a_running_one_runs_once_more_afterwards() {
    let (mut rib, _a, b, _c) = setup();
    assert_eq!(rib.route_refresh(b, V4), RefreshRequest::Started);
    // The run hands its prefixes over in chunks: one take sends at most a chunk.
    let first = announced(&rib.take_updates(b, usize::MAX)).len();
    assert!(first > 0 && first <= REFRESH_CHUNK, "{first}");
    // Requests after it started: one more run, the rest covered by it.
    assert_eq!(rib.route_refresh(b, V4), RefreshRequest::Queued);
    for _ in 0..100 {
        assert_eq!(rib.route_refresh(b, V4), RefreshRequest::Absorbed);
    }
    let (rest, w) = drain(&mut rib, b);
    assert_eq!((first + rest, w), (2 * (TABLE as usize + 500), 0));
}

#[test]
fn changes_go_first_and_a_session_down_ends_the_refresh() {
    let (mut rib, a, b, _c) = setup();
    assert_eq!(rib.route_refresh(b, V4), RefreshRequest::Started);
    // A real change is sent before the refresh starts.
    rib.receive(a, &withdraw(&["10.0.0.0/24"])).unwrap();
    let u = rib.take_updates(b, usize::MAX);
    assert_eq!(withdrawn(&u), [net("10.0.0.0/24")]);
    assert_eq!(announced(&u).len(), 0);
    rib.peer_down(b);
    assert!(!rib.refresh_pending(b));
    assert_eq!(rib.route_refresh(b, V4), RefreshRequest::Ignored);
}

#[test]
fn unknown_peers_are_ignored() {
    let (mut rib, ..) = setup();
    assert_eq!(rib.route_refresh(PeerId(99), V4), RefreshRequest::Ignored);
}
