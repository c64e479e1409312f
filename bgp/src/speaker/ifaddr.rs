//! Interface addresses of this host (network namespace): which interface holds a
//! session's local address, that address's prefix, and the interface's IPv6
//! link-local address.
//!
//! The speaker needs them for next hops: RFC 2545 §3 sends our link-local address as
//! the second MP_REACH next hop to a peer that shares a subnet with us, and RFC 4271
//! §5.1.3 (2) keeps a third-party next hop toward an eBGP peer on the same subnet.
//! The addresses come from getifaddrs(3) (one small `unsafe` wrapper), which reads the
//! calling thread's network namespace over netlink; the lookup itself
//! ([`local_link`]) is a pure function over the list.

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// One address of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    /// Interface name (`eth0`).
    pub interface: String,
    /// The address with its prefix length (`192.0.2.1/24`).
    pub net: IpNet,
}

/// What the speaker learns about the link a session runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalLink {
    /// The interface holding the session's local address.
    pub interface: String,
    /// The local address with its prefix length.
    pub net: IpNet,
    /// The interface's IPv6 link-local address (`fe80::/10`), if it has one.
    pub link_local: Option<Ipv6Addr>,
    /// The interface's first IPv4 address (the next hop for IPv4 routes sent over an
    /// IPv6 session).
    pub ipv4: Option<Ipv4Addr>,
    /// The interface's first global IPv6 address (the next hop for IPv6 routes sent
    /// over an IPv4 session).
    pub global_ipv6: Option<Ipv6Addr>,
    /// Every prefix configured on that interface (IPv4 and IPv6, link-local excluded),
    /// truncated to the network address.
    pub prefixes: Vec<IpNet>,
}

impl LocalLink {
    /// The peer shares a subnet with us on this interface (one of its prefixes
    /// contains `peer`, or both are link-local on it).
    pub fn shares_subnet(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        if let IpAddr::V6(p) = peer {
            if is_link_local(p) {
                return self.link_local.is_some();
            }
        }
        self.prefixes.iter().any(|n| n.contains(&peer))
    }
}

/// Finds the interface that holds `local` in `addrs` and describes its link. `None`
/// when no interface has that address (e.g. a loopback-sourced multihop session
/// still finds `lo`; an unknown address finds nothing).
pub fn local_link(addrs: &[IfAddr], local: IpAddr) -> Option<LocalLink> {
    let local = local.to_canonical();
    let own = addrs.iter().find(|a| a.net.addr() == local)?;
    let on_if = || addrs.iter().filter(|a| a.interface == own.interface);
    let link_local = on_if().find_map(|a| match a.net.addr() {
        IpAddr::V6(v6) if is_link_local(v6) => Some(v6),
        _ => None,
    });
    let ipv4 = on_if().find_map(|a| match a.net.addr() {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    });
    let global_ipv6 = on_if().find_map(|a| match a.net.addr() {
        IpAddr::V6(v6) if !is_link_local(v6) => Some(v6),
        _ => None,
    });
    let mut prefixes: Vec<IpNet> = on_if()
        .filter(|a| !matches!(a.net.addr(), IpAddr::V6(v6) if is_link_local(v6)))
        .map(|a| a.net.trunc())
        .collect();
    prefixes.sort();
    prefixes.dedup();
    Some(LocalLink {
        interface: own.interface.clone(),
        net: own.net,
        link_local,
        ipv4,
        global_ipv6,
        prefixes,
    })
}

/// Looks up `local` among this namespace's interface addresses.
pub fn lookup(local: IpAddr) -> io::Result<Option<LocalLink>> {
    Ok(local_link(&interface_addresses()?, local))
}

fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// Every IPv4 and IPv6 address of every interface, from getifaddrs(3).
pub fn interface_addresses() -> io::Result<Vec<IfAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a pointer to a list it allocated into `head`; on
    // success we walk it read-only (each node's pointers are null or point into that
    // list, valid until freeifaddrs) and free it exactly once below.
    let mut out = Vec::new();
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut cur = head;
        while let Some(ifa) = cur.as_ref() {
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            let (Some(addr), Some(mask)) =
                (sockaddr_ip(ifa.ifa_addr), sockaddr_ip(ifa.ifa_netmask))
            else {
                continue;
            };
            let name = CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned();
            let len = mask_len(mask);
            if let Ok(net) = IpNet::new(addr, len) {
                out.push(IfAddr {
                    interface: name,
                    net,
                });
            }
        }
        libc::freeifaddrs(head);
    }
    Ok(out)
}

/// The IP address in a `sockaddr` of family AF_INET or AF_INET6.
///
/// # Safety
/// `sa` is null or points to a sockaddr of the size its family says (as getifaddrs
/// hands out).
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    let family = i32::from(sa.as_ref()?.sa_family);
    match family {
        libc::AF_INET => {
            let sin = &*(sa as *const libc::sockaddr_in);
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            let sin6 = &*(sa as *const libc::sockaddr_in6);
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// Prefix length of a netmask (its leading one bits).
fn mask_len(mask: IpAddr) -> u8 {
    match mask {
        IpAddr::V4(m) => u32::from(m).leading_ones() as u8,
        IpAddr::V6(m) => u128::from(m).leading_ones() as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(interface: &str, net: &str) -> IfAddr {
        IfAddr {
            interface: interface.into(),
            net: net.parse().unwrap(),
        }
    }

    fn table() -> Vec<IfAddr> {
        vec![
            a("lo", "127.0.0.1/8"),
            a("lo", "::1/128"),
            a("eth0", "192.168.100.2/24"),
            a("eth0", "fd00:1::1/64"),
            a("eth0", "fe80::1c2b:3ff:fe44:5566/64"),
            a("eth1", "10.0.0.1/30"),
            a("eth1", "fe80::99/64"),
        ]
    }

    #[test]
    fn ipv6_local_address_finds_interface_link_local_and_prefixes() {
        let l = local_link(&table(), "fd00:1::1".parse().unwrap()).unwrap();
        assert_eq!(l.interface, "eth0");
        assert_eq!(l.net, "fd00:1::1/64".parse::<IpNet>().unwrap());
        assert_eq!(
            l.link_local,
            Some("fe80::1c2b:3ff:fe44:5566".parse().unwrap())
        );
        assert_eq!(l.ipv4, Some("192.168.100.2".parse().unwrap()));
        assert_eq!(l.global_ipv6, Some("fd00:1::1".parse().unwrap()));
        assert_eq!(
            l.prefixes,
            ["192.168.100.0/24", "fd00:1::/64"]
                .map(|p| p.parse::<IpNet>().unwrap())
                .to_vec()
        );
        assert!(l.shares_subnet("fd00:1::2".parse().unwrap()));
        assert!(l.shares_subnet("192.168.100.1".parse().unwrap()));
        assert!(!l.shares_subnet("fd00:2::2".parse().unwrap()));
        assert!(!l.shares_subnet("10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn ipv4_mapped_local_address_is_folded() {
        let l = local_link(&table(), "::ffff:10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(l.interface, "eth1");
        assert_eq!(l.link_local, Some("fe80::99".parse().unwrap()));
        assert_eq!(l.ipv4, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(l.global_ipv6, None);
        assert!(l.shares_subnet("10.0.0.2".parse().unwrap()));
        assert!(!l.shares_subnet("10.0.0.5".parse().unwrap()));
    }

    #[test]
    fn unknown_address_and_interface_without_link_local() {
        assert_eq!(local_link(&table(), "192.0.2.9".parse().unwrap()), None);
        let l = local_link(&table(), "127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(l.link_local, None);
        assert!(!l.shares_subnet("fe80::5".parse().unwrap()));
    }

    #[test]
    fn mask_lengths() {
        assert_eq!(mask_len("255.255.255.0".parse().unwrap()), 24);
        assert_eq!(mask_len("255.255.255.255".parse().unwrap()), 32);
        assert_eq!(mask_len("0.0.0.0".parse().unwrap()), 0);
        assert_eq!(mask_len("ffff:ffff:ffff:ffff::".parse().unwrap()), 64);
    }

    #[test]
    fn this_namespace_has_loopback() {
        // Every namespace (also a fresh test one) has `lo` with 127.0.0.1/8 once up;
        // the CI runner's namespace is up.
        let all = interface_addresses().unwrap();
        assert!(
            all.iter()
                .any(|a| a.interface == "lo" && a.net == "127.0.0.1/8".parse::<IpNet>().unwrap()),
            "{all:?}"
        );
    }
}
