//! Turning serde_yaml errors into located errors that name the field, with a
//! "did you mean" for misspelt field and variant names, in YAML's words rather than
//! Rust's (`a list`, `a mapping`, `a whole number from 0 to 65535`, not `a sequence`,
//! `struct RawListen`, `u16`).

use std::path::Path;

use super::error::{LocatedError, Location};
use super::positions::Positions;

/// The located form of a serde_yaml error. Two errors serde_yaml places badly are
/// moved to where they are: a duplicate key (serde_yaml: the mapping's start) to the
/// repeated key, and "repetition limit exceeded" (no position) to the alias that
/// passed the limit. `fallback` is used when nothing says where.
pub(crate) fn located(
    file: &Path,
    err: &serde_yaml::Error,
    positions: Option<&Positions>,
    fallback: Location,
) -> LocatedError {
    let message = without_mark(err);
    let at = positions
        .and_then(|p| better_location(&message, p))
        .or_else(|| {
            err.location()
                .map(|l| Location::new(l.line().max(1), l.column().max(1)))
        })
        .unwrap_or(fallback);
    LocatedError::new(file, at, yamlish(&suggest(&message)))
}

/// The message of a serde_yaml error as [`located`] words it, without a position.
pub(crate) fn message(err: &serde_yaml::Error) -> String {
    yamlish(&suggest(&without_mark(err)))
}

fn without_mark(err: &serde_yaml::Error) -> String {
    let message = err.to_string();
    match err.location() {
        Some(l) => message.replacen(
            &format!(" at line {} column {}", l.line(), l.column()),
            "",
            1,
        ),
        None => message,
    }
}

/// Serde's Rust words for types replaced by YAML's.
fn yamlish(message: &str) -> String {
    const WORDS: [(&str, &str); 19] = [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number (0 or more)"),
        ("expected usize", "expected a whole number (0 or more)"),
        ("expected u128", "expected a whole number"),
        ("expected i8", "expected a whole number from -128 to 127"),
        (
            "expected i16",
            "expected a whole number from -32768 to 32767",
        ),
        (
            "expected i32",
            "expected a whole number from -2147483648 to 2147483647",
        ),
        ("expected i64", "expected a whole number"),
        ("expected f32", "expected a number"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a mapping"),
        ("expected a boolean", "expected true or false"),
        ("expected a borrowed string", "expected a string"),
        ("expected path string", "expected a path"),
        ("invalid type: sequence", "invalid type: a list"),
        ("invalid type: map", "invalid type: a mapping"),
    ];
    let mut out = message.to_string();
    for (rust, yaml) in WORDS {
        if let Some(i) = out.find(rust) {
            let end = i + rust.len();
            // Whole words only (`expected u8` is not the start of `expected u80`).
            if !out[end..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                out.replace_range(i..end, yaml);
            }
        }
    }
    out = out.replace("invalid type: unit value", "invalid type: an empty value");
    // `expected struct RawListen`, `expected enum Kind`: the user sees a mapping or a name.
    for (rust, yaml) in [
        ("expected struct ", "expected a mapping"),
        ("expected enum ", "expected a name"),
    ] {
        if let Some(i) = out.find(rust) {
            let rest = &out[i + rust.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.replace_range(i..i + rust.len() + end, yaml);
        }
    }
    out
}

fn better_location(message: &str, positions: &Positions) -> Option<Location> {
    let dup = ["duplicate entry with key ", "duplicate field `"]
        .iter()
        .find_map(|m| message.find(m));
    if let Some(i) = dup {
        let map = message[..i].trim_end().trim_end_matches(':');
        return positions.duplicate_key(map);
    }
    if message.contains("repetition limit exceeded") {
        return positions.repetition_limit();
    }
    None
}

/// Rewrites "unknown field `peerIp`, expected one of `peerIP`, …" as
/// "unknown field `peerIp` (did you mean `peerIP`?)" when one expected name is
/// close; otherwise keeps the message with its list.
fn suggest(message: &str) -> String {
    for what in ["unknown field `", "unknown variant `"] {
        let Some(start) = message.find(what) else {
            continue;
        };
        let rest = &message[start + what.len()..];
        let Some(end) = rest.find('`') else { continue };
        let given = &rest[..end];
        let after = &rest[end + 1..];
        let Some(expected) = after.strip_prefix(", expected ") else {
            continue;
        };
        let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        if let Some(best) = closest(given, &names) {
            let head = &message[..start + what.len() + end + 1];
            return format!("{head} (did you mean `{best}`?)");
        }
    }
    message.to_string()
}

/// The candidate closest to `given`: equal ignoring case, or within an edit
/// distance of a third of its length (at least 1, at most 3).
fn closest<'a>(given: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if let Some(c) = candidates.iter().find(|c| c.eq_ignore_ascii_case(given)) {
        return Some(c);
    }
    let max = (given.chars().count() / 3).clamp(1, 3);
    candidates
        .iter()
        .map(|c| (edit_distance(&given.to_lowercase(), &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_case_and_typo() {
        assert_eq!(
            suggest("peers[0]: unknown field `peerIp`, expected one of `peerIP`, `asNumber`"),
            "peers[0]: unknown field `peerIp` (did you mean `peerIP`?)"
        );
        assert_eq!(
            suggest("unknown variant `nftable`, expected `nftables` or `iptables`"),
            "unknown variant `nftable` (did you mean `nftables`?)"
        );
        let far = "unknown field `zzz`, expected `nodeName` or `asNumber`";
        assert_eq!(suggest(far), far);
    }

    #[test]
    fn speaks_yaml() {
        assert_eq!(
            yamlish("a: invalid value: integer `70000`, expected u16"),
            "a: invalid value: integer `70000`, expected a whole number from 0 to 65535"
        );
        assert_eq!(
            yamlish("listen: invalid type: sequence, expected struct RawListen"),
            "listen: invalid type: a list, expected a mapping"
        );
        assert_eq!(
            yamlish("peers: invalid type: map, expected a sequence"),
            "peers: invalid type: a mapping, expected a list"
        );
        assert_eq!(
            yamlish("x: invalid type: unit value, expected a boolean"),
            "x: invalid type: an empty value, expected true or false"
        );
        assert_eq!(yamlish("expected u80 things"), "expected u80 things");
    }

    #[test]
    fn edit_distance_counts() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
