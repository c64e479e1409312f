//! Hostile and careless input files through the CLI: every one is bad input (exit 2)
//! with a `FILE:LINE:COL: message` at the real position, and `tern policy check` gives
//! the verdict the agent's loader gives (both use `acl::loader` with the same limits).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use tempfile::TempPath;

fn tern(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .arg(file)
        .output()
        .expect("run tern")
}

/// A scratch file (`tern-hostile-…-NAME` in the temp folder), removed when the test is
/// done with it (also when an assertion fails), so runs leave nothing behind.
fn file(name: &str, bytes: &[u8]) -> TempPath {
    let mut f = tempfile::Builder::new()
        .prefix("tern-hostile-")
        .suffix(&format!("-{name}"))
        .tempfile()
        .expect("scratch file");
    f.write_all(bytes).expect("write file");
    f.into_temp_path()
}

/// Asserts exit code 2 and that stderr is exactly `FILE:<want>`.
fn assert_bad_input(out: &Output, f: &Path, want: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end(), format!("{}:{want}", f.display()));
}

const HEAD: &str = "nodeName: a\nasNumber: 64512\nrouterId: 192.0.2.1\n";

#[test]
fn config_with_invalid_utf8_is_bad_input_at_the_byte() {
    let mut bytes = HEAD.as_bytes().to_vec();
    bytes.extend_from_slice(b"peers:\n  - {peerIP: 10.0.0.1, asNumber: 1, description: \xff}\n");
    let f = file("latin1.yaml", &bytes);
    let out = tern(&["config", "check"], &f);
    assert_bad_input(
        &out,
        &f,
        "5:50: byte 0xff is not UTF-8 (input files must be UTF-8 text)",
    );
}

#[test]
fn config_with_a_huge_duration_is_bad_input() {
    let text = format!("{HEAD}peers:\n  - {{peerIP: 10.0.0.1, asNumber: 1, connectRetryTime: 18446744073709551615}}\n");
    let f = file("retry.yaml", text.as_bytes());
    let out = tern(&["config", "check"], &f);
    assert_bad_input(
        &out,
        &f,
        "5:55: peers[0].connectRetryTime: 18446744073709551615s is out of range: from 1s to 3600s (RFC 4271 suggests 120s)",
    );
}

#[test]
fn config_with_a_duplicate_key_points_at_it() {
    let f = file("dup.yaml", format!("{HEAD}asNumber: 1\n").as_bytes());
    let out = tern(&["config", "check"], &f);
    assert_bad_input(&out, &f, "4:1: duplicate field `asNumber`");
}

#[test]
fn policy_with_a_deep_selector_is_bad_input() {
    let sel = format!("{}a == 'b'{}", "(".repeat(3000), ")".repeat(3000));
    let text = format!("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: deep}}\nspec:\n  selector: {sel}\n");
    let f = file("deep.yaml", text.as_bytes());
    let out = tern(&["policy", "check"], &f);
    assert_bad_input(
        &out,
        &f,
        "5:77: spec.selector: bad selector: nested more than 64 levels deep (parentheses and `!`)",
    );
}

#[test]
fn policy_named_to_inject_a_rule_is_bad_input() {
    let text = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: \"x\\n-I INPUT 1 -s 203.0.113.66 -j ACCEPT\\n#\"}\nspec: {selector: all()}\n";
    let f = file("inject.yaml", text.as_bytes());
    let out = tern(&["policy", "check"], &f);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "{}:3:18: metadata.name: invalid name `x\\n-I INPUT",
            f.display()
        )),
        "{stderr}"
    );
}
