//! The quick read of a node config (no positions indexed) against the located one, over
//! every input of the `node_config` fuzz corpus (the example configs, hostile files and
//! what the fuzzer kept): the same config, or the same errors.

use std::path::{Path, PathBuf};

use super::NodeConfig;

#[test]
fn quick_and_located_reads_agree_on_the_whole_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/node_config");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    entries.sort();
    let mut valid = 0;
    let file = Path::new("/etc/tern/node.yaml");
    for entry in &entries {
        let bytes = std::fs::read(entry).expect("read corpus entry");
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let quick = NodeConfig::from_str(file, text);
        let located = NodeConfig::from_str_located(file, text);
        valid += usize::from(located.is_ok());
        assert_eq!(quick, located, "{}", entry.display());
    }
    assert!(valid >= 3, "only {valid} valid configs in the corpus");
}

#[test]
fn a_config_with_an_error_is_located() {
    let text = "nodeName: a\nasNumber: 64512\nrouterId: 192.0.2.1\nlisten: { address: 192.0.2.1 }\nblocks: [10.1.0.0/33]\n";
    let errors = NodeConfig::from_str(Path::new("n.yaml"), text).expect_err("bad block");
    let first = errors
        .iter()
        .next()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(first.starts_with("n.yaml:5:"), "{first}");
}
