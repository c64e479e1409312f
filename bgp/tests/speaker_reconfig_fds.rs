//! A peer removed at run time (`SpeakerHandle::set_peers`) releases its sockets: the
//! process's open file descriptors go back to the baseline after each of three add /
//! remove rounds. Alone in its test binary, because the count is the whole process's
//! and other tests running beside it would move it.

mod speaker_common;

use std::time::Duration;

use bgp::speaker::Speaker;
use speaker_common::*;

#[test]
fn removed_peer_releases_its_sockets() {
    let (_lab, ns) = lab_with_loopback("spk-rcf4", &["10.0.0.1/32", "10.0.0.2/32"]);
    in_netns(&ns, || async {
        let b = neighbour("10.0.0.2", 65002, &[]).await;
        let mut cfg = speaker(65001, "10.0.0.1", peer("10.0.0.2", 65002, "10.0.0.1"), &[]);
        cfg.peers.clear();
        let (a, _) = Speaker::start(cfg).await.expect("a");
        // Both speakers listening, no session: the baseline.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let baseline = open_fds();
        let pb = peer("10.0.0.2", 65002, "10.0.0.1");
        for round in 0..3 {
            let diff = a.set_peers(vec![pb.clone()]).await.expect("add");
            assert_eq!(diff.added, vec![ip("10.0.0.2")]);
            established_with(&a, "10.0.0.2", "b established").await;
            assert!(open_fds() > baseline, "a session holds sockets");
            let diff = a.set_peers(vec![]).await.expect("remove");
            assert_eq!(diff.removed, vec![ip("10.0.0.2")]);
            assert!(a.peers().await.is_empty());
            wait_for(LONG, "fds back to the baseline", || async {
                let n = open_fds();
                (n <= baseline).then_some(())
            })
            .await;
            // b (passive) is back to waiting for us.
            wait_for(LONG, "b idle again", || async {
                let p = status_of(&b, "10.0.0.1").await?;
                (p.state != "Established" && p.established_transitions == round + 1).then_some(())
            })
            .await;
        }
        a.shutdown().await;
        b.shutdown().await;
    });
}
