//! The property the `policy_yaml` fuzz target checks, shared with the corpus replay in
//! `acl/tests/fuzz_corpus.rs`.
//!
//! Any bytes as a policy / endpoint file: loading never panics, errors are located
//! inside the text; whatever loads compiles and renders for both backends to text in
//! which nothing from the file can act as syntax: quotes balanced on every line, no
//! control characters, and iptables input made only of chain declarations and appends.

use std::path::Path;

/// Runs one input; returns how many objects loaded.
pub fn check(data: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(data) else {
        return 0;
    };
    let bundle = match acl::loader::load_str(Path::new("fuzz.yaml"), text) {
        Ok(b) => b,
        Err(e) => {
            let lines = yaml_lines(text);
            for l in e.located() {
                assert!(l.line >= 1 && l.line <= lines + 1 && l.column >= 1, "{l}");
            }
            return 0;
        }
    };
    let ir = acl::compile(&bundle, &acl::CompileOptions::default());
    rendered_is_inert(&acl::render_text(&ir, acl::Backend::Nftables), false);
    rendered_is_inert(&acl::render_text(&ir, acl::Backend::Iptables), true);
    bundle.policies.len() + bundle.workloads.len() + bundle.hosts.len() + bundle.namespaces.len()
}

/// Asserts the structure every rendering must have, whatever the names and values.
pub fn rendered_is_inert(text: &str, iptables: bool) {
    let mut section = "";
    for l in text.lines() {
        assert_eq!(l.matches('"').count() % 2, 0, "unbalanced quotes: {l:?}");
        assert!(!l.chars().any(|c| c.is_control() && c != '\t'), "{l:?}");
        if !iptables {
            continue;
        }
        if l.starts_with('#') {
            section = l;
        } else if section.contains("tables-restore") {
            assert!(
                l == "*filter" || l == "COMMIT" || l.starts_with(':') || l.starts_with("-A "),
                "{l:?}"
            );
        } else {
            assert!(
                ["create ", "flush ", "add "]
                    .iter()
                    .any(|p| l.starts_with(p)),
                "{l:?}"
            );
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
