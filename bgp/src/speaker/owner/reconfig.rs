//! Changing the peers of a running speaker: [`Owner::set_peers`] (added, removed and
//! changed peers, compared by address) and [`Owner::peer_down`] (one session ended from
//! outside, e.g. by BFD). Unchanged peers are never touched.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::{close, ConnEvent, Owner};
use crate::rib::PeerId;
use crate::speaker::config::PeerConfig;
use crate::speaker::handle::SpeakerError;
use crate::speaker::sockopt;
use crate::wire::{CeaseSubcode, Notification};

/// Longest wait for a changed peer's old connections to close before its new session
/// starts (a stopped reader lingers at most 2 s).
const RELEASE_WAIT: Duration = Duration::from_secs(3);

/// What [`crate::speaker::SpeakerHandle::set_peers`] did, by peer address (as
/// configured), each list in configuration order (`removed`: the old order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerDiff {
    /// Peers started.
    pub added: Vec<IpAddr>,
    /// Peers stopped with Cease / Peer De-configured and forgotten.
    pub removed: Vec<IpAddr>,
    /// Peers restarted with Cease / Other Configuration Change and their new config.
    pub changed: Vec<IpAddr>,
}

impl PeerDiff {
    /// Nothing was added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl Owner {
    /// Replaces the peers with `new` (already validated by the handle). On an error
    /// nothing has changed.
    pub(super) fn set_peers(&mut self, new: Vec<PeerConfig>) -> Result<PeerDiff, SpeakerError> {
        let now = Instant::now();
        let current: HashMap<IpAddr, usize> = self
            .peers
            .iter()
            .map(|(&id, p)| (p.cfg.address.to_canonical(), id))
            .collect();
        let wanted: HashMap<IpAddr, &PeerConfig> =
            new.iter().map(|p| (p.address.to_canonical(), p)).collect();
        let mut diff = PeerDiff::default();
        let mut stop = Vec::new();
        for &id in &self.order {
            let Some(p) = self.peers.get(&id) else {
                continue;
            };
            match wanted.get(&p.cfg.address.to_canonical()) {
                None => {
                    diff.removed.push(p.cfg.address);
                    stop.push((id, CeaseSubcode::PeerDeconfigured));
                }
                Some(cfg) if **cfg != p.cfg => {
                    diff.changed.push(p.cfg.address);
                    stop.push((id, CeaseSubcode::OtherConfigurationChange));
                }
                Some(_) => {}
            }
        }
        for p in &new {
            if !current.contains_key(&p.address.to_canonical()) {
                diff.added.push(p.address);
            }
        }
        if diff.is_empty() {
            return Ok(diff);
        }
        // The listener's keys first: the only step that can fail.
        let starting: Vec<&PeerConfig> = new
            .iter()
            .filter(|p| {
                let a = p.address.to_canonical();
                !current.contains_key(&a) || stop.iter().any(|(id, _)| current.get(&a) == Some(id))
            })
            .collect();
        self.listener_keys(&starting)?;
        // Changed peers start again once their old connections are closed (the peer
        // has read the Cease and hung up, or [`RELEASE_WAIT`] passed): a new
        // connection beside an established one would look like our restart to a
        // graceful-restart peer (RFC 4724 §4.2), which would then keep our routes
        // instead of reading the Cease.
        let mut old_tasks: HashMap<IpAddr, Vec<JoinHandle<()>>> = HashMap::new();
        for (id, subcode) in &stop {
            if let Some(addr) = self.peers.get(id).map(|p| p.cfg.address.to_canonical()) {
                old_tasks.insert(addr, self.retire(*id, *subcode, now));
            }
        }
        // Keys of removed peers: gone with them (changed peers got their new key above).
        if let Some(l) = &self.listen_sock {
            let v6 = self.local.listen.is_some_and(|a| a.is_ipv6());
            for addr in &diff.removed {
                if v6 || addr.is_ipv4() {
                    // ENOENT when it had none: fine.
                    let _ = sockopt::set_md5(l.as_ref(), *addr, v6, None);
                }
            }
        }
        let mut order = Vec::with_capacity(new.len());
        for p in new {
            let a = p.address.to_canonical();
            let keep = current
                .get(&a)
                .filter(|id| self.peers.contains_key(id))
                .copied();
            let id = match keep {
                Some(id) => id,
                None => {
                    let address = p.address;
                    let tasks = old_tasks.remove(&a);
                    match self.add_peer(p, now, tasks.is_none()) {
                        Ok(id) => {
                            if let Some(tasks) = tasks {
                                self.start_after(id, tasks);
                            }
                            id
                        }
                        Err(e) => {
                            // Not reachable: a fresh id is never a duplicate.
                            tracing::error!(peer = %address, "cannot add peer: {e}");
                            continue;
                        }
                    }
                }
            };
            order.push(id);
        }
        self.order = order;
        self.publish_accept();
        for id in self.order.clone() {
            if !current.values().any(|&c| c == id) {
                self.drive(id, now);
            }
        }
        tracing::info!(
            added = ?diff.added, removed = ?diff.removed, changed = ?diff.changed,
            "BGP peers reconfigured"
        );
        Ok(diff)
    }

    /// Ends the session with `peer` with Cease / `subcode`; it connects again after its
    /// back-off. `false` if no such peer.
    pub(super) fn peer_down(&mut self, peer: IpAddr, subcode: u8) -> bool {
        let addr = peer.to_canonical();
        let Some(id) = self
            .peers
            .iter()
            .find(|(_, p)| p.cfg.address.to_canonical() == addr)
            .map(|(&id, _)| id)
        else {
            return false;
        };
        let now = Instant::now();
        if let Some(p) = self.peers.get_mut(&id) {
            let n = Notification::cease(CeaseSubcode::from(subcode));
            tracing::warn!(peer = %p.cfg.address, "ending the session: {n}");
            p.session.reset(now, n);
        }
        // Its paths go a step at a time, as when a session goes down by itself.
        self.drive(id, now);
        true
    }

    /// Starts peer `id`'s session once `tasks` (the reader and writer tasks of its
    /// previous configuration's connections) have ended, or after [`RELEASE_WAIT`].
    fn start_after(&self, id: usize, tasks: Vec<JoinHandle<()>>) {
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let all = async {
                for t in tasks {
                    let _ = t.await;
                }
            };
            let _ = tokio::time::timeout(RELEASE_WAIT, all).await;
            let _ = events.send(ConnEvent::Released { peer: id }).await;
        });
    }

    /// Stops a peer with Cease / `subcode`, withdraws its routes and forgets it; its
    /// connections' tasks end (the writers after sending the NOTIFICATION, the readers
    /// when the peer has closed or after their linger time). Returns those tasks.
    fn retire(&mut self, id: usize, subcode: CeaseSubcode, now: Instant) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        if let Some(p) = self.peers.get_mut(&id) {
            for c in p.conns.values_mut() {
                tasks.extend(c.writer_task.take());
                tasks.extend(c.reader_task.take());
            }
            tracing::info!(peer = %p.cfg.address, "stopping the session: peer {}", match subcode {
                CeaseSubcode::PeerDeconfigured => "removed from the configuration",
                _ => "configuration changed",
            });
            p.session.stop(now, Notification::cease(subcode));
        }
        self.drive(id, now);
        if let Some(p) = self.peers.remove(&id) {
            for (_, c) in p.conns {
                close(c);
            }
        }
        self.rib.remove_peer(PeerId(id as u32));
        tasks
    }

    /// Sets the TCP-MD5 key (or removes it) of every starting peer on the listener,
    /// and the saved SYN if one of them uses GTSM.
    fn listener_keys(&self, starting: &[&PeerConfig]) -> Result<(), SpeakerError> {
        let (Some(l), Some(addr)) = (&self.listen_sock, self.local.listen) else {
            return Ok(());
        };
        let err = |source| SpeakerError::Listen { addr, source };
        let v6 = addr.is_ipv6();
        for p in starting {
            if p.address.is_ipv6() && !v6 {
                continue;
            }
            match &p.password {
                Some(pw) => {
                    sockopt::set_md5(l.as_ref(), p.address, v6, Some(pw.as_bytes())).map_err(err)?
                }
                None => {
                    // No key, or the old key of a changed peer: gone (ENOENT is fine).
                    let _ = sockopt::set_md5(l.as_ref(), p.address, v6, None);
                }
            }
        }
        if starting.iter().any(|p| p.ttl_security.is_some()) {
            sockopt::save_syn(l.as_ref()).map_err(err)?;
        }
        Ok(())
    }
}
