//! Hostile and careless node config files: every one is a located error (exit code 2
//! material), found quickly, never a panic or an error at 1:1 when the problem is
//! elsewhere.

use std::io::Write;
use std::path::Path;

use config::yaml::{self, LocatedErrors};
use config::{LoadError, NodeConfig};
use tempfile::TempPath;

const HEAD: &str = "nodeName: a\nasNumber: 64512\nrouterId: 192.0.2.1\n";

/// A scratch file (`config-hostile-…-NAME` in the temp folder), removed when the test is
/// done with it (also when an assertion fails), so runs leave nothing behind.
fn file(name: &str, bytes: &[u8]) -> TempPath {
    let mut f = tempfile::Builder::new()
        .prefix("config-hostile-")
        .suffix(&format!("-{name}"))
        .tempfile()
        .unwrap();
    f.write_all(bytes).unwrap();
    f.into_temp_path()
}

/// The located errors of loading `bytes` from a file; panics on success or I/O errors.
fn load_errors(name: &str, bytes: &[u8]) -> (TempPath, Vec<String>) {
    let f = file(name, bytes);
    match NodeConfig::load(&f) {
        Err(LoadError::Invalid(es)) => (f, es.iter().map(ToString::to_string).collect()),
        other => panic!("expected located errors, got {other:?}"),
    }
}

fn errs(text: &str) -> Vec<String> {
    match NodeConfig::from_str(Path::new("n.yaml"), text) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn invalid_utf8_is_bad_input_at_the_byte() {
    let mut bytes = HEAD.as_bytes().to_vec();
    bytes.extend_from_slice(b"description: caf\xc3\xa9 \xe9t\xe9\n");
    let (f, es) = load_errors("latin1.yaml", &bytes);
    assert_eq!(
        es,
        vec![format!(
            "{}:4:19: byte 0xe9 is not UTF-8 (input files must be UTF-8 text)",
            f.display()
        )]
    );
}

#[test]
fn oversized_file_is_refused_before_parsing() {
    let mut text = HEAD.to_string();
    text.push_str("blocks:\n");
    while text.len() as u64 <= config::node::MAX_FILE_BYTES {
        text.push_str("  - 10.244.0.0/24\n");
    }
    let (f, es) = load_errors("huge.yaml", text.as_bytes());
    assert_eq!(es.len(), 1, "{es:?}");
    assert!(
        es[0].starts_with(&format!(
            "{}:1:1: the file is {} bytes; tern reads at most 1048576",
            f.display(),
            text.len()
        )),
        "{es:?}"
    );
}

#[test]
fn duplicate_key_is_located_at_the_repeated_key() {
    assert_eq!(
        errs(&format!("{HEAD}fib: {{table: main}}\nnodeName: b\n")),
        vec!["n.yaml:5:1: duplicate field `nodeName`"]
    );
    assert_eq!(
        errs(&format!(
            "{HEAD}fib:\n  table: main\n  ecmp: true\n  table: 100\n"
        )),
        vec!["n.yaml:7:3: fib: duplicate field `table`"]
    );
}

#[test]
fn duplicate_key_in_untyped_data_is_located_too() {
    let es = yaml::load_documents::<serde_yaml::Value>(
        Path::new("p.yaml"),
        "a: 1\nb:\n  c: 1\n  c: 2\n",
    )
    .unwrap_err();
    let es: Vec<String> = es.iter().map(ToString::to_string).collect();
    assert_eq!(es, vec!["p.yaml:4:3: b: duplicate entry with key \"c\""]);
}

#[test]
fn alias_bomb_is_located_at_the_alias() {
    let mut text = format!("{HEAD}x0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        text.push_str(&format!(
            "x{i}: &a{i} [{}]\n",
            vec![format!("*a{p}"); 9].join(", ")
        ));
    }
    let es: LocatedErrors =
        yaml::load_documents::<serde_yaml::Value>(Path::new("n.yaml"), &text).unwrap_err();
    let es: Vec<String> = es.iter().map(ToString::to_string).collect();
    // x1..x4 cost 9 + 90 + 819 + 7380 jumps; the first *a4 passes 100 per event.
    assert_eq!(es, vec!["n.yaml:9:10: repetition limit exceeded"]);
}

#[test]
fn deep_nesting_is_refused_at_the_level_too_deep() {
    // 200 KB of nested flow sequences took 21-45 s in the YAML scanner.
    let text = format!("{HEAD}blocks: {}", "[".repeat(200_000));
    assert_eq!(
        errs(&text),
        vec!["n.yaml:4:40: collections nest more than 32 levels deep here"]
    );
    assert_eq!(
        errs(&format!("{HEAD}peers: {}x\n", "- ".repeat(100_000))),
        vec!["n.yaml:4:70: collections nest more than 32 levels deep here"]
    );
}

#[test]
fn every_duration_has_a_range() {
    let text = format!(
        "{HEAD}peers:\n  - {{ peerIP: 10.0.0.1, asNumber: 1, connectRetryTime: 18446744073709551615 }}\n  - {{ peerIP: 10.0.0.2, asNumber: 1, connectRetryTime: 500ms }}\n  - {{ peerIP: 10.0.0.3, asNumber: 1, holdTime: 18446744073709551615, keepaliveTime: 18446744073709551615 }}\ngracefulRestart: {{ restartTime: 4096 }}\n"
    );
    assert_eq!(
        errs(&text),
        vec![
            "n.yaml:5:56: peers[0].connectRetryTime: 18446744073709551615s is out of range: from 1s to 3600s (RFC 4271 suggests 120s)",
            "n.yaml:6:56: peers[1].connectRetryTime: 500ms is out of range: from 1s to 3600s (RFC 4271 suggests 120s)",
            "n.yaml:7:48: peers[2].holdTime: is at most 65535s (it is a 16-bit field in OPEN)",
            "n.yaml:7:85: peers[2].keepaliveTime: 18446744073709551615s must be less than the hold time (90s); a third of it is usual",
            "n.yaml:8:33: gracefulRestart.restartTime: must be whole seconds from 1s to 4095s (a 12-bit field, RFC 4724)",
        ]
    );
    // The whole accepted range loads.
    let text = format!("{HEAD}peers:\n  - {{ peerIP: 10.0.0.1, asNumber: 1, connectRetryTime: 1h, holdTime: 65535, keepaliveTime: 65534 }}\n");
    let c = NodeConfig::from_str(Path::new("n.yaml"), &text).unwrap();
    assert_eq!(c.peers[0].connect_retry_time.as_secs(), 3600);
}

#[test]
fn list_lengths_are_limited() {
    let max = config::node::MAX_PREFIXES;
    let blocks: Vec<String> = (0..=max)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let text = format!(
        "{HEAD}pools: [10.0.0.0/8]\nblocks:\n  - {}\n",
        blocks.join("\n  - ")
    );
    let line = 6 + max;
    assert_eq!(
        errs(&text),
        vec![format!(
            "n.yaml:{line}:5: blocks[{max}]: more than {max} entries in `blocks`"
        )]
    );
}

#[test]
fn overlapping_blocks_are_all_named() {
    let text = format!(
        "{HEAD}pools: [10.0.0.0/8]\nblocks: [10.1.2.0/24, 10.1.0.0/16, 10.1.2.0/24, 10.2.0.0/16, 10.0.0.0/8]\n"
    );
    assert_eq!(
        errs(&text),
        vec![
            "n.yaml:5:23: blocks[1]: 10.1.0.0/16 overlaps blocks[0] (10.1.2.0/24)",
            "n.yaml:5:36: blocks[2]: 10.1.2.0/24 duplicates blocks[0] (10.1.2.0/24)",
            "n.yaml:5:62: blocks[4]: 10.0.0.0/8 overlaps blocks[0] (10.1.2.0/24)",
        ]
    );
}

#[test]
fn password_files_are_regular_and_read_bounded() {
    // /dev/zero never ends (the whole memory), a FIFO blocks until a writer comes.
    for (dev, why) in [
        ("/dev/zero", "is not a regular file"),
        ("/dev/stdin", "is not a regular file"),
    ] {
        let text = format!(
            "{HEAD}peers:\n  - {{peerIP: 10.0.0.1, asNumber: 1, password: {{file: {dev}}}}}\n"
        );
        let e = errs(&text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].ends_with(&format!("password file {dev} {why}")),
            "{e:?}"
        );
    }
    let big = file("big.key", &vec![b'k'; 1 << 20]);
    let text = format!(
        "{HEAD}peers:\n  - {{peerIP: 10.0.0.1, asNumber: 1, password: {{file: {}}}}}\n",
        big.display()
    );
    let e = errs(&text);
    assert!(
        e[0].ends_with("holds 1048576 bytes; TCP-MD5 keys are at most 80"),
        "{e:?}"
    );
}
