//! Limits on input files, checked before any YAML parser sees the text: the file's size,
//! that it is UTF-8 (an error at the first bad byte's line and column), and how deeply
//! its collections nest.
//!
//! The nesting check is a cheap linear pre-scan, not a YAML parser. The YAML scanners
//! behind serde_yaml and yaml-rust2 take time quadratic in the nesting depth (200 KB of
//! `[` took 21–45 s), so a file nested deeper than [`MAX_NESTING`] is refused before
//! either of them runs. The scan follows YAML's rules closely enough for that job:
//! quoted scalars, comments, plain scalars and block scalars (`|`, `>`) are skipped,
//! block nesting is counted by indentation and `- ` / `? ` indicators, flow nesting by
//! `[` / `{`. It can only under-count odd constructs (never reject a file that nests
//! less than the limit), and an under-count still leaves serde_yaml's own limit of 128.

use std::io::Read;
use std::path::Path;

use super::error::{LocatedError, Location};

/// How deeply collections may nest in an input file (block and flow levels together).
/// tern's deepest real path, `spec.ingress[0].source.nets[0]`, is 6.
pub const MAX_NESTING: usize = 32;

/// Why a file could not be read as text.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The operating system refused (missing file, permissions): a runtime failure.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not acceptable input: too large or not UTF-8 (bad input, located).
    #[error("{0}")]
    Invalid(LocatedError),
}

/// Reads `path` as UTF-8 text of at most `max_bytes` bytes.
///
/// A larger file is an error at 1:1 naming both sizes; invalid UTF-8 is an error at the
/// line and column (in characters) of the first bad byte.
pub fn read_file(path: &Path, max_bytes: u64) -> Result<String, ReadError> {
    let file = std::fs::File::open(path)?;
    // Sized from the file's length: one read and the end-of-file read (growing from
    // empty took six for a 500-octet config). Pipes and /proc files say 0 and grow.
    let hint = file.metadata().map_or(0, |m| m.len()).min(max_bytes);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0) + 1);
    // One byte more than allowed tells "too large" apart, also for pipes and /proc files.
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        let size = if size > max_bytes {
            format!("{size} bytes")
        } else {
            "larger".to_string()
        };
        return Err(ReadError::Invalid(LocatedError::new(
            path,
            Location::START,
            format!("the file is {size}; tern reads at most {max_bytes} bytes from it"),
        )));
    }
    text_of(path, bytes).map_err(ReadError::Invalid)
}

/// `bytes` as a string, or an error at the first byte that is not UTF-8.
pub fn text_of(path: &Path, bytes: Vec<u8>) -> Result<String, LocatedError> {
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let bad = e.as_bytes().get(good.len()).copied().unwrap_or(0);
        // The prefix is valid UTF-8 by definition.
        let prefix = std::str::from_utf8(good).unwrap_or_default();
        LocatedError::new(
            path,
            location_at(prefix, prefix.len()),
            format!("byte 0x{bad:02x} is not UTF-8 (input files must be UTF-8 text)"),
        )
    })
}

/// The 1-based line and character column of byte `offset` of `text`.
pub(crate) fn location_at(text: &str, offset: usize) -> Location {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    Location::new(line, before[line_start..].chars().count() + 1)
}

/// Checks that no collection in `text` nests deeper than [`MAX_NESTING`]; the error is
/// at the first node that is too deep.
pub fn check_nesting(file: &Path, text: &str) -> Result<(), LocatedError> {
    match deepest(text, MAX_NESTING) {
        None => Ok(()),
        Some(offset) => Err(LocatedError::new(
            file,
            location_at(text, offset),
            format!("collections nest more than {MAX_NESTING} levels deep here"),
        )),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    Single,
    Double,
}

/// Byte offset of the first node nested deeper than `max`, if any.
fn deepest(text: &str, max: usize) -> Option<usize> {
    // Columns at which the open block collections start.
    let mut block: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<Quote> = None;
    // Inside a block scalar: lines indented more than this are its content.
    let mut literal: Option<usize> = None;
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let base = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start_matches(' ').len();
        let blank = body.trim().is_empty();
        if let Some(parent) = literal {
            if blank || indent > parent {
                continue;
            }
            literal = None;
        }
        if quote.is_none() && flow == 0 {
            let rest = body.trim_start_matches(' ');
            if blank || rest.starts_with('#') {
                continue;
            }
            if body.starts_with("---") || body.starts_with("...") || body.starts_with('%') {
                block.clear();
            }
            while block.last().is_some_and(|c| *c >= indent) {
                block.pop();
            }
            block.push(indent);
            if block.len() + flow > max {
                return Some(base + indent);
            }
        }
        let bytes = body.as_bytes();
        let mut i = 0;
        // In a plain scalar (not at a token start): quotes and brackets are text.
        let mut plain = false;
        while i < bytes.len() {
            let c = bytes[i];
            let prev_space = i == 0 || matches!(bytes[i - 1], b' ' | b'\t');
            match quote {
                Some(Quote::Double) => {
                    match c {
                        b'\\' => i += 1,
                        b'"' => quote = None,
                        _ => {}
                    }
                    i += 1;
                    continue;
                }
                Some(Quote::Single) => {
                    if c == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 1;
                        } else {
                            quote = None;
                        }
                    }
                    i += 1;
                    continue;
                }
                None => {}
            }
            let next_blank = !matches!(bytes.get(i + 1), Some(c) if !matches!(c, b' ' | b'\t'));
            if c == b'#' && prev_space {
                break;
            }
            if plain {
                let ends = (c == b':' && next_blank)
                    || (flow > 0 && matches!(c, b',' | b'[' | b']' | b'{' | b'}'));
                if !ends {
                    i += 1;
                    continue;
                }
                plain = false;
            }
            let token_start =
                prev_space || (flow > 0 && matches!(bytes[i - 1], b'[' | b'{' | b',' | b':'));
            match c {
                b' ' | b'\t' => {}
                b'[' | b'{' if token_start || flow > 0 => {
                    flow += 1;
                    if block.len() + flow > max {
                        return Some(base + i);
                    }
                }
                b']' | b'}' if flow > 0 => flow -= 1,
                b',' | b':' if flow > 0 => {}
                b'"' if token_start => quote = Some(Quote::Double),
                b'\'' if token_start => quote = Some(Quote::Single),
                b'-' | b'?' if token_start && flow == 0 && next_blank => {
                    block.push(i + 2);
                    if block.len() > max {
                        return Some(base + i);
                    }
                }
                b':' if next_blank => {}
                b'|' | b'>' if token_start && flow == 0 => {
                    literal = Some(indent);
                    break;
                }
                _ if token_start => plain = true,
                _ => {}
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(text: &str) -> bool {
        deepest(text, MAX_NESTING).is_none()
    }

    #[test]
    fn real_files_pass() {
        for text in [
            include_str!("../../../examples/node-a.yaml"),
            "a: [1, [2, {b: 'it''s [', c: \"x\\\" [\"}]]\nd: it's [not a list\n",
            "x: |\n  [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n  {{{{\ny: >-\n    - - - - -\n",
            "# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\nk: v # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n",
            "s: 'multi\n  [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n  line'\n",
            "spec:\n  ingress:\n  - action: Allow\n    source:\n      nets: [10.0.0.0/8]\n",
        ] {
            assert!(depth_ok(text), "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_found_where_it_starts() {
        let flow = "[".repeat(200_000);
        assert_eq!(deepest(&flow, 32), Some(31));
        let closed = format!("a: {}{}", "[".repeat(40), "]".repeat(40));
        assert_eq!(deepest(&closed, 32), Some(3 + 31));
        assert_eq!(deepest(&"- ".repeat(100), 32), Some(62));
        assert_eq!(deepest(&"{a: ".repeat(100), 32), Some(4 * 31));
        let mut block = String::new();
        for i in 0..40 {
            block.push_str(&" ".repeat(i));
            block.push_str("a:\n");
        }
        let at = deepest(&block, 32).expect("too deep");
        assert_eq!(location_at(&block, at), Location::new(33, 33));
        // Exactly at the limit is fine.
        assert!(depth_ok(&format!("{}{}", "[".repeat(31), "]".repeat(31))));
    }

    #[test]
    fn utf8_errors_point_at_the_byte() {
        let e = text_of(Path::new("f.yaml"), b"a: 1\nb: \xc3\xa9\xff\n".to_vec()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.yaml:2:5: byte 0xff is not UTF-8 (input files must be UTF-8 text)"
        );
    }
}
