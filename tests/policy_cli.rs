//! `tern policy render|explain --config NODE.yaml` and explain's contract: the node's
//! failsafe ports and files are used, `--port` is required for tcp/udp, and the exit code
//! says the verdict (0 allow, 3 deny). No packets: compile and render only.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tern(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .output()
        .expect("run tern")
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// A node file whose policy section points at the shipped examples and opens tcp 2222.
fn node_file() -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("tern-policy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let ex = examples();
    let text = format!(
        "nodeName: a\nasNumber: 64512\nrouterId: 192.0.2.1\n\
         endpoints: [{}]\n\
         policy:\n  paths: [{}]\n  failsafeInboundHostPorts: [{{ protocol: tcp, port: 2222 }}]\n",
        ex.join("endpoints").display(),
        ex.join("policies").display()
    );
    let file = dir.join("node.yaml");
    std::fs::write(&file, text).expect("write node file");
    (dir, file)
}

#[test]
fn render_with_config_uses_the_nodes_failsafe_ports_and_files() {
    let (dir, node) = node_file();
    let node = node.to_str().expect("utf-8");
    let with = tern(&["policy", "render", "--config", node]);
    let ex = examples();
    let without = tern(&[
        "policy",
        "render",
        ex.join("endpoints").to_str().expect("utf-8"),
        ex.join("policies").to_str().expect("utf-8"),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    assert!(
        without.status.success(),
        "{}",
        String::from_utf8_lossy(&without.stderr)
    );
    let with = String::from_utf8_lossy(&with.stdout);
    let without = String::from_utf8_lossy(&without.stdout);
    assert!(
        with.contains("2222"),
        "node's failsafe port missing:\n{with}"
    );
    assert!(
        !without.contains("2222"),
        "2222 without --config:\n{without}"
    );
    // The same policies were loaded: the web policy's chain is in both.
    assert!(with.contains("web") && without.contains("web"));
}

#[test]
fn explain_requires_a_port_for_tcp_and_exits_with_the_verdict() {
    let ex = examples();
    let files = [
        ex.join("endpoints").to_str().expect("utf-8").to_string(),
        ex.join("policies").to_str().expect("utf-8").to_string(),
    ];
    let run = |extra: &[&str]| {
        let mut args = vec![
            "policy",
            "explain",
            "--from",
            "dev/client-1",
            "--to",
            "shop/web-1",
        ];
        args.extend_from_slice(extra);
        args.extend(files.iter().map(String::as_str));
        tern(&args)
    };
    let no_port = run(&["--protocol", "tcp"]);
    assert_eq!(no_port.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&no_port.stderr).contains("--port"),
        "{}",
        String::from_utf8_lossy(&no_port.stderr)
    );

    // web allows tcp 80 from the dev namespace, denies 22.
    let allow = run(&["--protocol", "tcp", "--port", "80"]);
    let text = String::from_utf8_lossy(&allow.stdout);
    assert_eq!(allow.status.code(), Some(0), "{text}");
    assert!(text.starts_with("verdict: allow"), "{text}");
    assert!(
        text.contains("tcp source port 49152 -> destination port 80"),
        "{text}"
    );

    let deny = run(&["--protocol", "tcp", "--port", "22"]);
    let text = String::from_utf8_lossy(&deny.stdout);
    assert_eq!(deny.status.code(), Some(3), "{text}");
    assert!(text.starts_with("verdict: deny"), "{text}");

    // ICMP needs no port.
    let icmp = run(&["--protocol", "icmp"]);
    assert!(matches!(icmp.status.code(), Some(0) | Some(3)));
}
