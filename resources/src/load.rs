//! Loading resource files: every `---` document of a YAML (or JSON) file becomes a
//! [`Resource`], and every problem becomes `FILE:LINE:COL: path: message` — unknown
//! fields and kinds, wrong types, invalid values, names, and a resource defined twice.
//! A file loads whole or not at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::yaml::{self, LocatedError, LocatedErrors, Location, Positions};
use serde_json::Value;

use crate::{DecodeError, Kind, Problem, Resource, ResourceKey};

/// Largest resource file read (as the node config's limit).
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Why a file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// It could not be read (missing, unreadable, too large).
    #[error("{}: cannot read: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// It holds invalid documents; nothing of it is to be used.
    #[error("{0}")]
    Invalid(LocatedErrors),
}

/// Reads and loads one file (`-` is not special here; the CLI reads stdin itself).
pub fn load_file(path: &Path) -> Result<Vec<Resource>, LoadError> {
    let text = match yaml::read_file(path, MAX_FILE_BYTES) {
        Ok(t) => t,
        Err(yaml::ReadError::Invalid(e)) => return Err(LoadError::Invalid(e.into())),
        Err(e) => {
            return Err(LoadError::Read {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        }
    };
    load_text(path, &text).map_err(LoadError::Invalid)
}

/// Loads every document of `text` (`file` names it in errors). All documents are
/// checked; any error fails the whole text.
pub fn load_text(file: &Path, text: &str) -> Result<Vec<Resource>, LocatedErrors> {
    let mut errors = LocatedErrors::new();
    // Pass 1: each document as a plain value (what is validated and stored).
    let mut raws: BTreeMap<usize, Result<Value, LocatedError>> = BTreeMap::new();
    for src in yaml::documents(file, text) {
        let i = src.index();
        raws.insert(i, src.deserialize::<Value>().map(|d| d.value));
    }
    // Pass 2: positions, and the located shape errors.
    let mut out = Vec::new();
    let mut seen: BTreeMap<ResourceKey, Location> = BTreeMap::new();
    for src in yaml::documents(file, text) {
        let raw = match raws.remove(&src.index()) {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                errors.push(e);
                continue;
            }
            None => continue,
        };
        let positions = src.positions().clone();
        let doc_kind = raw.get("kind").and_then(Value::as_str).unwrap_or("");
        if doc_kind.ends_with("List") && raw.get("items").is_some_and(Value::is_array) {
            // What `tern get KIND -o yaml` prints (and calicoctl / kubectl lists).
            let items = match raw.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            for (i, item) in items.into_iter().enumerate() {
                let prefix = format!("items[{i}]");
                let mut put = Put {
                    positions: &positions,
                    text,
                    prefix: &prefix,
                    out: &mut out,
                    seen: &mut seen,
                    errors: &mut errors,
                };
                if let Err(msg) = put.one(item) {
                    errors.push(positions.error(&prefix, format!("{prefix}: {msg}")));
                }
            }
            continue;
        }
        let kind = Kind::from_document(
            doc_kind,
            raw.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
        );
        let mut put = Put {
            positions: &positions,
            text,
            prefix: "",
            out: &mut out,
            seen: &mut seen,
            errors: &mut errors,
        };
        if let Err(msg) = put.one(raw) {
            let located = kind.and_then(|k| crate::locate_shape(k, src));
            errors.push(located.unwrap_or_else(|| positions.error("", msg)));
        }
    }
    errors.sort();
    errors.into_result(out)
}

/// Where one resource of a document goes: its place (`prefix`: `""`, or `items[i]` in
/// a list) and the collections it is added to.
struct Put<'a> {
    positions: &'a Positions,
    text: &'a str,
    prefix: &'a str,
    out: &'a mut Vec<Resource>,
    seen: &'a mut BTreeMap<ResourceKey, Location>,
    errors: &'a mut LocatedErrors,
}

impl Put<'_> {
    /// Adds the resource, or its located problem; a shape error is returned (the caller
    /// locates it).
    fn one(&mut self, raw: Value) -> Result<(), String> {
        let path = |p: &str| match (self.prefix, p) {
            ("", p) => p.to_string(),
            (pre, "") => pre.to_string(),
            (pre, p) => format!("{pre}.{p}"),
        };
        match Resource::from_value(raw) {
            Ok(r) => {
                let at = self.positions.at(&path("metadata.name"));
                let key = r.key();
                if let Some(first) = self.seen.get(&key) {
                    self.errors.push(LocatedError::new(
                        self.positions.file(),
                        at,
                        format!(
                            "{}: {key} is already defined at line {}",
                            path("metadata.name"),
                            first.line
                        ),
                    ));
                } else {
                    self.seen.insert(key, at);
                    self.out.push(r);
                }
                Ok(())
            }
            Err(DecodeError::Invalid(mut p)) => {
                p.path = path(&p.path);
                self.errors.push(locate(self.positions, self.text, &p));
                Ok(())
            }
            Err(DecodeError::Shape(msg)) => Err(msg),
        }
    }
}

/// A problem at its place in the document.
fn locate(positions: &Positions, text: &str, p: &Problem) -> LocatedError {
    let mut at = positions.at(&p.path);
    if let Some(off) = p.offset {
        let quoted = positions
            .get(&p.path)
            .and_then(|pos| {
                text.lines()
                    .nth(pos.value.line.saturating_sub(1))
                    .and_then(|l| l.chars().nth(pos.value.column.saturating_sub(1)))
            })
            .is_some_and(|c| c == '"' || c == '\'');
        at.column += off + usize::from(quoted);
    }
    LocatedError::new(positions.file(), at, p.to_string())
}
