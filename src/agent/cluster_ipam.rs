//! etcd mode: the cluster task's IPAM blocks (the logic and the transactions are
//! `cluster::affinity`'s and `cluster::reclaim`'s):
//!
//! - at start the node takes back the blocks it owns and claims one per family that a
//!   usable pool has when it owns none; later one more whenever the workload task finds
//!   its blocks full. The node's blocks are the node file's plus the claimed ones;
//! - an empty block the workload task offers (`workloads::blocks`) is deleted from etcd
//!   if this node claimed it (never a block of the node file), and the agent's blocks
//!   lose it — its route and blackhole are withdrawn — before the answer;
//! - blocks of nodes that are gone are freed or unaffined (`cluster::reclaim::sweep_gone`)
//!   by whichever agent sweeps first (a node this agent keeps in its mesh because BFD
//!   says it is up counts as live): a node counts as gone once its `Node` has been
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

use cluster::affinity::{self, name_seed, AffinityError};
use cluster::reclaim::{self, Released};
use cluster::{pools, Items};
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
        // A node kept in the mesh because BFD says it is up counts as live (its
        // datastore connection is gone, not the node).
        let live: BTreeSet<String> = self
            .nodes
            .snapshot()
            .items
            .values()
            .map(|r| r.metadata.name.clone())
            .chain(self.kept_alive.values().cloned())
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

/// Claiming blocks: at start and when the workload task needs one more.
impl Cluster {
    /// The blocks this node owns in the datastore (each taken back with a transaction:
    /// `reclaim::reaffirm`); when it owns none of a family that a usable pool has,
    /// claims one (retrying while etcd fails).
    pub(super) async fn take_blocks_at_start(&mut self, pool_items: &Items) {
        let owned = loop {
            match reclaim::reaffirm(&*self.store, &self.local.name).await {
                Ok(v) => break v,
                Err(e) => {
                    tracing::warn!("listing this node's blocks: {e}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        self.add_blocks(owned);
        let usable = pools::usable_pools(pool_items, &self.labels());
        for v6 in [false, true] {
            let has_pool = usable.iter().any(|p| p.cidr.addr().is_ipv6() == v6);
            let has_block = self.blocks.iter().any(|b| b.addr().is_ipv6() == v6);
            if has_pool && !has_block {
                // Many nodes starting at once all claim in address order, so a late one
                // can lose `MAX_CLAIM_ATTEMPTS` races in a row: try again (a fresh list
                // of taken blocks each time) after a pause that spreads the racers out.
                for attempt in 1..=CLAIM_ROUNDS_AT_START {
                    match self.claim(v6).await {
                        ClaimOutcome::Contended if attempt < CLAIM_ROUNDS_AT_START => {
                            let ms = 50 + u64::from(name_hash(&self.local.name) % 200);
                            tokio::time::sleep(Duration::from_millis(ms * u64::from(attempt)))
                                .await;
                        }
                        _ => break,
                    }
                }
            }
        }
    }

    pub(super) fn add_blocks(&mut self, more: impl IntoIterator<Item = IpNet>) {
        for b in more {
            if !self.claimed.contains(&b) {
                self.claimed.push(b);
            }
        }
        self.merge_blocks();
    }

    pub(super) fn merge_blocks(&mut self) {
        self.blocks = merged_blocks(&self.file_blocks, &self.claimed);
    }

    /// Claims one more block of the family.
    pub(super) async fn claim(&mut self, v6: bool) -> ClaimOutcome {
        let usable = pools::usable_pools(&self.pools.snapshot().items, &self.labels());
        match affinity::claim_next(&*self.store, &self.local.name, &usable, v6).await {
            Ok(b) => {
                tracing::info!(block = %b, "claimed a block");
                self.add_blocks([b]);
                ClaimOutcome::Claimed
            }
            Err(e @ AffinityError::Exhausted { .. }) => {
                tracing::warn!("no block claimed: {e}");
                ClaimOutcome::Failed
            }
            Err(e @ AffinityError::Contended(_)) => {
                tracing::warn!("claiming a block: {e}");
                ClaimOutcome::Contended
            }
            Err(e) => {
                tracing::warn!("claiming a block: {e}");
                ClaimOutcome::Failed
            }
        }
    }
}

/// This node's blocks: the file's, then every claimed one not inside them (a reload
/// that drops a block from the file never drops a claimed one).
fn merged_blocks(file: &[IpNet], claimed: &[IpNet]) -> Vec<IpNet> {
    let mut all = file.to_vec();
    for b in claimed {
        if !all.iter().any(|x| x.contains(&b.network())) {
            all.push(*b);
        }
    }
    all.sort();
    all.dedup();
    all
}

/// Rounds of claiming at start while other nodes win the races (see `take_blocks_at_start`).
const CLAIM_ROUNDS_AT_START: u32 = 20;

/// What one claim came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClaimOutcome {
    Claimed,
    /// Lost too many races to other nodes in a row: worth trying again.
    Contended,
    /// The pools are used up or the datastore failed.
    Failed,
}

/// A stable per-node number (FNV-1a of the name) that spreads nodes' retry pauses.
fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::merged_blocks;
    use ipnet::IpNet;

    fn nets(v: &[&str]) -> Vec<IpNet> {
        v.iter().map(|s| s.parse().expect("net")).collect()
    }

    #[test]
    fn claimed_blocks_survive_any_file() {
        let claimed = nets(&["10.244.0.0/26", "fd00::/122"]);
        assert_eq!(
            merged_blocks(&[], &claimed),
            nets(&["10.244.0.0/26", "fd00::/122"])
        );
        assert_eq!(
            merged_blocks(&nets(&["10.245.1.0/24"]), &claimed),
            nets(&["10.244.0.0/26", "10.245.1.0/24", "fd00::/122"])
        );
        // A file block that covers a claimed one stands for it.
        assert_eq!(
            merged_blocks(&nets(&["10.244.0.0/24"]), &claimed),
            nets(&["10.244.0.0/24", "fd00::/122"])
        );
    }
}
