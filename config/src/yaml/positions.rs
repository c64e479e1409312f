//! The position index: where each node of a YAML document starts, by key path.
//!
//! Paths are written the way serde_yaml writes them in its errors: mapping keys
//! joined with `.`, sequence items as `[i]` — `peers[1].asNumber`, `blocks[0]`,
//! `spec.ingress[0].source.nets[2]`. The document root is the empty path `""`.
//! Keys are used verbatim (a key containing `.` is not escaped); a key that is
//! itself a mapping or sequence is recorded as `?` and its contents are not indexed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

use super::error::{LocatedError, Location};

/// Where one node sits: its value, and the key that names it (for mapping values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePosition {
    /// Start of the value (for a flow collection, its `[` or `{`).
    pub value: Location,
    /// Start of the mapping key, when the node is a mapping value.
    pub key: Option<Location>,
}

/// Positions of every node of one YAML document, by key path.
#[derive(Debug, Clone)]
pub struct Positions {
    file: PathBuf,
    start: Location,
    nodes: HashMap<String, NodePosition>,
    /// Text of the scalars of the top two levels (`kind`, `metadata.name`), so a
    /// caller can pick the type of a document before deserializing it.
    scalars: HashMap<String, String>,
}

impl Positions {
    /// An empty index for `file` whose fallback location is `start`.
    pub fn empty(file: &Path, start: Location) -> Self {
        Positions {
            file: file.to_path_buf(),
            start,
            nodes: HashMap::new(),
            scalars: HashMap::new(),
        }
    }

    /// The file these positions are in.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The exact position of the node at `path`, if the document has one.
    pub fn get(&self, path: &str) -> Option<NodePosition> {
        self.nodes.get(path).copied()
    }

    /// Where the value at `path` starts; for a path the document does not have
    /// (a missing field, a defaulted value), the nearest parent that it does have,
    /// and at worst the start of the document.
    pub fn at(&self, path: &str) -> Location {
        self.nearest(path).map_or(self.start, |n| n.value)
    }

    /// Where the key naming the value at `path` starts (useful for "this field is
    /// not allowed here"); falls back like [`Positions::at`].
    pub fn key_at(&self, path: &str) -> Location {
        self.nearest(path)
            .map_or(self.start, |n| n.key.unwrap_or(n.value))
    }

    /// A located error pointing at the value at `path` (see [`Positions::at`]).
    pub fn error(&self, path: &str, message: impl Into<String>) -> LocatedError {
        LocatedError::new(&self.file, self.at(path), message)
    }

    /// The text of the scalar at `path`, for paths at most two levels deep
    /// (`kind`, `apiVersion`, `metadata.name`); `None` for deeper paths, for
    /// collections, and for paths the document does not have. Meant for choosing
    /// the type of a document before deserializing it (see [`super::documents`]).
    pub fn scalar(&self, path: &str) -> Option<&str> {
        self.scalars.get(path).map(String::as_str)
    }

    /// How many nodes are indexed.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is indexed.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn nearest(&self, mut path: &str) -> Option<NodePosition> {
        loop {
            if let Some(n) = self.nodes.get(path) {
                return Some(*n);
            }
            path = parent(path)?;
        }
    }
}

/// The parent of a key path: `a.b[2]` → `a.b`, `a.b` → `a`, `a` → `""`, `""` → none.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']') {
        if let Some(i) = path.rfind('[') {
            return Some(&path[..i]);
        }
    }
    Some(path.rfind('.').map_or("", |i| &path[..i]))
}

/// One document's index, plus whether the document had any content at all.
#[derive(Debug)]
pub(crate) struct IndexedDocument {
    pub positions: Positions,
    /// The document is empty (`---` followed by nothing, or a bare `~`/`null`).
    pub empty: bool,
}

enum Frame {
    Seq {
        path: String,
        next: usize,
    },
    Map {
        path: String,
        key: Option<(String, Location)>,
    },
    /// Inside a key that is a collection: nothing is recorded.
    Ignore,
}

/// The index of a whole file.
#[derive(Debug)]
pub(crate) struct IndexedFile {
    pub documents: Vec<IndexedDocument>,
    /// The parser reached the end of the stream (no syntax error).
    pub complete: bool,
}

/// Indexes every document of `text`. Stops quietly at a syntax error (serde_yaml
/// reports those); the documents seen until then are returned.
pub(crate) fn index_documents(file: &Path, text: &str) -> IndexedFile {
    let mut complete = false;
    let mut docs = Vec::new();
    let mut current: Option<IndexedDocument> = None;
    let mut stack: Vec<Frame> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    // Every event consumes input, so the event count is bounded by the text length.
    for _ in 0..=text.len().saturating_mul(2).saturating_add(16) {
        let Ok((event, mark)) = parser.next_token() else {
            break;
        };
        let at = location(mark);
        match event {
            Event::StreamEnd => {
                complete = true;
                break;
            }
            Event::DocumentStart => {
                stack.clear();
                current = Some(IndexedDocument {
                    positions: Positions::empty(file, at),
                    empty: true,
                });
            }
            Event::DocumentEnd => {
                if let Some(doc) = current.take() {
                    docs.push(doc);
                }
            }
            Event::Scalar(ref value, style, _, ref tag) => {
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                if stack.is_empty() {
                    let null = tag.is_none()
                        && style == yaml_rust2::scanner::TScalarStyle::Plain
                        && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL");
                    doc.empty = null;
                }
                node(doc, &mut stack, at, Some(value), false, false);
            }
            Event::Alias(_) => {
                if let Some(doc) = current.as_mut() {
                    doc.empty = false;
                    node(doc, &mut stack, at, Some("*"), false, true);
                }
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                doc.empty = false;
                let is_map = matches!(event, Event::MappingStart(..));
                node(doc, &mut stack, at, None, is_map, false);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
            }
            Event::StreamStart | Event::Nothing => {}
        }
    }
    if let Some(doc) = current.take() {
        docs.push(doc);
    }
    IndexedFile {
        documents: docs,
        complete,
    }
}

/// Records a node starting at `at`; pushes a frame when it is a collection
/// (`scalar` is `None`). An alias is recorded as a scalar without text.
fn node(
    doc: &mut IndexedDocument,
    stack: &mut Vec<Frame>,
    at: Location,
    scalar: Option<&str>,
    is_map: bool,
    alias: bool,
) {
    let (path, key) = match stack.last_mut() {
        None => (String::new(), None),
        Some(Frame::Ignore) => {
            if scalar.is_none() {
                stack.push(Frame::Ignore);
            }
            return;
        }
        Some(Frame::Seq { path, next }) => {
            let p = format!("{path}[{next}]");
            *next += 1;
            (p, None)
        }
        Some(Frame::Map { path, key }) => match key.take() {
            Some((name, key_at)) => {
                let p = if path.is_empty() {
                    name
                } else {
                    format!("{path}.{name}")
                };
                (p, Some(key_at))
            }
            None => {
                // This node is a key. A block mapping's start mark is where the
                // parser noticed it (its first `:`); its keys come first.
                if let Some(map) = doc.positions.nodes.get_mut(path.as_str()) {
                    map.value = map.value.min(at);
                }
                match scalar {
                    Some(name) => *key = Some((name.to_string(), at)),
                    None => {
                        *key = Some(("?".to_string(), at));
                        stack.push(Frame::Ignore);
                    }
                }
                return;
            }
        },
    };
    if let Some(text) = scalar.filter(|_| !alias) {
        if stack.len() <= 2 {
            doc.positions
                .scalars
                .entry(path.clone())
                .or_insert_with(|| text.to_string());
        }
    }
    doc.positions
        .nodes
        .entry(path.clone())
        .or_insert(NodePosition { value: at, key });
    if scalar.is_none() {
        stack.push(if is_map {
            Frame::Map { path, key: None }
        } else {
            Frame::Seq { path, next: 0 }
        });
    }
}

fn location(mark: Marker) -> Location {
    // yaml-rust2 0.10 markers: line 1-based, column 0-based.
    Location::new(mark.line().max(1), mark.col() + 1)
}
