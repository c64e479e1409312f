//! Per-peer bookkeeping for `tern status PEER`: messages by type in each direction and
//! the recent errors with the time each was first seen. Kept by the owner task beside
//! its other counters; copied into [`super::PeerStatus`].

use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

use crate::wire::Message;

/// Errors kept per peer (older ones are dropped).
pub const ERRORS_KEPT: usize = 8;

/// Messages by type (RFC 4271 §4.1 type codes, RFC 2918 ROUTE-REFRESH).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// OPEN.
    pub open: u64,
    /// UPDATE.
    pub update: u64,
    /// NOTIFICATION.
    pub notification: u64,
    /// KEEPALIVE.
    pub keepalive: u64,
    /// ROUTE-REFRESH.
    pub route_refresh: u64,
}

impl MessageCounts {
    fn count(&mut self, m: &Message, n: u64) {
        let slot = match m {
            Message::Open(_) => &mut self.open,
            Message::Update(_) => &mut self.update,
            Message::Notification(_) => &mut self.notification,
            Message::Keepalive => &mut self.keepalive,
            Message::RouteRefresh(_) => &mut self.route_refresh,
        };
        *slot += n;
    }
}

/// One error of a peer's session and when it was first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerError {
    /// Wall-clock time.
    pub at: SystemTime,
    /// The session's description of it (as `last_error`).
    pub message: String,
}

/// What the owner keeps per peer.
#[derive(Debug, Default)]
pub struct PeerLog {
    /// Received, by type.
    pub received: MessageCounts,
    /// Sent, by type.
    pub sent: MessageCounts,
    errors: VecDeque<PeerError>,
    last_seen: Option<String>,
}

impl PeerLog {
    /// Counts a received message.
    pub fn received(&mut self, m: &Message) {
        self.received.count(m, 1);
    }

    /// Counts `n` received UPDATEs.
    pub fn received_updates(&mut self, n: u64) {
        self.received.update += n;
    }

    /// Counts `n` sent messages like `m`.
    pub fn sent(&mut self, m: &Message, n: u64) {
        self.sent.count(m, n);
    }

    /// Counts `n` sent UPDATEs.
    pub fn sent_updates(&mut self, n: u64) {
        self.sent.update += n;
    }

    /// Records the session's last error if it changed since the last call; `epoch` turns
    /// `now` into wall-clock time.
    pub fn note_error(&mut self, last: Option<&str>, now: Instant, epoch: (Instant, SystemTime)) {
        let Some(e) = last else {
            self.last_seen = None;
            return;
        };
        if self.last_seen.as_deref() == Some(e) {
            return;
        }
        self.last_seen = Some(e.to_owned());
        let at = epoch
            .1
            .checked_add(now.saturating_duration_since(epoch.0))
            .unwrap_or(epoch.1);
        if self.errors.len() == ERRORS_KEPT {
            self.errors.pop_front();
        }
        self.errors.push_back(PeerError {
            at,
            message: e.to_owned(),
        });
    }

    /// The recent errors, oldest first.
    pub fn errors(&self) -> Vec<PeerError> {
        self.errors.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn errors_are_kept_once_each_with_their_time() {
        let t0 = Instant::now();
        let epoch = (t0, SystemTime::UNIX_EPOCH + Duration::from_secs(1_000));
        let mut log = PeerLog::default();
        log.note_error(None, t0, epoch);
        log.note_error(
            Some("connection refused"),
            t0 + Duration::from_secs(1),
            epoch,
        );
        log.note_error(
            Some("connection refused"),
            t0 + Duration::from_secs(2),
            epoch,
        );
        log.note_error(None, t0 + Duration::from_secs(3), epoch);
        log.note_error(
            Some("hold timer expired"),
            t0 + Duration::from_secs(4),
            epoch,
        );
        let e = log.errors();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].message, "connection refused");
        assert_eq!(e[0].at, epoch.1 + Duration::from_secs(1));
        assert_eq!(e[1].at, epoch.1 + Duration::from_secs(4));
        for i in 0..20 {
            log.note_error(Some(&format!("e{i}")), t0, epoch);
        }
        assert_eq!(log.errors().len(), ERRORS_KEPT);
        assert_eq!(log.errors().last().unwrap().message, "e19");
    }

    #[test]
    fn messages_by_type() {
        let mut log = PeerLog::default();
        log.received(&Message::Keepalive);
        log.received(&Message::Keepalive);
        log.sent(&Message::Keepalive, 1);
        log.sent_updates(3);
        assert_eq!(log.received.keepalive, 2);
        assert_eq!(log.sent.keepalive, 1);
        assert_eq!(log.sent.update, 3);
    }
}
