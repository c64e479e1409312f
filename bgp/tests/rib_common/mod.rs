//! Helpers shared by the rib_* tests: a RIB with AS 64512, peers, UPDATE builders.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp::policy::ImportPolicy;
use bgp::rib::{LocalSettings, PeerId, PeerSettings, PeerUp, Rib, RouteView};
use bgp::wire::{
    encode_to_vec, AddressFamily, AsPath, EncodeContext, Message, MpNextHop, MpReach, Nlri, Origin,
    PathAttributes, Update,
};
use ipnet::IpNet;
use proptest::prelude::{prop_assert, prop_assert_eq, TestCaseError};

pub const LOCAL_AS: u32 = 64512;
pub const ROUTER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

pub fn rib() -> Rib {
    Rib::new(LocalSettings {
        asn: LOCAL_AS,
        router_id: ROUTER_ID,
        cluster_id: None,
    })
}

pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Adds peer `n` at 192.0.2.(10+n) with router ID 10.0.0.n, Established, local
/// address 192.0.2.1 (and 2001:db8::1 for IPv6).
pub fn peer_with(rib: &mut Rib, n: u32, asn: u32, f: impl FnOnce(&mut PeerSettings)) -> PeerId {
    let id = PeerId(n);
    let mut s = PeerSettings::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + n as u8)), asn);
    f(&mut s);
    rib.add_peer(id, s).unwrap();
    let mut up = PeerUp::new(Ipv4Addr::new(10, 0, 0, n as u8), IpAddr::V4(ROUTER_ID));
    up.local_ipv6 = Some("2001:db8::1".parse().unwrap());
    up.link_local = Some("fe80::1".parse().unwrap());
    rib.peer_up(id, up).unwrap();
    id
}

pub fn peer(rib: &mut Rib, n: u32, asn: u32) -> PeerId {
    peer_with(rib, n, asn, |_| {})
}

/// Attributes: ORIGIN IGP and the AS path.
pub fn attrs(path: &[u32]) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(path.to_vec())),
        ..PathAttributes::default()
    }
}

/// An IPv4 UPDATE announcing `prefixes` with `a` and NEXT_HOP `nh`.
pub fn announce(a: &PathAttributes, nh: &str, prefixes: &[&str]) -> Update {
    let mut a = a.clone();
    a.next_hop = Some(v4(nh));
    Update {
        attributes: a.into(),
        nlri: prefixes.iter().map(|p| Nlri::new(net(p))).collect(),
        ..Update::default()
    }
}

/// An IPv6 UPDATE (MP_REACH) announcing `prefixes`.
pub fn announce6(a: &PathAttributes, nh: &str, prefixes: &[&str]) -> Update {
    Update {
        attributes: a.clone().into(),
        mp_reach: Some(Box::new(MpReach {
            family: AddressFamily::IPV6_UNICAST,
            next_hop: MpNextHop {
                global: IpAddr::V6(nh.parse::<Ipv6Addr>().unwrap()),
                link_local: None,
            },
            nlri: prefixes.iter().map(|p| Nlri::new(net(p))).collect(),
        })),
        ..Update::default()
    }
}

pub fn withdraw(prefixes: &[&str]) -> Update {
    Update {
        withdrawn: prefixes.iter().map(|p| Nlri::new(net(p))).collect(),
        ..Update::default()
    }
}

pub fn route(rib: &Rib, p: &str) -> RouteView {
    rib.route(net(p), true)
        .unwrap_or_else(|| panic!("no route for {p}"))
}

/// The encoded size of an UPDATE (the real encoder).
pub fn encoded_len(u: &Update, four_octet_as: bool) -> usize {
    let ctx = EncodeContext {
        four_octet_as,
        ..EncodeContext::default()
    };
    encode_to_vec(&Message::Update(u.clone()), &ctx)
        .unwrap()
        .len()
}

/// Every announced prefix of a batch of UPDATEs with its attributes.
pub fn announced(updates: &[Update]) -> Vec<(IpNet, PathAttributes, Option<MpNextHop>)> {
    let mut out = Vec::new();
    for u in updates {
        for n in &u.nlri {
            out.push((n.prefix, PathAttributes::clone(&u.attributes), None));
        }
        if let Some(m) = &u.mp_reach {
            for n in &m.nlri {
                out.push((
                    n.prefix,
                    PathAttributes::clone(&u.attributes),
                    Some(m.next_hop),
                ));
            }
        }
    }
    out
}

/// Every withdrawn prefix of a batch of UPDATEs.
pub fn withdrawn(updates: &[Update]) -> Vec<IpNet> {
    updates
        .iter()
        .flat_map(|u| u.withdrawals().map(|n| n.prefix))
        .collect()
}

pub fn pools(p: &[&str], own: &[&str]) -> ImportPolicy {
    ImportPolicy {
        pools: p.iter().map(|s| net(s)).collect(),
        own_blocks: own.iter().map(|s| net(s)).collect(),
    }
}

/// For the property tests, once every route is gone: no path is left and no attribute
/// set outlives its last user (only the permanent one for originated routes may remain).
pub fn nothing_left(rib: &Rib) -> Result<(), TestCaseError> {
    prop_assert_eq!(rib.path_count(), 0);
    prop_assert!(
        rib.attribute_sets() <= 1,
        "{} sets left",
        rib.attribute_sets()
    );
    Ok(())
}
