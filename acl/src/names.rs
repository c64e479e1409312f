//! Object names, checked the way Kubernetes checks them: a policy's or an endpoint's
//! name is a DNS-1123 subdomain, a namespace a DNS-1123 label. Names end up in chain
//! names, comments and log prefixes of the rendered firewall input, so they are
//! checked at load, with the field's location; the renderers also escape what they
//! emit (see `render`), as a second line of defence.

use crate::model::{FieldError, PathSeg};

/// Longest DNS-1123 subdomain (Kubernetes object names).
pub const MAX_SUBDOMAIN: usize = 253;
/// Longest DNS-1123 label (Kubernetes namespaces).
pub const MAX_LABEL: usize = 63;

fn label_ok(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// True for a DNS-1123 label: 1–63 of `a-z`, `0-9`, `-`, starting and ending with a
/// letter or digit.
pub fn is_dns1123_label(s: &str) -> bool {
    label_ok(s, MAX_LABEL)
}

/// True for a DNS-1123 subdomain: at most 253 characters, labels (of any length up to
/// the total) joined by `.`.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= MAX_SUBDOMAIN && s.split('.').all(|l| label_ok(l, MAX_SUBDOMAIN))
}

/// Shows a rejected name safely (control characters escaped, long names cut).
fn shown(s: &str) -> String {
    let mut t: String = s.chars().take(80).flat_map(char::escape_debug).collect();
    if s.chars().count() > 80 {
        t.push('…');
    }
    t
}

/// Checks an object name (`metadata.name`, an endpoint's `name`).
pub fn check_name(path: &[PathSeg], name: &str) -> Result<(), FieldError> {
    if is_dns1123_subdomain(name) {
        return Ok(());
    }
    Err(FieldError::new(
        path,
        format!(
            "invalid name `{}`: a DNS-1123 subdomain is required (at most {MAX_SUBDOMAIN} characters of a-z, 0-9, `-` and `.`, each part starting and ending with a letter or digit)",
            shown(name)
        ),
    ))
}

/// Checks a namespace name.
pub fn check_namespace(path: &[PathSeg], name: &str) -> Result<(), FieldError> {
    if is_dns1123_label(name) {
        return Ok(());
    }
    Err(FieldError::new(
        path,
        format!(
            "invalid namespace `{}`: a DNS-1123 label is required (at most {MAX_LABEL} characters of a-z, 0-9 and `-`, starting and ending with a letter or digit)",
            shown(name)
        ),
    ))
}

/// True for a Kubernetes label name part (and label value, when not empty): at most 63
/// of `A-Za-z0-9-_.`, starting and ending with a letter or digit.
fn label_part_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LABEL
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// True for a Kubernetes label key: `[PREFIX/]NAME`, the prefix a DNS-1123 subdomain.
pub fn is_label_key(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && label_part_ok(name),
        None => label_part_ok(s),
    }
}

/// True for a Kubernetes label value: empty, or like a key's name part.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty() || label_part_ok(s)
}

/// Checks a label key (`path` names the field).
pub fn check_label_key(path: &[PathSeg], key: &str) -> Result<(), FieldError> {
    if is_label_key(key) {
        return Ok(());
    }
    Err(FieldError::new(
        path,
        format!(
            "invalid label key `{}`: [PREFIX/]NAME, NAME at most {MAX_LABEL} characters of A-Z, a-z, 0-9, `-`, `_`, `.` starting and ending with a letter or digit, PREFIX a DNS-1123 subdomain",
            shown(key)
        ),
    ))
}

/// Checks a label value (`path` names the field).
pub fn check_label_value(path: &[PathSeg], value: &str) -> Result<(), FieldError> {
    if is_label_value(value) {
        return Ok(());
    }
    Err(FieldError::new(
        path,
        format!(
            "invalid label value `{}`: empty, or at most {MAX_LABEL} characters of A-Z, a-z, 0-9, `-`, `_`, `.` starting and ending with a letter or digit",
            shown(value)
        ),
    ))
}

/// Checks a label map (`metadata.labels`, `matchLabels`, an endpoint's `labels`); the
/// error is at the offending key.
pub fn check_labels(
    path: &[PathSeg],
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<(), FieldError> {
    for (k, v) in labels.into_iter().flatten() {
        let at = crate::model::child(path, k);
        check_label_key(&at, k)?;
        check_label_value(&at, v)?;
    }
    Ok(())
}

/// Checks `metadata.name` and, when present, `metadata.namespace` of a policy.
pub(crate) fn check_metadata(
    meta_path: &[PathSeg],
    name: &str,
    namespace: Option<&str>,
) -> Result<(), FieldError> {
    check_name(&crate::model::child(meta_path, "name"), name)?;
    match namespace {
        Some(ns) => check_namespace(&crate::model::child(meta_path, "namespace"), ns),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_rules() {
        for ok in [
            "a",
            "web-1",
            "default.allow-dns",
            "a.b.c",
            "0abc",
            &"a".repeat(253),
        ] {
            assert!(is_dns1123_subdomain(ok), "{ok}");
        }
        for bad in [
            "",
            "Web",
            "a b",
            "a_b",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            "x\n-I INPUT 1 -j ACCEPT\n#",
            "é",
            &"a".repeat(254),
        ] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
        assert!(is_dns1123_label("kube-system"));
        assert!(!is_dns1123_label("a.b"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        for ok in ["app", "app.kubernetes.io/name", "a_b", "A1", "k8s-app"] {
            assert!(is_label_key(ok), "{ok}");
        }
        for bad in [
            "app@b",
            "$backendservice",
            "",
            "-a",
            "a/",
            "/a",
            "Bad_Prefix/a",
            "a/b/c",
        ] {
            assert!(!is_label_key(bad), "{bad}");
        }
        assert!(is_label_value(""));
        assert!(is_label_value("v1.2_x"));
        assert!(!is_label_value("$backendservice"));
        assert!(!is_label_value(&"a".repeat(64)));
        let e = check_name(&[], "x\ny").unwrap_err();
        assert!(
            e.message.starts_with("invalid name `x\\ny`"),
            "{}",
            e.message
        );
    }
}
