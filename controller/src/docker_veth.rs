//! A workload veth for Docker's network driver (libnetwork's remote driver `Join`): both
//! ends are made in the current namespace, Docker moves the container end into the
//! sandbox itself, renames it and gives it the address, the gateway and the static routes
//! the driver named. The host end is prepared as for CNI (`ee:ee:ee:ee:ee:ee`, proxy
//! ARP/NDP, up).
//!
//! Docker cannot be asked for permanent neighbour entries, which is what lets a
//! container reach its gateway on a host without a default route (see [`crate::veth`]);
//! [`gateway_neighbours`] adds them once the interface is in the sandbox.

use std::net::IpAddr;
use std::path::Path;

use rtnetlink::packet_core::Parseable;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};

use crate::netlink::codec;
use crate::netns;
use crate::table::TableError;
use crate::veth::{
    create_pair, delete_workload_veth, neighbour, nl_err, open_here, set_up, valid_ifname,
    VethError, GATEWAY4,
};
use crate::workload::{configure_workload_interface, GATEWAY_V6};

const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;

/// Makes the pair `host_if` / `peer_if` in the current namespace (the peer with MAC
/// `peer_mac`, left down for Docker to move) and prepares the host end. A stale pair
/// under either name is replaced. On error nothing is left behind.
pub fn create_docker_veth(
    host_if: &str,
    peer_if: &str,
    peer_mac: [u8; 6],
) -> Result<(), VethError> {
    for n in [host_if, peer_if] {
        if !valid_ifname(n) {
            return Err(VethError::BadName(n.to_string()));
        }
    }
    for stale in [host_if, peer_if] {
        delete_workload_veth(stale)?;
    }
    let mut nl = open_here().map_err(nl_err("netlink socket"))?;
    create_pair(&mut nl, host_if, peer_if, peer_mac, None, host_if)?;
    nl.forget_links();
    let undo = |e: VethError| {
        let _ = delete_workload_veth(host_if);
        e
    };
    nl.ifindex(host_if)
        .and_then(|i| {
            i.ok_or_else(|| TableError::Decode(format!("{host_if} missing after creation")))
        })
        .and_then(|i| set_up(&mut nl, i))
        .map_err(nl_err("set host interface up"))
        .map_err(undo)?;
    configure_workload_interface(host_if, None)
        .map_err(VethError::from)
        .map_err(undo)?;
    Ok(())
}

/// Inside the sandbox `netns`: finds the interface with MAC `mac` and adds permanent
/// neighbours for the gateways of the families in `families` (`(v4, v6)`) pointing at the
/// host end. `Ok(false)` while the interface is not there yet (Docker moves it after
/// `Join` returns) or lacks the address of a wanted family (Docker adds them one by one).
pub fn gateway_neighbours(
    netns: &Path,
    mac: [u8; 6],
    families: (bool, bool),
) -> Result<bool, VethError> {
    netns::run_in_path(netns, move || neighbours_here(mac, families)).map_err(|source| {
        VethError::NoNetns {
            path: netns.to_path_buf(),
            source,
        }
    })?
}

fn neighbours_here(mac: [u8; 6], (want4, want6): (bool, bool)) -> Result<bool, VethError> {
    let mut nl = open_here().map_err(nl_err("netlink socket in the sandbox"))?;
    let links = nl
        .dump_payloads(RTM_GETLINK, codec::RTM_NEWLINK, &LinkMessage::default())
        .map_err(nl_err("list sandbox links"))?;
    let index = links
        .iter()
        .filter_map(|p| LinkMessage::parse(p.as_slice()).ok())
        .find(|m| m.attributes.contains(&LinkAttribute::Address(mac.to_vec())))
        .map(|m| m.header.index);
    let Some(index) = index else {
        return Ok(false);
    };
    let addrs: Vec<IpAddr> = nl
        .dump_payloads(RTM_GETADDR, RTM_NEWADDR, &AddressMessage::default())
        .map_err(nl_err("list sandbox addresses"))?
        .iter()
        .filter_map(|p| AddressMessage::parse(p.as_slice()).ok())
        .filter(|m| m.header.index == index)
        .filter_map(|m| {
            m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            })
        })
        .collect();
    let has4 = addrs.iter().any(|a| a.is_ipv4());
    let has6 = addrs.iter().any(is_global6);
    if (want4 && !has4) || (want6 && !has6) {
        return Ok(false);
    }
    let mut gateways = Vec::new();
    if want4 {
        gateways.push(IpAddr::V4(GATEWAY4));
    }
    if want6 {
        gateways.push(IpAddr::V6(GATEWAY_V6));
    }
    for gw in gateways {
        nl.request(
            codec::RTM_NEWNEIGH,
            codec::NLM_F_CREATE | codec::NLM_F_REPLACE,
            &neighbour(index, gw),
        )
        .map_err(nl_err("add gateway neighbour"))?;
    }
    Ok(true)
}

fn is_global6(a: &IpAddr) -> bool {
    matches!(a, IpAddr::V6(v) if (v.segments()[0] & 0xffc0) != 0xfe80)
}
