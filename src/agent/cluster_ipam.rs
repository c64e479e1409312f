//! etcd mode: the cluster task's part in giving IPAM blocks back (the logic and the
//! transactions are `cluster::reclaim`'s):
//!
//! - an empty block the workload task offers (`workloads::blocks`) is deleted from etcd
//!   if this node claimed it (never a block of the node file), and the agent's blocks
//!   lose it — its route and blackhole are withdrawn — before the answer;
//! - blocks of nodes that are gone are freed or unaffined (`cluster::reclaim::sweep_gone`)
//!   by whichever agent sweeps first: a node counts as gone once its `Node` has been
//!   missing from the list for [`NODE_GONE_GRACE`] (after its lease expired, up to
//!   `NODE_TTL` after it died). Each agent sweeps at its own moment within
//!   [`SWEEP_SPREAD`] after that (from a hash of its name), so usually one does the
//!   writes and the others find nothing left; their transactions lose if not. A sweep
//!   also runs once after start (nodes that died while no agent ran), and again every
//!   [`HELD_RESWEEP`] while blocks of gone nodes still hold workloads. Otherwise nothing
//!   is read: the steady state costs etcd nothing.
//! - after this node registered again because its lease was lost (cut off from etcd
//!   for longer than `NODE_TTL`: the others may have counted it gone and swept its
//!   blocks), the blocks it claimed are checked (`cluster::reclaim::recheck`): its own
//!   are rewritten, freed ones claimed again, and one another node claimed meanwhile
//!   is dropped — withdrawn, with an error naming the owner — so that two nodes never
//!   announce one block.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cluster::affinity::name_seed;
use cluster::reclaim::{self, Released};
use ipnet::IpNet;
use tokio::sync::mpsc;

use super::super::workloads::blocks::RetireRequest;
use super::Cluster;

/// How long a node's `Node` must be missing before its blocks are taken back. Long
/// enough for an agent restart (an upgrade, a crash restarted by systemd) to register
/// again and keep its blocks; a node that comes back later finds its empty blocks gone
/// (it claims anew, most likely the same block: its search starts there) and its held
/// ones unaffined (it takes them back).
pub const NODE_GONE_GRACE: Duration = Duration::from_secs(30);

/// Agents sweep within this long after [`NODE_GONE_GRACE`], each at its own moment.
pub const SWEEP_SPREAD: Duration = Duration::from_secs(5);

/// How often blocks of gone nodes that still hold workloads are looked at again.
pub const HELD_RESWEEP: Duration = Duration::from_secs(60);

/// After a failed sweep (etcd away), the next try.
const SWEEP_RETRY: Duration = Duration::from_secs(10);

/// The cluster task's reclaim state.
pub(super) struct Reclaimer {
    /// Where the workload task offers empty blocks.
    pub retire_tx: mpsc::Sender<RetireRequest>,
    /// The cluster task's end.
    pub retire_rx: mpsc::Receiver<RetireRequest>,
    /// When each node was last in the `Node` list.
    last_seen: BTreeMap<String, Instant>,
    started: Instant,
    /// This node's moment within [`SWEEP_SPREAD`].
    spread: Duration,
    next_sweep: Option<Instant>,
}

impl Reclaimer {
    pub fn new(me: &str) -> Reclaimer {
        let (retire_tx, retire_rx) = mpsc::channel(4);
        let spread = Duration::from_millis(name_seed(me) % SWEEP_SPREAD.as_millis() as u64);
        let started = Instant::now();
        Reclaimer {
            retire_tx,
            retire_rx,
            last_seen: BTreeMap::new(),
            started,
            spread,
            next_sweep: Some(started + NODE_GONE_GRACE + spread),
        }
    }

    /// The `Node` list now: a node seen before and missing now schedules a sweep.
    pub fn nodes_seen(&mut self, names: &BTreeSet<String>) {
        let now = Instant::now();
        // A vanished node is due once its grace is over (its clock stays until then).
        let due = self
            .last_seen
            .iter()
            .filter(|(n, _)| !names.contains(*n))
            .map(|(_, seen)| *seen + NODE_GONE_GRACE + self.spread)
            .min();
        if let Some(at) = due {
            self.next_sweep = Some(self.next_sweep.map_or(at, |t| t.min(at)));
        }
        for n in names {
            self.last_seen.insert(n.clone(), now);
        }
    }

    fn gone(&self, name: &str, me: &str, live: &BTreeSet<String>, now: Instant) -> bool {
        name != me
            && !live.contains(name)
            && now.saturating_duration_since(*self.last_seen.get(name).unwrap_or(&self.started))
                >= NODE_GONE_GRACE
    }
}

impl Cluster {
    /// An empty block offered by the workload task: deleted from etcd (if this node
    /// claimed it and still owns it) and dropped from this node's blocks. True if the
    /// block is no longer this node's.
    pub(super) async fn retire(&mut self, block: IpNet) -> bool {
        let from_file = self
            .file_blocks
            .iter()
            .any(|f| f.contains(&block.network()));
        if from_file || !self.claimed.contains(&block) {
            return false;
        }
        let gone = match reclaim::release(&*self.store, &self.local.name, block).await {
            Ok(Released::Deleted) => true,
            Ok(Released::NotOurs) => {
                tracing::warn!(%block, "empty block was no longer this node's in the datastore");
                true
            }
            Ok(Released::Changed) => false,
            Err(e) => {
                tracing::warn!(%block, "giving back an empty block: {e}");
                false
            }
        };
        if gone {
            self.claimed.retain(|b| *b != block);
            self.merge_blocks();
        }
        gone
    }

    /// After a re-registration (or a failed check since): checks the blocks this node
    /// claimed (see the module doc). True if its blocks changed.
    pub(super) async fn recheck_if_due(&mut self) -> bool {
        if let Some(r) = &mut self.renewals {
            if r.has_changed().unwrap_or(false) {
                r.borrow_and_update();
                self.recheck_due = true;
            }
        }
        if !self.recheck_due {
            return false;
        }
        let r = match reclaim::recheck(&*self.store, &self.local.name, &self.claimed).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    "checking this node's blocks after registering again: {e}; retrying"
                );
                return false;
            }
        };
        self.recheck_due = !r.unsettled.is_empty();
        for b in &r.taken_back {
            tracing::warn!(block = %b, "block was freed while this node looked gone; claimed again");
        }
        for (b, owner) in &r.lost {
            tracing::error!(
                block = %b, %owner,
                "block was claimed by another node while this node looked gone; withdrawn here (workloads with addresses in it are unreachable until they are re-created)"
            );
        }
        if r.lost.is_empty() {
            return false;
        }
        self.claimed.retain(|b| !r.lost.iter().any(|(l, _)| l == b));
        self.merge_blocks();
        true
    }

    /// Sweeps the blocks of gone nodes when it is time (see the module doc).
    pub(super) async fn sweep_if_due(&mut self) {
        let live: BTreeSet<String> = self
            .nodes
            .snapshot()
            .items
            .values()
            .map(|r| r.metadata.name.clone())
            .collect();
        self.reclaim.nodes_seen(&live);
        let now = Instant::now();
        if self.reclaim.next_sweep.is_none_or(|t| now < t) {
            return;
        }
        let me = self.local.name.clone();
        let r = &self.reclaim;
        let result = reclaim::sweep_gone(&*self.store, |n| r.gone(n, &me, &live, now)).await;
        self.reclaim.next_sweep = match result {
            Ok(s) => {
                for (b, n) in &s.freed {
                    tracing::info!(block = %b, node = %n, "block of a gone node freed");
                }
                for (b, n) in &s.unaffined {
                    tracing::info!(block = %b, node = %n, "block of a gone node unaffined: its workloads still hold addresses in it");
                }
                // Clocks of gone nodes are done (a node without one counts from this
                // agent's start, long past the grace by now); those not gone long
                // enough yet stay, and nodes_seen schedules their sweep.
                self.reclaim.last_seen.retain(|n, seen| {
                    live.contains(n) || now.saturating_duration_since(*seen) < NODE_GONE_GRACE
                });
                (!s.held.is_empty()).then(|| now + HELD_RESWEEP + self.reclaim.spread)
            }
            Err(e) => {
                tracing::warn!("sweeping blocks of gone nodes: {e}");
                Some(now + SWEEP_RETRY + self.reclaim.spread)
            }
        };
    }
}
