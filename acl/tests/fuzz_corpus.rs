//! Replays the `policy_yaml` and `selector` fuzz corpora (`../fuzz/corpus/`: examples,
//! hostile files and what the fuzzer kept for new coverage) through the fuzz targets'
//! checks, so plain `cargo test` is a regression suite for every input kept.

use std::path::PathBuf;

#[path = "../../fuzz/fuzz_targets/policy_yaml_check.rs"]
mod policy_yaml_check;
#[path = "../../fuzz/fuzz_targets/selector_check.rs"]
mod selector_check;

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    entries.sort();
    entries
        .iter()
        .map(|p| std::fs::read(p).expect("read corpus entry"))
        .collect()
}

#[test]
fn policy_yaml_corpus_replays_without_panics() {
    let inputs = corpus("policy_yaml");
    assert!(inputs.len() >= 10, "corpus too small: {}", inputs.len());
    let loaded: usize = inputs.iter().map(|d| policy_yaml_check::check(d)).sum();
    assert!(loaded >= 10, "only {loaded} objects loaded from the corpus");
}

#[test]
fn selector_corpus_replays_without_panics() {
    let inputs = corpus("selector");
    assert!(inputs.len() >= 20, "corpus too small: {}", inputs.len());
    let parsed = inputs.iter().filter(|d| selector_check::check(d)).count();
    assert!(parsed >= 10, "only {parsed} selectors parsed");
}
