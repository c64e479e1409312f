//! The few syscalls the netlink backend needs that `netlink-sys` does not wrap: forced
//! socket buffer sizes, a receive time-out, and setns(2). Each `unsafe` block is one libc
//! call on a file descriptor we own, with pointers to stack values that outlive the call.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `fd` is an open socket owned by the caller; we pass a pointer to a c_int on
    // our stack and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
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
    setsockopt_int(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v)
        .or_else(|_| setsockopt_int(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, v))
}

/// Same for the send buffer (it bounds the bytes of one batched send).
pub(crate) fn set_sndbuf(sock: &impl AsRawFd, bytes: usize) -> io::Result<()> {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    setsockopt_int(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, v)
        .or_else(|_| setsockopt_int(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, v))
}

/// A blocking receive returns EAGAIN after `timeout` instead of hanging forever.
pub(crate) fn set_rcv_timeout(sock: &impl AsRawFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: as above, with a timeval on our stack.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
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
