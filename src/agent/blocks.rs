//! This node's blocks, handed to BGP and to the kernel in an order that never draws
//! traffic the host has no route for: a new block's blackhole is in the kernel before
//! the block is announced, and a block given up is withdrawn before its blackhole goes.
//! (Calico's BIRD does the same: its kernel protocol writes the static blackhole before
//! BGP sends the route.) Without a FIB, only BGP is told.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bgp::speaker::{sorted_diff, SpeakerHandle};
use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot};

use super::fib::normalized_blocks;

/// A new list of this node's blocks for the routes task. With `announce`, the routes
/// task starts the announcement of the new list once their blackholes are written (or,
/// behind a busy FIB, queued in order).
#[derive(Debug)]
pub struct BlocksUpdate {
    pub blocks: Vec<IpNet>,
    pub announce: Option<Announce>,
}

/// The announcement of a new block list, started by the routes task right after the
/// blackholes are handed to the controller rather than by [`originate`] once told so (a
/// wake-up of the reload between the two, and on this runtime a hand-over of the
/// reload's last step to the other worker, which then ran while the peers' copies were
/// on their way). Started once: by whichever of the routes task and `originate` (after
/// [`BLACKHOLE_WAIT`]) claims it first, so a late routes task never announces a list
/// that a later reload has replaced.
pub struct Announce {
    claimed: Arc<AtomicBool>,
    start: Box<dyn FnOnce() + Send>,
}

impl Announce {
    /// Starts the announcement unless `originate` already has.
    pub fn start(self) {
        if !self.claimed.swap(true, Ordering::AcqRel) {
            (self.start)();
        }
    }
}

impl std::fmt::Debug for Announce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Announce")
            .field("claimed", &self.claimed.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

/// The routes task's blocks input.
pub type BlocksTx = mpsc::Sender<BlocksUpdate>;

/// How long an announcement waits for its blackholes: a FIB busy with a full table
/// delays the reload's announcement this long at most.
pub const BLACKHOLE_WAIT: Duration = Duration::from_millis(500);

/// Where this node's blocks are announced (the speaker; a recorder in tests).
pub trait Originate: Clone + Send + 'static {
    fn set_originated(&self, blocks: Vec<IpNet>) -> impl Future<Output = ()> + Send;
    /// The same change, not waited for: `done` is answered once it is made.
    fn start_originated(&self, blocks: Vec<IpNet>, done: oneshot::Sender<()>);
}

impl Originate for SpeakerHandle {
    fn set_originated(&self, blocks: Vec<IpNet>) -> impl Future<Output = ()> + Send {
        SpeakerHandle::set_originated(self, blocks)
    }
    fn start_originated(&self, blocks: Vec<IpNet>, done: oneshot::Sender<()>) {
        SpeakerHandle::start_originated(self, blocks, done);
    }
}

/// Moves from the blocks `before` to `after`: blackholes of the added blocks first
/// (the routes task then starts the announcement; waited for, at most
/// [`BLACKHOLE_WAIT`]), then the announcement, then the removed blocks' blackholes
/// (after their withdrawal).
pub async fn originate<O: Originate>(
    speaker: &O,
    fib: Option<&BlocksTx>,
    before: &[IpNet],
    after: &[IpNet],
) {
    let Some(fib) = fib else {
        speaker.set_originated(after.to_vec()).await;
        return;
    };
    let (added, removed) = sorted_diff(&normalized_blocks(before), &normalized_blocks(after));
    if added.is_empty() {
        speaker.set_originated(after.to_vec()).await;
    } else {
        announce_after_blackholes(speaker, fib, after, &removed).await;
    }
    if added.is_empty() || !removed.is_empty() {
        let _ = fib
            .send(BlocksUpdate {
                blocks: after.to_vec(),
                announce: None,
            })
            .await;
    }
}

/// The new blackholes beside the old ones (a removed block keeps its blackhole until it
/// is withdrawn), and the announcement of `after` started by the routes task once they
/// are handed to the controller; returns when the speaker has made it.
async fn announce_after_blackholes<O: Originate>(
    speaker: &O,
    fib: &BlocksTx,
    after: &[IpNet],
    removed: &[IpNet],
) {
    let mut both = after.to_vec();
    both.extend(removed.iter().copied());
    let (answer, mut announced) = oneshot::channel();
    let claimed = Arc::new(AtomicBool::new(false));
    let (s, list) = (speaker.clone(), after.to_vec());
    let announce = Announce {
        claimed: Arc::clone(&claimed),
        start: Box::new(move || s.start_originated(list, answer)),
    };
    let update = BlocksUpdate {
        blocks: both,
        announce: Some(announce),
    };
    let sent = fib.send(update).await.is_ok();
    let answered = if sent {
        tokio::time::timeout(BLACKHOLE_WAIT, &mut announced)
            .await
            .ok()
    } else {
        None
    };
    match answered {
        Some(Ok(())) => return,
        // Started, and the speaker stopped before answering.
        Some(Err(_)) if claimed.load(Ordering::Acquire) => return,
        // Not answered in time, or the routes task dropped the list unstarted.
        _ => {}
    }
    if claimed.swap(true, Ordering::AcqRel) {
        // The routes task started it after the bound: the answer is on its way.
        let _ = announced.await;
        return;
    }
    if sent && answered.is_none() {
        tracing::warn!(
            "the FIB took more than {BLACKHOLE_WAIT:?} to write new blocks' blackholes; \
             announcing them anyway"
        );
    }
    speaker.set_originated(after.to_vec()).await;
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

    /// The steps, and how many announcements the routes task started.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<Step>>>, Arc<std::sync::atomic::AtomicUsize>);

    impl Log {
        fn push(&self, s: Step) {
            self.0.lock().expect("log").push(s);
        }
        fn steps(&self) -> Vec<Step> {
            self.0.lock().expect("log").clone()
        }
        fn started(&self) -> usize {
            self.1.load(Ordering::SeqCst)
        }
    }

    impl Originate for Log {
        fn set_originated(&self, blocks: Vec<IpNet>) -> impl Future<Output = ()> + Send {
            self.push(Step::Bgp(blocks));
            std::future::ready(())
        }
        fn start_originated(&self, blocks: Vec<IpNet>, done: oneshot::Sender<()>) {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.push(Step::Bgp(blocks));
            let _ = done.send(());
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
                if let Some(a) = u.announce {
                    a.start();
                }
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

    #[tokio::test(start_paused = true)]
    async fn the_routes_task_starts_the_announcement_once_the_blackholes_are_written() {
        let log = Log::default();
        let delay = Duration::from_millis(100);
        let fib = routes_task(log.clone(), delay);
        let t = tokio::time::Instant::now();
        originate(&log, Some(&fib), &[], &nets(&["10.96.0.0/26"])).await;
        // Answered by the speaker as soon as the routes task started the announcement,
        // not by originate's own announcement after BLACKHOLE_WAIT.
        assert!(t.elapsed() < BLACKHOLE_WAIT, "{:?}", t.elapsed());
        assert_eq!(log.started(), 1, "started by the routes task");
        assert_eq!(
            log.steps(),
            vec![
                Step::Fib(nets(&["10.96.0.0/26"])),
                Step::FibWritten,
                Step::Bgp(nets(&["10.96.0.0/26"]))
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_routes_task_does_not_announce_again() {
        let log = Log::default();
        // Writes each list after twice the bound, then starts its announcement.
        let fib = routes_task(log.clone(), 2 * BLACKHOLE_WAIT);
        let first = nets(&["10.96.0.0/26"]);
        originate(&log, Some(&fib), &[], &first).await;
        assert_eq!(
            log.steps(),
            vec![Step::Fib(first.clone()), Step::Bgp(first.clone())],
            "announced after the bound, before the blackhole"
        );
        tokio::time::sleep(3 * BLACKHOLE_WAIT).await;
        assert_eq!(
            log.steps(),
            vec![
                Step::Fib(first.clone()),
                Step::Bgp(first.clone()),
                Step::FibWritten
            ],
            "the routes task's late start found the announcement made"
        );
        assert_eq!(log.started(), 0);
    }

    #[tokio::test]
    async fn a_routes_task_gone_leaves_the_announcement_to_originate() {
        let log = Log::default();
        // Takes the list and drops it unstarted.
        let (fib, mut rx) = mpsc::channel::<BlocksUpdate>(4);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        originate(&log, Some(&fib), &[], &nets(&["10.96.0.0/26"])).await;
        assert_eq!(log.steps(), vec![Step::Bgp(nets(&["10.96.0.0/26"]))]);
    }

    #[tokio::test]
    async fn without_a_fib_only_bgp_is_told() {
        let log = Log::default();
        originate(&log, None, &[], &nets(&["10.96.0.0/26"])).await;
        assert_eq!(log.steps(), vec![Step::Bgp(nets(&["10.96.0.0/26"]))]);
    }
}
