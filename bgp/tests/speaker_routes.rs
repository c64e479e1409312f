//! Routes through the tokio driver over real TCP in a lab namespace: what one speaker
//! originates the other learns (route-change stream, Loc-RIB, counters), and a
//! withdrawal propagates; IPv4 and IPv6 sessions.

mod speaker_common;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgp::rib::{RouteAction, RouteChange};
use bgp::speaker::{RouteChanges, RouteSink};
use bgp::speaker::{Speaker, SpeakerHandle};
use ipnet::IpNet;
use speaker_common::*;

/// The next best-path change, pulled one at a time.
async fn next_change(rx: &mut RouteChanges, what: &str) -> RouteChange {
    let batch = tokio::time::timeout(Duration::from_secs(30), rx.next(1))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("speaker running");
    assert_eq!(batch.len(), 1, "a batch of at most 1: {batch:?}");
    batch.into_iter().next().expect("one change")
}

async fn learned(h: &SpeakerHandle, prefix: IpNet) -> Vec<IpAddr> {
    wait_for(Duration::from_secs(30), "prefix in the Loc-RIB", || async {
        h.routes(false)
            .await
            .into_iter()
            .find(|r| r.prefix == prefix)
            .map(|r| r.ecmp_next_hops)
    })
    .await
}

#[test]
fn originated_prefixes_are_learned_and_withdrawn_ipv4() {
    let (_lab, ns) = lab_with_loopback("spk-rt4", &["10.0.0.1/32", "10.0.0.2/32"]);
    in_netns(&ns, || async {
        let p1: IpNet = "10.244.1.0/24".parse().expect("p");
        let p2: IpNet = "10.244.2.0/24".parse().expect("p");
        let (a, mut a_rx) = Speaker::start(speaker(
            65001,
            "10.0.0.1",
            peer("10.0.0.2", 65002, "10.0.0.1"),
            &["10.244.1.0/24"],
        ))
        .await
        .expect("a");
        let (b, mut b_rx) = Speaker::start(speaker(
            65002,
            "10.0.0.2",
            passive(peer("10.0.0.1", 65001, "10.0.0.2")),
            &["10.244.2.0/24"],
        ))
        .await
        .expect("b");
        let nh_a: IpAddr = "10.0.0.1".parse().expect("ip");
        let nh_b: IpAddr = "10.0.0.2".parse().expect("ip");

        let c = next_change(&mut b_rx, "b installs a's block").await;
        assert_eq!(
            c,
            RouteChange {
                prefix: p1,
                action: RouteAction::Install(vec![nh_a])
            }
        );
        let c = next_change(&mut a_rx, "a installs b's block").await;
        assert_eq!(
            c,
            RouteChange {
                prefix: p2,
                action: RouteAction::Install(vec![nh_b])
            }
        );
        assert_eq!(learned(&b, p1).await, vec![nh_a]);
        assert_eq!(learned(&a, p2).await, vec![nh_b]);

        let sb = the_peer(&b).await;
        assert_eq!((sb.prefixes_received, sb.prefixes_accepted), (1, 1));
        assert!(sb.updates_in >= 1);
        let sa = the_peer(&a).await;
        assert_eq!(sa.prefixes_advertised, 1);

        a.set_originated(Vec::new()).await;
        let c = next_change(&mut b_rx, "b withdraws a's block").await;
        assert_eq!(
            c,
            RouteChange {
                prefix: p1,
                action: RouteAction::Withdraw
            }
        );
        assert!(b.routes(false).await.iter().all(|r| r.prefix != p1));
        // b's own block is still known to a.
        assert_eq!(learned(&a, p2).await, vec![nh_b]);

        // A take dropped while it waits in b (what a `select!` does when another input
        // wins) loses nothing: the answer that arrives meanwhile goes to the next call.
        let idle = tokio::time::timeout(Duration::from_millis(50), b_rx.next(16)).await;
        assert!(idle.is_err(), "nothing is pending: {idle:?}");
        a.set_originated(vec![p1]).await;
        // Once b's Loc-RIB has the block, the parked take has been answered.
        assert_eq!(learned(&b, p1).await, vec![nh_a]);
        let c = next_change(&mut b_rx, "b collects the answer to the dropped take").await;
        assert_eq!(
            c,
            RouteChange {
                prefix: p1,
                action: RouteAction::Install(vec![nh_a])
            }
        );
        a.set_originated(Vec::new()).await;
        let c = next_change(&mut b_rx, "b withdraws a's block again").await;
        assert_eq!(c.action, RouteAction::Withdraw);

        // Shutting b down takes the session down, so a withdraws b's block. (Not the
        // other way round: a speaker that has stopped answers no takes.)
        b.shutdown().await;
        let c = next_change(&mut a_rx, "a withdraws b's block when b shuts down").await;
        assert_eq!(
            c,
            RouteChange {
                prefix: p2,
                action: RouteAction::Withdraw
            }
        );
        a.shutdown().await;
    });
}

#[test]
fn originated_prefixes_are_learned_ipv6() {
    let (_lab, ns) = lab_with_loopback("spk-rt6", &["fd00::1/128", "fd00::2/128"]);
    in_netns(&ns, || async {
        let p1: IpNet = "fd00:244:1::/64".parse().expect("p");
        let mut ca = speaker(
            65001,
            "fd00::1",
            peer("fd00::2", 65002, "fd00::1"),
            &["fd00:244:1::/64"],
        );
        ca.router_id = "192.0.2.1".parse().expect("id");
        let mut cb = speaker(
            65002,
            "fd00::2",
            passive(peer("fd00::1", 65001, "fd00::2")),
            &[],
        );
        cb.router_id = "192.0.2.2".parse().expect("id");
        let (a, _a_rx) = Speaker::start(ca).await.expect("a");
        let (b, mut b_rx) = Speaker::start(cb).await.expect("b");
        let nh_a: IpAddr = "fd00::1".parse().expect("ip");
        let c = next_change(&mut b_rx, "b installs a's IPv6 block").await;
        assert_eq!(
            c,
            RouteChange {
                prefix: p1,
                action: RouteAction::Install(vec![nh_a])
            }
        );
        a.set_originated(Vec::new()).await;
        let c = next_change(&mut b_rx, "b withdraws it").await;
        assert_eq!(
            c,
            RouteChange {
                prefix: p1,
                action: RouteAction::Withdraw
            }
        );
        a.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn three_speakers_in_an_ibgp_full_mesh_all_active() {
    let (_lab, ns) = lab_with_loopback("spk-mesh", &["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"]);
    in_netns(&ns, || async {
        let addrs = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
        let mut handles = Vec::new();
        for (i, me) in addrs.iter().enumerate() {
            let mut cfg = speaker(65000, me, peer("192.0.2.1", 65000, me), &[]);
            // Every node connects to every other one: collisions are the normal case.
            cfg.peers = addrs
                .iter()
                .filter(|a| *a != me)
                .map(|a| peer(a, 65000, me))
                .collect();
            cfg.originate = vec![format!("10.244.{i}.0/24").parse().expect("prefix")];
            let (h, _rx) = Speaker::start(cfg).await.expect("speaker");
            handles.push(h);
        }
        for (i, h) in handles.iter().enumerate() {
            wait_for(Duration::from_secs(60), "full mesh converged", || async {
                let peers = h.peers().await;
                let up = peers.iter().all(|p| p.state == "Established");
                let routes = h.routes(false).await;
                (up && routes.len() == 3).then_some(())
            })
            .await;
            let routes = h.routes(false).await;
            for r in &routes {
                let j: usize = r.prefix.to_string()[7..8].parse().expect("index");
                let want: Vec<IpAddr> = if i == j {
                    Vec::new() // our own block: the best path is local
                } else {
                    vec![addrs[j].parse().expect("ip")]
                };
                assert_eq!(r.ecmp_next_hops, want, "node {i}, block {j}");
            }
        }
        for h in &handles {
            h.shutdown().await;
        }
    });
}

#[test]
fn a_large_table_flows_between_two_speakers_in_extended_messages() {
    let (_lab, ns) = lab_with_loopback("spk-big", &["10.0.0.1/32", "10.0.0.2/32"]);
    in_netns(&ns, || async {
        const N: u32 = 50_000;
        let prefixes: Vec<IpNet> = (0..N)
            .map(|k| {
                let a = std::net::Ipv4Addr::from((20u32 << 24) + (k << 8));
                IpNet::V4(ipnet::Ipv4Net::new(a, 24).expect("/24"))
            })
            .collect();
        let ((a, _), (b, _)) = pair(&[], &[]).await;
        a.set_originated(prefixes).await;
        wait_for(Duration::from_secs(60), "b has the whole table", || async {
            (b.rib_size().await.0 == N as usize).then_some(())
        })
        .await;
        let sa = the_peer(&a).await;
        assert_eq!(sa.prefixes_advertised, u64::from(N));
        // Both ends advertise Extended Message (RFC 8654): far fewer UPDATEs than the
        // ~50 that 4096-octet messages would need for 50,000 /24s sharing attributes.
        assert!(sa.updates_out <= 10, "{} UPDATEs", sa.updates_out);
        let sb = the_peer(&b).await;
        assert_eq!(sb.prefixes_received, u64::from(N));
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// Records what it is offered; applies it or gives it back as the test says.
struct TestSink {
    applied: Arc<Mutex<Vec<RouteChange>>>,
    offers: Arc<AtomicUsize>,
    accept: Arc<AtomicBool>,
}

impl RouteSink for TestSink {
    fn apply_now(&mut self, changes: Vec<RouteChange>) -> Result<(), Vec<RouteChange>> {
        self.offers.fetch_add(1, Ordering::SeqCst);
        if !self.accept.load(Ordering::SeqCst) {
            return Err(changes);
        }
        self.applied.lock().expect("lock").extend(changes);
        Ok(())
    }
}

/// A take left parked in the speaker, as the agent's routes task leaves it while it
/// waits: nothing is pending, so it times out and stays parked.
async fn park(rx: &mut RouteChanges) {
    let idle = tokio::time::timeout(Duration::from_millis(50), rx.next(16)).await;
    assert!(idle.is_err(), "nothing is pending: {idle:?}");
}

#[test]
fn a_sink_applies_small_batches_while_the_consumer_waits_with_nothing_in_hand() {
    let (_lab, ns) = lab_with_loopback("spk-sink", &["10.0.0.1/32", "10.0.0.2/32"]);
    in_netns(&ns, || async {
        let p1: IpNet = "10.244.1.0/24".parse().expect("p");
        let ((a, _a_rx), (b, mut b_rx)) = pair(&[], &[]).await;
        let applied = Arc::new(Mutex::new(Vec::new()));
        let offers = Arc::new(AtomicUsize::new(0));
        let accept = Arc::new(AtomicBool::new(true));
        b_rx.set_sink(
            4,
            TestSink {
                applied: applied.clone(),
                offers: offers.clone(),
                accept: accept.clone(),
            },
        );
        established(&b, "b's session").await;
        let nh_a: IpAddr = "10.0.0.1".parse().expect("ip");
        let install = |p: IpNet| RouteChange {
            prefix: p,
            action: RouteAction::Install(vec![nh_a]),
        };
        let withdraw = |p: IpNet| RouteChange {
            prefix: p,
            action: RouteAction::Withdraw,
        };
        let applied_now = || applied.lock().expect("lock").clone();

        // The consumer waits with nothing in hand: the sink applies the change and the
        // consumer is not woken for it.
        park(&mut b_rx).await;
        a.set_originated(vec![p1]).await;
        wait_for(
            Duration::from_secs(30),
            "the sink applies a's block",
            || {
                let n = applied_now().len();
                async move { (n > 0).then_some(()) }
            },
        )
        .await;
        assert_eq!(applied_now(), vec![install(p1)]);
        park(&mut b_rx).await;

        // A sink that cannot apply gives the batch back: the waiting take gets it.
        accept.store(false, Ordering::SeqCst);
        a.set_originated(Vec::new()).await;
        let c = next_change(&mut b_rx, "the take gets what the sink gave back").await;
        assert_eq!(c, withdraw(p1));
        assert_eq!(offers.load(Ordering::SeqCst), 2);
        assert_eq!(applied_now(), vec![install(p1)]);

        // The consumer has a batch in hand (it has not asked again): a later change must
        // not overtake it through the sink, so the sink is not even offered it.
        accept.store(true, Ordering::SeqCst);
        a.set_originated(vec![p1]).await;
        assert_eq!(learned(&b, p1).await, vec![nh_a]);
        assert_eq!(offers.load(Ordering::SeqCst), 2);
        // Once it asks again, the change pending is the sink's.
        park(&mut b_rx).await;
        wait_for(Duration::from_secs(30), "the sink applies it", || {
            let n = applied_now().len();
            async move { (n > 1).then_some(()) }
        })
        .await;
        assert_eq!(offers.load(Ordering::SeqCst), 3);
        assert_eq!(applied_now(), vec![install(p1), install(p1)]);

        // More changes pending than the sink's bound (eight prefixes in one UPDATE): they
        // go to the consumer in one batch.
        let eight: Vec<IpNet> = (0..8)
            .map(|i| format!("10.245.{i}.0/24").parse().expect("p"))
            .collect();
        let mut all = eight.clone();
        all.push(p1);
        a.set_originated(all).await;
        let batch = tokio::time::timeout(Duration::from_secs(30), b_rx.next(16))
            .await
            .expect("the eight new blocks")
            .expect("speaker running");
        let mut want: Vec<RouteChange> = eight.iter().map(|p| install(*p)).collect();
        let mut got = batch.clone();
        got.sort_by_key(|c| c.prefix);
        want.sort_by_key(|c| c.prefix);
        assert_eq!(got, want);
        assert_eq!(offers.load(Ordering::SeqCst), 3);
        a.shutdown().await;
        b.shutdown().await;
    });
}
