//! The position index: where each node of a YAML document starts, by key path.
//!
//! Paths are written the way serde_yaml writes them in its errors: mapping keys
//! joined with `.`, sequence items as `[i]` — `peers[1].asNumber`, `blocks[0]`,
//! `spec.ingress[0].source.nets[2]`. The document root is the empty path `""`.
//! Keys are used verbatim (a key containing `.` is not escaped); a key that is
//! itself a mapping or sequence is recorded as `?` and its contents are not indexed.
//!
//! The same pass notes what serde_yaml reports without a useful position: the second
//! occurrence of a duplicate key, and the alias at which alias expansion passes
//! serde_yaml's repetition limit (100 jumps per event of the document).

use std::collections::{HashMap, HashSet};
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
    /// Repeated keys: (path of the mapping, where the repeated key starts).
    duplicates: Vec<(String, Location)>,
    /// The first alias, and the alias at which expansion passes the repetition limit.
    first_alias: Option<Location>,
    repetition: Option<Location>,
}

impl Positions {
    /// An empty index for `file` whose fallback location is `start`.
    pub fn empty(file: &Path, start: Location) -> Self {
        Positions {
            file: file.to_path_buf(),
            start,
            nodes: HashMap::new(),
            scalars: HashMap::new(),
            duplicates: Vec::new(),
            first_alias: None,
            repetition: None,
        }
    }

    /// Where the first repeated key of the mapping at `map_path` starts.
    pub fn duplicate_key(&self, map_path: &str) -> Option<Location> {
        self.duplicates
            .iter()
            .find(|(p, _)| p == map_path)
            .map(|(_, at)| *at)
    }

    /// The alias at which alias expansion passes serde_yaml's repetition limit (or,
    /// when this pass counted fewer expansions than serde_yaml, the first alias).
    pub fn repetition_limit(&self) -> Option<Location> {
        self.repetition.or(self.first_alias)
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
        seen: HashSet<String>,
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
    let mut jumps = Jumps::default();
    let mut parser = Parser::new_from_str(text);
    // Every event consumes input, so the event count is bounded by the text length.
    for _ in 0..=text.len().saturating_mul(2).saturating_add(16) {
        let Ok((event, mark)) = parser.next_token() else {
            break;
        };
        let at = location(mark);
        jumps.events += 1;
        match event {
            Event::StreamEnd => {
                complete = true;
                break;
            }
            Event::DocumentStart => {
                stack.clear();
                jumps = Jumps::default();
                current = Some(IndexedDocument {
                    positions: Positions::empty(file, at),
                    empty: true,
                });
            }
            Event::DocumentEnd => {
                if let Some(mut doc) = current.take() {
                    jumps.finish(&mut doc.positions);
                    docs.push(doc);
                }
            }
            Event::Scalar(ref value, style, anchor, ref tag) => {
                jumps.anchors_done.insert(anchor, 0);
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
            Event::Alias(id) => {
                jumps.alias(id, at);
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
                if let Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) = event {
                    jumps.open.push((anchor, jumps.total));
                }
                node(doc, &mut stack, at, None, is_map, false);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                if let Some((anchor, start)) = jumps.open.pop() {
                    jumps.anchors_done.insert(anchor, jumps.total - start);
                }
            }
            Event::StreamStart | Event::Nothing => {}
        }
    }
    if let Some(mut doc) = current.take() {
        jumps.finish(&mut doc.positions);
        docs.push(doc);
    }
    IndexedFile {
        documents: docs,
        complete,
    }
}

/// serde_yaml's alias accounting for one document: every alias is a jump, replaying an
/// anchored node replays the jumps inside it, and more than 100 jumps per event of the
/// document is "repetition limit exceeded" (an alias bomb).
#[derive(Default)]
struct Jumps {
    events: u64,
    total: u64,
    /// Open collections: their anchor id (0: none) and `total` when they started.
    open: Vec<(usize, u64)>,
    /// Jumps that replaying each finished anchor costs.
    anchors_done: HashMap<usize, u64>,
    /// Cumulative jumps after each alias, with its location.
    aliases: Vec<(u64, Location)>,
}

impl Jumps {
    fn alias(&mut self, id: usize, at: Location) {
        // An alias of an anchor still open (a cycle) is serde_yaml's recursion limit.
        let inside = self.anchors_done.get(&id).copied().unwrap_or(0);
        self.total = self.total.saturating_add(1).saturating_add(inside);
        self.aliases.push((self.total, at));
    }

    fn finish(&mut self, positions: &mut Positions) {
        let limit = self.events.saturating_mul(100);
        positions.first_alias = self.aliases.first().map(|(_, at)| *at);
        let i = self.aliases.partition_point(|(n, _)| *n <= limit);
        positions.repetition = self.aliases.get(i).map(|(_, at)| *at);
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
        Some(Frame::Map { path, key, seen }) => match key.take() {
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
                    Some(name) => {
                        if !seen.insert(name.to_string()) {
                            doc.positions.duplicates.push((path.clone(), at));
                        }
                        *key = Some((name.to_string(), at));
                    }
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
            Frame::Map {
                path,
                key: None,
                seen: HashSet::new(),
            }
        } else {
            Frame::Seq { path, next: 0 }
        });
    }
}

fn location(mark: Marker) -> Location {
    // yaml-rust2 0.10 markers: line 1-based, column 0-based.
    Location::new(mark.line().max(1), mark.col() + 1)
}
