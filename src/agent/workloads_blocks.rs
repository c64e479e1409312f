//! etcd mode: giving back blocks this node's workloads no longer use. The workload task
//! owns the allocations, so it is the one to see a block become empty (a CNI DEL, a
//! Docker leave or release, a GC) and to stop allocating from it: every
//! [`EMPTY_CHECK`] it notes which blocks are empty, and a block that has stayed empty
//! for [`EMPTY_BLOCK_GRACE`] — and is not the family's last block on this node — is
//! offered to the cluster task, which deletes its key in etcd (a transaction on the
//! revision read) and withdraws its route and blackhole before it answers. The workload
//! task waits for that answer without serving anything else, so no address can be
//! handed out from a block while it is being given back; afterwards the allocator is
//! rebuilt without it (nothing is lost: it was empty).
//!
//! Why keep one block per family: every node claims one at start anyway, so giving back
//! the last one would only be reclaimed at the next container or restart (an etcd
//! transaction on that container's start, and a route change on every peer). Calico
//! (since 3.28) keeps none and waits 15 minutes; there a cluster-wide collector decides
//! while the node may be allocating, so the long wait also covers that race. Here the
//! owner decides with its own allocator, so the grace only damps churn (a container
//! restarting in a loop, a burst that grew the node's blocks and is over): 60 s.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ipam::BlockUsage;
use ipnet::IpNet;
use tokio::sync::oneshot;

use super::Workloads;

/// How long a block stays empty before it is given back.
pub const EMPTY_BLOCK_GRACE: Duration = Duration::from_secs(60);

/// How often the workload task looks for empty blocks (in memory, no I/O).
pub const EMPTY_CHECK: Duration = Duration::from_secs(5);

/// "Give back this empty block": answered `true` once its key is deleted and its route
/// withdrawn (the block is no longer in the block source), `false` if it stays (a block
/// of the node file, or etcd failed: asked again after another grace).
pub type RetireRequest = (IpNet, oneshot::Sender<bool>);

/// Blocks to give back now: empty (`allocated == 0`) since at least `grace` by
/// `empty_since`, highest address first, while the family keeps at least one other
/// block (the lowest stays when all are empty).
pub fn to_retire(
    usage: &[BlockUsage],
    empty_since: &BTreeMap<IpNet, Instant>,
    now: Instant,
    grace: Duration,
) -> Vec<IpNet> {
    let mut out = Vec::new();
    for v6 in [false, true] {
        let family: Vec<&BlockUsage> = usage
            .iter()
            .filter(|u| u.block.addr().is_ipv6() == v6)
            .collect();
        let mut left = family.len();
        let mut due: Vec<IpNet> = family
            .iter()
            .filter(|u| u.allocated == 0)
            .filter(|u| {
                empty_since
                    .get(&u.block)
                    .is_some_and(|t| now.saturating_duration_since(*t) >= grace)
            })
            .map(|u| u.block)
            .collect();
        due.sort_unstable_by(|a, b| b.cmp(a));
        for b in due {
            if left <= 1 {
                break;
            }
            out.push(b);
            left -= 1;
        }
    }
    out
}

impl Workloads {
    /// One look: starts the clock of blocks that became empty, stops it for blocks in
    /// use, and offers each block that is due ([`to_retire`]) to the cluster task.
    pub(super) async fn retire_empty_blocks(&mut self) {
        // Allocations not read yet (stateDir unopened or unreadable): nothing is known
        // to be empty.
        if self.grow.is_none() || self.store.is_none() {
            return;
        }
        self.take_new_blocks();
        let now = Instant::now();
        let usage = self.alloc.usage();
        let Some(g) = &mut self.grow else { return };
        g.empty_since
            .retain(|b, _| usage.iter().any(|u| u.block == *b && u.allocated == 0));
        for u in usage.iter().filter(|u| u.allocated == 0) {
            g.empty_since.entry(u.block).or_insert(now);
        }
        let due = to_retire(&usage, &g.empty_since, now, EMPTY_BLOCK_GRACE);
        let mut retired = false;
        for block in due {
            let (tx, rx) = oneshot::channel();
            let Some(g) = &mut self.grow else { return };
            if g.retire.send((block, tx)).await.is_err() {
                return;
            }
            if rx.await.unwrap_or(false) {
                g.empty_since.remove(&block);
                tracing::info!(%block, "empty block given back to the pool");
                retired = true;
            } else {
                // Stays (a file block, or etcd failed): its clock starts again.
                g.empty_since.insert(block, Instant::now());
            }
        }
        if retired {
            // The block source no longer has them: the allocator drops them (empty).
            self.take_new_blocks();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(block: &str, allocated: u128) -> BlockUsage {
        BlockUsage {
            block: block.parse().expect("net"),
            allocated,
            capacity: 62,
        }
    }

    #[test]
    fn empty_blocks_go_after_the_grace_and_each_family_keeps_one() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(60);
        let later = t0 + grace;
        let usage = [
            u("10.244.0.0/26", 0),
            u("10.244.1.0/26", 3),
            u("10.244.2.0/26", 0),
            u("fd00::/122", 0),
        ];
        let since = |v: &[(&str, Instant)]| -> BTreeMap<IpNet, Instant> {
            v.iter()
                .map(|(b, t)| (b.parse().expect("net"), *t))
                .collect()
        };
        let net = |s: &str| -> IpNet { s.parse().expect("net") };
        // Both empty IPv4 blocks are due; the used one stays, so both go. The only
        // IPv6 block stays although empty.
        let all = since(&[
            ("10.244.0.0/26", t0),
            ("10.244.2.0/26", t0),
            ("fd00::/122", t0),
        ]);
        assert_eq!(
            to_retire(&usage, &all, later, grace),
            [net("10.244.2.0/26"), net("10.244.0.0/26")]
        );
        // Not yet: one second short of the grace.
        let recent = since(&[("10.244.0.0/26", t0 + Duration::from_secs(1))]);
        assert!(to_retire(&usage, &recent, later, grace).is_empty());
        // No clock yet (just became empty): not due.
        assert!(to_retire(&usage, &BTreeMap::new(), later, grace).is_empty());
        // A block with an address is never due, whatever its clock says.
        let used = since(&[("10.244.1.0/26", t0)]);
        assert!(to_retire(&usage, &used, later, grace).is_empty());
        // All blocks of a family empty: the lowest stays.
        let empties = [
            u("10.244.0.0/26", 0),
            u("10.244.2.0/26", 0),
            u("10.244.3.0/26", 0),
        ];
        let clocks = since(&[
            ("10.244.0.0/26", t0),
            ("10.244.2.0/26", t0),
            ("10.244.3.0/26", t0),
        ]);
        assert_eq!(
            to_retire(&empties, &clocks, later, grace),
            [net("10.244.3.0/26"), net("10.244.2.0/26")]
        );
    }
}
