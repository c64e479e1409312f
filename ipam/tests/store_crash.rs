//! A killed agent's state directory: the crash test runs this binary again as the agent
//! and kills it.
//!
//! It has a binary of its own because starting a process forks the test binary, and a
//! fork made while another test holds the state directory's `flock` gives the child a
//! copy of the lock's descriptor until it execs: a test that closes and reopens the
//! directory in that window is refused with `Locked`. Nothing else runs in this binary.

use ipam::store::{LoadProblemKind, StoreError};
use ipam::{Attachment, Ipam, Request};
use std::fs;
use std::path::Path;

mod common;
use common::{blocks, key};

/// The child side of the crash test: when `IPAM_CRASH_CHILD_DIR` is set (only by the
/// test below, which runs this test binary again), it makes some changes, leaves a
/// half-written temp file as an interrupted write would, says it is ready and waits to be
/// killed (for at most a minute). Without the variable it does nothing.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("IPAM_CRASH_CHILD_DIR") else {
        return;
    };
    let (mut ipam, _) = Ipam::open(&dir, blocks()).unwrap();
    for c in ["c1", "c2", "c3"] {
        ipam.allocate(
            &key(c),
            &Request::new(Attachment {
                name: c.into(),
                ..Default::default()
            }),
        )
        .unwrap();
    }
    ipam.release(&key("c2")).unwrap();
    let full = fs::read(ipam.store().path_of(&key("c1"))).unwrap();
    fs::write(
        ipam.store().dir().join(".tmp-4242-7"),
        &full[..full.len() / 2],
    )
    .unwrap();
    fs::write(Path::new(&dir).join("ready"), b"").unwrap();
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn killed_agent_leaves_a_stale_temp_file_and_reload_gives_the_same_state() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture"])
        .env("IPAM_CRASH_CHILD_DIR", tmp.path())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !tmp.path().join("ready").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "child never got ready"
        );
        assert!(child.try_wait().unwrap().is_none(), "child exited early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Held by the running child: a second agent is refused.
    assert!(matches!(
        Ipam::open(tmp.path(), blocks()),
        Err(StoreError::Locked { .. })
    ));
    child.kill().unwrap(); // SIGKILL: no destructor, no cleanup
    child.wait().unwrap();

    let (mut ipam, report) = Ipam::open(tmp.path(), blocks()).unwrap();
    assert_eq!(report.load.len(), 1, "{:?}", report.load);
    assert!(matches!(
        report.load[0].kind,
        LoadProblemKind::StaleTempRemoved
    ));
    assert!(report.load[0].path.ends_with(".tmp-4242-7"));
    assert!(!tmp.path().join("ipam/.tmp-4242-7").exists());
    assert!(report.restore.is_empty());
    let got: Vec<_> = ipam
        .iter()
        .map(|(k, a)| {
            (
                k.container_id.clone(),
                a.ipv4.unwrap().to_string(),
                a.attachment.name.clone(),
            )
        })
        .collect();
    let want = [("c1", "10.0.0.1"), ("c3", "10.0.0.3")]
        .map(|(c, ip)| (c.to_string(), ip.to_string(), c.to_string()));
    assert_eq!(got, want);
    // Nothing is handed out twice after the restart, and the released .2 is not the next.
    let next = ipam.allocate(&key("c4"), &Request::default()).unwrap();
    assert_eq!(next.ipv4, Some("10.0.0.4".parse().unwrap()));
}
