//! Replays the `node_config` fuzz corpus (`../fuzz/corpus/node_config/`: the example
//! configs, hostile files and what the fuzzer kept for new coverage) through the fuzz
//! target's check, so plain `cargo test` is a regression suite for every input kept.

use std::path::PathBuf;

#[path = "../../fuzz/fuzz_targets/node_config_check.rs"]
mod node_config_check;

#[test]
fn node_config_corpus_replays_without_panics() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/node_config");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    entries.sort();
    assert!(entries.len() >= 15, "corpus too small: {}", entries.len());
    let valid = entries
        .iter()
        .filter(|p| node_config_check::check(&std::fs::read(p).expect("read corpus entry")))
        .count();
    // The seeds hold several valid configs (the examples, the documented one).
    assert!(valid >= 3, "only {valid} valid configs in the corpus");
}
