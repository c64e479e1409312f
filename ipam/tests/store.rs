//! The store on a real directory: round trip, truncated and corrupt files, hostile keys,
//! permissions, the lock, and `Ipam` (write first, then memory; rollback when the write
//! fails). The crash test, which starts a child process, is in `store_crash.rs`.

use ipam::store::{file_name, LoadProblemKind, StateDir, StoreError};
use ipam::{Allocation, Attachment, AttachmentKey, Ipam, IpamError, ProblemKind, Request};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

mod common;
use common::{blocks, key};

fn alloc(ip4: &str) -> Allocation {
    Allocation {
        ipv4: Some(ip4.parse().unwrap()),
        ipv6: None,
        attachment: Attachment {
            netns: "/run/netns/cni-1".into(),
            host_ifname: "tern0123456789a".into(),
            namespace: "default".into(),
            name: "web-1".into(),
            labels: BTreeMap::from([("app".into(), "web".into())]),
            extra: serde_json::json!({"future": [1, 2]}),
        },
    }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn round_trip_and_permissions() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("state");
    let store = StateDir::open(&root).unwrap();
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(store.dir()), 0o700);
    store.put(&key("aaa"), &alloc("10.0.0.1")).unwrap();
    store.put(&key("bbb"), &alloc("10.0.0.2")).unwrap();
    store.put(&key("aaa"), &alloc("10.0.0.3")).unwrap(); // replaces
    assert_eq!(mode(&store.path_of(&key("aaa"))), 0o600);
    let loaded = store.load().unwrap();
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let got: Vec<_> = loaded
        .records
        .iter()
        .map(|r| (r.key.container_id.as_str(), r.allocation.clone()))
        .collect();
    assert_eq!(
        got,
        vec![("aaa", alloc("10.0.0.3")), ("bbb", alloc("10.0.0.2"))]
    );
    assert!(store.remove(&key("aaa")).unwrap());
    assert!(!store.remove(&key("aaa")).unwrap());
    assert_eq!(store.load().unwrap().records.len(), 1);
    // Nothing but the records and the lock is left in the directory.
    let mut names: Vec<_> = fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![".lock".to_string(), "bbb.eth0.json".to_string()]
    );
}

#[test]
fn existing_loose_directory_is_tightened() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("ipam")).unwrap();
    fs::set_permissions(tmp.path().join("ipam"), fs::Permissions::from_mode(0o755)).unwrap();
    let store = StateDir::open(tmp.path()).unwrap();
    assert_eq!(mode(store.dir()), 0o700);
}

#[test]
fn truncated_and_corrupt_files_are_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let store = StateDir::open(tmp.path()).unwrap();
    for c in ["good", "trunc", "empty", "garbage", "newer", "wrongkey"] {
        store.put(&key(c), &alloc("10.0.0.9")).unwrap();
    }
    let p = |c: &str| store.path_of(&key(c));
    let full = fs::read(p("trunc")).unwrap();
    fs::write(p("trunc"), &full[..full.len() / 3]).unwrap();
    fs::write(p("empty"), b"").unwrap();
    fs::write(p("garbage"), b"\0\xff{{not json").unwrap();
    fs::write(
        p("newer"),
        String::from_utf8(fs::read(p("newer")).unwrap())
            .unwrap()
            .replace("\"version\": 1", "\"version\": 9"),
    )
    .unwrap();
    // A record copied under another key's name.
    fs::copy(p("good"), p("wrongkey")).unwrap();
    fs::write(store.dir().join("notes.txt"), b"hello").unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(
        loaded
            .records
            .iter()
            .map(|r| r.key.container_id.as_str())
            .collect::<Vec<_>>(),
        vec!["good"]
    );
    let mut by_name: Vec<(String, String)> = loaded
        .problems
        .iter()
        .map(|pr| {
            (
                pr.path.file_name().unwrap().to_string_lossy().into_owned(),
                format!("{:?}", std::mem::discriminant(&pr.kind)),
            )
        })
        .collect();
    by_name.sort();
    assert_eq!(by_name.len(), 6, "{:?}", loaded.problems);
    let find = |n: &str| {
        loaded
            .problems
            .iter()
            .find(|pr| pr.path.file_name().unwrap() == n)
            .unwrap_or_else(|| panic!("{n} not reported"))
    };
    assert!(matches!(
        find("trunc.eth0.json").kind,
        LoadProblemKind::Corrupt { .. }
    ));
    assert!(matches!(
        find("empty.eth0.json").kind,
        LoadProblemKind::Corrupt {
            line: 1,
            column: 0,
            ..
        }
    ));
    assert!(matches!(
        find("garbage.eth0.json").kind,
        LoadProblemKind::Corrupt { .. }
    ));
    assert!(matches!(
        find("newer.eth0.json").kind,
        LoadProblemKind::UnknownVersion(9)
    ));
    assert!(
        matches!(&find("wrongkey.eth0.json").kind, LoadProblemKind::Misplaced(k) if k.container_id == "good")
    );
    assert!(matches!(find("notes.txt").kind, LoadProblemKind::Foreign));
    // The message names the file, with line and column for a parse error.
    let msg = find("trunc.eth0.json").to_string();
    assert!(
        msg.starts_with(&format!("{}:", p("trunc").display()))
            && msg.contains("corrupt or truncated"),
        "{msg}"
    );
    // Reported files are left in place for inspection.
    assert!(p("trunc").exists() && p("garbage").exists());
}

#[test]
fn oversized_file_is_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let store = StateDir::open(tmp.path()).unwrap();
    let f = fs::File::create(store.path_of(&key("huge"))).unwrap();
    f.set_len(64 << 20).unwrap();
    let loaded = store.load().unwrap();
    assert!(matches!(loaded.problems[0].kind, LoadProblemKind::TooLarge(n) if n == 64 << 20));
}

#[test]
fn hostile_keys_cannot_escape_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("state");
    let store = StateDir::open(&root).unwrap();
    for (c, i) in [
        ("../../escape", "eth0"),
        ("a/b", "eth0"),
        ("x\0y", "eth0"),
        ("..", "eth0"),
        ("ok", "../x"),
        ("ok", "a/b"),
        (".lock", "eth0"),
    ] {
        let k = AttachmentKey {
            container_id: c.into(),
            ifname: i.into(),
        };
        let err = store.put(&k, &alloc("10.0.0.1")).unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { .. }), "{err}");
        // Even the name it would have is one plain file inside the directory.
        let path = store.path_of(&k);
        assert_eq!(path.parent().unwrap(), store.dir());
        assert!(!file_name(&k).starts_with('.'));
    }
    // Nothing was written anywhere: only the lock in ipam/, only ipam/ in the root.
    assert_eq!(fs::read_dir(store.dir()).unwrap().count(), 1);
    assert_eq!(fs::read_dir(&root).unwrap().count(), 1);
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    // Dots in a valid ID are escaped, so they cannot form `..` or look like a temp file.
    store.put(&key("a..b"), &alloc("10.0.0.1")).unwrap();
    assert!(store.dir().join("a%2E%2Eb.eth0.json").exists());
    assert_eq!(store.load().unwrap().records[0].key, key("a..b"));
}

#[test]
fn one_agent_per_state_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let first = StateDir::open(tmp.path()).unwrap();
    match StateDir::open(tmp.path()) {
        Err(StoreError::Locked { path }) => assert!(path.ends_with("ipam/.lock")),
        other => panic!("{other:?}"),
    }
    drop(first);
    StateDir::open(tmp.path()).unwrap();
}

#[test]
fn ipam_persists_every_change() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut ipam, report) = Ipam::open(tmp.path(), blocks()).unwrap();
    assert!(report.load.is_empty() && report.restore.is_empty());
    let a = ipam.allocate(&key("c1"), &Request::default()).unwrap();
    let b = ipam.allocate(&key("c2"), &Request::default()).unwrap();
    ipam.allocate(&key("c3"), &Request::default()).unwrap();
    assert_eq!(ipam.allocate(&key("c1"), &Request::default()).unwrap(), a);
    ipam.update_labels(&key("c2"), |l| {
        l.insert("app".into(), "db".into());
    })
    .unwrap();
    let out = ipam.gc(|k| k.container_id != "c3");
    assert_eq!((out.freed.len(), out.failed.len()), (1, 0));
    assert_eq!(out.freed[0].0, key("c3"));
    assert_eq!(ipam.release(&key("unknown")).unwrap(), None);
    drop(ipam);

    let (ipam, report) = Ipam::open(tmp.path(), blocks()).unwrap();
    assert!(report.load.is_empty() && report.restore.is_empty());
    let got: Vec<_> = ipam
        .iter()
        .map(|(k, al)| (k.container_id.clone(), al.clone()))
        .collect();
    let mut b_labeled = b.clone();
    b_labeled
        .attachment
        .labels
        .insert("app".into(), "db".into());
    assert_eq!(
        got,
        vec![("c1".to_string(), a.clone()), ("c2".to_string(), b_labeled)]
    );
    let mut ipam = ipam;
    ipam.release(&key("c1")).unwrap();
    drop(ipam);
    let (ipam, _) = Ipam::open(tmp.path(), blocks()).unwrap();
    assert_eq!(ipam.iter().count(), 1);
}

#[test]
fn records_outside_new_blocks_are_reported_and_can_be_forgotten() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut ipam, _) = Ipam::open(tmp.path(), blocks()).unwrap();
    ipam.allocate(&key("c1"), &Request::default()).unwrap();
    drop(ipam);
    // The node's IPv6 block changed while the agent was down.
    let (mut ipam, report) = Ipam::open(
        tmp.path(),
        vec![
            "10.0.0.0/26".parse().unwrap(),
            "fd01::/122".parse().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(report.restore.len(), 1);
    assert!(
        matches!(report.restore[0].kind, ProblemKind::OutsideBlocks(a) if a == "fd00::1".parse::<std::net::IpAddr>().unwrap())
    );
    assert!(ipam.get(&key("c1")).is_none());
    // Its IPv4 address is free again for others; the agent cleans up, then forgets it.
    assert!(ipam.store().path_of(&key("c1")).exists());
    assert!(ipam.forget(&key("c1")).unwrap());
    assert!(!ipam.store().path_of(&key("c1")).exists());
    let next = ipam.allocate(&key("c2"), &Request::default()).unwrap();
    assert_eq!(next.ipv6, Some("fd01::1".parse().unwrap()));
}

#[test]
fn a_failed_write_allocates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut ipam, _) = Ipam::open(tmp.path(), blocks()).unwrap();
    // A directory where c1's record would go: the rename over it fails.
    fs::create_dir(ipam.store().path_of(&key("c1"))).unwrap();
    fs::write(ipam.store().path_of(&key("c1")).join("x"), b"x").unwrap();
    let err = ipam.allocate(&key("c1"), &Request::default()).unwrap_err();
    assert!(
        matches!(err, IpamError::Store(StoreError::Io { op: "rename", .. })),
        "{err}"
    );
    assert!(ipam.get(&key("c1")).is_none());
    assert!(ipam.allocator().usage().iter().all(|u| u.allocated == 0));
    // No temp file is left behind.
    let names: Vec<_> = fs::read_dir(ipam.store().dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".tmp-")), "{names:?}");
    // The same for a label change: the old labels stay.
    ipam.allocate(&key("c2"), &Request::default()).unwrap();
    let path = ipam.store().path_of(&key("c2"));
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    fs::write(path.join("x"), b"x").unwrap();
    assert!(ipam
        .update_labels(&key("c2"), |l| {
            l.insert("a".into(), "b".into());
        })
        .is_err());
    assert!(ipam.get(&key("c2")).unwrap().attachment.labels.is_empty());
    // And a release whose unlink fails keeps the allocation, so DEL can be retried.
    assert!(ipam.release(&key("c2")).is_err());
    assert!(ipam.get(&key("c2")).is_some());
}
