//! Loading policy and endpoint files: files or folders, several documents per file,
//! each dispatched on its `kind` (and `apiVersion`), every problem reported as
//! `FILE:LINE:COL: message` naming the field. What `kubectl get -o yaml` writes reads as
//! is: `kind: List` / `…List` documents with `items`, server-set metadata and `status`
//! ignored, kinds tern does not enforce skipped with a located warning (`kinds`).
//!
//! Limits (each a located error): a file is at most [`MAX_FILE_BYTES`], UTF-8, nested at
//! most `config::yaml::MAX_NESTING` deep, with at most [`MAX_DOCUMENTS`] documents, all
//! files together at most [`MAX_TOTAL_BYTES`] in at most [`MAX_FILES`] files; a
//! policy has at most [`MAX_RULES`] rules per direction; a selector nests at most
//! `selector::MAX_DEPTH` deep.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use config::yaml::{self, LocatedError, LocatedErrors, Location, Positions};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::endpoint::{self, HostEndpoint, NamedPort, Namespace, WorkloadEndpoint};
use crate::model::{self, FieldError, PathSeg, Policy};
use crate::netset::{self, NetworkSet};

mod kinds;
mod list;

/// Largest policy or endpoint file read (8 MiB: about 40,000 endpoints or 20,000 small
/// policies).
pub const MAX_FILE_BYTES: u64 = 8 << 20;
/// Most bytes of all the files together (the agent holds them all).
pub const MAX_TOTAL_BYTES: u64 = 64 << 20;
/// Most files under the configured paths.
pub const MAX_FILES: usize = 10_000;
/// Most `---` documents in one file.
pub const MAX_DOCUMENTS: usize = 50_000;
/// Most rules in one direction of one policy (after Kubernetes peers × ports expand).
pub const MAX_RULES: usize = 1_000;

/// Everything read from a set of policy and endpoint files.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    /// Policies in load order. Shared: a reload copies the policies of the files that did
    /// not change from the last bundle by reference, and the compile reuses the chains of
    /// a policy it has seen before ([`crate::compile::Incremental`]).
    pub policies: Vec<Arc<Policy>>,
    /// Workload endpoints.
    pub workloads: Vec<WorkloadEndpoint>,
    /// Host endpoints.
    pub hosts: Vec<HostEndpoint>,
    /// Declared namespaces (others exist implicitly, without labels).
    pub namespaces: Vec<Namespace>,
    /// Workload endpoints of other hosts (from a cluster datastore): their addresses fill
    /// the sets that rule selectors name, but no policy is applied to them on this host.
    pub remote_workloads: Vec<WorkloadEndpoint>,
    /// Host endpoints of other hosts: addresses for rule selectors only, as above.
    pub remote_hosts: Vec<HostEndpoint>,
    /// `NetworkSet`s and `GlobalNetworkSet`s (selectable by rule selectors).
    pub network_sets: Vec<NetworkSet>,
    /// Named ports of endpoints, by workload key (`ns/name`) or host endpoint name.
    pub named_ports: BTreeMap<String, Vec<NamedPort>>,
    /// Staged policies (`Staged*` kinds): evaluated by explain, never enforced.
    pub staged: Vec<model::StagedPolicy>,
    /// Declared tiers (the `default` tier exists without a document).
    pub tiers: Vec<crate::tier::Tier>,
    /// Kubernetes `ServiceAccount`s (their labels, for service-account selectors).
    pub service_accounts: Vec<endpoint::ServiceAccount>,
    /// Documents skipped (kinds tern does not enforce), located: show them, they are
    /// not errors.
    pub warnings: Vec<LocatedError>,
}

impl Bundle {
    /// Adds everything of `other` to this bundle.
    pub fn extend(&mut self, other: &Bundle) {
        self.policies.extend(other.policies.iter().cloned());
        self.workloads.extend(other.workloads.iter().cloned());
        self.hosts.extend(other.hosts.iter().cloned());
        self.namespaces.extend(other.namespaces.iter().cloned());
        self.remote_workloads
            .extend(other.remote_workloads.iter().cloned());
        self.remote_hosts.extend(other.remote_hosts.iter().cloned());
        self.network_sets.extend(other.network_sets.iter().cloned());
        for (k, v) in &other.named_ports {
            self.named_ports.insert(k.clone(), v.clone());
        }
        self.warnings.extend(other.warnings.iter().cloned());
        self.service_accounts
            .extend(other.service_accounts.iter().cloned());
        self.tiers.extend(other.tiers.iter().cloned());
        self.staged.extend(other.staged.iter().cloned());
    }
}

/// Why loading failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or folder could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// One or more documents are invalid.
    #[error("{}", join(.0))]
    Invalid(LocatedErrors),
}

fn join(e: &LocatedErrors) -> String {
    e.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl LoadError {
    /// The located errors (empty for I/O errors).
    pub fn located(&self) -> Vec<LocatedError> {
        match self {
            LoadError::Invalid(e) => e.iter().cloned().collect(),
            LoadError::Io { .. } => Vec::new(),
        }
    }
}

/// Loads every file named, and every `*.yaml` / `*.yml` file under every folder named
/// (sorted by path, recursively).
pub fn load_paths(paths: &[PathBuf]) -> Result<Bundle, LoadError> {
    Loader::new().load(paths)
}

/// Loads the text of one file (`file` only names it in errors), with the checks
/// [`load_paths`] makes, duplicates within the text included. For callers that hold the
/// text already (fuzzing, tests); nesting and count limits apply, the size limit is the
/// caller's.
pub fn load_str(file: &Path, text: &str) -> Result<Bundle, LoadError> {
    load_str_with(file, text, true)
}

/// [`load_str`]; `index`: see [`load_text`].
fn load_str_with(file: &Path, text: &str, index: bool) -> Result<Bundle, LoadError> {
    let mut bundle = Bundle::default();
    let mut errors = LocatedErrors::new();
    let mut claims = Vec::new();
    load_text(file, text, &mut bundle, &mut errors, &mut claims, index);
    // The first claim of each name (located only when another claims it too).
    let mut seen: HashMap<&str, &Claim> = HashMap::new();
    for e in dangling(&claims.iter().collect::<Vec<_>>()) {
        errors.push(e);
    }
    for c in claims.iter().filter(|c| !c.what.starts_with(REFERENCE)) {
        match seen.get(c.what.as_str()) {
            Some(first) => errors.push(LocatedError::new(
                &c.file,
                c.at(),
                format!(
                    "{}: {} is already defined at {}:{}",
                    c.field,
                    c.what,
                    file.display(),
                    first.at()
                ),
            )),
            None => {
                seen.insert(&c.what, c);
            }
        }
    }
    endpoint::link_service_accounts(&mut bundle.workloads, &bundle.service_accounts);
    if errors.is_empty() {
        Ok(bundle)
    } else {
        Err(LoadError::Invalid(errors))
    }
}

/// What one file gave: its items, its errors, and the names it defines.
#[derive(Debug, Clone, Default)]
struct FileResult {
    bundle: Bundle,
    errors: Vec<LocatedError>,
    claims: Vec<Claim>,
}

/// A loader that remembers each file's parse by content, so reloading after one file
/// changed parses only that file (what the agent does on every change).
#[derive(Debug, Default)]
pub struct Loader {
    cache: HashMap<PathBuf, (u64, FileResult)>,
}

impl Loader {
    /// An empty cache.
    pub fn new() -> Loader {
        Loader::default()
    }

    /// Like [`load_paths`], reusing the parse of files whose content did not change.
    pub fn load(&mut self, paths: &[PathBuf]) -> Result<Bundle, LoadError> {
        let mut files = Vec::new();
        for p in paths {
            collect(p, &mut files, 0)?;
        }
        let mut bundle = Bundle::default();
        let mut errors = LocatedErrors::new();
        let mut seen: BTreeMap<String, Claim> = BTreeMap::new();
        let mut cache = HashMap::new();
        let mut total: u64 = 0;
        for (n, f) in files.iter().enumerate() {
            if n == MAX_FILES {
                errors.push(LocatedError::new(
                    f,
                    Location::START,
                    format!("more than {MAX_FILES} policy and endpoint files; this one and later ones are not read"),
                ));
                break;
            }
            let budget = MAX_TOTAL_BYTES.saturating_sub(total);
            let text = match yaml::read_file(f, MAX_FILE_BYTES.min(budget)) {
                Ok(t) => t,
                Err(yaml::ReadError::Io(source)) => {
                    return Err(LoadError::Io {
                        path: f.clone(),
                        source,
                    })
                }
                Err(yaml::ReadError::Invalid(mut e)) => {
                    if budget < MAX_FILE_BYTES && e.message.starts_with("the file is") {
                        e.message.push_str(&format!(
                            " (what is left of {MAX_TOTAL_BYTES} bytes for all policy and endpoint files together)"
                        ));
                    }
                    errors.push(e);
                    continue;
                }
            };
            total += text.len() as u64;
            let hash = crate::ir::fnv64(&text);
            let result = match self.cache.remove(f) {
                Some((h, r)) if h == hash => r,
                _ => {
                    let mut r = FileResult::default();
                    let mut errs = LocatedErrors::new();
                    load_text(f, &text, &mut r.bundle, &mut errs, &mut r.claims, true);
                    r.errors = errs.into_vec();
                    r
                }
            };
            bundle.extend(&result.bundle);
            for e in &result.errors {
                errors.push(e.clone());
            }
            for c in result
                .claims
                .iter()
                .filter(|c| !c.what.starts_with(REFERENCE))
            {
                if let Some(first) = seen.get(&c.what) {
                    errors.push(LocatedError::new(
                        &c.file,
                        c.at(),
                        format!(
                            "{}: {} is already defined at {}:{}",
                            c.field,
                            c.what,
                            first.file.display(),
                            first.at()
                        ),
                    ));
                } else {
                    seen.insert(c.what.clone(), c.clone());
                }
            }
            cache.insert(f.clone(), (hash, result));
        }
        let all: Vec<&Claim> = cache.values().flat_map(|(_, r)| r.claims.iter()).collect();
        // In file and position order (only the errors are located).
        let mut dangling = dangling(&all);
        dangling.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        for e in dangling {
            errors.push(e);
        }
        self.cache = cache;
        endpoint::link_service_accounts(&mut bundle.workloads, &bundle.service_accounts);
        if errors.is_empty() {
            Ok(bundle)
        } else {
            Err(LoadError::Invalid(errors))
        }
    }
}

/// Adds `p` (a file) or the YAML files under `p` (a folder, recursively) to `out`.
/// Only regular files are taken from folders (a FIFO would block the loader); at most
/// 16 levels and [`MAX_FILES`] folders are walked (symlinks can make a folder tree
/// endless), and at most one file more than [`MAX_FILES`] is collected.
fn collect(p: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), LoadError> {
    let mut folders = 0;
    walk(p, out, depth, &mut folders)
}

fn walk(
    p: &Path,
    out: &mut Vec<PathBuf>,
    depth: usize,
    folders: &mut usize,
) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: p.to_path_buf(),
        source,
    };
    let meta = fs::metadata(p).map_err(io)?;
    if !meta.is_dir() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    *folders += 1;
    if depth > 16 || *folders > MAX_FILES || out.len() > MAX_FILES {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(p)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if out.len() > MAX_FILES {
            break;
        }
        if e.is_dir() {
            walk(&e, out, depth + 1, folders)?;
        } else if e.extension().is_some_and(|x| x == "yaml" || x == "yml") && e.is_file() {
            out.push(e);
        }
    }
    Ok(())
}

/// One document's text and the line it starts on in its file.
struct Piece {
    text: String,
    first_line: usize,
}

/// Splits a YAML stream at `---` / `...` markers, keeping columns and line numbers.
fn split_documents(text: &str) -> Vec<Piece> {
    let mut pieces = vec![Piece {
        text: String::new(),
        first_line: 1,
    }];
    for (i, line) in text.lines().enumerate() {
        let marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if marker || line.trim_end() == "..." {
            pieces.push(Piece {
                text: String::new(),
                first_line: i + 2,
            });
            if marker && line.len() > 3 {
                // Content after the marker stays on its line, same columns.
                let last = pieces.len() - 1;
                pieces[last].first_line = i + 1;
                pieces[last].text.push_str(&format!("   {}\n", &line[3..]));
            }
            continue;
        }
        if let Some(p) = pieces.last_mut() {
            p.text.push_str(line);
            p.text.push('\n');
        }
    }
    pieces
}

/// A located document whose lines are offset inside its file. Its position index is
/// built when something asks where a node is (an error, a duplicate name), unless the
/// parse built it anyway.
#[derive(Debug)]
struct Located {
    file: PathBuf,
    positions: OnceLock<Positions>,
    line_offset: usize,
    text: String,
}

impl Located {
    fn new(file: &Path, piece: &Piece, positions: Option<Positions>) -> Arc<Located> {
        Arc::new(Located {
            file: file.to_path_buf(),
            positions: positions.map(OnceLock::from).unwrap_or_default(),
            line_offset: piece.first_line - 1,
            text: piece.text.clone(),
        })
    }

    /// The document's position index (as [`yaml::documents`] gives it).
    fn positions(&self) -> &Positions {
        self.positions.get_or_init(|| {
            yaml::documents(&self.file, &self.text)
                .next()
                .map(|d| d.positions().clone())
                .unwrap_or_else(|| Positions::empty(&self.file, Location::START))
        })
    }

    fn at(&self, path: &str) -> Location {
        let mut l = self.positions().at(path);
        l.line += self.line_offset;
        l
    }

    fn field_error(&self, e: &FieldError) -> LocatedError {
        let path = e.path_text();
        let mut at = self.at(&path);
        if let Some(off) = e.offset {
            // Selector columns count from the first character inside the value.
            at.column += off + usize::from(self.value_quoted(&path));
        }
        let label = if path.is_empty() {
            String::new()
        } else {
            format!("{path}: ")
        };
        LocatedError::new(&self.file, at, format!("{label}{}", e.message))
    }

    /// True when the scalar at `path` starts with a quote character.
    fn value_quoted(&self, path: &str) -> bool {
        let Some(pos) = self.positions().get(path) else {
            return false;
        };
        self.text
            .lines()
            .nth(pos.value.line.saturating_sub(1))
            .and_then(|l| l.chars().nth(pos.value.column.saturating_sub(1)))
            .is_some_and(|c| c == '"' || c == '\'')
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

/// A document whose kind is known: either already parsed, with its position index, by
/// [`yaml::documents`] (the kind read off the index), or probed (the probe's index), its
/// typed value still to be parsed from its text.
enum Source<'a> {
    Indexed(yaml::DocumentSource<'a>),
    Probed(Positions),
}

impl Source<'_> {
    fn positions(&self) -> &Positions {
        match self {
            Source::Indexed(src) => src.positions(),
            Source::Probed(p) => p,
        }
    }
}

/// The kind and apiVersion of the one document of `piece`, read off its position index
/// when that is certain to give what deserializing them gives: the index's parser read
/// the text without a syntax error, it is one document without a repeated top-level
/// key, both are present as plain text (not null, not an alias), and they name a kind
/// that is deserialized (not a list, not skipped or refused). The document is then deserialized from that same parse, and the
/// text is parsed twice instead of four times (a [`Probe`] and the typed value, each with
/// its index). A text serde_yaml's parser refuses and the index's does not (control
/// characters) gives the same error either way: serde_yaml reads the whole document
/// before deserializing any type. Any other document is probed as before.
fn indexed<'a>(file: &'a Path, piece: &'a Piece) -> Option<(String, String, Source<'a>)> {
    let mut docs = yaml::documents(file, &piece.text);
    if !docs.complete() {
        return None;
    }
    let src = docs.next()?;
    // A repeated top-level key: the probe's "duplicate field" error, if it is `kind`.
    if docs.next().is_some() || src.positions().duplicate_key("").is_some() {
        return None;
    }
    let text = |key| match src.positions().scalar(key) {
        Some("" | "~" | "null" | "Null" | "NULL" | "*") | None => None,
        Some(t) => Some(t.to_string()),
    };
    let (kind, api) = (text("kind")?, text("apiVersion")?);
    let typed = !matches!(
        kinds::classify(&kind, &api),
        kinds::Class::Skip(_) | kinds::Class::RefuseApi(_) | kinds::Class::RefuseKind(_)
    );
    (typed && !kind.ends_with("List")).then_some((kind, api, Source::Indexed(src)))
}

/// The value of a top-level `key: value` line of a block mapping (column 0), when there
/// is exactly one such line and its value is plain text of the characters kinds and API
/// versions are made of (a comment after it allowed).
fn top_level<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(key).and_then(|r| r.strip_prefix(':')) else {
            continue;
        };
        if found.is_some() {
            return None;
        }
        let value = rest.split(" #").next().unwrap_or("").trim();
        let plain = !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-' | '_'));
        found = Some(plain.then_some(value)?);
    }
    found
}

/// A Calico or Kubernetes policy read without its position index (most of a reload's
/// documents): its kind and apiVersion taken from its top-level lines ([`top_level`])
/// and checked against what serde_yaml deserialized, the index built only if a location
/// is asked for (an error, a duplicate name). False, with nothing added, for anything
/// else (another kind, a document that does not deserialize, convert or pass the
/// limits): the caller then reads it the located way, which reports its errors.
fn plain_policy(file: &Path, piece: &Piece, bundle: &mut Bundle, origins: &mut Origins) -> bool {
    let (Some(kind), Some(api)) = (
        top_level(&piece.text, "kind"),
        top_level(&piece.text, "apiVersion"),
    ) else {
        return false;
    };
    let class = kinds::classify(kind, api);
    if !matches!(class, kinds::Class::K8sPolicy | kinds::Class::CalicoPolicy)
        || yaml::check_nesting(file, &piece.text).is_err()
    {
        return false;
    }
    let converted = if class == kinds::Class::K8sPolicy {
        match serde_yaml::from_str::<model::k8s::K8sPolicyDoc>(&piece.text) {
            Ok(d) if d.kind == kind && d.api_version == api => model::k8s::convert(&d),
            _ => return false,
        }
    } else {
        match serde_yaml::from_str::<model::calico::CalicoPolicyDoc>(&piece.text) {
            Ok(d) if d.kind == kind && d.api_version == api => model::calico::convert(&d),
            _ => return false,
        }
    };
    let Ok(p) = converted else {
        return false;
    };
    policy(&Located::new(file, piece, None), Ok(p), bundle, origins).is_ok()
}

fn typed<T: DeserializeOwned>(
    file: &Path,
    piece: &Piece,
    source: Source<'_>,
) -> Result<(T, Arc<Located>), LocatedError> {
    let shift = |mut e: LocatedError| {
        e.line += piece.first_line - 1;
        e
    };
    let doc = match source {
        Source::Indexed(src) => src.deserialize::<T>().map_err(shift)?,
        Source::Probed(_) => yaml::load_document::<T>(file, &piece.text).map_err(|es| {
            es.into_vec()
                .into_iter()
                .next()
                .map(shift)
                .unwrap_or_else(|| LocatedError::new(file, Location::START, "bad document"))
        })?,
    };
    Ok((doc.value, Located::new(file, piece, Some(doc.positions))))
}

/// Loads every document of `text`. `index`: a policy may be read without a position
/// index ([`plain_policy`]) and another document's kind off its index ([`indexed`]);
/// without, every document is probed first (the tests compare the two).
fn load_text(
    file: &Path,
    text: &str,
    bundle: &mut Bundle,
    errors: &mut LocatedErrors,
    origins: &mut Origins,
    index: bool,
) {
    for (n, piece) in split_documents(text).into_iter().enumerate() {
        if n >= MAX_DOCUMENTS {
            errors.push(LocatedError::new(
                file,
                Location::new(piece.first_line, 1),
                format!("more than {MAX_DOCUMENTS} documents in one file; split it"),
            ));
            break;
        }
        document(file, &piece, bundle, errors, origins, true, index);
    }
}

/// Loads one document (`lists`: a `…List` with `items` is read item by item; items
/// themselves are not lists; `index`: see [`load_text`]).
fn document(
    file: &Path,
    piece: &Piece,
    bundle: &mut Bundle,
    errors: &mut LocatedErrors,
    origins: &mut Origins,
    lists: bool,
    index: bool,
) {
    if index && plain_policy(file, piece, bundle, origins) {
        return;
    }
    let (kind, api, source);
    if let Some((k, a, src)) = index.then(|| indexed(file, piece)).flatten() {
        (kind, api, source) = (k, a, src);
    } else {
        let probe = match yaml::load_documents::<Probe>(file, &piece.text) {
            Ok(docs) => match docs.into_iter().next() {
                Some(d) => d,
                None => return,
            },
            Err(es) => {
                for mut e in es.into_vec() {
                    e.line += piece.first_line - 1;
                    errors.push(e);
                }
                return;
            }
        };
        kind = probe.value.kind.clone().unwrap_or_default();
        api = probe.value.api_version.clone().unwrap_or_default();
        source = Source::Probed(probe.positions);
    }
    let positions = source.positions();
    let shifted = |mut l: Location| {
        l.line += piece.first_line - 1;
        l
    };
    if lists && kind.ends_with("List") && positions.get("items").is_some() {
        for item in list::items(piece, positions) {
            match item {
                Ok(p) => document(file, &p, bundle, errors, origins, false, index),
                Err((at, msg)) => errors.push(LocatedError::new(file, shifted(at), msg)),
            }
        }
        return;
    }
    let result: Result<(), LocatedError> = match kinds::classify(&kind, &api) {
        kinds::Class::K8sPolicy => typed::<model::k8s::K8sPolicyDoc>(file, piece, source)
            .and_then(|(d, loc)| policy(&loc, model::k8s::convert(&d), bundle, origins)),
        kinds::Class::CalicoPolicy => typed::<model::calico::CalicoPolicyDoc>(file, piece, source)
            .and_then(|(d, loc)| policy(&loc, model::calico::convert(&d), bundle, origins)),
        kinds::Class::Workload => {
            typed::<endpoint::RawWorkload>(file, piece, source).and_then(|(d, loc)| {
                let w = endpoint::convert_workload(&d).map_err(|e| loc.field_error(&e))?;
                let ports = endpoint::convert_ports(&[PathSeg::Key("ports".into())], &d.ports)
                    .map_err(|e| loc.field_error(&e))?;
                workload(w, ports, &loc, "name", "interface", bundle, origins)
            })
        }
        kinds::Class::CalicoWorkload => typed::<endpoint::RawCalicoWorkload>(file, piece, source)
            .and_then(|(d, loc)| {
                let w = endpoint::convert_calico_workload(&d).map_err(|e| loc.field_error(&e))?;
                let ports = endpoint::convert_ports(&spec_path("ports"), &d.spec.ports)
                    .map_err(|e| loc.field_error(&e))?;
                workload(
                    w,
                    ports,
                    &loc,
                    "metadata.name",
                    "spec.interfaceName",
                    bundle,
                    origins,
                )
            }),
        kinds::Class::Host => {
            typed::<endpoint::RawHost>(file, piece, source).and_then(|(d, loc)| {
                let h = endpoint::convert_host(&d).map_err(|e| loc.field_error(&e))?;
                let ports = endpoint::convert_ports(&[PathSeg::Key("ports".into())], &d.ports)
                    .map_err(|e| loc.field_error(&e))?;
                host(h, ports, &loc, "name", "interface", bundle, origins)
            })
        }
        kinds::Class::CalicoHost => {
            typed::<endpoint::RawCalicoHost>(file, piece, source).and_then(|(d, loc)| {
                let h = endpoint::convert_calico_host(&d).map_err(|e| loc.field_error(&e))?;
                let ports = endpoint::convert_ports(&spec_path("ports"), &d.spec.ports)
                    .map_err(|e| loc.field_error(&e))?;
                host(
                    h,
                    ports,
                    &loc,
                    "metadata.name",
                    "spec.interfaceName",
                    bundle,
                    origins,
                )
            })
        }
        kinds::Class::Namespace => {
            typed::<endpoint::RawNamespace>(file, piece, source).and_then(|(d, loc)| {
                let n = endpoint::convert_namespace(&d).map_err(|e| loc.field_error(&e))?;
                claim(origins, format!("namespace {}", n.name), &loc, "name")?;
                bundle.namespaces.push(n);
                Ok(())
            })
        }
        kinds::Class::NetworkSet => {
            typed::<netset::RawNetworkSet>(file, piece, source).and_then(|(d, loc)| {
                let s = netset::convert(&d).map_err(|e| loc.field_error(&e))?;
                let what = match &s.namespace {
                    Some(_) => format!("NetworkSet {}", s.key()),
                    None => format!("GlobalNetworkSet {}", s.key()),
                };
                claim(origins, what, &loc, "metadata.name")?;
                bundle.network_sets.push(s);
                Ok(())
            })
        }
        kinds::Class::StagedCalico => typed::<model::calico::CalicoPolicyDoc>(file, piece, source)
            .and_then(|(d, loc)| staged(&loc, model::calico::convert_staged(&d), bundle, origins)),
        kinds::Class::StagedK8s => typed::<model::k8s::K8sPolicyDoc>(file, piece, source)
            .and_then(|(d, loc)| staged(&loc, model::k8s::convert_staged(&d), bundle, origins)),
        kinds::Class::Tier => {
            typed::<crate::tier::RawTier>(file, piece, source).and_then(|(d, loc)| {
                let t = crate::tier::convert(&d).map_err(|e| loc.field_error(&e))?;
                claim(origins, format!("Tier {}", t.name), &loc, "metadata.name")?;
                bundle.tiers.push(t);
                Ok(())
            })
        }
        kinds::Class::ServiceAccount => typed::<endpoint::RawServiceAccount>(file, piece, source)
            .and_then(|(d, loc)| {
                let a = endpoint::convert_service_account(&d).map_err(|e| loc.field_error(&e))?;
                claim(
                    origins,
                    format!("ServiceAccount {}/{}", a.namespace, a.name),
                    &loc,
                    "metadata.name",
                )?;
                bundle.service_accounts.push(a);
                Ok(())
            }),
        kinds::Class::Skip(why) => {
            bundle.warnings.push(LocatedError::new(
                file,
                shifted(positions.at("kind")),
                format!("kind: {why}"),
            ));
            Ok(())
        }
        kinds::Class::RefuseApi(msg) => Err(LocatedError::new(
            file,
            shifted(positions.at("apiVersion")),
            format!("apiVersion: {msg}"),
        )),
        kinds::Class::RefuseKind(msg) => Err(LocatedError::new(
            file,
            if kind.is_empty() {
                shifted(positions.key_at("kind"))
            } else {
                shifted(positions.at("kind"))
            },
            if kind.is_empty() {
                msg
            } else {
                format!("kind: {msg}")
            },
        )),
    };
    if let Err(e) = result {
        errors.push(e);
    }
}

fn spec_path(key: &str) -> Vec<PathSeg> {
    vec![PathSeg::Key("spec".into()), PathSeg::Key(key.into())]
}

fn workload(
    w: WorkloadEndpoint,
    ports: Vec<NamedPort>,
    loc: &Arc<Located>,
    name_at: &str,
    interface_at: &str,
    bundle: &mut Bundle,
    origins: &mut Origins,
) -> Result<(), LocatedError> {
    claim(
        origins,
        format!("workload endpoint {}", w.key()),
        loc,
        name_at,
    )?;
    claim(
        origins,
        format!("interface {}", w.interface),
        loc,
        interface_at,
    )?;
    if !ports.is_empty() {
        bundle.named_ports.insert(w.key(), ports);
    }
    bundle.workloads.push(w);
    Ok(())
}

fn host(
    h: HostEndpoint,
    ports: Vec<NamedPort>,
    loc: &Arc<Located>,
    name_at: &str,
    interface_at: &str,
    bundle: &mut Bundle,
    origins: &mut Origins,
) -> Result<(), LocatedError> {
    claim(origins, format!("host endpoint {}", h.name), loc, name_at)?;
    claim(
        origins,
        format!("interface {}", h.interface),
        loc,
        interface_at,
    )?;
    if !ports.is_empty() {
        bundle.named_ports.insert(h.name.clone(), ports);
    }
    bundle.hosts.push(h);
    Ok(())
}

fn staged(
    loc: &Arc<Located>,
    converted: Result<model::StagedPolicy, FieldError>,
    bundle: &mut Bundle,
    origins: &mut Origins,
) -> Result<(), LocatedError> {
    let s = converted.map_err(|e| loc.field_error(&e))?;
    claim(
        origins,
        format!("staged policy {}", s.policy.id),
        loc,
        "metadata.name",
    )?;
    if let Some(t) = &s.policy.tier {
        claim(origins, format!("{REFERENCE}Tier {t}"), loc, "spec.tier")?;
    }
    bundle.warnings.push(LocatedError::new(
        &loc.file,
        loc.at("kind"),
        format!(
            "kind: staged policy {} is evaluated by `tern policy explain` and not enforced{}",
            s.policy.id,
            if s.action == model::StagedAction::Set && !s.policy.pre_dnat && !s.policy.do_not_track
            {
                "; the verdicts of its rules are counted and logged (log prefix tern-staged)"
            } else {
                ""
            }
        ),
    ));
    bundle.staged.push(s);
    Ok(())
}

fn policy(
    loc: &Arc<Located>,
    converted: Result<Policy, FieldError>,
    bundle: &mut Bundle,
    origins: &mut Origins,
) -> Result<(), LocatedError> {
    let p = converted.map_err(|e| loc.field_error(&e))?;
    for (dir, rules) in [("ingress", &p.ingress), ("egress", &p.egress)] {
        if rules.as_ref().is_some_and(|r| r.len() > MAX_RULES) {
            let path = format!("spec.{dir}[{MAX_RULES}]");
            return Err(LocatedError::new(
                &loc.file,
                loc.at(&path),
                format!("spec.{dir}: more than {MAX_RULES} rules in one direction of a policy"),
            ));
        }
    }
    claim(origins, format!("policy {}", p.id), loc, "metadata.name")?;
    if let Some(t) = &p.tier {
        claim(origins, format!("{REFERENCE}Tier {t}"), loc, "spec.tier")?;
    }
    bundle.policies.push(Arc::new(p));
    Ok(())
}

/// Marks a claim that refers to a name another document must define (a policy's tier).
const REFERENCE: &str = "\u{0}ref ";

/// Errors for references (claims starting with [`REFERENCE`]) to names no claim defines.
fn dangling(claims: &[&Claim]) -> Vec<LocatedError> {
    let defined: std::collections::HashSet<&str> = claims
        .iter()
        .filter(|c| !c.what.starts_with(REFERENCE))
        .map(|c| c.what.as_str())
        .collect();
    claims
        .iter()
        .filter_map(|c| {
            let what = c.what.strip_prefix(REFERENCE)?;
            (!defined.contains(what)).then(|| {
                LocatedError::new(
                    &c.file,
                    c.at(),
                    format!(
                        "{}: {what} is not defined (add a `kind: Tier` document for it)",
                        c.field
                    ),
                )
            })
        })
        .collect()
}

/// A name a document defines (policy id, endpoint, interface, namespace).
#[derive(Debug, Clone)]
struct Claim {
    what: String,
    file: PathBuf,
    at: ClaimAt,
    field: String,
}

/// Where a claimed name is: known when its document was indexed anyway, else its
/// document (the text only), located when an error names the claim.
#[derive(Debug, Clone)]
enum ClaimAt {
    Known(Location),
    Later(Arc<Located>),
}

impl Claim {
    /// Where the claimed name is.
    fn at(&self) -> Location {
        match &self.at {
            ClaimAt::Known(l) => *l,
            ClaimAt::Later(loc) => loc.at(&self.field),
        }
    }
}

/// The names a file defines, in order (duplicates are found across files by [`Loader`]).
type Origins = Vec<Claim>;

/// Records `what` as defined at `path` of this document.
fn claim(
    origins: &mut Origins,
    what: String,
    loc: &Arc<Located>,
    path: &str,
) -> Result<(), LocatedError> {
    let at = if loc.positions.get().is_some() {
        ClaimAt::Known(loc.at(path))
    } else {
        ClaimAt::Later(Arc::clone(loc))
    };
    origins.push(Claim {
        what,
        file: loc.file.clone(),
        at,
        field: path.to_string(),
    });
    Ok(())
}

#[cfg(test)]
mod tests;
