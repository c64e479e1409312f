//! This node's blocks, handed to BGP and to the kernel in an order that never draws
//! traffic the host has no route for: a new block's blackhole is in the kernel before
//! the block is announced, and a block given up is withdrawn before its blackhole goes.
//! (Calico's BIRD does the same: its kernel protocol writes the static blackhole before
//! BGP sends the route.) Without a FIB, only BGP is told.

use std::future::Future;
use std::time::Duration;

use bgp::speaker::{sorted_diff, SpeakerHandle};
use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot};

use super::fib::normalized_blocks;

/// A new list of this node's blocks for the routes task, answered on `done` once their
/// blackholes are written (or, behind a busy FIB, queued in order).
#[derive(Debug)]
pub struct BlocksUpdate {
    pub blocks: Vec<IpNet>,
    pub done: oneshot::Sender<()>,
}

/// The routes task's blocks input.
pub type BlocksTx = mpsc::Sender<BlocksUpdate>;

/// How long an announcement waits for its blackholes: a FIB busy with a full table
/// delays the reload's announcement this long at most.
pub const BLACKHOLE_WAIT: Duration = Duration::from_millis(500);

/// Where this node's blocks are announced (the speaker; a recorder in tests).
pub trait Originate {
    fn set_originated(&self, blocks: Vec<IpNet>) -> impl Future<Output = ()> + Send;
}

impl Originate for SpeakerHandle {
    fn set_originated(&self, blocks: Vec<IpNet>) -> impl Future<Output = ()> + Send {
        SpeakerHandle::set_originated(self, blocks)
    }
}

/// Moves from the blocks `before` to `after`: blackholes of the added blocks first
/// (waited for, at most [`BLACKHOLE_WAIT`]), then the announcement, then the removed
/// blocks' blackholes (after their withdrawal).
pub async fn originate(
    speaker: &impl Originate,
    fib: Option<&BlocksTx>,
    before: &[IpNet],
    after: &[IpNet],
) {
    let Some(fib) = fib else {
        speaker.set_originated(after.to_vec()).await;
        return;
    };
    let (added, removed) = sorted_diff(&normalized_blocks(before), &normalized_blocks(after));
    if !added.is_empty() {
        // The new blackholes beside the old ones: a removed block keeps its blackhole
        // until it is withdrawn.
        let mut both = after.to_vec();
        both.extend(removed.iter().copied());
        let (done, written) = oneshot::channel();
        let update = BlocksUpdate { blocks: both, done };
        if fib.send(update).await.is_ok()
            && tokio::time::timeout(BLACKHOLE_WAIT, written).await.is_err()
        {
            tracing::warn!(
                "the FIB took more than {BLACKHOLE_WAIT:?} to write new blocks' blackholes; \
                 announcing them anyway"
            );
        }
    }
    speaker.set_originated(after.to_vec()).await;
    if added.is_empty() || !removed.is_empty() {
        let (done, _) = oneshot::channel();
        let _ = fib
            .send(BlocksUpdate {
                blocks: after.to_vec(),
                done,
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What happened, in order.
    #[derive(Debug, Clone, PartialEq)]
    enum Step {
        Fib(Vec<IpNet>),
        FibWritten,
        Bgp(Vec<IpNet>),
    }

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<Step>>>);

    impl Log {
        fn push(&self, s: Step) {
            self.0.lock().expect("log").push(s);
        }
        fn steps(&self) -> Vec<Step> {
            self.0.lock().expect("log").clone()
        }
    }

    impl Originate for Log {
        fn set_originated(&self, blocks: Vec<IpNet>) -> impl Future<Output = ()> + Send {
            self.push(Step::Bgp(blocks));
            std::future::ready(())
        }
    }

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().expect("a prefix")).collect()
    }

    /// A routes task that takes `delay` to write each list, logging it.
    fn routes_task(log: Log, delay: Duration) -> BlocksTx {
        let (tx, mut rx) = mpsc::channel::<BlocksUpdate>(4);
        tokio::spawn(async move {
            while let Some(u) = rx.recv().await {
                log.push(Step::Fib(u.blocks));
                tokio::time::sleep(delay).await;
                log.push(Step::FibWritten);
                let _ = u.done.send(());
            }
        });
        tx
    }

    async fn run(before: &[&str], after: &[&str], delay: Duration) -> Vec<Step> {
        let log = Log::default();
        let fib = routes_task(log.clone(), delay);
        originate(&log, Some(&fib), &nets(before), &nets(after)).await;
        drop(fib);
        // The last list (not waited for) reaches the routes task.
        tokio::time::sleep(delay + Duration::from_millis(50)).await;
        log.steps()
    }

    #[tokio::test]
    async fn a_new_block_is_blackholed_before_it_is_announced() {
        let after = ["10.96.0.0/26", "10.96.0.64/26"];
        let steps = run(&["10.96.0.0/26"], &after, Duration::from_millis(100)).await;
        assert_eq!(
            steps,
            vec![
                Step::Fib(nets(&after)),
                Step::FibWritten,
                Step::Bgp(nets(&after))
            ]
        );
    }

    #[tokio::test]
    async fn a_removed_block_is_withdrawn_before_its_blackhole_goes() {
        let steps = run(
            &["10.96.0.0/26", "10.96.0.64/26"],
            &["10.96.0.0/26"],
            Duration::from_millis(10),
        )
        .await;
        assert_eq!(
            steps,
            vec![
                Step::Bgp(nets(&["10.96.0.0/26"])),
                Step::Fib(nets(&["10.96.0.0/26"])),
                Step::FibWritten
            ]
        );
    }

    #[tokio::test]
    async fn a_swap_keeps_the_old_blackhole_until_the_new_list_is_announced() {
        let steps = run(
            &["10.96.0.0/26"],
            &["10.96.1.0/26"],
            Duration::from_millis(10),
        )
        .await;
        assert_eq!(
            steps,
            vec![
                Step::Fib(nets(&["10.96.1.0/26", "10.96.0.0/26"])),
                Step::FibWritten,
                Step::Bgp(nets(&["10.96.1.0/26"])),
                Step::Fib(nets(&["10.96.1.0/26"])),
                Step::FibWritten
            ]
        );
    }

    #[tokio::test]
    async fn the_same_blocks_written_differently_add_nothing() {
        // A host address inside a block names the same block.
        let steps = run(
            &["10.96.0.0/26"],
            &["10.96.0.5/26"],
            Duration::from_millis(10),
        )
        .await;
        assert_eq!(
            steps,
            vec![
                Step::Bgp(nets(&["10.96.0.5/26"])),
                Step::Fib(nets(&["10.96.0.5/26"])),
                Step::FibWritten
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_fib_delays_the_announcement_by_the_bound_only() {
        let log = Log::default();
        // A routes task that takes the list and never answers.
        let (fib, mut rx) = mpsc::channel::<BlocksUpdate>(4);
        let held = tokio::spawn(async move {
            let u = rx.recv().await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(u);
        });
        let t = tokio::time::Instant::now();
        originate(&log, Some(&fib), &[], &nets(&["10.96.0.0/26"])).await;
        let waited = t.elapsed();
        assert!(
            waited >= BLACKHOLE_WAIT && waited < 2 * BLACKHOLE_WAIT,
            "{waited:?}"
        );
        assert_eq!(log.steps(), vec![Step::Bgp(nets(&["10.96.0.0/26"]))]);
        held.abort();
    }

    #[tokio::test]
    async fn without_a_fib_only_bgp_is_told() {
        let log = Log::default();
        originate(&log, None, &[], &nets(&["10.96.0.0/26"])).await;
        assert_eq!(log.steps(), vec![Step::Bgp(nets(&["10.96.0.0/26"]))]);
    }
}
