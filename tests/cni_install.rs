//! `tern cni install` puts the plugin and a network config list in place: the installed
//! binary answers VERSION as a CNI plugin, and the conflist names it with the socket.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use serde_json::Value;

#[test]
fn install_writes_an_executable_plugin_and_a_conflist() {
    let dir = std::env::temp_dir().join(format!("tern-cni-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (bin, conf) = (dir.join("bin"), dir.join("net.d"));
    let o = Command::new(testlab::tern_bin())
        .args(["cni", "install", "--bin-dir"])
        .arg(&bin)
        .arg("--conf-dir")
        .arg(&conf)
        .args(["--name", "podnet", "--socket", "/run/x/tern.sock"])
        .output()
        .expect("run tern cni install");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plugin = bin.join("tern");
    let mode = std::fs::metadata(&plugin)
        .expect("plugin")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let list: Value = serde_json::from_str(
        &std::fs::read_to_string(conf.join("podnet.conflist")).expect("conflist"),
    )
    .expect("conflist JSON");
    assert_eq!(list["name"], "podnet");
    assert_eq!(list["cniVersion"], "1.0.0");
    assert_eq!(list["plugins"][0]["type"], "tern");
    assert_eq!(list["plugins"][0]["socket"], "/run/x/tern.sock");

    // The copy is a CNI plugin whatever its name.
    let mut child = Command::new(&plugin)
        .env_clear()
        .env("CNI_COMMAND", "VERSION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the installed plugin");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(br#"{"cniVersion":"1.0.0"}"#)
        .expect("stdin");
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("VERSION JSON");
    assert_eq!(v["cniVersion"], "1.1.0");

    // A bad name is refused with exit 2 and nothing written.
    let o = Command::new(testlab::tern_bin())
        .args(["cni", "install", "--bin-dir"])
        .arg(dir.join("bin2"))
        .args(["--name", "a/b"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(!dir.join("bin2").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
