//! Hostile and careless policy files: whatever is in them, loading returns located
//! errors (never a crash, never a hang), and nothing a file names can reach the
//! rendered firewall input as syntax.

use std::fs;
use std::path::PathBuf;

use acl::{load_paths, LoadError};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("acl-hostile-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn errors(e: LoadError) -> Vec<String> {
    match e {
        LoadError::Invalid(_) => e.located().iter().map(ToString::to_string).collect(),
        other => vec![format!("not a located error: {other}")],
    }
}

/// Loads `text` as one file on a thread with a small stack (the agent loads policy on
/// tokio's blocking threads, 2 MiB; this is an eighth of that), so a parser that
/// recurses per nesting level fails here instead of in the agent.
fn load_small_stack(name: &str, text: String) -> (PathBuf, Result<acl::Bundle, LoadError>) {
    let f = dir(name).join("p.yaml");
    fs::write(&f, text).unwrap();
    let g = f.clone();
    let r = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || load_paths(std::slice::from_ref(&g)))
        .unwrap()
        .join()
        .expect("loader thread crashed");
    (f, r)
}

const POLICY: &str = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deep}
spec:
  selector: SELECTOR
  ingress: [{action: Allow}]
";

#[test]
fn deep_selector_is_a_located_error_not_a_stack_overflow() {
    let sel = format!("{}a == 'b'{}", "(".repeat(3000), ")".repeat(3000));
    let (f, r) = load_small_stack("deep-sel", POLICY.replace("SELECTOR", &sel));
    let errs = errors(r.unwrap_err());
    let col = 13 + acl::selector::MAX_DEPTH;
    assert_eq!(
        errs,
        vec![format!(
            "{}:5:{col}: spec.selector: bad selector: nested more than 64 levels deep (parentheses and `!`)",
            f.display()
        )]
    );
    let sel = format!("\"{}has(a)\"", "!".repeat(20_000));
    let (_, r) = load_small_stack("deep-not", POLICY.replace("SELECTOR", &sel));
    assert!(errors(r.unwrap_err())[0].contains("levels deep"));
}
