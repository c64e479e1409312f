//! The loader reads a policy without a position index ([`super::plain_policy`]), or
//! another document's kind off its index ([`super::indexed`]), when that is certain to
//! give what probing it gives: the same bundle and the same errors as probing every
//! document, for every input of the fuzz corpus and the examples.

use std::path::{Path, PathBuf};

use super::{indexed, load_str_with, plain_policy, split_documents, Bundle};

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
    let (mut plain, mut fast) = (0, 0);
    let file = Path::new("f.yaml");
    for (p, t) in &all {
        both(&p.display().to_string(), t);
        for piece in split_documents(t) {
            if plain_policy(file, &piece, &mut Bundle::default(), &mut Vec::new()) {
                plain += 1;
            } else if indexed(file, &piece).is_some() {
                fast += 1;
            }
        }
    }
    // The policies that load are read without an index, the other documents that name
    // a kind that is deserialized off their index (else the loader parses them four
    // times): 157 and 1,358 when this test was written (most of the corpus is mangled).
    assert!(plain >= 100, "only {plain} policies read without an index");
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
        policy.replace("kind: NetworkPolicy", "kind: NetworkPolicy # a comment"),
        policy.replace("kind: NetworkPolicy", "kind: NetworkPolicy#not a comment"),
        policy.replace("selector: all()", "selector: app == 'web' &&"),
        policy.replace("apiVersion: projectcalico.org/v3", "apiVersion: projectcalico.org/v4"),
        policy.replace("kind: NetworkPolicy", "kind: NetworkPolicy\nmetadata2: {}"),
        format!("{policy}---\n{}", policy.replace("{name: p,", "{name: q,")),
        format!("{policy}---\n# the same name again\n\n{policy}"),
        format!(
            "{}  ingress:\n{}",
            policy.replace("spec: {selector: all()}", "spec:\n  selector: all()"),
            "    - action: Allow\n".repeat(1_001)
        ),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: ns}\nspec: {podSelector: {}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: ns}\nspec: {podSelector: {matchLabels: {a: b}}, policyTypes: [Ingress]}\n".to_string(),
        format!("{policy}...\n{policy}"),
    ] {
        both("t.yaml", &text);
    }
}
