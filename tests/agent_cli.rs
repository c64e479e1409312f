//! `tern agent`, `tern status` and `tern routes` without a network: config errors exit 2
//! with `FILE:LINE:COL`, an unreachable agent exits 1 with a clear message.

use std::process::Command;

fn tern() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tern"))
}

#[test]
fn agent_with_a_bad_config_exits_2_with_the_location() {
    let dir = std::env::temp_dir().join(format!("tern-agent-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cfg = dir.join("node.yaml");
    std::fs::write(
        &cfg,
        "nodeName: a\nasNumber: 64512\nrouterId: 10.0.0.1\npeerz: []\n",
    )
    .expect("write");
    let out = tern()
        .args(["agent", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{}:4:1:", cfg.display())), "{err}");
    assert!(err.contains("peerz"), "{err}");
    let missing = tern()
        .args(["agent", "--config"])
        .arg(dir.join("none.yaml"))
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn status_and_routes_without_an_agent_exit_1() {
    let sock = std::env::temp_dir().join(format!("tern-no-agent-{}.sock", std::process::id()));
    for args in [
        &["status"][..],
        &["routes", "--all"][..],
        &["status", "--json"][..],
    ] {
        let out = tern()
            .args(args)
            .arg("--socket")
            .arg(&sock)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("cannot reach the agent"), "{err}");
        assert!(err.contains(&sock.display().to_string()), "{err}");
        assert!(out.stdout.is_empty());
    }
}
