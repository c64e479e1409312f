//! Every deserialization error of a one-document file in one pass.
//!
//! Serde stops at the first problem of a document. To find the others, the document
//! is read once more as a plain YAML value, repaired where serde stopped (an unknown
//! key removed; a bad or missing value replaced by a stand-in that deserializes) and
//! deserialized again, until it deserializes or a work budget runs out. Errors at or
//! under a stand-in come from the stand-in and are not reported; the semantic checks
//! that the caller runs on the repaired document ([`Partial::finish`]) lose their
//! errors at a stand-in's position for the same reason.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use super::error::{LocatedError, LocatedErrors, Location};
use super::positions::{index_documents, Positions};
use super::{limits, load_document, serde_error, Document};

/// Most errors reported from one file.
pub const MAX_ERRORS: usize = 100;
/// Most bytes of YAML re-read while repairing one file (a 1 MiB file is tried 16 times).
const WORK_BYTES: usize = 16 << 20;
/// Most repair attempts for one file.
const MAX_ATTEMPTS: usize = 2_000;

/// A document that did not deserialize: every error found, and the document with
/// stand-ins for the broken values when the repair got that far.
#[derive(Debug)]
pub struct Partial<T> {
    /// The deserialization errors, in the order found.
    pub errors: LocatedErrors,
    /// The document with stand-ins (`None` when the repair stopped early).
    pub document: Option<Document<T>>,
    /// Where each stand-in's value (or its missing key's mapping) is.
    stand_ins: Vec<Location>,
    /// Where the document starts.
    root: Option<Location>,
}

impl<T> Partial<T> {
    /// All errors, sorted: the deserialization errors, and those of `check` (the
    /// caller's semantic checks) run on the repaired document, except errors at a
    /// stand-in's position.
    pub fn finish(self, check: impl FnOnce(Document<T>) -> Option<LocatedErrors>) -> LocatedErrors {
        let mut errors = self.errors;
        if let Some(doc) = self.document {
            if let Some(more) = check(doc) {
                // A check error at the document's start is about what is missing as a
                // whole, which a stand-in may have caused (a stand-in `type` needing
                // another key): left out when there are stand-ins.
                let stand_ins = self.stand_ins;
                let root = self.root;
                errors.extend(more.into_iter().filter(|e| {
                    let at = e.location();
                    !stand_ins.contains(&at) && (stand_ins.is_empty() || Some(at) != root)
                }));
            }
        }
        errors.sort();
        errors
    }
}

/// Like [`load_document`] (exactly one document), but a document that does not
/// deserialize gives every problem found in it ([`Partial`]), not only the first.
pub fn load_document_all<T: DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<Document<T>, Box<Partial<T>>> {
    let first = match load_document::<T>(file, text) {
        Ok(doc) => return Ok(doc),
        Err(e) => e,
    };
    let stop = |errors| {
        Box::new(Partial {
            errors,
            document: None,
            stand_ins: Vec::new(),
            root: None,
        })
    };
    // Several errors (several documents), nesting refused, syntax errors: as found.
    if first.len() != 1 || limits::check_nesting(file, text).is_err() {
        return Err(stop(first));
    }
    let index = index_documents(file, text);
    let Some((doc_index, positions)) = index
        .documents
        .into_iter()
        .enumerate()
        .find(|(_, d)| !d.empty)
        .map(|(i, d)| (i, d.positions))
    else {
        return Err(stop(first));
    };
    let Ok(value) = serde_yaml::from_str::<Value>(text) else {
        return Err(stop(first));
    };
    Err(Box::new(
        Repair {
            file,
            positions: &positions,
            value,
            errors: first,
            first_seen: false,
            stand_in_paths: Vec::new(),
            stand_ins: Vec::new(),
            renamed: Vec::new(),
            work: 0,
            attempts: 0,
        }
        .run(doc_index),
    ))
}

struct Repair<'a> {
    file: &'a Path,
    positions: &'a Positions,
    value: Value,
    errors: LocatedErrors,
    /// The loop met the error that the first, exact pass already reported.
    first_seen: bool,
    stand_in_paths: Vec<String>,
    stand_ins: Vec<Location>,
    /// Misspelt keys read under their meant name: (meant path, written path).
    renamed: Vec<(String, String)>,
    work: usize,
    attempts: usize,
}

/// What a deserialization attempt of the repaired value gave.
enum Attempt<T> {
    Done(T),
    Failed { path: String, message: String },
    OutOfBudget,
}

impl Repair<'_> {
    fn run<T: DeserializeOwned>(mut self, index: usize) -> Partial<T> {
        let mut attempt = self.attempt::<T>();
        loop {
            let (path, message) = match attempt {
                Attempt::Done(value) => {
                    let document = Document {
                        value,
                        positions: self.positions.clone(),
                        index,
                    };
                    return self.partial(Some(document));
                }
                Attempt::OutOfBudget => return self.partial(None),
                Attempt::Failed { path, message } => (path, message),
            };
            if self.errors.len() >= MAX_ERRORS {
                return self.partial(None);
            }
            let next = if let Some(key) = quoted_after(&message, "unknown field `") {
                let target = join(&path, &key);
                self.report(&path, self.positions.key_at(&target), &message);
                // A misspelt key is read under the name it was meant to have, so that
                // its value is checked and its absence not reported again.
                let meant = quoted_after(&message, "(did you mean `");
                if !rename(&mut self.value, &path, &key, meant.as_deref()) {
                    return self.partial(None);
                }
                if let Some(meant) = meant {
                    self.renamed.push((join(&path, &meant), target));
                }
                Some(self.attempt::<T>())
            } else if let Some(key) = quoted_after(&message, "missing field `") {
                let target = join(&path, &key);
                self.report(&path, self.at(&path), &message);
                self.stand_in::<T>(&target, &message)
            } else {
                self.report(&path, self.at(&path), &message);
                self.stand_in::<T>(&path, &message)
            };
            match next {
                Some(a) => attempt = a,
                None => return self.partial(None),
            }
        }
    }

    /// Where the value at `path` of the repaired document was written: under the
    /// misspelt key for a renamed one.
    fn at(&self, path: &str) -> Location {
        for (meant, written) in &self.renamed {
            if within(path, meant) {
                return self
                    .positions
                    .at(&format!("{written}{}", &path[meant.len()..]));
            }
        }
        self.positions.at(path)
    }

    fn partial<T>(self, document: Option<Document<T>>) -> Partial<T> {
        Partial {
            errors: self.errors,
            document,
            stand_ins: self.stand_ins,
            root: Some(self.positions.at("")),
        }
    }

    /// Records the error unless it is the stand-ins' own or the one already reported.
    fn report(&mut self, path: &str, at: Location, message: &str) {
        if self.stand_in_paths.iter().any(|s| within(path, s)) {
            return;
        }
        if !self.first_seen {
            self.first_seen = true;
            if self.errors.iter().any(|e| e.message == message) {
                return;
            }
        }
        self.errors.push(LocatedError::new(self.file, at, message));
    }

    /// Puts the first stand-in that serde accepts at `target`; the attempt with it.
    fn stand_in<T: DeserializeOwned>(&mut self, target: &str, message: &str) -> Option<Attempt<T>> {
        for candidate in candidates(message) {
            if !set(&mut self.value, target, candidate) {
                return None;
            }
            let attempt = self.attempt::<T>();
            let accepted = match &attempt {
                Attempt::Done(_) | Attempt::OutOfBudget => true,
                Attempt::Failed { path, message } => {
                    path != target || message.contains("missing field `")
                }
            };
            if accepted {
                self.stand_ins.push(self.at(target));
                self.stand_in_paths.push(target.to_string());
                return Some(attempt);
            }
        }
        None
    }

    fn attempt<T: DeserializeOwned>(&mut self) -> Attempt<T> {
        self.attempts += 1;
        let Ok(text) = serde_yaml::to_string(&self.value) else {
            return Attempt::OutOfBudget;
        };
        self.work += text.len();
        if self.work > WORK_BYTES || self.attempts > MAX_ATTEMPTS {
            return Attempt::OutOfBudget;
        }
        match T::deserialize(serde_yaml::Deserializer::from_str(&text)) {
            Ok(v) => Attempt::Done(v),
            Err(e) => {
                let message = serde_error::message(&e);
                let (path, message) = split_path(&message, self.positions);
                Attempt::Failed { path, message }
            }
        }
    }
}

/// Values tried in turn as a stand-in: the first variant the message names, then
/// one of each YAML shape and of the scalar forms tern's files use.
fn candidates(message: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(i) = message.find(", expected ") {
        if let Some(v) = quoted_after(&message[i..], "`") {
            out.push(Value::String(v));
        }
    }
    out.extend([
        Value::Number(1.into()),
        Value::String("1s".into()),
        Value::String("192.0.2.1".into()),
        Value::String("192.0.2.0/24".into()),
        Value::String("192.0.2.1:1".into()),
        Value::Bool(false),
        Value::Sequence(Vec::new()),
        Value::Mapping(Mapping::new()),
        Value::String("x".into()),
        Value::Null,
    ]);
    out
}

/// Splits "peers[0].asNumber: message" into the key path and the message; a message
/// about the root has no path.
fn split_path(message: &str, positions: &Positions) -> (String, String) {
    if let Some((head, _)) = message.split_once(": ") {
        let plain = !head.is_empty() && !head.contains(char::is_whitespace);
        if plain || positions.get(head).is_some() {
            return (head.to_string(), message.to_string());
        }
    }
    (String::new(), message.to_string())
}

/// The text between `start` and the next backtick.
fn quoted_after(message: &str, start: &str) -> Option<String> {
    let rest = &message[message.find(start)? + start.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Whether `path` is `base` or below it.
fn within(path: &str, base: &str) -> bool {
    path == base
        || path
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

enum Step {
    Key(String),
    Index(usize),
}

/// `a.b[2].c` as steps; `None` for what cannot be a serde_yaml path.
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    if path.is_empty() {
        return Some(out);
    }
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

fn node_mut<'v>(value: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    let mut v = value;
    for step in steps(path)? {
        v = match (step, v) {
            (Step::Key(k), Value::Mapping(m)) => m.get_mut(k.as_str())?,
            (Step::Index(i), Value::Sequence(s)) => s.get_mut(i)?,
            (step, Value::Tagged(t)) => {
                let inner = &mut t.value;
                match (step, inner) {
                    (Step::Key(k), Value::Mapping(m)) => m.get_mut(k.as_str())?,
                    (Step::Index(i), Value::Sequence(s)) => s.get_mut(i)?,
                    _ => return None,
                }
            }
            _ => return None,
        };
    }
    Some(v)
}

/// Removes `key` from the mapping at `path`; its value goes to the key `meant` if
/// given and not there yet.
fn rename(value: &mut Value, path: &str, key: &str, meant: Option<&str>) -> bool {
    let Some(Value::Mapping(m)) = node_mut(value, path) else {
        return false;
    };
    let Some(v) = m.remove(key) else {
        return false;
    };
    if let Some(meant) = meant.filter(|k| !m.contains_key(*k)) {
        m.insert(Value::String(meant.to_string()), v);
    }
    true
}

/// Sets the value at `path`, adding the last key to its mapping if it is missing.
fn set(value: &mut Value, path: &str, new: Value) -> bool {
    if let Some(v) = node_mut(value, path) {
        *v = new;
        return true;
    }
    let (parent, key) = match path.rfind('.') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    };
    if key.contains('[') {
        return false;
    }
    match node_mut(value, parent) {
        Some(Value::Mapping(m)) => {
            m.insert(Value::String(key.to_string()), new);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_steps() {
        let mut v: Value = serde_yaml::from_str("a: {b: [1, {c: 2}]}").unwrap();
        assert!(set(&mut v, "a.b[1].c", Value::Number(3.into())));
        assert!(set(&mut v, "a.d", Value::Bool(true)));
        assert!(!set(&mut v, "a.b[5]", Value::Null));
        assert!(rename(&mut v, "a", "d", None));
        assert_eq!(
            serde_yaml::to_string(&v).unwrap(),
            "a:\n  b:\n  - 1\n  - c: 3\n"
        );
        assert!(rename(&mut v, "a", "b", Some("e")));
        assert_eq!(
            serde_yaml::to_string(&v).unwrap(),
            "a:\n  e:\n  - 1\n  - c: 3\n"
        );
        assert!(steps("a[x]").is_none());
        assert!(within("a.b[1]", "a.b"));
        assert!(!within("a.bc", "a.b"));
    }
}
