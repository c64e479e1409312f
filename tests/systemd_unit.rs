//! The shipped systemd unit (`dist/tern.service.in`, rendered by `make unit` as
//! `make install` does) passes `systemd-analyze verify`, and starts the agent the way
//! docs/operations.md says: with the node config from the config folder and
//! `--graceful-restart`, keeping routes on stop.

use std::path::Path;
use std::process::Command;

#[test]
fn rendered_unit_passes_systemd_analyze_verify() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = Path::new(env!("CARGO_BIN_EXE_tern"));
    let bindir = bin.parent().expect("binary has a folder");
    let dir = std::env::temp_dir().join(format!("tern-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let unit = dir.join("tern.service");
    let st = Command::new("make")
        .current_dir(root)
        .args(["-s", "unit"])
        .arg(format!("BINDIR={}", bindir.display()))
        .arg(format!("CONFDIR={}", dir.display()))
        .arg(format!("UNIT_OUT={}", unit.display()))
        .status()
        .expect("run make");
    assert!(st.success(), "make unit failed");
    let text = std::fs::read_to_string(&unit).expect("rendered unit");
    assert!(!text.contains('@'), "placeholders left:\n{text}");
    let exec = text
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart line");
    assert_eq!(
        exec,
        format!(
            "ExecStart={}/tern agent --config {}/node.yaml --graceful-restart",
            bindir.display(),
            dir.display()
        )
    );
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("run systemd-analyze (package systemd)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
