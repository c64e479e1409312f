//! The tokio driver: the only part of `bgp` that touches sockets and the clock.
//!
//! [`Speaker::start`] binds the listener, spawns one *owner task* that holds every
//! [`crate::session::Session`] and the [`crate::rib::Rib`], and returns a
//! [`SpeakerHandle`] (queries and commands over a channel) plus [`RouteChanges`], the
//! consumer end of the best-path changes for the kernel: they stay coalesced in the
//! RIB and the consumer pulls them in bounded batches when it is ready (the owner only
//! signals "changes pending"), so a slow kernel never makes changes pile up in a queue.
//! Readers hand decoded messages over in batches within a shared budget of wire octets
//! (512 KiB), so a fast peer fills its TCP window, not the speaker's heap. Per TCP connection a reader task frames and decodes
//! messages in batches and a writer task encodes batches into one buffer per write (a
//! small batch for an idle writer is written by the owner task itself); neither holds
//! protocol state. TCP-MD5 (RFC 2385) and GTSM (RFC 5082) are socket
//! options set by a small wrapper (`sockopt`).
//!
//! Connections from addresses that are not configured peers are closed at accept; a
//! configured peer whose session is administratively down gets Cease / Connection
//! Rejected. [`SpeakerHandle::shutdown`] ends every session with Cease /
//! Administrative Shutdown and a shutdown communication (RFC 8203);
//! [`SpeakerHandle::shutdown_graceful`] closes sessions with graceful-restart peers
//! without a NOTIFICATION instead, so they keep our routes while we restart (RFC 4724).
//! A peer's own restart keeps its routes as stale in the RIB (no FIB change) until its
//! End-of-RIB or a timer ([`crate::session::graceful`]); [`PeerStatus::stale_paths`].
//!
//! On Established the session's local address is looked up among the interface
//! addresses (`ifaddr`): toward a peer on a shared subnet our MP_REACH next hop carries
//! the interface's link-local address too (RFC 2545 §3), and learned routes whose next
//! hop lies in a shared subnet keep it toward eBGP peers (third-party next hop, RFC 4271
//! §5.1.3 (2)).

mod config;
mod conn;
mod handle;
mod ifaddr;
mod owner;
mod peer_log;
mod reader;
mod sockopt;
mod writer;

pub use config::{PeerConfig, PeerKind, SpeakerConfig};
pub use handle::{PeerStatus, RouteChanges, RouteSink, Speaker, SpeakerError, SpeakerHandle};
pub use ifaddr::{interface_addresses, IfAddr};
pub use owner::PeerDiff;
pub use peer_log::{MessageCounts, PeerError};

/// `list` sorted, without duplicates (the form [`sorted_diff`] takes).
pub fn sorted_set<T: Ord>(mut list: Vec<T>) -> Vec<T> {
    list.sort_unstable();
    list.dedup();
    list
}

/// What is in `new` and not in `old`, and what is in `old` and not in `new` (both sorted
/// and without duplicates), each in order: a reloaded prefix list against the last one
/// (the speaker's originated prefixes, the agent's blackholed blocks).
pub fn sorted_diff<T: Ord + Copy>(old: &[T], new: &[T]) -> (Vec<T>, Vec<T>) {
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let (mut o, mut n) = (old.iter().peekable(), new.iter().peekable());
    loop {
        match (o.peek(), n.peek()) {
            (Some(a), Some(b)) if a == b => {
                o.next();
                n.next();
            }
            (Some(a), Some(b)) if a < b => removed.extend(o.next().copied()),
            (_, Some(_)) => added.extend(n.next().copied()),
            (Some(_), None) => removed.extend(o.next().copied()),
            (None, None) => return (added, removed),
        }
    }
}

#[cfg(test)]
mod diff_tests {
    use ipnet::IpNet;

    use super::sorted_diff;

    #[test]
    fn sorted_diff_names_what_was_added_and_removed_in_order() {
        let l = |v: &[&str]| {
            v.iter()
                .map(|s| s.parse().expect("a prefix"))
                .collect::<Vec<IpNet>>()
        };
        let old = l(&["10.0.0.0/26", "10.0.0.64/26", "10.0.1.0/26", "10.0.3.0/26"]);
        let new = l(&["10.0.0.0/26", "10.0.0.128/26", "10.0.1.0/26", "10.0.2.0/26"]);
        assert_eq!(
            sorted_diff(&old, &new),
            (
                l(&["10.0.0.128/26", "10.0.2.0/26"]),
                l(&["10.0.0.64/26", "10.0.3.0/26"])
            )
        );
        assert_eq!(sorted_diff(&[], &new), (new.clone(), vec![]));
        assert_eq!(sorted_diff(&old, &[]), (vec![], old.clone()));
        assert_eq!(sorted_diff(&old, &old), (vec![], vec![]));
    }
}
