//! The loader reads a document's kind off its position index when that is certain to
//! give what probing it gives ([`super::indexed`]): the same bundle and the same errors
//! as probing every document, for every input of the fuzz corpus and the examples.

use std::path::{Path, PathBuf};

use super::{indexed, load_str_with, split_documents};

fn both(name: &str, text: &str) {
    let file = Path::new(name);
    let fast = format!("{:?}", load_str_with(file, text, true));
    let probed = format!("{:?}", load_str_with(file, text, false));
    assert_eq!(fast, probed, "{name}: {text:?}");
}

/// Every file under `dir` (recursively) that is UTF-8.
fn texts(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            texts(&p, out);
        } else if let Ok(t) = std::fs::read_to_string(&p) {
            out.push((p, t));
        }
    }
}

#[test]
fn reading_the_kind_off_the_index_changes_nothing_for_the_corpus_and_examples() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut all = Vec::new();
    texts(&root.join("fuzz/corpus/policy_yaml"), &mut all);
    let corpus = all.len();
    assert!(corpus >= 100, "corpus too small: {corpus}");
    for dir in ["examples", "acl/tests/data"] {
        texts(&root.join(dir), &mut all);
    }
    let mut fast = 0;
    for (p, t) in &all {
        both(&p.display().to_string(), t);
        fast += split_documents(t)
            .iter()
            .filter(|piece| indexed(Path::new("f.yaml"), piece).is_some())
            .count();
    }
    // The documents that name a kind that is deserialized take the indexed path (else
    // the loader parses them four times): 1,515 when this test was written.
    assert!(fast >= 1_000, "only {fast} documents read off their index");
}

#[test]
fn documents_the_index_cannot_vouch_for_are_probed_with_the_same_result() {
    let policy = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p, namespace: ns}\nspec: {selector: all()}\n";
    for text in [
        policy.to_string(),
        policy.replace("kind: NetworkPolicy", "kind: null"),
        policy.replace("kind: NetworkPolicy", "kind: ~"),
        policy.replace("kind: NetworkPolicy", "kind:"),
        policy.replace("kind: NetworkPolicy", "kind: [NetworkPolicy]"),
        policy.replace("kind: NetworkPolicy", "kind: {a: b}"),
        policy.replace("kind: NetworkPolicy", "kind: !!str NetworkPolicy"),
        policy.replace("kind: NetworkPolicy", "kind: \"NetworkPolicy\""),
        policy.replace("kind: NetworkPolicy", "kind: 'Network\u{20}Policy'"),
        policy.replace("kind: NetworkPolicy", "kind: 5"),
        policy.replace("kind: NetworkPolicy", "kind: &k NetworkPolicy\nx: *k"),
        format!(
            "k: &k NetworkPolicy\n{}",
            policy.replace("kind: NetworkPolicy", "kind: *k")
        ),
        policy.replace("kind: NetworkPolicy\n", ""),
        policy.replace("apiVersion: projectcalico.org/v3\n", ""),
        policy.replace("apiVersion: projectcalico.org/v3", "apiVersion: null"),
        policy.replace(
            "kind: NetworkPolicy",
            "kind: NetworkPolicy\nkind: NetworkPolicy",
        ),
        policy.replace("spec: {selector: all()}", "spec: {selector: all()"),
        policy.replace("spec: {selector: all()}", "spec: [a, b"),
        format!("{policy}  bad: indent\n"),
        format!("{policy}%YAML 1.2\n"),
        "- a\n- b\n".to_string(),
        "just a scalar\n".to_string(),
        format!(
            "apiVersion: v1\nkind: List\nitems:\n  - {}",
            policy.replace('\n', "\n    ")
        ),
        format!("{policy}---\n{policy}"),
        format!("{policy}...\n{policy}"),
    ] {
        both("t.yaml", &text);
    }
}
