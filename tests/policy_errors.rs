//! Broken policy files: a located `FILE:LINE:COL: message` error naming the field,
//! exit code 2, and — when applying — the rules in force stay exactly as they were.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn tern() -> &'static str {
    env!("CARGO_BIN_EXE_tern")
}

fn repo(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(p)
        .display()
        .to_string()
}

const GOOD: &str = "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  selector: app == 'web'
  ingress:
    - action: Allow
      protocol: TCP
      source: {nets: [10.0.0.0/8]}
      destination: {ports: [80]}
";

/// (name, file text, expected `LINE:COL: message` fragment)
fn broken() -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("bad-yaml", GOOD.replace("metadata: {name: web, namespace: shop}", "metadata: {name: web, namespace: shop"), ":4:5: did not find expected"),
        ("bad-selector", GOOD.replace("app == 'web'", "app == 'web' &&& x"), ":5:28: spec.selector: bad selector"),
        ("unknown-field", GOOD.replace("      protocol: TCP", "      protocl: TCP"), ":8:7: spec.ingress[0]: unknown field `protocl` (did you mean `protocol`?)"),
        ("bad-cidr", GOOD.replace("10.0.0.0/8", "10.0.0.0/33"), ":9:23: spec.ingress[0].source.nets[0]: bad CIDR `10.0.0.0/33`"),
        (
            "bad-endpoint",
            "kind: WorkloadEndpoint\nname: a\nnamespace: shop\ninterface: tw-a\nips: [10.1.2.3/32, nope]\n".to_string(),
            ":5:20: ips[1]: bad CIDR `nope`",
        ),
    ]
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `tern policy check FILE`.
fn policy_check(file: &Path) -> Output {
    Command::new(tern())
        .args(["policy", "check"])
        .arg(file)
        .output()
        .unwrap()
}

/// `tern policy apply --backend BACKEND FILES...` inside `host`.
fn policy_apply(host: &testlab::Netns, backend: &str, files: &[&str]) -> Output {
    let mut argv = vec![tern(), "policy", "apply", "--backend", backend];
    argv.extend_from_slice(files);
    host.run(&argv)
}

/// The rules `backend` has in force in `host` (nft table, or iptables/ip6tables filter
/// tables and the ipsets), without comment lines and packet counters.
fn rules(host: &testlab::Netns, backend: &str) -> String {
    let text = match backend {
        "nftables" => host.ok(&["nft", "list", "table", "inet", "tern"]),
        _ => {
            host.ok(&["iptables-save", "-t", "filter"])
                + &host.ok(&["ip6tables-save", "-t", "filter"])
                + &host.ok(&["ipset", "list"])
        }
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(" [").next().unwrap_or(l).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn policy_check_reports_located_errors_with_exit_2() {
    let dir = std::env::temp_dir().join(format!("tern-policy-errors-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    for (name, text, want) in broken() {
        let f = dir.join(format!("{name}.yaml"));
        fs::write(&f, text).unwrap();
        let out = policy_check(&f);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        let err = stderr(&out);
        let expect = format!("{}{want}", f.display());
        assert!(
            err.contains(&expect),
            "{name}: expected `{expect}` in:\n{err}"
        );
    }
    let good = dir.join("good.yaml");
    fs::write(&good, GOOD).unwrap();
    let out = policy_check(&good);
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn policy_broken_files_leave_rules_in_force() {
    let lab = testlab::Lab::new("pe");
    let mut lab = lab;
    let host = lab.netns("host");
    let files = [repo("examples/policies"), repo("examples/endpoints")];
    for backend in ["nftables", "iptables"] {
        let out = policy_apply(&host, backend, &[&files[0], &files[1]]);
        assert!(out.status.success(), "{}", stderr(&out));
        let before = rules(&host, backend);
        for (name, text, want) in broken() {
            let f = lab.dir().join(format!("{backend}-{name}.yaml"));
            fs::write(&f, text).unwrap();
            let fs_ = f.display().to_string();
            let out = policy_apply(&host, backend, &[&files[0], &files[1], &fs_]);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{backend} {name}: {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).contains(want),
                "{backend} {name}: {}",
                stderr(&out)
            );
            assert_eq!(
                rules(&host, backend),
                before,
                "{backend} {name}: rules changed"
            );
        }
        let out = host.run(&[tern(), "policy", "flush", "--backend", backend]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let _ = &mut lab;
}
