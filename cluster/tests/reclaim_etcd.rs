//! Giving blocks back against a real etcd (Debian's etcd-server) in a lab namespace:
//! a node's conditional delete of its own block, the sweep of a gone node's blocks
//! (free the empty one, unaffine the one a WorkloadEndpoint still holds, leave a live
//! node's alone), two sweepers at once (one wins each write), a returning node taking
//! its unaffined block back so that a sweep that read it before cannot delete it, and a
//! node that was cut off checking the blocks it uses (kept, taken back, lost).

use cluster::affinity::{self, BlockClaim};
use cluster::pools::{block_key, Pool};
use cluster::reclaim::{self, Released};
use ipnet::IpNet;
use resources::Resource;
use store::etcd::EtcdStore;
use store::Store;
use testlab::etcd::EtcdLab;

fn node(name: &str) -> Resource {
    let doc = serde_json::json!({
        "apiVersion": "projectcalico.org/v3",
        "kind": "Node",
        "metadata": { "name": name },
        "spec": {},
    });
    Resource::from_json(doc.to_string().as_bytes()).expect("node")
}

fn wep(node: &str, ip: &str) -> Resource {
    let doc = serde_json::json!({
        "apiVersion": "projectcalico.org/v3",
        "kind": "WorkloadEndpoint",
        "metadata": { "name": format!("{node}-cni-c1-eth0"), "namespace": "default" },
        "spec": { "node": node, "interfaceName": "eth0", "ipNetworks": [ip] },
    });
    Resource::from_json(doc.to_string().as_bytes()).expect("wep")
}

async fn claim_of(s: &EtcdStore, b: IpNet) -> Option<BlockClaim> {
    let v = s.get_raw(&block_key(b)).await.expect("get")?;
    serde_json::from_slice(&v.value).ok()
}

#[test]
fn blocks_are_released_swept_and_taken_back_with_transactions() {
    EtcdLab::new("cl-recl").run_client(|lab| async move {
        let endpoint = lab.endpoint().to_string();
        let connect = || EtcdStore::connect(std::slice::from_ref(&endpoint));
        let s = connect().await.expect("connect");
        let pool = Pool {
            cidr: "10.78.0.0/26".parse().expect("cidr"),
            block_size: 28,
        };
        let claim = |n: &'static str| {
            let s = s.clone();
            async move {
                affinity::claim_next(&s, n, &[pool], false)
                    .await
                    .expect("claim")
            }
        };
        // live: a registered node with two blocks; it gives one back.
        s.create(&node("live")).await.expect("node");
        let l1 = claim("live").await;
        let l2 = claim("live").await;
        assert_eq!(
            reclaim::release(&s, "live", l2).await.expect("release"),
            Released::Deleted
        );
        assert_eq!(claim_of(&s, l2).await, None);
        // Not its block (any more): nothing deleted, and said so.
        assert_eq!(
            reclaim::release(&s, "other", l1).await.expect("release"),
            Released::NotOurs
        );
        assert_eq!(
            reclaim::release(&s, "live", l2).await.expect("release"),
            Released::NotOurs
        );
        assert_eq!(claim_of(&s, l1).await, Some(BlockClaim::of("live")));

        // dead: two blocks, no Node; a WorkloadEndpoint holds an address in one.
        let d1 = claim("dead").await;
        let d2 = claim("dead").await;
        let held_ip = format!("{}/32", d2.hosts().nth(2).expect("an address"));
        s.create(&wep("dead", &held_ip)).await.expect("wep");
        // "ghost" looks gone to the sweeper but registered meanwhile: kept.
        let g1 = claim("ghost").await;
        s.create(&node("ghost")).await.expect("node");

        // Two sweepers at once, each with its own connection.
        let (a, b) = (connect().await.expect("a"), connect().await.expect("b"));
        let gone = |n: &str| n != "live";
        let (ra, rb) = tokio::join!(reclaim::sweep_gone(&a, gone), reclaim::sweep_gone(&b, gone));
        let (ra, rb) = (ra.expect("sweep a"), rb.expect("sweep b"));
        let mut freed: Vec<IpNet> = ra.freed.iter().chain(&rb.freed).map(|(b, _)| *b).collect();
        freed.sort();
        assert_eq!(freed, vec![d1], "{ra:?} {rb:?}");
        let marked: Vec<IpNet> = ra
            .unaffined
            .iter()
            .chain(&rb.unaffined)
            .map(|(b, _)| *b)
            .collect();
        // d2 is unaffined by exactly one of them; the other lost or found it marked.
        assert_eq!(marked, vec![d2], "{ra:?} {rb:?}");
        assert_eq!(claim_of(&s, d1).await, None);
        assert_eq!(
            claim_of(&s, d2).await,
            Some(BlockClaim {
                node: "dead".into(),
                unaffined: true
            })
        );
        assert_eq!(claim_of(&s, g1).await, Some(BlockClaim::of("ghost")));
        assert_eq!(claim_of(&s, l1).await, Some(BlockClaim::of("live")));
        // The freed block is claimable again; the held one is not.
        let mut taken = Vec::new();
        while let Ok(b) = affinity::claim_next(&s, "new", &[pool], false).await {
            taken.push(b);
        }
        assert!(taken.contains(&d1) && !taken.contains(&d2), "{taken:?}");

        // A sweep that read d2 before "dead" came back cannot delete it after: the
        // return rewrites it (reaffirm), and the sweep's write is on the old revision.
        let before = s.get_raw(&block_key(d2)).await.expect("get").expect("d2");
        assert_eq!(
            reclaim::reaffirm(&s, "dead").await.expect("reaffirm"),
            vec![d2]
        );
        assert_eq!(claim_of(&s, d2).await, Some(BlockClaim::of("dead")));
        assert!(!s
            .delete_raw_if(&before.key, before.revision)
            .await
            .expect("txn"));
        assert_eq!(claim_of(&s, d2).await, Some(BlockClaim::of("dead")));
        drop(lab);
    });
}

#[test]
fn a_node_cut_off_checks_its_blocks_when_it_registers_again() {
    EtcdLab::new("cl-rechk").run_client(|lab| async move {
        let endpoint = lab.endpoint().to_string();
        let s = EtcdStore::connect(std::slice::from_ref(&endpoint))
            .await
            .expect("connect");
        let pool = Pool {
            cidr: "10.79.0.0/26".parse().expect("cidr"),
            block_size: 28,
        };
        let mut mine = Vec::new();
        for _ in 0..4 {
            mine.push(
                affinity::claim_next(&s, "cut", &[pool], false)
                    .await
                    .expect("claim"),
            );
        }
        let [kept, freed, stolen, unaffined] = [mine[0], mine[1], mine[2], mine[3]];
        // While "cut" looked gone: a sweep freed two empty blocks, and unaffined one
        // a workload held; another node claimed one of the freed blocks.
        s.create(&wep(
            "cut",
            &format!("{}/32", unaffined.hosts().nth(1).expect("ip")),
        ))
        .await
        .expect("wep");
        for b in [freed, stolen, kept] {
            let v = s.get_raw(&block_key(b)).await.expect("get").expect("key");
            if b != kept {
                assert!(s.delete_raw_if(&v.key, v.revision).await.expect("txn"));
            }
        }
        let marked = BlockClaim {
            node: "cut".into(),
            unaffined: true,
        };
        let v = s
            .get_raw(&block_key(unaffined))
            .await
            .expect("get")
            .expect("key");
        assert!(s
            .put_raw_if(&v.key, &marked.to_value(), v.revision)
            .await
            .expect("txn"));
        let other = BlockClaim::of("other").to_value();
        assert!(s.claim(&block_key(stolen), &other).await.expect("claim"));

        let r = reclaim::recheck(&s, "cut", &mine).await.expect("recheck");
        assert_eq!(r.kept, vec![kept, unaffined], "{r:?}");
        assert_eq!(r.taken_back, vec![freed], "{r:?}");
        assert_eq!(r.lost, vec![(stolen, "other".to_string())], "{r:?}");
        assert!(r.unsettled.is_empty(), "{r:?}");
        for b in [kept, freed, unaffined] {
            assert_eq!(claim_of(&s, b).await, Some(BlockClaim::of("cut")), "{b}");
        }
        assert_eq!(claim_of(&s, stolen).await, Some(BlockClaim::of("other")));
        drop(lab);
    });
}
