//! Host side of a workload's veth, the Calico way: the container's default route points at
//! a link-local gateway (169.254.1.1, fe80::1) and the host answers for it — proxy ARP for
//! IPv4, proxy NDP (a proxy neighbour entry for fe80::1) for IPv6 — then routes the packets
//! (forwarding on). tern installs `IP/32 dev VETH scope link` for the way back.
//!
//! Settings are written under `/proc/sys/net/...` of the namespace the writing thread is in:
//! the current one (the agent under `ip netns exec` sees that namespace's /proc/sys/net),
//! or a named one via [`crate::netns::run_in`].
//!
//! Proxy ARP answers only for addresses the host has a route to through *another*
//! interface; with 169.254.1.1 that is normally the host's default route. A host without a
//! default route needs some route covering 169.254.1.1 (not via the veth).

use std::io;
use std::net::Ipv6Addr;

use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourHeader, NeighbourMessage,
    NeighbourState,
};
use rtnetlink::packet_route::AddressFamily;

use crate::netlink::codec;
use crate::netlink::NetlinkTable;
use crate::netns;
use crate::route::TableConfig;
use crate::table::TableError;

/// The IPv4 gateway address workloads use (Calico's).
pub const GATEWAY_V4: &str = "169.254.1.1";
/// The IPv6 gateway address workloads use.
pub const GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// Why a workload interface could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// Not a valid interface name (1–15 bytes, no '/', not "." or "..").
    #[error("bad interface name {0:?}")]
    BadName(String),
    /// Writing a sysctl failed (interface missing, no permission ...).
    #[error("{path}: {source}")]
    Sysctl {
        /// The /proc/sys path.
        path: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The interface does not exist.
    #[error("interface {0} not found")]
    NoInterface(String),
    /// Netlink failed.
    #[error(transparent)]
    Netlink(#[from] TableError),
    /// The network namespace could not be entered.
    #[error("network namespace: {0}")]
    Netns(io::Error),
}

/// What [`configure_workload_interface`] did for IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Setup {
    /// proxy_ndp, forwarding and the proxy entry for fe80::1 are in place.
    ProxyNdp,
    /// IPv6 is disabled on the host (no /proc/sys/net/ipv6): nothing done.
    Disabled,
}

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && !name.contains('/')
        && name != "."
        && name != ".."
        && !name.contains(char::is_whitespace)
}

fn write(path: &str, value: &str) -> Result<(), WorkloadError> {
    std::fs::write(path, value).map_err(|source| WorkloadError::Sysctl {
        path: path.to_string(),
        source,
    })
}

fn sysctls(ifname: &str) -> Result<bool, WorkloadError> {
    write(&format!("/proc/sys/net/ipv4/conf/{ifname}/proxy_arp"), "1")?;
    write(&format!("/proc/sys/net/ipv4/conf/{ifname}/forwarding"), "1")?;
    write(
        &format!("/proc/sys/net/ipv4/neigh/{ifname}/proxy_delay"),
        "0",
    )?;
    if !std::path::Path::new("/proc/sys/net/ipv6/conf").exists() {
        return Ok(false);
    }
    write(&format!("/proc/sys/net/ipv6/conf/{ifname}/accept_ra"), "0")?;
    write(&format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"), "1")?;
    write(&format!("/proc/sys/net/ipv6/conf/{ifname}/proxy_ndp"), "1")?;
    write(
        &format!("/proc/sys/net/ipv6/neigh/{ifname}/proxy_delay"),
        "0",
    )?;
    Ok(true)
}

/// Prepare the host side of a workload veth in namespace `netns` (None = current):
/// proxy ARP + forwarding for IPv4 (proxy_delay 0), and for IPv6 forwarding, proxy_ndp
/// (accept_ra 0, proxy_delay 0) plus a proxy neighbour entry for fe80::1 — like
/// `ip -6 neigh replace proxy fe80::1 dev IF`. Idempotent.
pub fn configure_workload_interface(
    ifname: &str,
    netns: Option<&str>,
) -> Result<Ipv6Setup, WorkloadError> {
    if !valid_ifname(ifname) {
        return Err(WorkloadError::BadName(ifname.to_string()));
    }
    let name = ifname.to_string();
    let v6 = netns::run_in_opt(netns, move || sysctls(&name)).map_err(WorkloadError::Netns)??;
    if !v6 {
        return Ok(Ipv6Setup::Disabled);
    }
    let mut nl = NetlinkTable::open(TableConfig::default(), netns, false)?;
    let index = nl
        .ifindex(ifname)?
        .ok_or_else(|| WorkloadError::NoInterface(ifname.to_string()))?;
    let mut m = NeighbourMessage::default();
    m.header = NeighbourHeader {
        family: AddressFamily::Inet6,
        ifindex: index,
        state: NeighbourState::Permanent,
        flags: NeighbourFlags::Proxy,
        ..Default::default()
    };
    m.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet6(
            GATEWAY_V6,
        )));
    nl.request(
        codec::RTM_NEWNEIGH,
        codec::NLM_F_CREATE | codec::NLM_F_REPLACE,
        &m,
    )?;
    Ok(Ipv6Setup::ProxyNdp)
}
