//! The property the `selector` fuzz target checks, shared with the corpus replay in
//! `acl/tests/fuzz_corpus.rs`.
//!
//! Any text as a selector: parsing never panics or overflows the stack; an error's
//! column is inside the text; a parsed selector evaluates without panicking and its
//! canonical text parses back to the same tree (when that text, which adds parentheses,
//! stays within the nesting limit).

use acl::selector::{parse, Labels, Selector, Target, MAX_DEPTH};

/// Runs one input; returns whether it parsed.
pub fn check(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    match parse(text) {
        Ok(sel) => {
            let labels: Labels = [("app", "web"), ("a", "b"), ("k8s.io/x", "")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            for global in [false, true] {
                let _ = sel.matches(Target {
                    labels: &labels,
                    global,
                });
            }
            let shown = sel.to_string();
            if depth(&sel) * 2 < MAX_DEPTH && !has_both_quotes(&sel) {
                let again =
                    parse(&shown).unwrap_or_else(|e| panic!("{text:?} shown as {shown:?}: {e}"));
                assert_eq!(sel, again, "{text:?} shown as {shown:?}");
            }
            true
        }
        Err(e) => {
            assert!(
                e.column >= 1 && e.column <= text.chars().count() + 1,
                "{text:?}: {e}"
            );
            false
        }
    }
}

/// Nesting of the tree (`!`, `&&`, `||` levels).
fn depth(s: &Selector) -> usize {
    match s {
        Selector::Not(e) => 1 + depth(e),
        Selector::And(es) | Selector::Or(es) => 1 + es.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A value holding both quote characters cannot be written back (strings have no
/// escapes); the parser cannot produce one, but keep the property honest.
fn has_both_quotes(s: &Selector) -> bool {
    let both = |v: &str| v.contains('\'') && v.contains('"');
    match s {
        Selector::Eq(_, v)
        | Selector::Ne(_, v)
        | Selector::Contains(_, v)
        | Selector::StartsWith(_, v)
        | Selector::EndsWith(_, v) => both(v),
        Selector::In(_, vs) | Selector::NotIn(_, vs) => vs.iter().any(|v| both(v)),
        Selector::Not(e) => has_both_quotes(e),
        Selector::And(es) | Selector::Or(es) => es.iter().any(has_both_quotes),
        _ => false,
    }
}
