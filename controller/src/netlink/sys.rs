//! The few syscalls the netlink backend needs that `netlink-sys` does not wrap: forced
//! socket buffer sizes, a receive time-out, a socket filter, and setns(2). Each `unsafe`
//! block is one libc call on a file descriptor we own, with pointers to values that
//! outlive the call.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// One setsockopt(2) with `value` as the option, `T` the C type the option takes.
fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `fd` is an open socket owned by the caller; we pass a pointer to a `T` that
    // outlives the call and its exact size (the kernel copies it).
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Set the receive buffer to `bytes`, beyond `net.core.rmem_max` when we have
/// CAP_NET_ADMIN (SO_RCVBUFFORCE), else as large as the sysctl allows.
pub(crate) fn set_rcvbuf(sock: &impl AsRawFd, bytes: usize) -> io::Result<()> {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &v)
        .or_else(|_| setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, &v))
}

/// Same for the send buffer (it bounds the bytes of one batched send).
pub(crate) fn set_sndbuf(sock: &impl AsRawFd, bytes: usize) -> io::Result<()> {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &v)
        .or_else(|_| setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, &v))
}

/// A blocking receive returns EAGAIN after `timeout` instead of hanging forever.
pub(crate) fn set_rcv_timeout(sock: &impl AsRawFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
}

/// Makes the kernel drop, before they reach `sock`, the messages that answer requests of
/// netlink port `port` (their `nlmsg_pid` is that port): the route notifications of our
/// own changes, which would only wake the reader to confirm what it already knows.
/// Changes made by anyone else, and by the kernel itself (port 0), still arrive.
pub(crate) fn drop_echoes_of(sock: &impl AsRawFd, port: u32) -> io::Result<()> {
    // Classic BPF: load the word at offset 12 (nlmsghdr.nlmsg_pid); equal to `port`:
    // keep 0 octets (drop), else keep the whole message. Absolute loads read network
    // order, the header is in host order: compare with the port's octets read that way.
    let pid = u32::from_be_bytes(port.to_ne_bytes());
    let insn = |code: u32, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf,
        k,
    };
    let prog = [
        insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 12),
        insn(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 1, pid),
        insn(libc::BPF_RET | libc::BPF_K, 0, 0),
        insn(libc::BPF_RET | libc::BPF_K, 0, u32::MAX),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // The kernel copies the program (`fprog` and the array it points to) in the call.
    setsockopt(
        sock.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &fprog,
    )
}

/// Move the calling thread into the network namespace open at `fd` (setns(2) with
/// CLONE_NEWNET affects only this thread).
pub(crate) fn setns_net(fd: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: plain syscall on an fd owned by the caller.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
