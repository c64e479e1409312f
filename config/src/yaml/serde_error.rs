//! Turning serde_yaml errors into located errors that name the field, with a
//! "did you mean" for misspelt field and variant names.

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
    let mut message = err.to_string();
    if let Some(l) = err.location() {
        let suffix = format!(" at line {} column {}", l.line(), l.column());
        message = message.replacen(&suffix, "", 1);
    }
    let at = positions
        .and_then(|p| better_location(&message, p))
        .or_else(|| {
            err.location()
                .map(|l| Location::new(l.line().max(1), l.column().max(1)))
        })
        .unwrap_or(fallback);
    LocatedError::new(file, at, suggest(&message))
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
    fn edit_distance_counts() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
