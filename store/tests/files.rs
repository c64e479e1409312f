//! The files backend: lists what the files hold, watches by re-reading them, refuses
//! writes, and keeps its last good view while a file is broken.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use resources::Kind;
use store::files::FilesStore;
use store::{Event, Reflector, Store, StoreError};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tern-store-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Replaces a file at once (write aside, rename), as editors and config tools do.
fn put(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn pools(names: &[(&str, &str)]) -> String {
    names
        .iter()
        .map(|(n, c)| {
            format!("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{name: {n}}}\nspec: {{cidr: {c}}}\n")
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

#[tokio::test]
async fn lists_watches_and_refuses_writes() {
    let dir = scratch("watch");
    let f = dir.join("pools.yaml");
    std::fs::write(&f, pools(&[("a", "10.1.0.0/16"), ("b", "10.2.0.0/16")])).unwrap();
    std::fs::write(dir.join("notes.txt"), "not yaml: ignored").unwrap();
    let s = FilesStore::new(vec![dir.clone()], Duration::from_millis(20));
    let (list, rev) = s.list(Kind::IpPool).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(s.list(Kind::Node).await.unwrap().0.len(), 0);
    assert!(matches!(
        s.create(&list[0]).await,
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(
        s.claim("/tern/v1/ipam/x", b"n").await,
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(
        s.delete(&list[0].key(), None).await,
        Err(StoreError::ReadOnly)
    ));

    let mut w = s.watch(Kind::IpPool, rev).await.unwrap();
    // A broken edit changes nothing; the fix is seen as a diff.
    put(&f, "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: a}\nspec: {cidr: 10.1.0.0/33}\n");
    assert!(
        matches!(s.list(Kind::IpPool).await, Err(StoreError::Files(e)) if e.contains("pools.yaml:4:"))
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    put(&f, &pools(&[("a", "10.3.0.0/16"), ("c", "10.4.0.0/16")]));
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(30), w.next())
            .await
            .expect("event")
            .expect("open")
            .expect("ok");
        seen.push(match ev {
            Event::Put(r) => format!("put {}", r.metadata.name),
            Event::Delete { key, .. } => format!("delete {}", key.name),
            Event::Compacted { .. } => "compacted".into(),
        });
    }
    assert_eq!(seen, ["put a", "put c", "delete b"]);
    // A watch from an old revision is told to relist (no history is kept).
    let mut old = s.watch(Kind::IpPool, rev).await.unwrap();
    assert!(matches!(
        old.next().await,
        Some(Ok(Event::Compacted { .. }))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn reflector_over_files() {
    let dir = scratch("reflector");
    std::fs::write(dir.join("p.yaml"), pools(&[("a", "10.1.0.0/16")])).unwrap();
    let s = std::sync::Arc::new(FilesStore::new(
        vec![dir.clone()],
        Duration::from_millis(20),
    ));
    let r = Reflector::spawn(s, Kind::IpPool);
    assert_eq!(r.wait_synced().await.items.len(), 1);
    put(&dir.join("q.yaml"), &pools(&[("b", "10.2.0.0/16")]));
    let mut rx = r.subscribe();
    let snap = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|s| s.items.len() == 2))
        .await
        .expect("the new file is seen")
        .unwrap()
        .clone();
    assert!(snap.synced && snap.connected);
    let _ = std::fs::remove_dir_all(&dir);
}
