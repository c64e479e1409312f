//! Block affinity against a real etcd (Debian's etcd-server) in a lab namespace: six
//! claimers, each with its own connection as six agents would have, race for the 16
//! blocks of a small pool until it is used up. Every block is owned exactly once, the
//! owners' lists (`owned`) agree with what each claimer won, and a claim on a full pool
//! says so.

use std::collections::BTreeSet;

use cluster::affinity::{self, AffinityError};
use cluster::pools::Pool;
use ipnet::IpNet;
use store::etcd::EtcdStore;
use testlab::etcd::EtcdLab;

#[test]
fn racing_claimers_each_get_distinct_blocks_until_the_pool_is_used_up() {
    EtcdLab::new("cl-aff").run_client(|lab| async move {
        let endpoint = lab.endpoint().to_string();
        let pool = Pool {
            cidr: "10.77.0.0/24".parse().expect("cidr"),
            block_size: 28,
        };
        let mut tasks = Vec::new();
        for c in 0..6 {
            let s = EtcdStore::connect(std::slice::from_ref(&endpoint))
                .await
                .expect("connect");
            tasks.push(tokio::spawn(async move {
                let name = format!("node-{c}");
                let mut won: Vec<IpNet> = Vec::new();
                loop {
                    match affinity::claim_next(&s, &name, &[pool], false).await {
                        Ok(b) => won.push(b),
                        Err(AffinityError::Exhausted { .. }) => break,
                        Err(e) => panic!("{name}: {e}"),
                    }
                }
                (name, won)
            }));
        }
        let mut all: Vec<IpNet> = Vec::new();
        let s = EtcdStore::connect(std::slice::from_ref(&endpoint))
            .await
            .expect("connect");
        for t in tasks {
            let (name, mut won) = t.await.expect("claimer");
            won.sort();
            assert_eq!(
                affinity::owned(&s, &name).await.expect("owned"),
                won,
                "{name}"
            );
            all.extend(won);
        }
        let distinct: BTreeSet<IpNet> = all.iter().copied().collect();
        assert_eq!(all.len(), distinct.len(), "a block won twice: {all:?}");
        let every: BTreeSet<IpNet> = pool.blocks().collect();
        assert_eq!(distinct, every, "the pool is used up, nothing outside it");
        assert!(matches!(
            affinity::claim_next(&s, "late", &[pool], false).await,
            Err(AffinityError::Exhausted { .. })
        ));
        // No IPv6 pool: an IPv6 claim says so instead of claiming anything.
        let e = affinity::claim_next(&s, "late", &[pool], true).await;
        assert!(
            matches!(&e, Err(AffinityError::Exhausted { pools, .. }) if pools == "none"),
            "{e:?}"
        );
        drop(lab);
    });
}
