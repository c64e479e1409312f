//! `tern config check FILE`: output and exit codes (0 ok, 2 bad input, 1 unreadable),
//! every error of a file in one run, warnings about the workload endpoints it names.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn check(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["config", "check"])
        .arg(file)
        .output()
        .expect("run tern")
}

/// A scratch folder for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tern-config-check-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn example_configs_are_ok() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("node-") && name.ends_with(".yaml")
        })
        .collect();
    // The lab's nodes too; every example's endpoints are inside its blocks (no warning).
    for host in ["host-a", "host-b", "host-c"] {
        files.push(dir.join("lab").join(host).join("node.yaml"));
    }
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let out = check(&file);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{}: ok\n", file.display())
        );
        assert!(out.stderr.is_empty());
    }
}

#[test]
fn every_error_is_reported_with_its_location_and_exit_2() {
    let s = Scratch::new("many");
    let file = s.file(
        "node.yaml",
        "\
nodeName: host-a
asNumber: 23456
routerId: 192.0.2.1
blocks: [10.244.1.1/24, 10.244.1.0/25]
pools: [10.244.0.0/16]
peers:
  - { peerIP: 192.0.2.1, asNumber: 65000, holdTime: 2s }
",
    );
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let f = file.display();
    assert_eq!(
        stderr_lines(&out),
        [
            format!("{f}:2:11: asNumber: 23456: AS 23456 is AS_TRANS (RFC 6793), which stands in for 4-octet AS numbers; use the real AS number"),
            format!("{f}:4:10: blocks[0]: 10.244.1.1/24 has host bits set; did you mean 10.244.1.0/24?"),
            format!("{f}:7:15: peers[0].peerIP: 192.0.2.1 is this node's own routerId"),
            format!("{f}:7:53: peers[0].holdTime: 2s is not allowed: the hold time is 0 (no keepalives) or at least 3s (RFC 4271 §4.2)"),
        ]
    );
}

#[test]
fn unknown_field_and_syntax_errors_exit_2() {
    let s = Scratch::new("schema");
    let file = s.file("typo.yaml", "nodeName: a\nasNumber: 1\nrouterId: 10.0.0.1\nnodeToNodeMesh:\n  enabled: true\n  peer: [10.0.0.2]\n");
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr_lines(&out),
        [format!(
            "{}:6:3: nodeToNodeMesh: unknown field `peer` (did you mean `peers`?)",
            file.display()
        )]
    );

    let file = s.file("syntax.yaml", "nodeName: a\nblocks: [10.0.0.0/8\n");
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("{}:3:1: ", file.display())),
        "{lines:?}"
    );

    let file = s.file("empty.yaml", "");
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr_lines(&out),
        [format!(
            "{}:1:1: the file holds no YAML document",
            file.display()
        )]
    );
}

#[test]
fn unreadable_file_exits_1() {
    let s = Scratch::new("unreadable");
    let missing = s.0.join("missing.yaml");
    let out = check(&missing);
    assert_eq!(out.status.code(), Some(1));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("{}: cannot read: ", missing.display())),
        "{lines:?}"
    );
    // A folder is not a config file either.
    assert_eq!(check(&s.0).status.code(), Some(1));
}

#[test]
fn all_errors_of_a_file_in_one_run_sorted() {
    // Before: one serde error per run (three runs to see these).
    let s = Scratch::new("all");
    let file = s.file(
        "node.yaml",
        "nodeName: a\nasNumber: 1\nrouterId: 10.0.0.1x\nlisten: { port: 70000 }\n\
         peers:\n  - { peerIp: 10.0.0.3, asNumber: 65000 }\nfib: { ecmp: yes }\n",
    );
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2));
    let f = file.display();
    assert_eq!(
        stderr_lines(&out),
        [
            format!("{f}:3:11: routerId: invalid IP address syntax"),
            format!("{f}:4:17: listen.port: invalid value: integer `70000`, expected a whole number from 0 to 65535"),
            format!("{f}:6:7: peers[0]: unknown field `peerIp` (did you mean `peerIP`?)"),
            format!("{f}:7:14: fib.ecmp: invalid type: string \"yes\", expected true or false"),
        ]
    );
}

#[test]
fn workload_address_warnings_keep_exit_0() {
    let s = Scratch::new("warn");
    std::fs::create_dir_all(s.0.join("endpoints")).expect("endpoints dir");
    let eps = s.file(
        "endpoints/shop.yaml",
        "kind: WorkloadEndpoint\nname: web-1\nnamespace: shop\ninterface: tw-web1\nips: [10.244.1.10/32]\n---\n\
         kind: WorkloadEndpoint\nname: web-2\nnamespace: shop\ninterface: tw-web2\nips: [10.244.1.10/32, 10.65.0.20/32]\n",
    );
    let file = s.file(
        "node.yaml",
        "nodeName: a\nasNumber: 64512\nrouterId: 10.0.0.1\nblocks: [10.244.1.0/24]\npools: [10.244.0.0/16]\nendpoints: [endpoints]\n",
    );
    let out = check(&file);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}: ok\n", file.display())
    );
    let e = eps.display();
    assert_eq!(
        stderr_lines(&out),
        [
            format!("{e}:11:7: warning: ips[0]: 10.244.1.10/32 is also the address of workload shop/web-1 ({e}:5:7): only one of them gets the route and the policy"),
            format!("{e}:11:23: warning: ips[1]: 10.65.0.20/32 is outside this node's blocks (10.244.1.0/24): the other hosts get no route to it (only blocks are advertised)"),
        ]
    );
}
