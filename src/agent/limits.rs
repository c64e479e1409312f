//! Resource bounds of the agent's local servers (the `/metrics` endpoint and the control
//! socket): a cap on concurrent connections per server, and the process's open-file limit
//! raised at start so that BGP sessions and netlink never compete with scrapers or
//! status clients for the last file descriptors.
//!
//! With both servers bounded (at most `metrics::MAX_CONNECTIONS` +
//! `control::MAX_CONNECTIONS` descriptors, each held only for the servers' time-outs),
//! the rest of the limit belongs to the peers, the kernel sockets and the policy tools.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// At most `max` connections at once for one server; refusals are counted and logged at
/// most once per [`REFUSAL_LOG_INTERVAL`] with the number since the last line.
#[derive(Debug)]
pub struct ConnLimit {
    name: &'static str,
    max: usize,
    permits: Arc<Semaphore>,
    refused: AtomicU64,
    log: std::sync::Mutex<Option<Instant>>,
}

/// How often a busy server says so in the log.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(30);

impl ConnLimit {
    /// A bound of `max` connections for the server called `name` (in logs).
    pub fn new(name: &'static str, max: usize) -> ConnLimit {
        ConnLimit {
            name,
            max,
            permits: Arc::new(Semaphore::new(max)),
            refused: AtomicU64::new(0),
            log: std::sync::Mutex::new(None),
        }
    }

    /// A permit for one more connection (held for its life), or `None` when `max` are
    /// open: the caller closes the new connection at once.
    pub fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        match self.permits.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
                self.log_refusal(n);
                None
            }
        }
    }

    /// Connections refused since the start.
    #[cfg(test)]
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn log_refusal(&self, total: u64) {
        let Ok(mut last) = self.log.lock() else {
            return;
        };
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < REFUSAL_LOG_INTERVAL) {
            return;
        }
        *last = Some(now);
        tracing::warn!(
            refused_total = total,
            "{}: {} connections open, refusing more",
            self.name,
            self.max
        );
    }
}

/// Raises the soft limit on open files to the hard limit (the agent holds a socket per
/// peer, netlink sockets, pipes to nft/iptables; the local servers are bounded apart).
/// Returns the (old, new) soft limits, or `None` when they could not be read or changed.
pub fn raise_nofile_limit() -> Option<(libc::rlim_t, libc::rlim_t)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; RLIMIT_NOFILE is a valid resource.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    let old = lim.rlim_cur;
    if lim.rlim_cur >= lim.rlim_max {
        return Some((old, old));
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads the struct we own; raising soft up to hard needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return None;
    }
    Some((old, lim.rlim_cur))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_bounded_and_come_back() {
        let l = ConnLimit::new("test", 2);
        let a = l.try_admit().expect("first");
        let _b = l.try_admit().expect("second");
        assert!(l.try_admit().is_none());
        assert!(l.try_admit().is_none());
        assert_eq!(l.refused(), 2);
        drop(a);
        assert!(l.try_admit().is_some());
    }
}
