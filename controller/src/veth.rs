//! A workload's veth pair, made for a container runtime (CNI) the Calico way: the host
//! end (named by the caller, no address, MAC `ee:ee:ee:ee:ee:ee`) stays in the current
//! namespace with proxy ARP/NDP (see [`crate::configure_workload_interface`]); the other
//! end is created directly inside the container's namespace (a path such as
//! `/var/run/netns/cni-…` or `/proc/PID/ns/net`) under the container's interface name, so
//! it never clashes with a host interface of the same name. Inside it gets the /32 and
//! /128, `169.254.1.1 dev IF scope link`, `default via 169.254.1.1 dev IF onlink`,
//! `default via fe80::1 dev IF`, and permanent neighbour entries for both gateways
//! pointing at the host end's MAC.
//!
//! The permanent neighbours are what makes the gateway answer on a host without a default
//! route: the kernel answers proxy ARP only for targets it has a route to through another
//! interface, so without one 169.254.1.1 never resolves. With the entry the container
//! never asks; the host end takes every frame sent to its MAC and routes it. Nothing is
//! added on the host outside the veth itself.
//!
//! Every step has its undo: a failure after the pair exists deletes the host end (which
//! deletes the peer with it).

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use rtnetlink::packet_core::Parseable;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope,
};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourHeader, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use rtnetlink::packet_route::AddressFamily;

use crate::netlink::codec;
use crate::netlink::NetlinkTable;
use crate::netns;
use crate::route::TableConfig;
use crate::table::TableError;
use crate::workload::{configure_workload_interface, WorkloadError, GATEWAY_V6};

/// The MAC of every workload veth's host end (as Calico's `ee:ee:ee:ee:ee:ee`).
pub const HOST_MAC: [u8; 6] = [0xee; 6];
/// The IPv4 gateway workloads route through.
pub const GATEWAY4: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_GETROUTE: u16 = 26;
const MAIN_TABLE: u8 = 254;

/// One workload attachment's link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethSpec {
    /// Host end's name (≤ 15 bytes).
    pub host_if: String,
    /// The container's network namespace (a file to open).
    pub netns: PathBuf,
    /// Interface name inside the container (CNI_IFNAME).
    pub ifname: String,
    /// The container's addresses (/32, /128).
    pub addrs: Vec<IpNet>,
    /// The container end's MAC (fixed by the caller, so a repeated ADD reports the same).
    pub mac: [u8; 6],
}

/// What [`create_workload_veth`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethCreated {
    /// The container end's MAC, `aa:bb:…`.
    pub container_mac: String,
}

/// Why a workload veth could not be made, checked or removed.
#[derive(Debug, thiserror::Error)]
pub enum VethError {
    /// Not a valid interface name.
    #[error("bad interface name {0:?}")]
    BadName(String),
    /// The container's network namespace cannot be opened.
    #[error("network namespace {}: {source}", path.display())]
    NoNetns {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The container already has an interface with this name.
    #[error("interface {0} already exists in the container")]
    Exists(String),
    /// A netlink request failed.
    #[error("{step}: {source}")]
    Netlink {
        /// What was being done.
        step: &'static str,
        /// The error.
        #[source]
        source: TableError,
    },
    /// The host end could not be prepared (sysctls, proxy NDP).
    #[error(transparent)]
    Host(#[from] WorkloadError),
}

pub(crate) fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && !name.contains('/')
        && name != "."
        && name != ".."
        && !name.contains(char::is_whitespace)
        && !name.contains(':')
}

pub(crate) fn nl_err(step: &'static str) -> impl FnOnce(TableError) -> VethError {
    move |source| VethError::Netlink { step, source }
}

/// Asks the kernel for the pair `host_if` (MAC `ee:ee:ee:ee:ee:ee`, in the current
/// namespace) / `peer_if` (MAC `peer_mac`, created inside the namespace `peer_netns` when
/// given, else here), both with the tunnel MTU when pools are encapsulated
/// ([`crate::tunnel::workload_mtu`]). Both ends are left down. `exists` is the name an
/// EEXIST is reported for.
pub(crate) fn create_pair(
    nl: &mut NetlinkTable,
    host_if: &str,
    peer_if: &str,
    peer_mac: [u8; 6],
    peer_netns: Option<std::os::fd::RawFd>,
    exists: &str,
) -> Result<(), VethError> {
    let mut peer = LinkMessage::default();
    peer.attributes
        .push(LinkAttribute::IfName(peer_if.to_string()));
    if let Some(fd) = peer_netns {
        peer.attributes.push(LinkAttribute::NetNsFd(fd));
    }
    peer.attributes
        .push(LinkAttribute::Address(peer_mac.to_vec()));
    let mut m = LinkMessage::default();
    m.attributes
        .push(LinkAttribute::IfName(host_if.to_string()));
    m.attributes.push(LinkAttribute::Address(HOST_MAC.to_vec()));
    // Room for a tunnel's header when pools are encapsulated (crate::tunnel).
    if let Some(mtu) = crate::tunnel::workload_mtu() {
        m.attributes.push(LinkAttribute::Mtu(mtu));
        peer.attributes.push(LinkAttribute::Mtu(mtu));
    }
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    match nl.request(
        codec::RTM_NEWLINK,
        codec::NLM_F_CREATE | codec::NLM_F_EXCL,
        &m,
    ) {
        Ok(()) => Ok(()),
        Err(e) if e.is_errno(libc::EEXIST) => Err(VethError::Exists(exists.to_string())),
        Err(e) => Err(nl_err("create veth")(e)),
    }
}

pub(crate) fn open_here() -> Result<NetlinkTable, TableError> {
    NetlinkTable::open(TableConfig::default(), None, false)
}

fn mac_text(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Creates the pair, prepares the host end and configures the container end. On error
/// nothing is left behind (the host end is deleted, taking the peer with it). A host end
/// left over under the same name (an attachment interrupted by a crash) is replaced.
pub fn create_workload_veth(spec: &VethSpec) -> Result<VethCreated, VethError> {
    for n in [&spec.host_if, &spec.ifname] {
        if !valid_ifname(n) {
            return Err(VethError::BadName(n.clone()));
        }
    }
    let ns = File::open(&spec.netns).map_err(|source| VethError::NoNetns {
        path: spec.netns.clone(),
        source,
    })?;
    let mut nl = open_here().map_err(nl_err("netlink socket"))?;
    if let Some(index) = nl.ifindex(&spec.host_if).map_err(nl_err("list links"))? {
        delete_index(&mut nl, index).map_err(nl_err("delete stale host interface"))?;
        nl.forget_links();
    }
    // Both ends are brought up after creation: veth refuses IFF_UP (ENOTCONN) on an end
    // whose peer is not linked yet, which is the case while the pair is being made.
    create_pair(
        &mut nl,
        &spec.host_if,
        &spec.ifname,
        spec.mac,
        Some(ns.as_raw_fd()),
        &spec.ifname,
    )?;
    nl.forget_links();
    let undo = |e: VethError| {
        let _ = delete_workload_veth(&spec.host_if);
        e
    };
    let up = nl
        .ifindex(&spec.host_if)
        .and_then(|i| {
            i.ok_or_else(|| TableError::Decode(format!("{} missing after creation", spec.host_if)))
        })
        .and_then(|i| set_up(&mut nl, i));
    up.map_err(nl_err("set host interface up")).map_err(undo)?;
    configure_workload_interface(&spec.host_if, None)
        .map_err(VethError::from)
        .map_err(undo)?;
    let (ifname, addrs) = (spec.ifname.clone(), spec.addrs.clone());
    let mac = mac_text(&spec.mac);
    let inside = netns::run_in_path(&spec.netns, move || container_side(&ifname, &addrs, mac))
        .map_err(|source| VethError::NoNetns {
            path: spec.netns.clone(),
            source,
        })
        .map_err(undo)?;
    inside.map_err(undo)
}

fn container_side(ifname: &str, addrs: &[IpNet], mac: String) -> Result<VethCreated, VethError> {
    let mut nl = open_here().map_err(nl_err("netlink socket in the container"))?;
    let index = nl
        .ifindex(ifname)
        .map_err(nl_err("list container links"))?
        .ok_or_else(|| VethError::Netlink {
            step: "container interface",
            source: TableError::Decode(format!("{ifname} missing after creation")),
        })?;
    if let Some(lo) = nl.ifindex("lo").map_err(nl_err("list container links"))? {
        set_up(&mut nl, lo).map_err(nl_err("set lo up"))?;
    }
    set_up(&mut nl, index).map_err(nl_err("set container interface up"))?;
    let v6_enabled = Path::new("/proc/sys/net/ipv6/conf").exists();
    for a in addrs {
        if a.addr().is_ipv6() && !v6_enabled {
            continue;
        }
        nl.request(
            RTM_NEWADDR,
            codec::NLM_F_CREATE | codec::NLM_F_REPLACE,
            &address(index, a),
        )
        .map_err(nl_err("add address"))?;
    }
    let has4 = addrs.iter().any(|a| a.addr().is_ipv4());
    let has6 = v6_enabled && addrs.iter().any(|a| a.addr().is_ipv6());
    if has4 {
        let gw = IpNet::from(IpAddr::V4(GATEWAY4));
        let r = route(index, Some(gw), None, RouteScope::Link);
        nl.request(
            codec::RTM_NEWROUTE,
            codec::NLM_F_CREATE | codec::NLM_F_REPLACE,
            &r,
        )
        .map_err(nl_err("add gateway route"))?;
        let r = route(
            index,
            None,
            Some(IpAddr::V4(GATEWAY4)),
            RouteScope::Universe,
        );
        nl.request(
            codec::RTM_NEWROUTE,
            codec::NLM_F_CREATE | codec::NLM_F_REPLACE,
            &r,
        )
        .map_err(nl_err("add default route"))?;
        nl.request(
            codec::RTM_NEWNEIGH,
            codec::NLM_F_CREATE | codec::NLM_F_REPLACE,
            &neighbour(index, IpAddr::V4(GATEWAY4)),
        )
        .map_err(nl_err("add gateway neighbour"))?;
    }
    if has6 {
        nl.request(
            codec::RTM_NEWNEIGH,
            codec::NLM_F_CREATE | codec::NLM_F_REPLACE,
            &neighbour(index, IpAddr::V6(GATEWAY_V6)),
        )
        .map_err(nl_err("add IPv6 gateway neighbour"))?;
        let r = route(
            index,
            None,
            Some(IpAddr::V6(GATEWAY_V6)),
            RouteScope::Universe,
        );
        nl.request(
            codec::RTM_NEWROUTE,
            codec::NLM_F_CREATE | codec::NLM_F_REPLACE,
            &r,
        )
        .map_err(nl_err("add IPv6 default route"))?;
    }
    Ok(VethCreated { container_mac: mac })
}

fn address(index: u32, a: &IpNet) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family(a.addr());
    m.header.prefix_len = a.prefix_len();
    m.header.index = index;
    m.header.scope = AddressScope::Universe;
    m.header.flags = AddressHeaderFlags::Nodad;
    m.attributes.push(AddressAttribute::Local(a.addr()));
    m.attributes.push(AddressAttribute::Address(a.addr()));
    m
}

fn family(a: IpAddr) -> AddressFamily {
    if a.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn raddr(a: IpAddr) -> RouteAddress {
    match a {
        IpAddr::V4(v) => RouteAddress::Inet(v),
        IpAddr::V6(v) => RouteAddress::Inet6(v),
    }
}

/// `dst dev IF scope link` (gateway route) or `default via GW dev IF onlink`.
fn route(index: u32, dst: Option<IpNet>, via: Option<IpAddr>, scope: RouteScope) -> RouteMessage {
    let fam = dst
        .map(|d| d.addr())
        .or(via)
        .map_or(AddressFamily::Inet, family);
    let mut m = RouteMessage::default();
    m.header = RouteHeader {
        address_family: fam,
        destination_prefix_length: dst.map_or(0, |d| d.prefix_len()),
        table: MAIN_TABLE,
        protocol: RouteProtocol::Boot,
        scope,
        kind: RouteType::Unicast,
        ..RouteHeader::default()
    };
    if let Some(d) = dst {
        m.attributes
            .push(RouteAttribute::Destination(raddr(d.addr())));
    }
    if let Some(g) = via {
        m.attributes.push(RouteAttribute::Gateway(raddr(g)));
        if g.is_ipv4() {
            m.header.flags = RouteFlags::Onlink;
        }
    }
    m.attributes.push(RouteAttribute::Oif(index));
    m
}

pub(crate) fn neighbour(index: u32, ip: IpAddr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header = NeighbourHeader {
        family: family(ip),
        ifindex: index,
        state: NeighbourState::Permanent,
        ..Default::default()
    };
    m.attributes.push(NeighbourAttribute::Destination(match ip {
        IpAddr::V4(v) => NeighbourAddress::Inet(v),
        IpAddr::V6(v) => NeighbourAddress::Inet6(v),
    }));
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(HOST_MAC.to_vec()));
    m
}

pub(crate) fn set_up(nl: &mut NetlinkTable, index: u32) -> Result<(), TableError> {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    nl.request(codec::RTM_NEWLINK, 0, &m)
}

fn delete_index(nl: &mut NetlinkTable, index: u32) -> Result<(), TableError> {
    let mut m = LinkMessage::default();
    m.header.index = index;
    match nl.request(RTM_DELLINK, 0, &m) {
        Err(e) if e.is_errno(libc::ENODEV) => Ok(()),
        r => r,
    }
}

/// Deletes the host end `host_if` (and with it the container end). `Ok(false)` when there
/// was no such interface.
pub fn delete_workload_veth(host_if: &str) -> Result<bool, VethError> {
    if !valid_ifname(host_if) {
        return Err(VethError::BadName(host_if.to_string()));
    }
    let t0 = std::time::Instant::now();
    let mut nl = open_here().map_err(nl_err("netlink socket"))?;
    let found = nl.ifindex(host_if).map_err(nl_err("list links"))?;
    let t1 = t0.elapsed();
    match found {
        Some(index) => {
            delete_index(&mut nl, index).map_err(nl_err("delete veth"))?;
            tracing::debug!(host_if, open_and_list = ?t1, delete = ?(t0.elapsed() - t1), "veth deleted");
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Whether the host end `host_if` exists in the current namespace.
pub fn host_veth_exists(host_if: &str) -> Result<bool, VethError> {
    let mut nl = open_here().map_err(nl_err("netlink socket"))?;
    Ok(nl.ifindex(host_if).map_err(nl_err("list links"))?.is_some())
}

/// What is missing for `spec`: the host end, the container's interface, an address, the
/// default route(s). Empty when everything is in place.
pub fn check_workload_veth(spec: &VethSpec) -> Result<Vec<String>, VethError> {
    let mut missing = Vec::new();
    if !host_veth_exists(&spec.host_if)? {
        missing.push(format!("host interface {} is missing", spec.host_if));
    }
    let (ifname, addrs) = (spec.ifname.clone(), spec.addrs.clone());
    let inside = netns::run_in_path(&spec.netns, move || check_inside(&ifname, &addrs)).map_err(
        |source| VethError::NoNetns {
            path: spec.netns.clone(),
            source,
        },
    )??;
    missing.extend(inside);
    Ok(missing)
}

fn check_inside(ifname: &str, addrs: &[IpNet]) -> Result<Vec<String>, VethError> {
    let mut nl = open_here().map_err(nl_err("netlink socket in the container"))?;
    let Some(index) = nl.ifindex(ifname).map_err(nl_err("list container links"))? else {
        return Ok(vec![format!(
            "interface {ifname} is missing in the container"
        )]);
    };
    let mut missing = Vec::new();
    let body = AddressMessage::default();
    let have: Vec<IpNet> = nl
        .dump_payloads(RTM_GETADDR, RTM_NEWADDR, &body)
        .map_err(nl_err("list addresses"))?
        .iter()
        .filter_map(|p| AddressMessage::parse(p.as_slice()).ok())
        .filter(|m| m.header.index == index)
        .filter_map(|m| {
            let len = m.header.prefix_len;
            m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) | AddressAttribute::Address(ip) => {
                    IpNet::new(*ip, len).ok()
                }
                _ => None,
            })
        })
        .collect();
    let v6_enabled = Path::new("/proc/sys/net/ipv6/conf").exists();
    for a in addrs {
        if a.addr().is_ipv6() && !v6_enabled {
            continue;
        }
        if !have.contains(a) {
            missing.push(format!("address {a} is missing on {ifname}"));
        }
    }
    let mut defaults: Vec<IpAddr> = Vec::new();
    for v6 in [false, true] {
        let mut body = RouteMessage::default();
        body.header.address_family = if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        let routes = nl
            .dump_payloads(RTM_GETROUTE, codec::RTM_NEWROUTE, &body)
            .map_err(nl_err("list routes"))?;
        for p in routes {
            let Ok(m) = RouteMessage::parse(p.as_slice()) else {
                continue;
            };
            if m.header.destination_prefix_length != 0 {
                continue;
            }
            let oif = m.attributes.contains(&RouteAttribute::Oif(index));
            let gw = m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Gateway(RouteAddress::Inet(v)) => Some(IpAddr::V4(*v)),
                RouteAttribute::Gateway(RouteAddress::Inet6(v)) => Some(IpAddr::V6(*v)),
                _ => None,
            });
            if let (true, Some(g)) = (oif, gw) {
                defaults.push(g);
            }
        }
    }
    if addrs.iter().any(|a| a.addr().is_ipv4()) && !defaults.contains(&IpAddr::V4(GATEWAY4)) {
        missing.push(format!("default route via {GATEWAY4} is missing"));
    }
    if v6_enabled
        && addrs.iter().any(|a| a.addr().is_ipv6())
        && !defaults.contains(&IpAddr::V6(GATEWAY_V6))
    {
        missing.push(format!("default route via {GATEWAY_V6} is missing"));
    }
    Ok(missing)
}
