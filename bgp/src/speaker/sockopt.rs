//! Socket options the BGP driver needs that std and tokio do not expose: TCP-MD5
//! signatures (RFC 2385), GTSM (RFC 5082) and the saved SYN (to check the TTL of an
//! incoming connection's first packet). Small commented `unsafe` wrappers around
//! setsockopt(2)/getsockopt(2); nothing else in the crate is unsafe.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

/// Longest TCP-MD5 key the kernel accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` from `<linux/tcp.h>` (not in the libc crate).
#[repr(C)]
struct TcpMd5Sig {
    tcpm_addr: libc::sockaddr_storage,
    tcpm_flags: u8,
    tcpm_prefixlen: u8,
    tcpm_keylen: u16,
    tcpm_ifindex: libc::c_int,
    tcpm_key: [u8; MD5_MAX_KEY_LEN],
}

fn setsockopt<T>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option too large"))?;
    // SAFETY: `value` points to a live, initialised `T` of `len` bytes for the duration
    // of the call; the kernel only reads it. The fd is borrowed from an open socket.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Writes `addr` into a `sockaddr_storage`. With `v6_socket`, IPv4 addresses are
/// written v4-mapped (what an IPv6 socket sees of an IPv4 peer).
fn sockaddr(addr: IpAddr, v6_socket: bool) -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let addr = match (addr, v6_socket) {
        (IpAddr::V4(a), true) => IpAddr::V6(a.to_ipv6_mapped()),
        (a, _) => a,
    };
    match addr {
        IpAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for
            // sockaddr_in; we write one whole value at its start.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
        }
        IpAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
        }
    }
    ss
}

/// Sets (or with `None` removes) the TCP-MD5 key for segments to/from `peer` on a
/// listening or connecting socket (RFC 2385). `v6_socket`: the socket is AF_INET6.
pub fn set_md5(
    fd: &impl AsRawFd,
    peer: IpAddr,
    v6_socket: bool,
    key: Option<&[u8]>,
) -> io::Result<()> {
    let key = key.unwrap_or_default();
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TCP-MD5 key longer than {MD5_MAX_KEY_LEN} octets"),
        ));
    }
    let mut sig = TcpMd5Sig {
        tcpm_addr: sockaddr(peer, v6_socket),
        tcpm_flags: 0,
        tcpm_prefixlen: 0,
        tcpm_keylen: key.len() as u16,
        tcpm_ifindex: 0,
        tcpm_key: [0; MD5_MAX_KEY_LEN],
    };
    if let Some(dst) = sig.tcpm_key.get_mut(..key.len()) {
        dst.copy_from_slice(key);
    }
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig)
}

/// GTSM (RFC 5082): send with TTL / hop limit 255 and drop segments that arrive with
/// less than `256 - hops` (the peer is at most `hops` hops away).
pub fn set_gtsm(fd: &impl AsRawFd, v6_socket: bool, hops: u8) -> io::Result<()> {
    let ttl: libc::c_int = 255;
    let min: libc::c_int = 256 - libc::c_int::from(hops.max(1));
    if v6_socket {
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &ttl)?;
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &min)?;
        // IPv4 peers on a dual-stack socket: the IPv4 options apply to them; an
        // AF_INET6 socket may refuse them, which only matters for mapped peers.
        let _ = setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &ttl);
        let _ = setsockopt(fd, libc::IPPROTO_IP, libc::IP_MINTTL, &min);
        Ok(())
    } else {
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &ttl)?;
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_MINTTL, &min)
    }
}

/// Keeps the SYN of each incoming connection (`TCP_SAVE_SYN`, Linux 4.2+) so that
/// [`syn_ttl`] can check GTSM on the listener's connections: a listener serves peers
/// with different hop limits, so it cannot carry one `IP_MINTTL` itself.
pub fn save_syn(fd: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_SAVE_SYN, &on)
}

/// The TTL (IPv4) or hop limit (IPv6) of the SYN that opened an accepted connection,
/// from `TCP_SAVED_SYN` (readable once). `None` when no SYN was saved.
pub fn syn_ttl(fd: &impl AsRawFd) -> io::Result<Option<u8>> {
    let mut buf = [0u8; 512];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is writable for `len` bytes and `len` is a valid in/out length;
    // the kernel writes at most `len` bytes and stores the real length in `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_SAVED_SYN,
            buf.as_mut_ptr().cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let header = buf.get(..len as usize).unwrap_or_default();
    // The saved bytes start with the network header: TTL at offset 8 in IPv4, hop
    // limit at offset 7 in IPv6.
    Ok(match header.first().map(|b| b >> 4) {
        Some(4) => header.get(8).copied(),
        Some(6) => header.get(7).copied(),
        _ => None,
    })
}
