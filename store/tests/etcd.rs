//! The etcd backend and the reflector against a real etcd (Debian's etcd-server) in a
//! lab namespace: compare-and-swap writes, racing block claims, watch order,
//! compaction and resync, and an etcd outage the reflector survives.

use std::sync::Arc;
use std::time::Duration;

use resources::{Kind, Resource};
use store::etcd::EtcdStore;
use store::{
    Event, EventStream, RawEvent, RawEventStream, RawValue, Reflector, Revision, Store, StoreError,
};
use testlab::etcd::EtcdLab;

fn pool(name: &str, cidr: &str) -> Resource {
    let text = format!(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{name: {name}}}\nspec: {{cidr: {cidr}}}\n"
    );
    resources::load_text(std::path::Path::new("t.yaml"), &text)
        .expect("valid pool")
        .remove(0)
}

fn rev(r: &Resource) -> Revision {
    r.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("resourceVersion")
}

async fn connect(lab: &EtcdLab) -> EtcdStore {
    EtcdStore::connect(&[lab.endpoint().to_string()])
        .await
        .expect("connect to etcd")
}

async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn writes_are_compare_and_swap() {
    EtcdLab::new("st-cas").run_client(|lab| async move {
        let s = connect(&lab).await;
        let a = pool("a", "10.1.0.0/16");
        let r1 = s.create(&a).await.expect("create");
        assert!(matches!(
            s.create(&a).await,
            Err(StoreError::AlreadyExists(_))
        ));
        let got = s.get(&a.key()).await.unwrap().expect("stored");
        assert_eq!(rev(&got), r1);
        let b = pool("a", "10.2.0.0/16");
        let r2 = s.update(&b, r1).await.expect("update at the revision read");
        // A writer that read r1 loses now, and is told the current revision.
        match s.update(&a, r1).await {
            Err(StoreError::Conflict {
                expected, current, ..
            }) => {
                assert_eq!((expected, current), (r1, Some(r2)))
            }
            other => panic!("stale update: {other:?}"),
        }
        let now = s.get(&a.key()).await.unwrap().unwrap();
        assert_eq!(now.spec, b.spec, "the stale write changed nothing");
        // apply: with a stale resourceVersion it conflicts; without, it reads and swaps.
        let mut stale = a.clone();
        stale.metadata.resource_version = Some(r1.to_string());
        assert!(matches!(
            store::apply(&s, &stale).await,
            Err(StoreError::Conflict { .. })
        ));
        let (created, r3) = store::apply(&s, &a).await.expect("apply");
        assert!(!created && r3 > r2);
        assert!(matches!(
            s.delete(&a.key(), Some(r1)).await,
            Err(StoreError::Conflict { .. })
        ));
        s.delete(&a.key(), None).await.expect("delete");
        assert!(matches!(
            s.delete(&a.key(), None).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.get(&a.key()).await.unwrap(), None);
        drop(lab);
    });
}

#[test]
fn racing_claimers_never_both_win_a_block() {
    EtcdLab::new("st-claim").run_client(|lab| async move {
        const BLOCKS: usize = 200;
        const CLAIMERS: usize = 4;
        let mut tasks = Vec::new();
        for c in 0..CLAIMERS {
            // Each claimer has its own connection, as two agents would.
            let s = connect(&lab).await;
            tasks.push(tokio::spawn(async move {
                let mut won = Vec::new();
                for i in 0..BLOCKS {
                    let key = format!("/tern/v1/ipam/blocks/10.244.{}.{}-26", i / 4, (i % 4) * 64);
                    if s.claim(&key, format!("node-{c}").as_bytes())
                        .await
                        .expect("claim")
                    {
                        won.push(key);
                    }
                }
                won
            }));
        }
        let mut wins: Vec<Vec<String>> = Vec::new();
        for t in tasks {
            wins.push(t.await.expect("claimer"));
        }
        let s = connect(&lab).await;
        let (all, _) = s.list_raw("/tern/v1/ipam/blocks/").await.unwrap();
        assert_eq!(all.len(), BLOCKS);
        let mut total = 0;
        for (c, won) in wins.iter().enumerate() {
            total += won.len();
            for key in won {
                let v: RawValue = s.get_raw(key).await.unwrap().expect("claimed");
                assert_eq!(
                    v.value,
                    format!("node-{c}").as_bytes(),
                    "{key} won by node-{c}"
                );
            }
        }
        assert_eq!(total, BLOCKS, "every block is won exactly once: {wins:?}");
        // A raw watch sees a claim, a CAS update and a release, in order.
        let (_, at) = s.list_raw("/tern/v1/ipam/").await.unwrap();
        let mut w = s.watch_raw("/tern/v1/ipam/", at).await.unwrap();
        assert!(s
            .claim("/tern/v1/ipam/blocks/10.250.0.0-26", b"n1")
            .await
            .unwrap());
        let v = s
            .get_raw("/tern/v1/ipam/blocks/10.250.0.0-26")
            .await
            .unwrap()
            .unwrap();
        assert!(s.put_raw_if(&v.key, b"n1:used", v.revision).await.unwrap());
        let v2 = s.get_raw(&v.key).await.unwrap().unwrap();
        assert!(s.delete_raw_if(&v.key, v2.revision).await.unwrap());
        let mut seen = Vec::new();
        while seen.len() < 3 {
            use futures::StreamExt;
            let ev = tokio::time::timeout(Duration::from_secs(30), w.next())
                .await
                .expect("raw event")
                .expect("open")
                .expect("ok");
            seen.push(match ev {
                RawEvent::Put(v) => format!("put {}", String::from_utf8_lossy(&v.value)),
                RawEvent::Delete { key, .. } => format!("delete {key}"),
                RawEvent::Compacted { .. } => "compacted".into(),
            });
        }
        assert_eq!(
            seen,
            [
                "put n1",
                "put n1:used",
                "delete /tern/v1/ipam/blocks/10.250.0.0-26"
            ]
        );
        // A claimed key can be changed only at the revision read.
        let v = s.get_raw(&all[0].key).await.unwrap().unwrap();
        assert!(s.put_raw_if(&v.key, b"x", v.revision).await.unwrap());
        assert!(!s.put_raw_if(&v.key, b"y", v.revision).await.unwrap());
        assert!(!s.delete_raw_if(&v.key, v.revision).await.unwrap());
        drop(lab);
    });
}

#[test]
fn watch_sees_puts_and_deletes_in_order() {
    EtcdLab::new("st-watch").run_client(|lab| async move {
        use futures::StreamExt;
        let s = connect(&lab).await;
        s.create(&pool("old", "10.9.0.0/16")).await.unwrap();
        let (list, at) = s.list(Kind::IpPool).await.unwrap();
        assert_eq!(list.len(), 1);
        let mut w = s.watch(Kind::IpPool, at).await.unwrap();
        let w1 = connect(&lab).await;
        let ra = w1.create(&pool("a", "10.1.0.0/16")).await.unwrap();
        let rb = w1.create(&pool("b", "10.2.0.0/16")).await.unwrap();
        let ra2 = w1.update(&pool("a", "10.3.0.0/16"), ra).await.unwrap();
        let rd = w1
            .delete(&pool("b", "10.2.0.0/16").key(), None)
            .await
            .unwrap();
        // Another kind's write is not seen by this watch.
        w1.create(&node("n1")).await.unwrap();
        let rold = w1
            .delete(&pool("old", "10.9.0.0/16").key(), None)
            .await
            .unwrap();
        let mut seen = Vec::new();
        while seen.len() < 5 {
            let ev = tokio::time::timeout(Duration::from_secs(30), w.next())
                .await
                .expect("watch event")
                .expect("stream open")
                .expect("no error");
            seen.push(match ev {
                Event::Put(r) => format!("put {} {}", r.metadata.name, rev(&r)),
                Event::Delete { key, revision } => format!("delete {} {revision}", key.name),
                Event::Compacted { revision } => format!("compacted {revision}"),
            });
        }
        assert_eq!(
            seen,
            [
                format!("put a {ra}"),
                format!("put b {rb}"),
                format!("put a {ra2}"),
                format!("delete b {rd}"),
                format!("delete old {rold}"),
            ]
        );
        drop(lab);
    });
}

fn node(name: &str) -> Resource {
    let text = format!(
        "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: {name}}}\nspec: {{bgp: {{ipv4Address: 10.0.0.9/24}}}}\n"
    );
    resources::load_text(std::path::Path::new("t.yaml"), &text)
        .expect("valid node")
        .remove(0)
}

/// A store whose first watch starts at revision 1, as a reflector that fell far
/// behind would: etcd answers with its compaction, for real.
struct FellBehind {
    inner: EtcdStore,
    first: std::sync::atomic::AtomicBool,
}

impl Store for FellBehind {
    async fn list(&self, kind: Kind) -> Result<(Vec<Resource>, Revision), StoreError> {
        self.inner.list(kind).await
    }
    async fn get(&self, key: &resources::ResourceKey) -> Result<Option<Resource>, StoreError> {
        self.inner.get(key).await
    }
    async fn watch(&self, kind: Kind, from: Revision) -> Result<EventStream, StoreError> {
        let from = if self.first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            1
        } else {
            from
        };
        self.inner.watch(kind, from).await
    }
    async fn watch_raw(&self, p: &str, from: Revision) -> Result<RawEventStream, StoreError> {
        self.inner.watch_raw(p, from).await
    }
    async fn create(&self, r: &Resource) -> Result<Revision, StoreError> {
        self.inner.create(r).await
    }
    async fn update(&self, r: &Resource, e: Revision) -> Result<Revision, StoreError> {
        self.inner.update(r, e).await
    }
    async fn delete(
        &self,
        k: &resources::ResourceKey,
        e: Option<Revision>,
    ) -> Result<Revision, StoreError> {
        self.inner.delete(k, e).await
    }
    async fn claim(&self, k: &str, v: &[u8]) -> Result<bool, StoreError> {
        self.inner.claim(k, v).await
    }
    async fn get_raw(&self, k: &str) -> Result<Option<RawValue>, StoreError> {
        self.inner.get_raw(k).await
    }
    async fn list_raw(&self, p: &str) -> Result<(Vec<RawValue>, Revision), StoreError> {
        self.inner.list_raw(p).await
    }
    async fn put_raw_if(&self, k: &str, v: &[u8], e: Revision) -> Result<bool, StoreError> {
        self.inner.put_raw_if(k, v, e).await
    }
    async fn delete_raw_if(&self, k: &str, e: Revision) -> Result<bool, StoreError> {
        self.inner.delete_raw_if(k, e).await
    }
}

#[test]
fn compaction_makes_watchers_resync() {
    EtcdLab::new("st-compact").run_client(|lab| async move {
        use futures::StreamExt;
        let s = connect(&lab).await;
        let (_, start) = s.list(Kind::IpPool).await.unwrap();
        for i in 0..5 {
            s.create(&pool(&format!("p{i}"), &format!("10.{i}.0.0/16")))
                .await
                .unwrap();
        }
        s.delete(&pool("p0", "10.0.0.0/16").key(), None)
            .await
            .unwrap();
        let now = s.revision().await.unwrap();
        s.compact(now).await.unwrap();
        // A plain watch from before the compaction is told so, and ends.
        let mut w = s.watch(Kind::IpPool, start).await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(30), w.next())
            .await
            .expect("an answer")
            .expect("an item");
        assert_eq!(first, Ok(Event::Compacted { revision: now }));
        // A reflector whose watch hits the compaction relists and ends up right.
        let behind = Arc::new(FellBehind {
            inner: connect(&lab).await,
            first: true.into(),
        });
        let r = Reflector::spawn(behind, Kind::IpPool);
        let snap = r.wait_synced().await;
        assert_eq!(snap.items.len(), 4);
        let mut rx = r.subscribe();
        let snap = rx.wait_for(|s| s.resyncs == 1).await.unwrap().clone();
        let names: Vec<&str> = snap.items.keys().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["p1", "p2", "p3", "p4"]);
        // And keeps watching after the resync.
        s.create(&pool("p9", "10.99.0.0/16")).await.unwrap();
        eventually("p9 in the reflector", || {
            r.snapshot()
                .items
                .keys()
                .any(|k| k.name == "p9")
                .then_some(())
        })
        .await;
        drop(lab);
    });
}

#[test]
fn reflector_reconnects_after_an_etcd_outage() {
    EtcdLab::new("st-outage").run_client(|mut lab| async move {
        let s = Arc::new(connect(&lab).await);
        s.create(&pool("before", "10.1.0.0/16")).await.unwrap();
        let r = Reflector::spawn(s.clone(), Kind::IpPool);
        let synced = r.wait_synced().await;
        assert_eq!(synced.items.len(), 1);
        assert!(synced.connected);
        tokio::task::block_in_place(|| lab.stop());
        let down = eventually("the reflector to notice the outage", || {
            let s = r.snapshot();
            (!s.connected).then_some(s)
        })
        .await;
        // Nothing known is dropped while etcd is away.
        assert_eq!(down.items.len(), 1);
        assert!(down.synced);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(r.snapshot().items.len(), 1);
        tokio::task::block_in_place(|| lab.start());
        // A write after the restart, through a new connection, reaches the reflector.
        let w = connect(&lab).await;
        let mut wrote = false;
        for _ in 0..100 {
            if w.create(&pool("after", "10.2.0.0/16")).await.is_ok() {
                wrote = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(wrote, "etcd takes writes after its restart");
        let back = eventually("the reflector to see the new pool", || {
            let s = r.snapshot();
            (s.connected && s.items.len() == 2).then_some(s)
        })
        .await;
        assert!(back.reconnects >= 1, "{back:?}");
        assert_eq!(back.resyncs, 0, "history was still there: no relist needed");
        drop(lab);
    });
}

#[test]
fn a_registered_node_lives_while_its_lease_is_kept() {
    EtcdLab::new("st-lease").run_client(|lab| async move {
        let s = connect(&lab).await;
        let me = node("host-a");
        let reg = s
            .register(&me, Duration::from_secs(2))
            .await
            .expect("register");
        // Kept alive well past its TTL.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(s.get(&me.key()).await.unwrap().is_some(), "renewed");
        // Revoked: gone at once.
        reg.revoke().await.expect("revoke");
        assert_eq!(s.get(&me.key()).await.unwrap(), None);
        // A node that dies (keep-alive stops): etcd removes it after the TTL, and a
        // watcher sees the delete.
        let reg = s
            .register(&me, Duration::from_secs(2))
            .await
            .expect("register");
        let r = Reflector::spawn(Arc::new(connect(&lab).await), Kind::Node);
        eventually("the node in the reflector", || {
            (r.snapshot().items.len() == 1).then_some(())
        })
        .await;
        drop(reg);
        eventually("the dead node to leave", || {
            let s = r.snapshot();
            (s.synced && s.items.is_empty()).then_some(())
        })
        .await;
        drop(lab);
    });
}

#[test]
fn a_lost_lease_is_registered_again_and_counted() {
    EtcdLab::new("st-release").run_client(|lab| async move {
        let s = connect(&lab).await;
        let me = node("host-b");
        let reg = s
            .register(&me, Duration::from_secs(2))
            .await
            .expect("register");
        let mut renewals = reg.renewals();
        assert_eq!(*renewals.borrow_and_update(), 0);
        // Another client revokes every lease (as etcd does when the node was cut off
        // for longer than the TTL): the Node is deleted with it.
        let mut other = etcd_client::Client::connect([lab.endpoint()], None)
            .await
            .expect("client");
        let leases = other.leases().await.expect("leases");
        assert!(!leases.leases().is_empty());
        for l in leases.leases() {
            other.lease_revoke(l.id()).await.expect("revoke");
        }
        // The keep-alive notices, registers again, and says so.
        tokio::time::timeout(Duration::from_secs(30), renewals.changed())
            .await
            .expect("a renewal within 30 s")
            .expect("registration alive");
        assert_eq!(*renewals.borrow(), 1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while s.get(&me.key()).await.ok().flatten().is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the Node is written again"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(reg);
        drop(lab);
    });
}
