//! Replays the fuzz corpus (`fuzz/corpus/decode/`: captured sessions, RFC vectors and
//! the inputs the fuzzer found new coverage with) through the fuzz target's check, so
//! plain `cargo test` is a regression suite for every input the fuzzer ever kept.

use std::path::PathBuf;

#[path = "../fuzz/fuzz_targets/decode_check.rs"]
mod decode_check;

#[test]
fn fuzz_corpus_replays_without_panics_and_round_trips() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    entries.sort();
    assert!(entries.len() >= 30, "corpus too small: {}", entries.len());
    let mut decoded = 0;
    for path in &entries {
        let data = std::fs::read(path).expect("read corpus entry");
        decoded += decode_check::check(&data);
    }
    // The captured sessions alone hold far more than this many messages.
    assert!(
        decoded > 100,
        "only {decoded} messages decoded from the corpus"
    );
}
