//! Calico's label-selector language: the expression tree, its evaluation against a
//! label map, and a canonical text form (used to name the sets a selector resolves to).
//!
//! Grammar (as Calico's): `==`, `!=`, `in {…}`, `not in {…}`, `has(k)`, `!has(k)`,
//! `contains`, `starts with`, `ends with`, `all()`, `global()`, `&&`, `||`, `!`,
//! parentheses. The parser lives in [`parse`].

mod parse;

use std::collections::BTreeMap;
use std::fmt;

pub use parse::{parse, SelectorError, MAX_DEPTH};

/// Labels of an endpoint or a namespace.
pub type Labels = BTreeMap<String, String>;

/// A parsed selector expression.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Selector {
    /// `all()`: matches everything.
    All,
    /// `global()`: matches objects that belong to no namespace (host endpoints).
    Global,
    /// `has(key)`.
    Has(String),
    /// `key == "value"`.
    Eq(String, String),
    /// `key != "value"` (also true when the key is absent).
    Ne(String, String),
    /// `key in {"a", "b"}`.
    In(String, Vec<String>),
    /// `key not in {"a", "b"}` (also true when the key is absent).
    NotIn(String, Vec<String>),
    /// `key contains "s"`.
    Contains(String, String),
    /// `key starts with "s"`.
    StartsWith(String, String),
    /// `key ends with "s"`.
    EndsWith(String, String),
    /// `!expr`.
    Not(Box<Selector>),
    /// `a && b && …`.
    And(Vec<Selector>),
    /// `a || b || …`.
    Or(Vec<Selector>),
}

/// What a selector is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The object's labels (including implicit ones).
    pub labels: &'a Labels,
    /// True for objects outside any namespace (host endpoints).
    pub global: bool,
}

impl Selector {
    /// True when the selector matches the target.
    pub fn matches(&self, t: Target<'_>) -> bool {
        let get = |k: &str| t.labels.get(k).map(String::as_str);
        match self {
            Selector::All => true,
            Selector::Global => t.global,
            Selector::Has(k) => get(k).is_some(),
            Selector::Eq(k, v) => get(k) == Some(v.as_str()),
            Selector::Ne(k, v) => get(k) != Some(v.as_str()),
            Selector::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Selector::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Selector::Contains(k, s) => get(k).is_some_and(|x| x.contains(s.as_str())),
            Selector::StartsWith(k, s) => get(k).is_some_and(|x| x.starts_with(s.as_str())),
            Selector::EndsWith(k, s) => get(k).is_some_and(|x| x.ends_with(s.as_str())),
            Selector::Not(e) => !e.matches(t),
            Selector::And(es) => es.iter().all(|e| e.matches(t)),
            Selector::Or(es) => es.iter().any(|e| e.matches(t)),
        }
    }

    /// True when the expression mentions `global()` anywhere.
    pub fn mentions_global(&self) -> bool {
        match self {
            Selector::Global => true,
            Selector::Not(e) => e.mentions_global(),
            Selector::And(es) | Selector::Or(es) => es.iter().any(Selector::mentions_global),
            _ => false,
        }
    }

    /// The same selector over labels whose keys carry `prefix` (`role == 'x'` →
    /// `pcsa.role == 'x'`): how service-account selectors reach an endpoint's labels.
    pub fn prefixed(&self, prefix: &str) -> Selector {
        let k = |key: &String| format!("{prefix}{key}");
        match self {
            Selector::All => Selector::All,
            Selector::Global => Selector::Global,
            Selector::Has(a) => Selector::Has(k(a)),
            Selector::Eq(a, v) => Selector::Eq(k(a), v.clone()),
            Selector::Ne(a, v) => Selector::Ne(k(a), v.clone()),
            Selector::In(a, v) => Selector::In(k(a), v.clone()),
            Selector::NotIn(a, v) => Selector::NotIn(k(a), v.clone()),
            Selector::Contains(a, v) => Selector::Contains(k(a), v.clone()),
            Selector::StartsWith(a, v) => Selector::StartsWith(k(a), v.clone()),
            Selector::EndsWith(a, v) => Selector::EndsWith(k(a), v.clone()),
            Selector::Not(x) => Selector::Not(Box::new(x.prefixed(prefix))),
            Selector::And(v) => Selector::And(v.iter().map(|x| x.prefixed(prefix)).collect()),
            Selector::Or(v) => Selector::Or(v.iter().map(|x| x.prefixed(prefix)).collect()),
        }
    }

    /// `a && b`, flattening nested conjunctions and dropping `all()`.
    pub fn and(self, other: Selector) -> Selector {
        let mut parts = Vec::new();
        for s in [self, other] {
            match s {
                Selector::All => {}
                Selector::And(v) => parts.extend(v),
                s => parts.push(s),
            }
        }
        match parts.len() {
            0 => Selector::All,
            1 => parts.pop().unwrap_or(Selector::All),
            _ => Selector::And(parts),
        }
    }
}

fn quote(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    if s.contains('\'') {
        write!(f, "\"{s}\"")
    } else {
        write!(f, "'{s}'")
    }
}

fn list(f: &mut fmt::Formatter<'_>, vs: &[String]) -> fmt::Result {
    f.write_str("{")?;
    for (i, v) in vs.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        quote(f, v)?;
    }
    f.write_str("}")
}

impl fmt::Display for Selector {
    /// Canonical text: parses back to the same tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::All => f.write_str("all()"),
            Selector::Global => f.write_str("global()"),
            Selector::Has(k) => write!(f, "has({k})"),
            Selector::Eq(k, v) => {
                write!(f, "{k} == ")?;
                quote(f, v)
            }
            Selector::Ne(k, v) => {
                write!(f, "{k} != ")?;
                quote(f, v)
            }
            Selector::In(k, vs) => {
                write!(f, "{k} in ")?;
                list(f, vs)
            }
            Selector::NotIn(k, vs) => {
                write!(f, "{k} not in ")?;
                list(f, vs)
            }
            Selector::Contains(k, v) => {
                write!(f, "{k} contains ")?;
                quote(f, v)
            }
            Selector::StartsWith(k, v) => {
                write!(f, "{k} starts with ")?;
                quote(f, v)
            }
            Selector::EndsWith(k, v) => {
                write!(f, "{k} ends with ")?;
                quote(f, v)
            }
            Selector::Not(e) => write!(f, "!({e})"),
            Selector::And(es) | Selector::Or(es) => {
                let op = if matches!(self, Selector::And(_)) {
                    " && "
                } else {
                    " || "
                };
                for (i, e) in es.iter().enumerate() {
                    if i > 0 {
                        f.write_str(op)?;
                    }
                    write!(f, "({e})")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn m(sel: &str, kv: &[(&str, &str)]) -> bool {
        let l = labels(kv);
        parse(sel).unwrap().matches(Target {
            labels: &l,
            global: false,
        })
    }

    #[test]
    fn evaluates_like_calico() {
        assert!(m("app == 'web'", &[("app", "web")]));
        assert!(!m("app == 'web'", &[("app", "db")]));
        assert!(m("app != 'web'", &[]));
        assert!(m("app in {'a', 'web'}", &[("app", "web")]));
        assert!(!m("app in {'a'}", &[]));
        assert!(m("app not in {'a'}", &[]));
        assert!(m("has(app) && !has(tier)", &[("app", "x")]));
        assert!(!m("has(app) && !has(tier)", &[("app", "x"), ("tier", "y")]));
        assert!(m("a == '1' || b == '2' && c == '3'", &[("a", "1")]));
        assert!(!m("(a == '1' || b == '2') && c == '3'", &[("a", "1")]));
        assert!(m("all()", &[]));
        assert!(!m("global()", &[]));
        assert!(m(
            "name starts with 'we' && name ends with 'eb' && name contains 'e'",
            &[("name", "web")]
        ));
        assert!(m("!(app == 'x')", &[("app", "y")]));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "app == 'web' && (tier in {'a', 'b'} || !has(x))",
            "k8s.io/app not in {\"it's\"}",
            "!global() || all()",
        ] {
            let a = parse(s).unwrap();
            let b = parse(&a.to_string()).unwrap();
            assert_eq!(a, b, "{s} -> {a}");
        }
    }
}
