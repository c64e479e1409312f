//! Network namespaces for tests and tools: run a closure inside a named namespace
//! (`/run/netns/NAME`, as made by `ip netns add`) on a short-lived thread, so the caller's
//! own namespace never changes. Netlink sockets created there stay bound to that namespace
//! for their whole life, wherever they are used afterwards; `/proc/sys/net` opened there is
//! that namespace's.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::netlink::sys::setns_net;

/// Where `ip netns` keeps its namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Run `f` on a new thread that first joins the network namespace `name`; returns `f`'s
/// result. Errors if the namespace cannot be opened or joined (needs CAP_SYS_ADMIN).
pub fn run_in<R, F>(name: &str, f: F) -> io::Result<R>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad network namespace name {name:?}"),
        ));
    }
    run_in_path(&Path::new(NETNS_RUN_DIR).join(name), f)
}

/// Run `f` on a new thread that first joins the network namespace at `path` (a bind
/// mount such as `/run/netns/NAME` or `/var/run/netns/cni-…`, or `/proc/PID/ns/net`, as a
/// container runtime passes in `CNI_NETNS`).
pub fn run_in_path<R, F>(path: &Path, f: F) -> io::Result<R>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    let ns = File::open(path)?;
    let t = std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || -> io::Result<R> {
            setns_net(&ns)?;
            Ok(f())
        })?;
    t.join()
        .map_err(|_| io::Error::other("thread inside the network namespace panicked"))?
}

/// Run `f` in namespace `name`, or right here when `name` is `None` (current namespace).
pub fn run_in_opt<R, F>(name: Option<&str>, f: F) -> io::Result<R>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    match name {
        Some(n) => run_in(n, f),
        None => Ok(f()),
    }
}
