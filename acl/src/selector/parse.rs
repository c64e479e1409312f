//! Recursive-descent parser for the selector language; errors carry the 1-based column
//! (in characters) where the input stopped making sense.
//!
//! Nesting (`(` and `!`) is limited to [`MAX_DEPTH`] levels: the parser, and every
//! function that walks the tree it returns (matching, display, compiling, dropping),
//! recurse once per level, so the limit is what keeps a hostile selector from
//! overflowing a thread's stack.

use super::Selector;

/// A selector that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct SelectorError {
    /// 1-based character column inside the selector text.
    pub column: usize,
    /// What was expected or found.
    pub message: String,
}

/// Deepest nesting of parentheses and `!` a selector may have. Real selectors use a
/// handful of levels; each level costs a few stack frames here and in every walk of
/// the tree.
pub const MAX_DEPTH: usize = 64;

/// Parses a selector; the empty string means `all()` (as in Calico).
pub fn parse(text: &str) -> Result<Selector, SelectorError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Ok(Selector::All);
    }
    let e = p.or()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.err("expected `&&`, `||` or the end of the selector"));
    }
    Ok(e)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Open `(` and `!` around the current position.
    depth: usize,
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

impl Parser {
    fn err(&self, message: &str) -> SelectorError {
        let found = match self.peek() {
            Some(c) => format!(" (found `{c}`)"),
            None => " (found the end)".to_string(),
        };
        SelectorError {
            column: self.pos + 1,
            message: format!("{message}{found}"),
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Consumes `s` (after whitespace) when it comes next.
    fn eat(&mut self, s: &str) -> bool {
        self.skip_ws();
        let n = s.chars().count();
        let end = self.pos + n;
        if end <= self.chars.len() && self.chars[self.pos..end].iter().copied().eq(s.chars()) {
            self.pos = end;
            true
        } else {
            false
        }
    }

    /// Consumes the word `w` only when it is not the prefix of a longer key.
    fn eat_word(&mut self, w: &str) -> bool {
        let save = self.pos;
        if self.eat(w) && !self.peek().is_some_and(is_key_char) {
            return true;
        }
        self.pos = save;
        false
    }

    fn or(&mut self) -> Result<Selector, SelectorError> {
        let mut parts = vec![self.and()?];
        while self.eat("||") {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Selector::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Selector, SelectorError> {
        let mut parts = vec![self.unary()?];
        while self.eat("&&") {
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Selector::And(parts)
        })
    }

    /// Enters one level of nesting at the current position (a `(` or `!`).
    fn descend(&mut self) -> Result<(), SelectorError> {
        if self.depth >= MAX_DEPTH {
            return Err(SelectorError {
                column: self.pos + 1,
                message: format!("nested more than {MAX_DEPTH} levels deep (parentheses and `!`)"),
            });
        }
        self.depth += 1;
        Ok(())
    }

    fn unary(&mut self) -> Result<Selector, SelectorError> {
        self.skip_ws();
        if self.peek() == Some('!') && self.chars.get(self.pos + 1) != Some(&'=') {
            self.descend()?;
            self.pos += 1;
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Selector::Not(Box::new(e)));
        }
        if self.peek() == Some('(') {
            self.descend()?;
            self.pos += 1;
            let e = self.or()?;
            if !self.eat(")") {
                self.skip_ws();
                return Err(self.err("expected `)`"));
            }
            self.depth -= 1;
            return Ok(e);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Selector, SelectorError> {
        for (word, sel) in [("all", Selector::All), ("global", Selector::Global)] {
            let save = self.pos;
            if self.eat_word(word) && self.eat("(") {
                if !self.eat(")") {
                    self.skip_ws();
                    return Err(self.err(&format!("`{word}()` takes no argument")));
                }
                return Ok(sel);
            }
            self.pos = save;
        }
        let save = self.pos;
        if self.eat_word("has") && self.eat("(") {
            let k = self.key()?;
            if !self.eat(")") {
                self.skip_ws();
                return Err(self.err("expected `)` after the label key"));
            }
            return Ok(Selector::Has(k));
        }
        self.pos = save;
        let key = self.key()?;
        if self.eat("==") {
            return Ok(Selector::Eq(key, self.string()?));
        }
        if self.eat("!=") {
            return Ok(Selector::Ne(key, self.string()?));
        }
        if self.eat_word("in") {
            return Ok(Selector::In(key, self.set()?));
        }
        if self.eat_word("not") {
            if !self.eat_word("in") {
                self.skip_ws();
                return Err(self.err("expected `in` after `not`"));
            }
            return Ok(Selector::NotIn(key, self.set()?));
        }
        if self.eat_word("contains") {
            return Ok(Selector::Contains(key, self.string()?));
        }
        if self.eat_word("starts") {
            if !self.eat_word("with") {
                self.skip_ws();
                return Err(self.err("expected `with` after `starts`"));
            }
            return Ok(Selector::StartsWith(key, self.string()?));
        }
        if self.eat_word("ends") {
            if !self.eat_word("with") {
                self.skip_ws();
                return Err(self.err("expected `with` after `ends`"));
            }
            return Ok(Selector::EndsWith(key, self.string()?));
        }
        self.skip_ws();
        Err(self.err("expected an operator (`==`, `!=`, `in`, `not in`, `contains`, `starts with`, `ends with`)"))
    }

    fn key(&mut self) -> Result<String, SelectorError> {
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(is_key_char) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.err("expected a label key, `has(…)`, `all()`, `global()`, `!` or `(`"));
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    fn string(&mut self) -> Result<String, SelectorError> {
        self.skip_ws();
        let q = match self.peek() {
            Some(q @ ('"' | '\'')) => q,
            _ => return Err(self.err("expected a quoted string")),
        };
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == q {
                let s = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                return Ok(s);
            }
            self.pos += 1;
        }
        self.pos = open;
        Err(self.err("unterminated string"))
    }

    fn set(&mut self) -> Result<Vec<String>, SelectorError> {
        if !self.eat("{") {
            self.skip_ws();
            return Err(self.err("expected `{`"));
        }
        let mut vs = Vec::new();
        if self.eat("}") {
            return Ok(vs);
        }
        loop {
            vs.push(self.string()?);
            if self.eat("}") {
                break;
            }
            if !self.eat(",") {
                self.skip_ws();
                return Err(self.err("expected `,` or `}`"));
            }
        }
        vs.sort();
        vs.dedup();
        Ok(vs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_point_at_the_column() {
        let e = parse("app == web").unwrap_err();
        assert_eq!(e.column, 8, "{e}");
        let e = parse("app == 'web' &&").unwrap_err();
        assert_eq!(e.column, 16, "{e}");
        let e = parse("has(app").unwrap_err();
        assert_eq!(e.column, 8, "{e}");
        let e = parse("app = 'x'").unwrap_err();
        assert_eq!(e.column, 5, "{e}");
        let e = parse("a in {'x' 'y'}").unwrap_err();
        assert_eq!(e.column, 11, "{e}");
        let e = parse("a == 'x').").unwrap_err();
        assert_eq!(e.column, 9, "{e}");
        let e = parse("a == 'x").unwrap_err();
        assert_eq!(e.column, 6, "{e}");
    }

    #[test]
    fn parses_all_forms() {
        assert_eq!(parse("").unwrap(), Selector::All);
        assert_eq!(parse("  all( ) ").unwrap(), Selector::All);
        assert_eq!(
            parse("!has(a)").unwrap(),
            Selector::Not(Box::new(Selector::Has("a".into())))
        );
        assert_eq!(
            parse("allow == 'x'").unwrap(),
            Selector::Eq("allow".into(), "x".into())
        );
        assert_eq!(
            parse("a != \"b\"").unwrap(),
            Selector::Ne("a".into(), "b".into())
        );
        assert_eq!(
            parse("a not in {'y','x'}").unwrap(),
            Selector::NotIn("a".into(), vec!["x".into(), "y".into()])
        );
        assert!(
            matches!(parse("a == '1' || b == '2' && c == '3'").unwrap(), Selector::Or(v) if v.len() == 2)
        );
    }

    #[test]
    fn deep_nesting_is_an_error_at_the_level_too_deep() {
        let ok = format!("{}a == 'b'{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let ok = format!("{}has(a)", "!".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        // 3,000 parentheses overflowed the stack of the agent's blocking threads.
        for deep in [
            format!("{}a == 'b'{}", "(".repeat(3000), ")".repeat(3000)),
            format!("{}has(a)", "!".repeat(100_000)),
            format!("{}has(a)", "!(".repeat(40)),
            format!("{}a == 'b'", " ( ".repeat(MAX_DEPTH + 1)),
        ] {
            let e = parse(&deep).unwrap_err();
            assert!(e.message.contains("levels deep"), "{e}");
        }
        let e = parse(&"(".repeat(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(e.column, MAX_DEPTH + 1, "{e}");
    }

    #[test]
    fn never_panics_on_garbage() {
        for s in [
            "(",
            ")",
            "!",
            "!=",
            "{",
            "'",
            "has(",
            "a in",
            "a not",
            "a starts",
            "((a=='b')",
            "💥 == 'x'",
        ] {
            assert!(parse(s).is_err(), "{s}");
        }
    }
}
