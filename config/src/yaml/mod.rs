//! Located YAML: typed documents whose errors say `FILE:LINE:COL: message`.
//!
//! This module owns reading YAML input files (the node config here, policies and
//! endpoints in `acl`) into typed serde values, and remembering where every node
//! came from so that checks made *after* deserialization can still point at the
//! offending value.
//!
//! Contract:
//! - [`load_documents`] parses every document of a file (separated by `---`) into
//!   `T`. Documents that are empty (a trailing `---`, a bare `~`) are skipped;
//!   [`Document::index`] keeps the 0-based number of the document in the file.
//! - Deserialization errors (syntax, unknown field — use
//!   `#[serde(deny_unknown_fields)]` on `T` —, missing field, wrong type, a
//!   `FromStr` that failed) become [`LocatedError`]s at the line and column serde_yaml
//!   reported, with the key path in front: `peers[0]: unknown field `peerIp` (did
//!   you mean `peerIP`?)`. One error per broken document (serde stops at the first),
//!   but every document is tried, so a file with three bad documents gives three errors.
//! - [`Positions`] maps a key path (`peers[1].asNumber`, `blocks[0]`, `""` for the
//!   root) to the 1-based line and column where that node starts;
//!   [`Positions::at`] falls back to the nearest parent that exists, so an error
//!   about a missing or defaulted field points at the mapping that lacks it.
//!   [`Positions::error`] builds a located error in one call.
//! - Lines and columns are 1-based, columns count characters.

mod error;
mod positions;
mod serde_error;

use std::path::Path;

use serde::de::DeserializeOwned;

pub use error::{LocatedError, LocatedErrors, Location};
pub use positions::{NodePosition, Positions};

/// One typed YAML document and the positions of its nodes.
#[derive(Debug, Clone)]
pub struct Document<T> {
    /// The deserialized value.
    pub value: T,
    /// Where each node of the document starts.
    pub positions: Positions,
    /// 0-based number of the document in its file (empty documents count too).
    pub index: usize,
}

/// Parses every non-empty document of `text` into `T`.
///
/// `file` is used only to name the file in errors and positions. Returns all the
/// documents, or every error found (at most one per document).
pub fn load_documents<T: DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<Vec<Document<T>>, LocatedErrors> {
    let index = positions::index_documents(file, text);
    let complete = index.complete;
    let mut indexed = index.documents.into_iter();
    let mut docs = Vec::new();
    let mut errors = LocatedErrors::new();
    // serde_yaml yields one deserializer per document; each consumes at least one
    // line, so this bound is never reached on real input.
    let limit = text.lines().count() + 2;
    for (index, de) in serde_yaml::Deserializer::from_str(text)
        .enumerate()
        .take(limit)
    {
        let (positions, empty) = match indexed.next() {
            Some(d) => (d.positions, d.empty),
            // The event parser saw the whole stream and no document here: serde_yaml
            // reports one empty document for a text without any.
            None => (Positions::empty(file, Location::START), complete),
        };
        if empty {
            continue;
        }
        match T::deserialize(de) {
            Ok(value) => docs.push(Document {
                value,
                positions,
                index,
            }),
            Err(e) => {
                let error = serde_error::located(file, &e, positions.at(""));
                // After a syntax error serde_yaml repeats it for every further
                // document it is asked for: the rest of the file is unreadable.
                if errors.iter().last() == Some(&error) {
                    break;
                }
                errors.push(error);
            }
        }
    }
    errors.into_result(docs)
}

/// Parses a file that must hold exactly one document.
///
/// An empty file, or one with several documents, is an error located at the
/// start of the file or of the second document.
pub fn load_document<T: DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<Document<T>, LocatedErrors> {
    let mut docs = load_documents::<T>(file, text)?.into_iter();
    let Some(first) = docs.next() else {
        return Err(
            LocatedError::new(file, Location::START, "the file holds no YAML document").into(),
        );
    };
    if let Some(second) = docs.next() {
        return Err(second
            .positions
            .error("", "only one YAML document is allowed in this file")
            .into());
    }
    Ok(first)
}

/// Deserializes `T` from raw YAML without positions (for values embedded in
/// other data, such as command-line arguments); errors carry line and column
/// relative to `text`.
pub fn from_str<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, LocatedError> {
    let de = serde_yaml::Deserializer::from_str(text);
    T::deserialize(de).map_err(|e| serde_error::located(file, &e, Location::START))
}

#[cfg(test)]
mod tests;
