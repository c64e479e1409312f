//! Located YAML: typed documents whose errors say `FILE:LINE:COL: message`.
//!
//! This module owns reading YAML input files (the node config here, policies and
//! endpoints in `acl`) into typed serde values, and remembering where every node
//! came from so that checks made *after* deserialization can still point at the
//! offending value.
//!
//! Contract:
//! - [`load_documents`] parses every document of a file (separated by `---`) into
//!   `T`. [`documents`] yields them one at a time before deserialization, so a
//!   file mixing kinds can pick each document's type from
//!   `source.positions().scalar("kind")` and still get serde_yaml's exact error
//!   locations. Documents that are empty (a trailing `---`, a bare `~`) are skipped;
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
//! - Limits ([`limits`]): files are read with [`read_file`] (a size limit, UTF-8 with the
//!   bad byte located); every text is checked for nesting deeper than [`MAX_NESTING`]
//!   before a YAML parser sees it, and alias expansion is bounded (see [`positions`]).

mod collect;
mod error;
pub mod limits;
mod plain;
mod positions;
mod serde_error;

use std::path::Path;

use serde::de::DeserializeOwned;

pub use collect::{load_document_all, Partial, MAX_ERRORS};
pub use error::{LocatedError, LocatedErrors, Location};
pub use limits::{check_nesting, read_file, ReadError, MAX_NESTING};
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
    let mut docs = Vec::new();
    let mut errors = LocatedErrors::new();
    for source in documents(file, text) {
        match source.deserialize::<T>() {
            Ok(doc) => docs.push(doc),
            Err(e) => errors.push(e),
        }
    }
    errors.into_result(docs)
}

/// The non-empty documents of `text`, one at a time, not yet deserialized: look at
/// [`DocumentSource::positions`] (e.g. `positions().scalar("kind")`) to choose the
/// type, then [`DocumentSource::deserialize`] into it. For files whose documents
/// are of several kinds (policies, endpoints); one pass over the text.
///
/// After a syntax error the iterator ends with the document that holds it (whose
/// `deserialize` reports the error): the rest of the stream cannot be read.
pub fn documents<'a>(file: &'a Path, text: &'a str) -> Documents<'a> {
    if let Err(e) = limits::check_nesting(file, text) {
        // Neither parser may see this text (their scanners are quadratic in the depth):
        // one document that is the error.
        return Documents {
            file,
            inner: serde_yaml::Deserializer::from_str(""),
            complete: true,
            budget: 1,
            indexed: Vec::new().into_iter(),
            next_index: 0,
            refused: Some(e),
        };
    }
    let index = positions::index_documents(file, text);
    Documents {
        refused: None,
        file,
        inner: serde_yaml::Deserializer::from_str(text),
        complete: index.complete,
        budget: if index.complete {
            // One deserializer per document; each document takes at least a line.
            text.lines().count() + 2
        } else {
            index.documents.len().max(1)
        },
        indexed: index.documents.into_iter(),
        next_index: 0,
    }
}

/// Iterator over the documents of a text; see [`documents`].
pub struct Documents<'a> {
    file: &'a Path,
    inner: serde_yaml::Deserializer<'a>,
    indexed: std::vec::IntoIter<positions::IndexedDocument>,
    complete: bool,
    /// Documents serde_yaml may still be asked for.
    budget: usize,
    next_index: usize,
    /// The text was refused before parsing: the only item is this error.
    refused: Option<LocatedError>,
}

impl std::fmt::Debug for Documents<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documents")
            .field("file", &self.file)
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl Documents<'_> {
    /// Whether the text was read to its end without a syntax error (the positions and
    /// scalars of every document are then complete).
    pub fn complete(&self) -> bool {
        self.complete && self.refused.is_none()
    }
}

impl<'a> Iterator for Documents<'a> {
    type Item = DocumentSource<'a>;

    fn next(&mut self) -> Option<DocumentSource<'a>> {
        if let Some(e) = self.refused.take() {
            self.budget = 0;
            return Some(DocumentSource {
                file: self.file,
                de: serde_yaml::Deserializer::from_str(""),
                positions: Positions::empty(self.file, e.location()),
                index: 0,
                refused: Some(e),
            });
        }
        loop {
            if self.budget == 0 {
                return None;
            }
            self.budget -= 1;
            let de = self.inner.next()?;
            let index = self.next_index;
            self.next_index += 1;
            let (positions, empty) = match self.indexed.next() {
                Some(d) => (d.positions, d.empty),
                // The event parser saw the whole stream and no document here:
                // serde_yaml reports one empty document for a text without any.
                None => (Positions::empty(self.file, Location::START), self.complete),
            };
            if !empty {
                return Some(DocumentSource {
                    file: self.file,
                    de,
                    positions,
                    index,
                    refused: None,
                });
            }
        }
    }
}

/// One document of a stream, positions known, value not yet deserialized.
pub struct DocumentSource<'a> {
    file: &'a Path,
    de: serde_yaml::Deserializer<'a>,
    positions: Positions,
    index: usize,
    refused: Option<LocatedError>,
}

impl std::fmt::Debug for DocumentSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentSource")
            .field("file", &self.file)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl DocumentSource<'_> {
    /// Where each node of the document starts, and its top-level scalars.
    pub fn positions(&self) -> &Positions {
        &self.positions
    }

    /// 0-based number of the document in its file (empty documents count too).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Deserializes the document into `T`; the error is located where serde_yaml
    /// found the problem and names the field.
    pub fn deserialize<T: DeserializeOwned>(self) -> Result<Document<T>, LocatedError> {
        if let Some(e) = self.refused {
            return Err(e);
        }
        match T::deserialize(self.de) {
            Ok(value) => Ok(Document {
                value,
                positions: self.positions,
                index: self.index,
            }),
            Err(e) => Err(serde_error::located(
                self.file,
                &e,
                Some(&self.positions),
                self.positions.at(""),
            )),
        }
    }
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

/// Deserializes a one-document text into `T` without indexing the positions of its
/// nodes first: for files that are nearly always valid and read often (the node config
/// on every reload), where the positions pass costs as much as the parse itself.
/// `None` when the text is refused, does not deserialize, or is not exactly one
/// document: the caller then takes the located path ([`load_document_all`]) for the
/// errors, which reads the text again. Whatever this accepts, the located path
/// accepts with the same value.
///
/// A text in the plain subset of YAML that node files are written in is read without
/// libyaml ([`plain`]: no nesting check needed, its own depth bound is lower).
pub fn deserialize_unlocated<T: DeserializeOwned>(file: &Path, text: &str) -> Option<T> {
    if let Some(value) = plain::read(text) {
        if let Ok(t) = serde_yaml::from_value(value) {
            return Some(t);
        }
    }
    limits::check_nesting(file, text).ok()?;
    serde_yaml::from_str(text).ok()
}

/// Deserializes `T` from raw YAML without positions (for values embedded in
/// other data, such as command-line arguments); errors carry line and column
/// relative to `text`.
pub fn from_str<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, LocatedError> {
    limits::check_nesting(file, text)?;
    let de = serde_yaml::Deserializer::from_str(text);
    T::deserialize(de).map_err(|e| serde_error::located(file, &e, None, Location::START))
}

#[cfg(test)]
mod tests;
