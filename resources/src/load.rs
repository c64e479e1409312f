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
        let kind = Kind::from_document(
            raw.get("kind").and_then(Value::as_str).unwrap_or(""),
            raw.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
        );
        match Resource::from_value(raw) {
            Ok(r) => {
                let at = positions.at("metadata.name");
                let key = r.key();
                if let Some(first) = seen.get(&key) {
                    errors.push(LocatedError::new(
                        file,
                        at,
                        format!(
                            "metadata.name: {key} is already defined at line {}",
                            first.line
                        ),
                    ));
                } else {
                    seen.insert(key, at);
                    out.push(r);
                }
            }
            Err(DecodeError::Invalid(p)) => errors.push(locate(&positions, text, &p)),
            Err(DecodeError::Shape(msg)) => {
                let located = kind.and_then(|k| crate::locate_shape(k, src));
                errors.push(located.unwrap_or_else(|| positions.error("", msg)));
            }
        }
    }
    errors.sort();
    errors.into_result(out)
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
