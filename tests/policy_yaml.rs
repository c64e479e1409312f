//! `tern policy` with the YAML users already have: a `kubectl get networkpolicies -A -o
//! yaml` dump checks, a manifest mixing other kinds checks with one warning per skipped
//! document on stderr, and output into a closed pipe (`… | head -1`) ends quietly
//! instead of panicking.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn tern() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tern"))
}

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

#[test]
fn a_kubectl_dump_checks() {
    let dump = path("acl/tests/data/kubectl-networkpolicies.yaml");
    let out = tern()
        .args(["policy", "check", s(&dump)])
        .output()
        .expect("run tern");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("ok: 3 policies"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn other_kinds_are_skipped_with_a_warning_each() {
    let f = path("acl/tests/data/mixed-manifest.yaml");
    let out = tern()
        .args(["policy", "check", s(&f)])
        .output()
        .expect("run tern");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "warning: {}:3:7: kind: Deployment (apps/v1) skipped: not a policy kind",
                f.display()
            ),
            format!(
                "warning: {}:23:7: kind: Service (v1) skipped: not a policy kind",
                f.display()
            ),
            format!(
                "warning: {}:46:7: kind: ConfigMap (v1) skipped: not a policy kind",
                f.display()
            ),
        ]
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("; 3 documents skipped"));
}

#[test]
fn a_closed_pipe_ends_explain_and_render_quietly() {
    let ex = path("examples");
    let (eps, pols) = (ex.join("endpoints"), ex.join("policies"));
    for args in [
        vec![
            "policy",
            "explain",
            "--from",
            "shop/client-1",
            "--to",
            "shop/web-1",
            "--port",
            "80",
            s(&eps),
            s(&pols),
        ],
        vec!["policy", "render", s(&eps), s(&pols)],
    ] {
        // The read end is closed before tern writes: every write fails with EPIPE.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = tern()
            .args(&args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .expect("run tern");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
        assert!(out.status.code().is_some(), "{args:?}: killed by a signal");
    }
}

#[test]
fn explain_reports_what_staged_policies_would_do() {
    let dir = std::env::temp_dir().join(format!("tern-policy-yaml-staged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("staged.yaml");
    std::fs::write(
        &f,
        "kind: WorkloadEndpoint
name: web
namespace: shop
interface: tw-web
ips: [10.65.0.10/32]
labels: { app: web }
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: { name: deny-web }
spec:
  selector: app == 'web'
  ingress: [ { action: Deny, protocol: TCP, destination: { ports: [80] } } ]
",
    )
    .expect("write");
    let out = tern()
        .args([
            "policy",
            "explain",
            "--from",
            "10.65.0.99",
            "--to",
            "shop/web",
            "--port",
            "80",
            s(&f),
        ])
        .output()
        .expect("run tern");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Enforced: allowed (nothing selects web); staged: would be denied.
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("verdict: allow\n"), "{stdout}");
    assert!(
        stdout.contains("staged policies (evaluated, not enforced): the verdict would be deny\n  ingress of workload shop/web (tw-web): deny by policy deny-web ingress[0] (Deny)"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("staged policy deny-web is evaluated"));
}
