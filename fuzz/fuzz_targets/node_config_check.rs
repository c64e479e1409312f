//! The property the `node_config` fuzz target checks, shared with the corpus replay in
//! `config/tests/fuzz_corpus.rs` so that `cargo test` runs every corpus entry through it.
//!
//! Any bytes as a node config file: loading never panics and never hangs, every error is
//! located inside the text (line 1.., column 1..) — invalid UTF-8 included —, and the
//! quick read (no positions indexed for a valid file) gives exactly what the located
//! read gives: the same config or the same errors.

use std::path::Path;

/// Runs one input; returns whether it was a valid config.
pub fn check(data: &[u8]) -> bool {
    // Relative password files resolve against a folder that does not exist.
    let path = Path::new("/nonexistent/tern-fuzz/node.yaml");
    let text = match config::yaml::limits::text_of(path, data.to_vec()) {
        Ok(text) => text,
        Err(e) => {
            let lines = data.split(|b| *b == b'\n').count();
            assert!(e.line >= 1 && e.line <= lines && e.column >= 1, "{e}");
            return false;
        }
    };
    let result = config::NodeConfig::from_str(path, &text);
    assert_eq!(result, config::NodeConfig::from_str_located(path, &text));
    match result {
        Ok(_) => true,
        Err(errors) => {
            assert!(!errors.is_empty());
            let lines = yaml_lines(&text);
            for e in errors.iter() {
                assert!(e.line >= 1 && e.line <= lines + 1 && e.column >= 1, "{e}");
            }
            false
        }
    }
}

/// Lines as the YAML scanner counts them, as positions do: `\r\n`, `\r`, `\n` and
/// (YAML 1.1) NEL, LS and PS each end one.
fn yaml_lines(text: &str) -> usize {
    text.replace("\r\n", "\n")
        .split(['\r', '\n', '\u{85}', '\u{2028}', '\u{2029}'])
        .count()
}
