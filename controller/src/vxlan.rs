//! `tern.vxlan`, the VXLAN device (RFC 7348) for pools with a `vxlanMode`, and its
//! per-remote-host entries, reconciled level-triggered against the kernel.
//!
//! Nothing but what BGP already carries is needed to reach a remote host: a route to its
//! block goes `via HOST dev tern.vxlan onlink`, where HOST is the BGP next hop (the remote
//! host's address). The inner frame's destination MAC is derived from that address
//! ([`vtep_mac`]: `0e:7e` + the four octets, locally administered, unicast), and every
//! host gives its own `tern.vxlan` the MAC derived from its own address, so both ends
//! agree without a datastore or a BGP extension. For each gateway of a route through the
//! device, [`sync_vteps`] keeps a permanent neighbour entry (HOST → derived MAC) and a
//! permanent FDB entry (derived MAC → outer destination HOST, `self`) and removes the
//! entries on the device no route needs any more; drift (an entry deleted by hand) is
//! repaired on the next pass. Only entries on `tern.vxlan` are ever read or changed.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use rtnetlink::packet_core::Parseable;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourHeader, NeighbourMessage,
    NeighbourState,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::packet_route::AddressFamily;

use crate::netlink::{codec, NetlinkTable};
use crate::tunnel::{delete_tunnel, TunnelError, VXLAN_DEVICE};
use crate::veth::{open_here, set_up};

/// The VXLAN network identifier tern uses unless configured (Calico's default).
pub const DEFAULT_VNI: u32 = 4096;
/// The IANA VXLAN UDP port.
pub const VXLAN_PORT: u16 = 4789;

const RTM_DELNEIGH: u16 = 29;
const RTM_GETNEIGH: u16 = 30;

fn err(step: &'static str) -> impl FnOnce(crate::table::TableError) -> TunnelError {
    move |source| TunnelError { step, source }
}

/// The MAC of the VTEP at `host`: `0e:7e:a:b:c:d` for `a.b.c.d`.
pub fn vtep_mac(host: Ipv4Addr) -> [u8; 6] {
    let o = host.octets();
    [0x0e, 0x7e, o[0], o[1], o[2], o[3]]
}

/// (Re)creates `tern.vxlan`: VNI `vni`, UDP port [`VXLAN_PORT`], local `local`, no
/// learning, MAC [`vtep_mac`]`(local)`, MTU `mtu`, up. A device of that name left by an
/// earlier run is replaced (its routes come back with the next reconcile).
pub fn ensure_vxlan(local: Ipv4Addr, vni: u32, mtu: u32) -> Result<(), TunnelError> {
    delete_tunnel(VXLAN_DEVICE)?;
    let mut nl = open_here().map_err(err("netlink socket"))?;
    let mut m = LinkMessage::default();
    m.attributes
        .push(LinkAttribute::IfName(VXLAN_DEVICE.to_string()));
    m.attributes.push(LinkAttribute::Mtu(mtu));
    m.attributes
        .push(LinkAttribute::Address(vtep_mac(local).to_vec()));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Vxlan),
        LinkInfo::Data(InfoData::Vxlan(vec![
            InfoVxlan::Id(vni),
            InfoVxlan::Local(local),
            InfoVxlan::Port(VXLAN_PORT),
            InfoVxlan::Learning(false),
        ])),
    ]));
    match nl.request(
        codec::RTM_NEWLINK,
        codec::NLM_F_CREATE | codec::NLM_F_EXCL,
        &m,
    ) {
        Ok(()) => {}
        Err(e) => return Err(err("create tern.vxlan")(e)),
    }
    nl.forget_links();
    let index = device(&mut nl)?.ok_or_else(|| TunnelError {
        step: "find tern.vxlan",
        source: crate::table::TableError::Decode("missing after creation".into()),
    })?;
    set_up(&mut nl, index).map_err(err("set tern.vxlan up"))
}

fn device(nl: &mut NetlinkTable) -> Result<Option<u32>, TunnelError> {
    nl.ifindex(VXLAN_DEVICE).map_err(err("list links"))
}

/// What one [`sync_vteps`] pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VtepSync {
    /// Remote hosts that routes go to through the device.
    pub vteps: usize,
    /// Neighbour and FDB entries written (missing or different).
    pub added: usize,
    /// Entries removed (no route needs them).
    pub removed: usize,
}

/// One reconcile pass: the gateways of the IPv4 routes through `tern.vxlan` (any table,
/// any owner — only tern puts routes there) against the device's neighbour and FDB
/// entries. Nothing to do without the device.
pub fn sync_vteps() -> Result<VtepSync, TunnelError> {
    let mut nl = open_here().map_err(err("netlink socket"))?;
    let Some(index) = device(&mut nl)? else {
        return Ok(VtepSync::default());
    };
    // The kernel filters the dump by output interface (strict checking).
    let mut req = RouteMessage::default();
    req.header.address_family = AddressFamily::Inet;
    req.attributes.push(RouteAttribute::Oif(index));
    let routes = nl
        .dump_payloads(codec::RTM_GETROUTE, codec::RTM_NEWROUTE, &req)
        .map_err(err("list routes"))?;
    let mut want: BTreeSet<Ipv4Addr> = BTreeSet::new();
    for p in &routes {
        let Ok(m) = RouteMessage::parse(p.as_slice()) else {
            continue;
        };
        let oif_here = m.attributes.contains(&RouteAttribute::Oif(index));
        for a in &m.attributes {
            match a {
                RouteAttribute::Gateway(RouteAddress::Inet(g)) if oif_here => {
                    want.insert(*g);
                }
                RouteAttribute::MultiPath(hops) => {
                    for h in hops.iter().filter(|h| h.interface_index == index) {
                        for ha in &h.attributes {
                            if let RouteAttribute::Gateway(RouteAddress::Inet(g)) = ha {
                                want.insert(*g);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // What the device has: (family, IP or MAC) entries.
    let mut have_neigh: Vec<(Ipv4Addr, Vec<u8>)> = Vec::new();
    let mut have_fdb: Vec<(Vec<u8>, Option<IpAddr>)> = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Bridge] {
        let mut q = NeighbourMessage::default();
        q.header.family = family;
        q.header.ifindex = index;
        let entries = nl
            .dump_payloads(RTM_GETNEIGH, codec::RTM_NEWNEIGH, &q)
            .map_err(err("list neighbours"))?;
        for p in entries {
            let Ok(m) = NeighbourMessage::parse(p.as_slice()) else {
                continue;
            };
            if m.header.ifindex != index {
                continue;
            }
            let dst = m.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => Some(IpAddr::V4(*v)),
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(v)) => Some(IpAddr::V6(*v)),
                _ => None,
            });
            let mac = m.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::LinkLayerAddress(l) => Some(l.clone()),
                _ => None,
            });
            match (m.header.family, dst, mac) {
                (AddressFamily::Inet, Some(IpAddr::V4(ip)), Some(mac)) => {
                    have_neigh.push((ip, mac))
                }
                (AddressFamily::Bridge, dst, Some(mac)) => have_fdb.push((mac, dst)),
                _ => {}
            }
        }
    }
    let mut out = VtepSync {
        vteps: want.len(),
        ..VtepSync::default()
    };
    for host in &want {
        let mac = vtep_mac(*host).to_vec();
        if !have_neigh.iter().any(|(ip, m)| ip == host && *m == mac) {
            nl.request(
                codec::RTM_NEWNEIGH,
                codec::NLM_F_CREATE | codec::NLM_F_REPLACE,
                &neighbour(index, *host),
            )
            .map_err(err("add VTEP neighbour"))?;
            out.added += 1;
        }
        if !have_fdb
            .iter()
            .any(|(m, dst)| *m == mac && *dst == Some(IpAddr::V4(*host)))
        {
            nl.request(
                codec::RTM_NEWNEIGH,
                codec::NLM_F_CREATE | codec::NLM_F_REPLACE,
                &fdb(index, *host),
            )
            .map_err(err("add VTEP FDB entry"))?;
            out.added += 1;
        }
    }
    for (ip, _) in have_neigh.iter().filter(|(ip, _)| !want.contains(ip)) {
        match nl.request(RTM_DELNEIGH, 0, &neighbour(index, *ip)) {
            Ok(()) => out.removed += 1,
            Err(e) if e.is_errno(libc::ENOENT) => {}
            Err(e) => return Err(err("remove VTEP neighbour")(e)),
        }
    }
    let wanted_macs: Vec<Vec<u8>> = want.iter().map(|h| vtep_mac(*h).to_vec()).collect();
    for (mac, dst) in &have_fdb {
        let Some(IpAddr::V4(host)) = dst else {
            continue;
        };
        // Only unicast entries of ours (derived MAC); the kernel's own are left alone.
        if *mac != vtep_mac(*host).to_vec() || wanted_macs.contains(mac) {
            continue;
        }
        match nl.request(RTM_DELNEIGH, 0, &fdb(index, *host)) {
            Ok(()) => out.removed += 1,
            Err(e) if e.is_errno(libc::ENOENT) => {}
            Err(e) => return Err(err("remove VTEP FDB entry")(e)),
        }
    }
    Ok(out)
}

/// `HOST lladdr vtep_mac(HOST) dev tern.vxlan nud permanent`.
fn neighbour(index: u32, host: Ipv4Addr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header = NeighbourHeader {
        family: AddressFamily::Inet,
        ifindex: index,
        state: NeighbourState::Permanent,
        ..Default::default()
    };
    m.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
            host,
        )));
    m.attributes.push(NeighbourAttribute::LinkLayerAddress(
        vtep_mac(host).to_vec(),
    ));
    m
}

/// `bridge fdb replace vtep_mac(HOST) dev tern.vxlan dst HOST self permanent`.
fn fdb(index: u32, host: Ipv4Addr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header = NeighbourHeader {
        family: AddressFamily::Bridge,
        ifindex: index,
        state: NeighbourState::Permanent,
        flags: NeighbourFlags::Own,
        ..Default::default()
    };
    m.attributes.push(NeighbourAttribute::LinkLayerAddress(
        vtep_mac(host).to_vec(),
    ));
    m.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
            host,
        )));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtep_mac_is_local_unicast_and_carries_the_address() {
        let m = vtep_mac(Ipv4Addr::new(192, 168, 2, 3));
        assert_eq!(m, [0x0e, 0x7e, 192, 168, 2, 3]);
        assert_eq!(m[0] & 0x01, 0, "unicast");
        assert_eq!(m[0] & 0x02, 0x02, "locally administered");
    }
}
