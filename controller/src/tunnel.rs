//! The overlay devices tern owns: `tern.ipip` (IP-in-IP, RFC 2003) for pools with an
//! `ipipMode`. The device is made through rtnetlink with this host's address as its
//! local end and no remote end, so the kernel takes the outer destination from each
//! route's gateway (`via REMOTE dev tern.ipip onlink`), as Calico's `tunl0`. An existing
//! device of that name is ours (the `tern.` prefix) and is adjusted in place (local
//! address, MTU, up), so the routes through it are never lost; nothing else — `tunl0`,
//! other tunnels — is ever touched. [`delete_tunnel`] removes it (`tern fib flush`).
//!
//! The MTU leaves room for the outer header: [`IPIP_OVERHEAD`] below the uplink's (the
//! interface holding the local address, see [`uplink_mtu`]) unless configured; workload
//! veths made afterwards get the same ([`set_workload_mtu`]).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU32, Ordering};

use rtnetlink::packet_core::Parseable;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoData, InfoIpTunnel, InfoKind, LinkAttribute, LinkInfo, LinkMessage,
};

use crate::netlink::codec;
use crate::table::TableError;
use crate::veth::open_here;

/// The IPIP device's name.
pub const IPIP_DEVICE: &str = "tern.ipip";
/// The VXLAN device's name (reserved: removed by [`delete_tunnel`] callers too).
pub const VXLAN_DEVICE: &str = "tern.vxlan";
/// Bytes IPIP adds to each packet (the outer IPv4 header).
pub const IPIP_OVERHEAD: u32 = 20;
/// Bytes VXLAN adds (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14).
pub const VXLAN_OVERHEAD: u32 = 50;
/// The MTU assumed when the uplink cannot be found.
pub const DEFAULT_UPLINK_MTU: u32 = 1500;

const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;

/// Why a tunnel device could not be made, read or removed.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub struct TunnelError {
    /// What was being done.
    pub step: &'static str,
    /// The netlink error.
    #[source]
    pub source: TableError,
}

impl TunnelError {
    /// Whether the kernel refused the device because it does not know its kind (no
    /// `ipip` / `vxlan` module: `ip link add … type ipip` says "Unknown device type").
    pub fn kernel_lacks_kind(&self) -> bool {
        // The kernel sends EOPNOTSUPP with the extended-ack text "Unknown device type".
        self.source.is_errno(libc::EOPNOTSUPP)
    }
}

fn err(step: &'static str) -> impl FnOnce(TableError) -> TunnelError {
    move |source| TunnelError { step, source }
}

/// Creates `tern.ipip` (local `local`, any remote, MTU `mtu`, up), or brings an existing
/// one to that state without deleting it.
pub fn ensure_ipip(local: Ipv4Addr, mtu: u32) -> Result<(), TunnelError> {
    let mut nl = open_here().map_err(err("netlink socket"))?;
    let data = vec![
        InfoIpTunnel::Local(IpAddr::V4(local)),
        InfoIpTunnel::Remote(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        InfoIpTunnel::PMtuDisc(true),
    ];
    let mut m = LinkMessage::default();
    m.attributes
        .push(LinkAttribute::IfName(IPIP_DEVICE.to_string()));
    m.attributes.push(LinkAttribute::Mtu(mtu));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::IpIp),
        LinkInfo::Data(InfoData::IpTunnel(data.clone())),
    ]));
    match nl.request(
        codec::RTM_NEWLINK,
        codec::NLM_F_CREATE | codec::NLM_F_EXCL,
        &m,
    ) {
        Ok(()) => {}
        Err(e) if e.is_errno(libc::EEXIST) => {
            // Ours already (a restart): change it in place.
            let index = nl
                .ifindex(IPIP_DEVICE)
                .map_err(err("list links"))?
                .ok_or_else(|| TunnelError {
                    step: "find tern.ipip",
                    source: TableError::Decode("EEXIST but not listed".into()),
                })?;
            let mut c = LinkMessage::default();
            c.header.index = index;
            c.attributes.push(LinkAttribute::Mtu(mtu));
            c.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::IpIp),
                LinkInfo::Data(InfoData::IpTunnel(data)),
            ]));
            nl.request(codec::RTM_NEWLINK, 0, &c)
                .map_err(err("update tern.ipip"))?;
        }
        Err(e) => return Err(err("create tern.ipip")(e)),
    }
    nl.forget_links();
    let index = nl
        .ifindex(IPIP_DEVICE)
        .map_err(err("list links"))?
        .ok_or_else(|| TunnelError {
            step: "find tern.ipip",
            source: TableError::Decode("missing after creation".into()),
        })?;
    crate::veth::set_up(&mut nl, index).map_err(err("set tern.ipip up"))
}

/// Deletes tern's tunnel device `name` ([`IPIP_DEVICE`] or [`VXLAN_DEVICE`]); routes
/// through it go with it. `Ok(false)` when there was none.
pub fn delete_tunnel(name: &str) -> Result<bool, TunnelError> {
    let mut nl = open_here().map_err(err("netlink socket"))?;
    let Some(index) = nl.ifindex(name).map_err(err("list links"))? else {
        return Ok(false);
    };
    let mut m = LinkMessage::default();
    m.header.index = index;
    match nl.request(RTM_DELLINK, 0, &m) {
        Ok(()) => Ok(true),
        Err(e) if e.is_errno(libc::ENODEV) => Ok(false),
        Err(e) => Err(err("delete tunnel")(e)),
    }
}

/// The MTU of the interface that holds `addr` (the uplink the tunnel's packets leave
/// by); `None` when no interface holds it.
pub fn uplink_mtu(addr: IpAddr) -> Result<Option<u32>, TunnelError> {
    let mut nl = open_here().map_err(err("netlink socket"))?;
    let addrs = nl
        .dump_payloads(RTM_GETADDR, RTM_NEWADDR, &AddressMessage::default())
        .map_err(err("list addresses"))?;
    let index = addrs
        .iter()
        .filter_map(|p| AddressMessage::parse(p.as_slice()).ok())
        .find(|m| {
            m.attributes.iter().any(|a| {
                matches!(a, AddressAttribute::Local(ip) | AddressAttribute::Address(ip) if *ip == addr)
            })
        })
        .map(|m| m.header.index);
    let Some(index) = index else {
        return Ok(None);
    };
    let links = nl
        .dump_payloads(
            codec::RTM_GETLINK,
            codec::RTM_NEWLINK,
            &LinkMessage::default(),
        )
        .map_err(err("list links"))?;
    Ok(links
        .iter()
        .filter_map(|p| LinkMessage::parse(p.as_slice()).ok())
        .find(|m| m.header.index == index)
        .and_then(|m| {
            m.attributes.iter().find_map(|a| match a {
                LinkAttribute::Mtu(v) => Some(*v),
                _ => None,
            })
        }))
}

/// The MTU of workload veths made from now on (0: the kernel's default, 1500).
static WORKLOAD_MTU: AtomicU32 = AtomicU32::new(0);

/// Sets the MTU that workload veths made from now on get (both ends; CNI and Docker):
/// the agent sets the smallest tunnel MTU in use, so that a container never sends a
/// packet the tunnel cannot carry. 0 restores the kernel's default. One setting per
/// process: the agent's, set once at start before any workload is attached.
pub fn set_workload_mtu(mtu: u32) {
    WORKLOAD_MTU.store(mtu, Ordering::Relaxed);
}

/// The MTU for a new workload veth, if one is set.
pub(crate) fn workload_mtu() -> Option<u32> {
    match WORKLOAD_MTU.load(Ordering::Relaxed) {
        0 => None,
        m => Some(m),
    }
}
