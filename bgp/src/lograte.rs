//! Rate-limited log lines per source address: an address that keeps doing the same thing
//! (connecting to the BGP port without being a configured peer) is logged once, then at
//! most once per window with the number of attempts since its last line. The table of
//! sources is bounded; beyond it attempts are counted together.
//!
//! [`LogLimiter`] is plain data with `now` passed in (tested without sleeping);
//! [`unknown_peer`] is the speaker's call site, backed by one process-wide limiter.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What to do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it (first from this source, or first after a quiet window).
    Log,
    /// Log it with the number of events from this source not logged since its last line.
    LogWithSuppressed(u64),
    /// Do not log; it is counted.
    Suppress,
    /// The table is full: log a line for all untracked sources with this many events.
    LogOverflow(u64),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    logged: Instant,
    suppressed: u64,
}

/// Per-source log limiter.
#[derive(Debug)]
pub struct LogLimiter {
    window: Duration,
    max_sources: usize,
    sources: HashMap<IpAddr, Entry>,
    overflow: u64,
    overflow_logged: Option<Instant>,
}

impl LogLimiter {
    /// At most one line per source per `window`, `max_sources` sources tracked.
    pub fn new(window: Duration, max_sources: usize) -> LogLimiter {
        LogLimiter {
            window,
            max_sources: max_sources.max(1),
            sources: HashMap::new(),
            overflow: 0,
            overflow_logged: None,
        }
    }

    /// Notes one event from `src` at `now`.
    pub fn note(&mut self, src: IpAddr, now: Instant) -> Verdict {
        let window = self.window;
        if let Some(e) = self.sources.get_mut(&src) {
            if now.saturating_duration_since(e.logged) < window {
                e.suppressed += 1;
                return Verdict::Suppress;
            }
            let n = std::mem::take(&mut e.suppressed);
            e.logged = now;
            return if n == 0 {
                Verdict::Log
            } else {
                Verdict::LogWithSuppressed(n)
            };
        }
        if self.sources.len() >= self.max_sources {
            // Forget quiet sources (their suppressed counts were below one per window).
            self.sources
                .retain(|_, e| now.saturating_duration_since(e.logged) < window);
        }
        if self.sources.len() >= self.max_sources {
            self.overflow += 1;
            let due = self
                .overflow_logged
                .is_none_or(|t| now.saturating_duration_since(t) >= window);
            if due {
                self.overflow_logged = Some(now);
                return Verdict::LogOverflow(std::mem::take(&mut self.overflow));
            }
            return Verdict::Suppress;
        }
        self.sources.insert(
            src,
            Entry {
                logged: now,
                suppressed: 0,
            },
        );
        Verdict::Log
    }

    /// Sources tracked.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }
}

/// Window of [`unknown_peer`]'s lines.
pub const UNKNOWN_PEER_WINDOW: Duration = Duration::from_secs(60);
/// Sources [`unknown_peer`] tracks.
pub const UNKNOWN_PEER_SOURCES: usize = 4096;

static UNKNOWN_PEERS: Mutex<Option<LogLimiter>> = Mutex::new(None);

/// Logs (rate-limited per source) that a connection from `remote`, which is not a
/// configured peer, was closed.
pub fn unknown_peer(remote: SocketAddr) {
    let verdict = match UNKNOWN_PEERS.lock() {
        Ok(mut l) => l
            .get_or_insert_with(|| LogLimiter::new(UNKNOWN_PEER_WINDOW, UNKNOWN_PEER_SOURCES))
            .note(remote.ip(), Instant::now()),
        Err(_) => Verdict::Log,
    };
    let what = "closing connection from an address that is not a configured peer";
    match verdict {
        Verdict::Log => tracing::info!(remote = %remote, "{what}"),
        Verdict::LogWithSuppressed(n) => tracing::info!(
            remote = %remote,
            "{what} ({n} more from {} in the last {} s not logged)",
            remote.ip(),
            UNKNOWN_PEER_WINDOW.as_secs()
        ),
        Verdict::LogOverflow(n) => tracing::info!(
            "{what}: {n} connections from untracked addresses (more than {UNKNOWN_PEER_SOURCES} sources)"
        ),
        Verdict::Suppress => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn once_then_a_count_per_window() {
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        let mut l = LogLimiter::new(w, 16);
        let a = ip("192.0.2.66");
        assert_eq!(l.note(a, t0), Verdict::Log);
        for i in 1..=1000 {
            assert_eq!(
                l.note(a, t0 + Duration::from_millis(i * 10)),
                Verdict::Suppress
            );
        }
        // Another source is logged on its own.
        assert_eq!(l.note(ip("192.0.2.67"), t0), Verdict::Log);
        assert_eq!(l.note(a, t0 + w), Verdict::LogWithSuppressed(1000));
        assert_eq!(
            l.note(a, t0 + w + Duration::from_secs(1)),
            Verdict::Suppress
        );
        // Quiet for a window: a plain line again.
        assert_eq!(l.note(a, t0 + w * 3), Verdict::LogWithSuppressed(1));
        assert_eq!(l.note(a, t0 + w * 5), Verdict::Log);
    }

    #[test]
    fn the_table_is_bounded() {
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        let mut l = LogLimiter::new(w, 4);
        let mut logged = 0;
        for i in 0..10_000u32 {
            let src = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            match l.note(src, t0 + Duration::from_millis(u64::from(i))) {
                Verdict::Suppress => {}
                _ => logged += 1,
            }
        }
        assert!(l.tracked() <= 4);
        // Four sources, one overflow line (all within one window).
        assert_eq!(logged, 5);
        // After the window the tracked ones are forgotten and new ones are logged.
        assert_eq!(l.note(ip("198.51.100.1"), t0 + w * 2), Verdict::Log);
    }
}
