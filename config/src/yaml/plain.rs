//! A reader for the plain subset of YAML that node files are written in, for the reload
//! path: block mappings and sequences, one-line flow collections, one-line plain and
//! quoted scalars, comments. It builds the same [`Value`] serde_yaml would without
//! libyaml, whose scanner was most of a reload's CPU (a node file with 100 blocks loads
//! in 25 us instead of 66, `cargo run --release -p config --example load_time`), and
//! gives up on anything else, so that serde_yaml reads the text as before: anchors, aliases, tags, block
//! scalars, multi-line scalars or flow collections, escapes, quotes inside plain
//! scalars, document markers, tabs, carriage returns, non-ASCII text, duplicate keys,
//! plain scalars that could be numbers other than small decimal integers, and any
//! indentation it does not expect.
//!
//! Giving up is always safe: it only costs the time. Reading something differently from
//! serde_yaml is not, so the subset is kept narrow, and debug builds check every value
//! this returns against serde_yaml's (the whole test suite and the node config's fuzz
//! corpus go through it).

use serde_yaml::{Mapping, Number, Value};

/// Deeper than this, serde_yaml reads the text (after the nesting check).
const MAX_DEPTH: usize = 16;
const _: () = assert!(MAX_DEPTH <= super::MAX_NESTING);

/// `text` as serde_yaml would read it, when it is a block mapping in the plain subset;
/// `None` otherwise (not an error: read it with serde_yaml).
pub fn read(text: &str) -> Option<Value> {
    let value = read_subset(text);
    #[cfg(debug_assertions)]
    if let Some(v) = &value {
        let theirs = serde_yaml::from_str::<Value>(text).ok();
        assert_eq!(
            Some(v),
            theirs.as_ref(),
            "the plain YAML reader disagrees with serde_yaml on {text:?}"
        );
    }
    value
}

fn read_subset(text: &str) -> Option<Value> {
    let lines = lines(text)?;
    let first = lines.first()?.indent;
    let mut r = Reader {
        lines,
        pos: 0,
        depth: 0,
    };
    if is_item(r.lines[0].body) {
        return None;
    }
    let value = r.mapping(first)?;
    (r.pos == r.lines.len()).then_some(value)
}

/// One line with content: its indentation and the rest, trailing spaces removed.
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    body: &'a str,
}

/// The lines with content (blank and comment-only lines left out).
fn lines(text: &str) -> Option<Vec<Line<'_>>> {
    if text
        .bytes()
        .any(|b| !b.is_ascii() || (b.is_ascii_control() && b != b'\n'))
    {
        return None;
    }
    let mut out = Vec::new();
    for raw in text.split('\n') {
        let body = raw.trim_start_matches(' ');
        let indent = raw.len() - body.len();
        let body = body.trim_end_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if indent == 0 && (body.starts_with("---") || body.starts_with("...")) {
            return None;
        }
        out.push(Line { indent, body });
    }
    Some(out)
}

/// A block sequence's entry: `-` alone or followed by a space.
fn is_item(body: &str) -> bool {
    body == "-" || body.starts_with("- ")
}

/// What follows a colon or a dash and its spaces: nothing, or a comment.
fn nothing(rest: &str) -> bool {
    rest.is_empty() || rest.starts_with('#')
}

/// What follows a value on its line: nothing, or a comment after a space.
fn only_comment(rest: &str) -> bool {
    let trimmed = rest.trim_start_matches(' ');
    trimmed.is_empty() || (trimmed.len() < rest.len() && trimmed.starts_with('#'))
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    fn deeper(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn next_indent(&self) -> Option<usize> {
        self.lines.get(self.pos).map(|l| l.indent)
    }

    /// The block mapping whose keys are at `indent`, from the current line on.
    fn mapping(&mut self, indent: usize) -> Option<Value> {
        self.deeper()?;
        let mut map = Mapping::new();
        while let Some(line) = self.lines.get(self.pos).copied() {
            if line.indent != indent {
                break;
            }
            if is_item(line.body) {
                return None;
            }
            let (key, rest) = split_key(line.body)?;
            self.pos += 1;
            let value = if nothing(rest) {
                self.nested(indent)?
            } else {
                self.one_line(rest, indent)?
            };
            if map.insert(key, value).is_some() {
                return None;
            }
        }
        self.depth -= 1;
        Some(Value::Mapping(map))
    }

    /// The value of a key at `indent` with nothing after its colon: a block collection
    /// on the next lines, or null.
    fn nested(&mut self, indent: usize) -> Option<Value> {
        match self.lines.get(self.pos).copied() {
            Some(l) if l.indent > indent && is_item(l.body) => self.sequence(l.indent),
            Some(l) if l.indent > indent => self.mapping(l.indent),
            // A sequence may sit at its key's own indentation.
            Some(l) if l.indent == indent && is_item(l.body) => self.sequence(indent),
            _ => Some(Value::Null),
        }
    }

    /// The block sequence whose dashes are at `indent`, from the current line on.
    fn sequence(&mut self, indent: usize) -> Option<Value> {
        self.deeper()?;
        let mut items = Vec::new();
        while let Some(line) = self.lines.get(self.pos).copied() {
            if line.indent != indent || !is_item(line.body) {
                break;
            }
            let rest = line.body[1..].trim_start_matches(' ');
            let item = if nothing(rest) {
                self.pos += 1;
                match self.next_indent() {
                    Some(i) if i > indent => {
                        let l = self.lines[self.pos];
                        if is_item(l.body) {
                            return None;
                        }
                        self.mapping(l.indent)?
                    }
                    _ => Value::Null,
                }
            } else if is_item(rest) {
                return None;
            } else if starts_flow_or_quote(rest) || split_key(rest).is_none() {
                self.pos += 1;
                self.one_line(rest, indent)?
            } else {
                // `- key: value`: a mapping whose keys are at the first key's column.
                let column = indent + (line.body.len() - rest.len());
                self.lines[self.pos] = Line {
                    indent: column,
                    body: rest,
                };
                self.mapping(column)?
            };
            items.push(item);
        }
        self.depth -= 1;
        Some(Value::Sequence(items))
    }

    /// A value written on the line (already consumed) of its key or dash at `indent`:
    /// nothing that follows may be indented deeper, or it would continue the value.
    fn one_line(&mut self, text: &str, indent: usize) -> Option<Value> {
        if self.next_indent().is_some_and(|i| i > indent) {
            return None;
        }
        let mut flow = Flow {
            text,
            at: 0,
            depth: self.depth,
        };
        let value = match text.as_bytes()[0] {
            b'[' | b'{' | b'"' | b'\'' => {
                let v = flow.node()?;
                only_comment(&text[flow.at..]).then_some(v)?
            }
            _ => {
                let end = text.find(" #").unwrap_or(text.len());
                plain(text[..end].trim_end_matches(' '), false)?
            }
        };
        Some(value)
    }
}

fn starts_flow_or_quote(text: &str) -> bool {
    text.starts_with(['[', '{', '"', '\''])
}

/// `key: rest` (or `key:` alone) with a key in the subset: the key as serde_yaml reads
/// it (a string) and what follows the colon and its spaces. `None` when the line is not
/// a key or its key is outside the subset.
fn split_key(body: &str) -> Option<(Value, &str)> {
    let colon = body
        .match_indices(':')
        .map(|(i, _)| i)
        .find(|&i| matches!(body.as_bytes().get(i + 1), None | Some(b' ')))?;
    let key = &body[..colon];
    let ok = key
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'));
    if !ok {
        return None;
    }
    match plain(key, false)? {
        v @ Value::String(_) => Some((v, body[colon + 1..].trim_start_matches(' '))),
        _ => None,
    }
}

/// A one-line flow collection or quoted scalar.
struct Flow<'t> {
    /// ASCII (checked first), so any byte offset is a character boundary.
    text: &'t str,
    at: usize,
    depth: usize,
}

impl Flow<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn node(&mut self) -> Option<Value> {
        match self.peek()? {
            b'[' => self.sequence(),
            b'{' => self.mapping(),
            b'"' => self.quoted(b'"'),
            b'\'' => self.quoted(b'\''),
            _ => {
                let start = self.at;
                while let Some(b) = self.peek() {
                    let ends = match b {
                        b',' | b']' | b'}' => true,
                        b':' => matches!(
                            self.text.as_bytes().get(self.at + 1),
                            None | Some(b' ' | b',' | b']' | b'}')
                        ),
                        b'#' => self.at > start && self.text.as_bytes()[self.at - 1] == b' ',
                        _ => false,
                    };
                    if ends {
                        break;
                    }
                    self.at += 1;
                }
                plain(self.text.get(start..self.at)?.trim_end_matches(' '), true)
            }
        }
    }

    fn quoted(&mut self, quote: u8) -> Option<Value> {
        let start = self.at + 1;
        let len = self.text.get(start..)?.bytes().position(|b| b == quote)?;
        let content = self.text.get(start..start + len)?;
        self.at = start + len + 1;
        // Escapes (`\` in double quotes, a doubled quote in single ones) are left to
        // serde_yaml.
        if (quote == b'"' && content.contains('\\')) || self.peek() == Some(quote) {
            return None;
        }
        Some(Value::String(content.to_string()))
    }

    /// The entries of the flow collection that starts here (`[` or `{`), each read by
    /// `entry`, up to `close`: separated by commas, no empty entry, no trailing comma.
    fn entries(&mut self, close: u8, mut entry: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.depth += 1;
        self.at += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.spaces();
        if self.peek() != Some(close) {
            loop {
                self.spaces();
                entry(self)?;
                self.spaces();
                match self.peek()? {
                    b',' => self.at += 1,
                    b if b == close => break,
                    _ => return None,
                }
            }
        }
        self.at += 1;
        self.depth -= 1;
        Some(())
    }

    fn sequence(&mut self) -> Option<Value> {
        let mut items = Vec::new();
        self.entries(b']', |f| {
            items.push(f.node()?);
            // `[a: b]` is a sequence of one mapping.
            (f.peek() != Some(b':')).then_some(())
        })?;
        Some(Value::Sequence(items))
    }

    fn mapping(&mut self) -> Option<Value> {
        let mut map = Mapping::new();
        self.entries(b'}', |f| {
            if !f.peek()?.is_ascii_alphanumeric() {
                return None;
            }
            let key = f.node()?;
            if !key.is_string() || f.peek() != Some(b':') {
                return None;
            }
            f.at += 1;
            if f.peek() != Some(b' ') {
                return None;
            }
            f.spaces();
            if matches!(f.peek()?, b',' | b'}') {
                return None;
            }
            let value = f.node()?;
            map.insert(key, value).is_none().then_some(())
        })?;
        Some(Value::Mapping(map))
    }
}

/// A plain scalar (already cut at its end) as serde_yaml resolves it: null, a boolean,
/// a small decimal integer or a string. `None` for anything outside the subset,
/// including every other text that serde_yaml might take for a number.
fn plain(word: &str, in_flow: bool) -> Option<Value> {
    let bytes = word.as_bytes();
    let first = *bytes.first()?;
    let first_ok = first.is_ascii_alphanumeric()
        || matches!(first, b'.' | b'/' | b'~' | b'_')
        || (first == b'-' && bytes.get(1).is_some_and(|b| b.is_ascii_alphanumeric()));
    if !first_ok {
        return None;
    }
    for (i, &b) in bytes.iter().enumerate() {
        let ok = match b {
            b if b.is_ascii_alphanumeric() => true,
            b'.' | b'/' | b'-' | b'_' | b'~' | b'+' | b'=' | b'@' | b'(' | b')' | b';' | b'$'
            | b'^' => true,
            // Inside a plain scalar only when followed by something that is not a
            // space (nor, in flow, an indicator).
            b':' => bytes
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == b':' || *n == b'/'),
            b' ' => !in_flow || bytes.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric()),
            b',' => !in_flow,
            _ => false,
        };
        if !ok {
            return None;
        }
    }
    match word {
        "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    if bytes.iter().all(u8::is_ascii_digit) {
        // `0`, or digits without a leading zero, in range.
        if bytes.len() > 1 && first == b'0' {
            return None;
        }
        return word
            .parse::<u64>()
            .ok()
            .map(|n| Value::Number(Number::from(n)));
    }
    if number_like(word) {
        return None;
    }
    Some(Value::String(word.to_string()))
}

/// Could serde_yaml take `word` for a number (in any base, or a float, infinity or
/// NaN)? Errs on the side of yes.
fn number_like(word: &str) -> bool {
    // Every number serde_yaml reads is made of these (`/` or `:` in an address says no
    // at once).
    let number_bytes = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'_');
    if !word.bytes().all(number_bytes) {
        return false;
    }
    let unsigned = word.trim_start_matches(['+', '-']);
    let lower = unsigned.trim_start_matches('.').to_ascii_lowercase();
    word.parse::<f64>().is_ok()
        || unsigned.parse::<f64>().is_ok()
        || unsigned.parse::<u128>().is_ok()
        || ["0x", "0o", "0b"].iter().any(|p| lower.starts_with(p))
        || matches!(lower.as_str(), "inf" | "infinity" | "nan")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn theirs(text: &str) -> Value {
        serde_yaml::from_str(text).expect("serde_yaml reads it")
    }

    /// Texts in the subset: read, and the same value as serde_yaml's.
    #[test]
    fn the_subset_reads_as_serde_yaml_does() {
        let texts = [
            "a: 1\n",
            "nodeName: a\nasNumber: 64512\nrouterId: 10.0.0.1\n",
            "blocks: [10.96.0.0/26, 10.96.0.64/26, \"fd00::/64\"]\npools: []\n",
            "x: { socket: \"/tmp/a b.sock\", n: 0, on: true, off: False, none: ~ }\n",
            "listen: { address: \"::\", port: 179 }\nendpoints: [http://10.0.0.10:2379]\n",
            "# head\n\npeers:\n  - peerIP: 10.0.0.2   # the first\n    asNumber: 64512\n\n  - { peerIP: 10.0.0.3, holdTime: 9s }\n",
            "peers:\n- peerIP: 10.0.0.2\n  asNumber: 64512\n- peerIP: 10.0.0.3\nnext: 1\n",
            "a:\n  b:\n    c: [[1, 2], {d: e}, []]\n  f: {}\ng:\n",
            "description: top-of-rack switch, IPv6 session\n",
            "s: 'single # not a comment'\nt: \"double: quoted\"  # a comment\n",
            "items:\n  -\n    a: 1\n  - b\n  -\n",
            "v6: fd00::1\nmixed: a-b_c.d/e~f\nneg: -x\n",
            "  indented: 1\n  top: 2\n",
            "labels: { rack: r1, app.kubernetes.io/name: web }\n",
            "k: v # c\n# end\n",
        ];
        for text in texts {
            let ours = read_subset(text).unwrap_or_else(|| panic!("gave up on {text:?}"));
            assert_eq!(ours, theirs(text), "{text:?}");
        }
    }

    /// Texts outside the subset (valid YAML or not): given up on, never misread.
    #[test]
    fn outside_the_subset_is_given_up() {
        let texts = [
            "",
            "# only a comment\n",
            "- a\n- b\n",
            "a: &x 1\nb: *x\n",
            "a: !tag 1\n",
            "a: |\n  text\n",
            "a: >\n  text\n",
            "a: plain\n  continued\n",
            "a: [1,\n  2]\n",
            "a: \"esc\\n\"\n",
            "a: 'it''s'\n",
            "---\na: 1\n",
            "a: 1\n...\n",
            "a:\t1\n",
            "a: 1\r\n",
            "a: caf\u{e9}\n",
            "a: 1\na: 2\n",
            "a: 0x1F\n",
            "a: 1.5\n",
            "a: 1e3\n",
            "a: .inf\n",
            "a: -5\n",
            "a: +5\n",
            "a: 012\n",
            "a: 99999999999999999999999\n",
            "a: nan\n",
            "true: 1\n",
            "1: a\n",
            "<<: {a: 1}\n",
            "a: [b: c]\n",
            "a: [1, 2,]\n",
            "a: {b}\n",
            "a: {b:c}\n",
            "a: [1]x\n",
            "a: [1]# c\n",
            "a: b: c\n",
            "a: x#y\n",
            "a:\n- 1\n - 2\n",
            "a: 1\n b: 2\n",
            "a:\n  - - 1\n",
            "? a\n: b\n",
            "\"a\": 1\n",
            "a: @x\n",
            "a: `x`\n",
            "a: %x\n",
            "a: 1 # \u{1}\n",
            "a: \"\u{7f}\"\n",
        ];
        for text in texts {
            assert_eq!(read_subset(text), None, "{text:?}");
        }
    }

    #[test]
    fn nesting_deeper_than_the_bound_is_given_up() {
        let deep = |n: usize| format!("a: {}{}\n", "[".repeat(n), "]".repeat(n));
        assert!(read_subset(&deep(MAX_DEPTH - 1)).is_some());
        assert_eq!(read_subset(&deep(MAX_DEPTH)), None);
    }

    /// Every node file the project ships is in the subset (the reload's fast path).
    #[test]
    fn the_shipped_node_files_are_in_the_subset() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let files = [
            "examples/node-a.yaml",
            "examples/node-b.yaml",
            "examples/node-c.yaml",
            "examples/lab/host-a/node.yaml",
            "examples/lab/host-b/node.yaml",
            "examples/lab/host-c/node.yaml",
            "examples/cluster/node-a.yaml",
        ];
        for f in files {
            let text = std::fs::read_to_string(root.join(f)).expect("the example exists");
            let ours = read_subset(&text).unwrap_or_else(|| panic!("gave up on {f}"));
            assert_eq!(ours, theirs(&text), "{f}");
        }
    }

    /// Generated node-file-like texts, half of them with something outside the subset
    /// in them: whatever the reader reads, it reads as serde_yaml does.
    mod generated {
        use super::*;
        use proptest::prelude::*;

        /// Scalars the reader reads (the first `SAFE`) and others.
        const WORDS: &[&str] = &[
            "a",
            "nodeName",
            "10.0.0.1",
            "fd00::1",
            "fd00::/64",
            "10.96.0.0/26",
            "9s",
            "0",
            "7",
            "64512",
            "18446744073709551615",
            "~",
            "null",
            "Null",
            "NULL",
            "true",
            "False",
            "on",
            "yes",
            "no",
            "y",
            "-x",
            "a b",
            "a:b",
            "http://x:1/",
            "'s'",
            "'a #b'",
            "\"d\"",
            "\"a: #b\"",
            "\"\"",
            "''",
            "[]",
            "{}",
            "$x",
            "(x)",
            "a=b",
            "~x",
            "_x",
            ".x",
            "/x",
            "x(y)",
            "a@b",
            "x$",
            "x^",
            "a+b",
            "a;b",
            // Outside the subset from here on (or, in flow, only there).
            "a,b",
            "a  b",
            "(x)",
            "$x",
            "012",
            "0x1F",
            "0o7",
            "0b1",
            "1.5",
            "1e3",
            "1.",
            ".5",
            ".inf",
            "-.inf",
            ".nan",
            "nan",
            "inf",
            "Infinity",
            "-5",
            "+5",
            "a: b",
            "a #b",
            "a#b",
            "'it''s'",
            "\"e\\n\"",
            "18446744073709551616",
            "&a x",
            "*a",
            "!t x",
            "|",
            ">",
            "-",
            "?",
            "x]",
            "x}",
            "@x",
            "%x",
            "`x`",
            "x:",
            ":x",
            "- x",
            "a ",
            " a",
        ];
        const SAFE: usize = 46;
        /// Keys the reader reads (the first `SAFE_KEYS`) and others.
        const KEYS: &[&str] = &[
            "a", "b", "nodeName", "on", "a.b/c", "a-b", "a_b", "true", "1", "x y", "\"q\"", "-k",
            "<<", "null", "0x1", "k:",
        ];
        const SAFE_KEYS: usize = 7;

        fn key() -> impl Strategy<Value = usize> + Clone {
            prop_oneof![15 => 0..SAFE_KEYS, 1 => SAFE_KEYS..KEYS.len()]
        }

        /// The entries with their first key only (a duplicate key is given up on, and
        /// generated texts should mostly be read).
        fn unique(entries: &[(usize, Node)]) -> Vec<&(usize, Node)> {
            let mut seen = Vec::new();
            entries
                .iter()
                .filter(|(k, _)| {
                    let new = !seen.contains(k);
                    seen.push(*k);
                    new
                })
                .collect()
        }

        #[derive(Debug, Clone)]
        enum Node {
            Word(usize),
            FlowSeq(Vec<Node>),
            FlowMap(Vec<(usize, Node)>),
            BlockSeq(Vec<Node>),
            BlockMap(Vec<(usize, Node)>),
        }

        fn node() -> impl Strategy<Value = Node> {
            let leaf = prop_oneof![9 => 0..SAFE, 1 => SAFE..WORDS.len()].prop_map(Node::Word);
            leaf.prop_recursive(4, 24, 4, |inner| {
                let entry = (key(), inner.clone());
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Node::FlowSeq),
                    prop::collection::vec(entry.clone(), 0..4).prop_map(Node::FlowMap),
                    prop::collection::vec(inner, 1..4).prop_map(Node::BlockSeq),
                    prop::collection::vec(entry, 1..4).prop_map(Node::BlockMap),
                ]
            })
        }

        fn flow(n: &Node) -> String {
            match n {
                Node::Word(w) => WORDS[*w].to_string(),
                Node::FlowSeq(v) | Node::BlockSeq(v) => {
                    format!("[{}]", v.iter().map(flow).collect::<Vec<_>>().join(", "))
                }
                Node::FlowMap(v) | Node::BlockMap(v) => format!(
                    "{{{}}}",
                    unique(v)
                        .iter()
                        .map(|(k, n)| format!("{}: {}", KEYS[*k], flow(n)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }

        /// `n` as the value after `lead` (a key and its colon, or a dash) at `indent`.
        fn block(out: &mut String, indent: usize, lead: &str, n: &Node, style: u8) {
            let pad = " ".repeat(indent);
            match n {
                Node::BlockMap(entries) if lead == "-" && style & 16 != 0 => {
                    // `- key: value`, the other keys under the first.
                    let entries = unique(entries);
                    let (k, v) = entries[0];
                    let mut first = String::new();
                    block(&mut first, indent + 2, &format!("{}:", KEYS[*k]), v, style);
                    out.push_str(&format!("{pad}- {}", &first[indent + 2..]));
                    for (k, v) in &entries[1..] {
                        block(out, indent + 2, &format!("{}:", KEYS[*k]), v, style);
                    }
                }
                Node::BlockMap(entries) => {
                    out.push_str(&format!("{pad}{lead}\n"));
                    for (k, v) in unique(entries) {
                        let key = format!("{}:", KEYS[*k]);
                        block(out, indent + 2, &key, v, style);
                    }
                }
                Node::BlockSeq(items) => {
                    out.push_str(&format!("{pad}{lead}\n"));
                    // A sequence at its key's own indentation, or deeper.
                    let at = if style & 1 == 0 { indent } else { indent + 2 };
                    for item in items {
                        block(out, at, "-", item, style >> 1);
                    }
                }
                other => {
                    let comment = if style & 4 != 0 { "  # note" } else { "" };
                    out.push_str(&format!("{pad}{lead} {}{comment}\n", flow(other)));
                    if style & 8 != 0 {
                        out.push_str("\n# between\n");
                    }
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]
            #[test]
            fn whatever_is_read_is_read_as_serde_yaml_does(
                entries in prop::collection::vec((key(), node()), 1..5),
                style in any::<u8>(),
            ) {
                let mut text = String::new();
                for (k, v) in unique(&entries) {
                    block(&mut text, 0, &format!("{}:", KEYS[*k]), v, style);
                }
                if let Some(ours) = read_subset(&text) {
                    let theirs = serde_yaml::from_str::<Value>(&text).ok();
                    prop_assert_eq!(Some(ours), theirs, "{:?}", text);
                }
            }
        }
    }
}
