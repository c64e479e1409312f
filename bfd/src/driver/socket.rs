//! The sockets of RFC 5881: listeners on UDP 3784 that report each packet's TTL / Hop
//! Limit and destination address (IP_RECVTTL / IPV6_RECVHOPLIMIT and PKTINFO control
//! messages), and per-session senders bound to a source port in 49152–65535 with
//! TTL / Hop Limit 255. Only moves bytes; all of it through `nix`, no `unsafe` here.

use std::io;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recvmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, MsgFlags,
    SockFlag, SockType, SockaddrIn, SockaddrIn6, SockaddrStorage,
};
use tokio::net::UdpSocket;

/// First and last source port a session may use (RFC 5881 §4).
pub const SOURCE_PORTS: (u16, u16) = (49152, 65535);

/// The TTL / Hop Limit single-hop BFD sends and insists on (RFC 5881 §5).
pub const TTL: u8 = 255;

/// One received datagram's envelope.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Received {
    /// Payload length in the caller's buffer.
    pub len: usize,
    /// Source address and port.
    pub from: SocketAddr,
    /// Destination address of the IP header (from PKTINFO), when the kernel said.
    pub local: Option<IpAddr>,
    /// Interface the packet came in on (0 when unknown).
    pub ifindex: u32,
    /// TTL / Hop Limit of the IP header, when the kernel said.
    pub ttl: Option<u8>,
}

fn io_err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn udp_socket(v6: bool) -> io::Result<OwnedFd> {
    let family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    socket(
        family,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io_err)
}

fn bind_to(fd: &OwnedFd, addr: SocketAddr) -> io::Result<()> {
    match addr {
        SocketAddr::V4(a) => bind(fd.as_raw_fd(), &SockaddrIn::from(a)),
        SocketAddr::V6(a) => bind(fd.as_raw_fd(), &SockaddrIn6::from(a)),
    }
    .map_err(io_err)
}

fn into_tokio(fd: OwnedFd) -> io::Result<UdpSocket> {
    UdpSocket::from_std(std::net::UdpSocket::from(fd))
}

/// A listener on `port` for one address family (IPv6 listeners are v6-only, so both
/// families can hold the port), reporting TTL and destination of each packet.
pub(crate) fn listener(v6: bool, port: u16) -> io::Result<UdpSocket> {
    let fd = udp_socket(v6)?;
    if v6 {
        setsockopt(&fd, sockopt::Ipv6V6Only, &true).map_err(io_err)?;
        setsockopt(&fd, sockopt::Ipv6RecvHopLimit, &true).map_err(io_err)?;
        setsockopt(&fd, sockopt::Ipv6RecvPacketInfo, &true).map_err(io_err)?;
        bind_to(
            &fd,
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)),
        )?;
    } else {
        setsockopt(&fd, sockopt::Ipv4RecvTtl, &true).map_err(io_err)?;
        setsockopt(&fd, sockopt::Ipv4PacketInfo, &true).map_err(io_err)?;
        bind_to(
            &fd,
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)),
        )?;
    }
    into_tokio(fd)
}

/// A sender bound to `local` and a free port of [`SOURCE_PORTS`], probing upwards from
/// `first` (wrapping), with TTL / Hop Limit 255. `scope` is the interface index for a
/// link-local IPv6 address. Returns the socket and its port.
pub(crate) fn sender(local: IpAddr, scope: u32, first: u16) -> io::Result<(UdpSocket, u16)> {
    let (lo, hi) = SOURCE_PORTS;
    let span = u32::from(hi - lo) + 1;
    let start = u32::from(first.clamp(lo, hi) - lo);
    for i in 0..span {
        let port = lo + ((start + i) % span) as u16;
        let fd = udp_socket(local.is_ipv6())?;
        let addr = match local {
            IpAddr::V4(a) => {
                setsockopt(&fd, sockopt::Ipv4Ttl, &i32::from(TTL)).map_err(io_err)?;
                SocketAddr::V4(SocketAddrV4::new(a, port))
            }
            IpAddr::V6(a) => {
                setsockopt(&fd, sockopt::Ipv6Ttl, &i32::from(TTL)).map_err(io_err)?;
                SocketAddr::V6(SocketAddrV6::new(a, port, 0, scope))
            }
        };
        match bind_to(&fd, addr) {
            Ok(()) => return Ok((into_tokio(fd)?, port)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free BFD source port in 49152-65535",
    ))
}

/// Reads one datagram without blocking (call when the socket is readable).
pub(crate) fn recv(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(
        libc::in6_pktinfo,
        libc::c_int,
        libc::in_pktinfo,
        libc::c_int
    );
    let msg = recvmsg::<SockaddrStorage>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io_err)?;
    let from = msg
        .address
        .and_then(|a| {
            if let Some(v4) = a.as_sockaddr_in() {
                Some(SocketAddr::from(*v4))
            } else {
                a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
            }
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram without source"))?;
    let mut got = Received {
        len: msg.bytes,
        from,
        local: None,
        ifindex: 0,
        ttl: None,
    };
    // A truncated control buffer only loses the envelope; the packet is then dropped for
    // its unknown TTL, which is the safe side.
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::Ipv4Ttl(t) => got.ttl = u8::try_from(t).ok(),
                ControlMessageOwned::Ipv6HopLimit(t) => got.ttl = u8::try_from(t).ok(),
                ControlMessageOwned::Ipv4PacketInfo(pi) => {
                    got.local = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr))));
                    got.ifindex = pi.ipi_ifindex as u32;
                }
                ControlMessageOwned::Ipv6PacketInfo(pi) => {
                    got.local = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)));
                    got.ifindex = pi.ipi6_ifindex;
                }
                _ => {}
            }
        }
    }
    Ok(got)
}
