//! Changing a running speaker's peers over real TCP inside a lab namespace
//! (`SpeakerHandle::set_peers`, `SpeakerHandle::peer_down`): an unchanged peer keeps
//! its session (same transition count, uptime goes on), a removed peer gets Cease /
//! Peer De-configured (RFC 4486 subcode 3, read off the wire by a scripted peer) and its
//! routes leave the RIB, a changed peer gets Cease / Other Configuration Change and comes
//! back with the new config, an added peer establishes, an invalid list changes nothing,
//! `peer_down` sends its Cease subcode and the peer reconnects by itself.
//! (A removed peer's sockets: speaker_reconfig_fds, alone in its process.)

mod speaker_common;

use std::time::Duration;

use bgp::speaker::{PeerConfig, PeerDiff, Speaker, SpeakerError};
use bgp::wire::{CeaseSubcode, ErrorCode};
use speaker_common::*;

#[test]
fn unchanged_peer_stays_removed_peer_ceased_and_withdrawn_changed_peer_restarts() {
    let (_lab, ns) = lab_with_loopback(
        "spk-rcf1",
        &["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32", "10.0.0.9/32"],
    );
    in_netns(&ns, || async {
        let b = neighbour("10.0.0.2", 65002, &["10.2.0.0/24"]).await;
        let c = neighbour("10.0.0.3", 65003, &["10.3.0.0/24"]).await;
        let pb = peer("10.0.0.2", 65002, "10.0.0.1");
        let pc = peer("10.0.0.3", 65003, "10.0.0.1");
        // The scripted peer connects to us.
        let pf = passive(peer("10.0.0.9", 65009, "10.0.0.1"));
        let mut cfg = speaker(65001, "10.0.0.1", pb.clone(), &["10.1.0.0/24"]);
        cfg.peers.extend([pc.clone(), pf.clone()]);
        let (a, _) = Speaker::start(cfg).await.expect("a");
        let (rd, _wr, buf) = feeder_session(65009, "10.0.0.9", "10.0.0.1", false).await;
        established_with(&a, "10.0.0.2", "b established").await;
        established_with(&a, "10.0.0.3", "c established").await;
        established_with(&a, "10.0.0.9", "scripted peer established").await;
        wait_for(LONG, "routes of b and c", || async {
            (has_route(&a, "10.2.0.0/24").await && has_route(&a, "10.3.0.0/24").await).then_some(())
        })
        .await;
        let before = status_of(&a, "10.0.0.2").await.expect("b");

        // Remove c and the scripted peer; b unchanged.
        let diff = a.set_peers(vec![pb.clone()]).await.expect("set_peers");
        assert_eq!(
            diff,
            PeerDiff {
                added: vec![],
                removed: vec![ip("10.0.0.3"), ip("10.0.0.9")],
                changed: vec![],
            }
        );
        let seen = tokio::time::timeout(LONG, drain(rd, buf))
            .await
            .expect("the scripted peer's connection is closed");
        assert_eq!(
            seen.iter().map(|n| n.error).collect::<Vec<_>>(),
            vec![ErrorCode::Cease(CeaseSubcode::PeerDeconfigured)],
            "exactly one Cease / Peer De-configured"
        );
        assert_eq!((seen[0].code(), seen[0].subcode()), (6, 3));
        wait_for(LONG, "c saw the Cease", || async {
            status_of(&c, "10.0.0.1")
                .await
                .and_then(|p| p.last_error)
                .filter(|e| e.contains("received NOTIFICATION") && e.contains("(6/3)"))
        })
        .await;
        assert!(!has_route(&a, "10.3.0.0/24").await, "c's route withdrawn");
        assert!(has_route(&a, "10.2.0.0/24").await, "b's route stays");
        let peers = a.peers().await;
        assert_eq!(peers.len(), 1, "only b is configured: {peers:?}");
        let after = status_of(&a, "10.0.0.2").await.expect("b");
        assert_eq!(after.state, "Established");
        assert_eq!(
            after.established_transitions,
            before.established_transitions
        );
        assert!(after.uptime >= before.uptime, "b's uptime goes on");
        assert_eq!(
            status_of(&b, "10.0.0.1")
                .await
                .expect("a")
                .established_transitions,
            1,
            "b saw no flap"
        );

        // The same list again: nothing to do.
        let diff = a.set_peers(vec![pb.clone()]).await.expect("same list");
        assert!(diff.is_empty(), "{diff:?}");

        // Change b (its description): Cease / Other Configuration Change, then back.
        let mut pb2 = pb.clone();
        pb2.description = Some("rack 2".into());
        let diff = a.set_peers(vec![pb2]).await.expect("change b");
        assert_eq!(diff.changed, vec![ip("10.0.0.2")]);
        assert!(diff.added.is_empty() && diff.removed.is_empty());
        wait_for(LONG, "b re-established after the change", || async {
            let p = status_of(&b, "10.0.0.1").await?;
            (p.state == "Established" && p.established_transitions == 2).then_some(())
        })
        .await;
        let pb_now = status_of(&b, "10.0.0.1").await.expect("a");
        assert!(
            pb_now
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("(6/6)")),
            "b got Cease / Other Configuration Change: {:?}",
            pb_now.last_error
        );
        let p = established_with(&a, "10.0.0.2", "a re-established with b").await;
        assert_eq!(p.description.as_deref(), Some("rack 2"));
        wait_for(LONG, "b's route back", || async {
            has_route(&a, "10.2.0.0/24").await.then_some(())
        })
        .await;

        // Add c again: it establishes and its route comes back.
        let mut pb2 = pb.clone();
        pb2.description = Some("rack 2".into());
        let diff = a.set_peers(vec![pb2, pc]).await.expect("add c");
        assert_eq!(diff.added, vec![ip("10.0.0.3")]);
        assert!(diff.changed.is_empty() && diff.removed.is_empty());
        established_with(&a, "10.0.0.3", "c established again").await;
        wait_for(LONG, "c's route back", || async {
            has_route(&a, "10.3.0.0/24").await.then_some(())
        })
        .await;
        for h in [a, b, c] {
            h.shutdown().await;
        }
    });
}

#[test]
fn invalid_peer_list_changes_nothing() {
    let (_lab, ns) = lab_with_loopback("spk-rcf2", &["10.0.0.1/32", "10.0.0.2/32"]);
    in_netns(&ns, || async {
        let b = neighbour("10.0.0.2", 65002, &[]).await;
        let pb = peer("10.0.0.2", 65002, "10.0.0.1");
        let (a, _) = Speaker::start(speaker(65001, "10.0.0.1", pb.clone(), &[]))
            .await
            .expect("a");
        let before = established_with(&a, "10.0.0.2", "b established").await;

        let mut bad = PeerConfig::new(ip("10.0.0.5"), 65005);
        bad.hold_time = Duration::from_secs(2);
        let err = a.set_peers(vec![bad]).await.expect_err("hold time 2 s");
        assert!(
            matches!(&err, SpeakerError::Peer { peer, .. } if *peer == ip("10.0.0.5")),
            "{err}"
        );
        let twice = vec![pb.clone(), PeerConfig::new(ip("::ffff:10.0.0.2"), 65002)];
        let err = a.set_peers(twice).await.expect_err("configured twice");
        assert!(err.to_string().contains("configured twice"), "{err}");

        let peers = a.peers().await;
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].state, "Established");
        assert_eq!(
            peers[0].established_transitions,
            before.established_transitions
        );
        a.shutdown().await;
        assert!(matches!(
            a.set_peers(vec![pb]).await,
            Err(SpeakerError::Stopped)
        ));
        b.shutdown().await;
    });
}

#[test]
fn peer_down_sends_its_cease_withdraws_and_reconnects() {
    let (_lab, ns) = lab_with_loopback("spk-rcf3", &["10.0.0.1/32", "10.0.0.2/32"]);
    in_netns(&ns, || async {
        let b = neighbour("10.0.0.2", 65002, &["10.2.0.0/24"]).await;
        let (a, changes) = Speaker::start(speaker(
            65001,
            "10.0.0.1",
            peer("10.0.0.2", 65002, "10.0.0.1"),
            &[],
        ))
        .await
        .expect("a");
        established_with(&a, "10.0.0.2", "b established").await;
        wait_for(LONG, "b's route", || async {
            has_route(&a, "10.2.0.0/24").await.then_some(())
        })
        .await;
        // Take the install; what follows the peer_down is then its withdrawal.
        while !changes.take(1000).await.is_empty() {}

        assert!(!a.peer_down(ip("10.0.0.7"), 10).await, "no such peer");
        assert!(a.peer_down(ip("10.0.0.2"), 10).await);
        // Withdrawn from the RIB (a step at a time), and for the FIB.
        wait_for(LONG, "b's route withdrawn", || async {
            (!has_route(&a, "10.2.0.0/24").await).then_some(())
        })
        .await;
        let batch = changes.take(1000).await;
        assert!(
            batch.iter().any(|c| c.prefix.to_string() == "10.2.0.0/24"
                && c.action == bgp::rib::RouteAction::Withdraw),
            "a withdrawal for the FIB: {batch:?}"
        );
        wait_for(LONG, "b saw Cease / BFD Down", || async {
            status_of(&b, "10.0.0.1")
                .await
                .and_then(|p| p.last_error)
                .filter(|e| e.contains("(6/10)"))
        })
        .await;
        // Still configured: back after the retry timer, route again.
        wait_for(LONG, "a reconnected to b", || async {
            let p = status_of(&a, "10.0.0.2").await?;
            (p.state == "Established" && p.established_transitions == 2).then_some(())
        })
        .await;
        wait_for(LONG, "b's route back", || async {
            has_route(&a, "10.2.0.0/24").await.then_some(())
        })
        .await;
        a.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn added_peer_with_md5_key_connects_to_the_listener() {
    let (_lab, ns) = lab_with_loopback("spk-rcf5", &["10.0.0.1/32", "10.0.0.2/32"]);
    in_netns(&ns, || async {
        let mut cfg = speaker(65001, "10.0.0.1", peer("10.0.0.2", 65002, "10.0.0.1"), &[]);
        cfg.peers.clear();
        let (a, _) = Speaker::start(cfg).await.expect("a");
        // b connects to a with a key; a learns of b (and its key) only at run time.
        let mut to_a = peer("10.0.0.1", 65001, "10.0.0.2");
        to_a.password = Some("s3cret".into());
        let (b, _) = Speaker::start(speaker(65002, "10.0.0.2", to_a, &[]))
            .await
            .expect("b");
        let mut pb = passive(peer("10.0.0.2", 65002, "10.0.0.1"));
        pb.password = Some("s3cret".into());
        let diff = a.set_peers(vec![pb]).await.expect("add b");
        assert_eq!(diff.added, vec![ip("10.0.0.2")]);
        established_with(
            &a,
            "10.0.0.2",
            "b established through the listener's new key",
        )
        .await;
        a.shutdown().await;
        b.shutdown().await;
    });
}
