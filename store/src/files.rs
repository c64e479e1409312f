//! The files backend: the resources in the node's own files (YAML or JSON, files or
//! folders of `*.yaml` / `*.yml` / `*.json`), read-only. The revision counts content
//! changes seen by this process; a watch re-reads the files every poll interval and
//! reports what changed (once the content reads the same twice: a file caught
//! half-written is not taken for the truth). Invalid files fail a list with their `FILE:LINE:COL` errors;
//! a watch keeps the last good view until they are fixed (a bad edit changes nothing).

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use resources::{Kind, Resource, ResourceKey};

use crate::{Event, EventStream, RawEventStream, RawValue, Revision, Store, StoreError};

/// Read-only resources from files.
#[derive(Debug, Clone)]
pub struct FilesStore {
    paths: Vec<PathBuf>,
    poll: Duration,
    state: Arc<Mutex<Seen>>,
}

/// The last content seen and its revision.
#[derive(Debug, Default)]
struct Seen {
    revision: Revision,
    hash: Option<u64>,
}

impl FilesStore {
    /// Resources from `paths` (files or folders); watches re-read every `poll`.
    pub fn new(paths: Vec<PathBuf>, poll: Duration) -> FilesStore {
        FilesStore {
            paths,
            poll: poll.max(Duration::from_millis(10)),
            state: Arc::new(Mutex::new(Seen::default())),
        }
    }

    /// Every resource in the files (all kinds) and the revision of this content.
    pub fn read(&self) -> Result<(Vec<Resource>, Revision), StoreError> {
        let mut files = Vec::new();
        for p in &self.paths {
            collect(p, &mut files, 0)?;
        }
        let mut hasher = DefaultHasher::new();
        let mut all = Vec::new();
        let mut errors = Vec::new();
        let mut seen: BTreeMap<ResourceKey, PathBuf> = BTreeMap::new();
        for f in &files {
            let text = std::fs::read(f).map_err(|e| io(f, e))?;
            f.hash(&mut hasher);
            text.hash(&mut hasher);
            match resources::load_file(f) {
                Ok(rs) => {
                    for r in rs {
                        if let Some(first) = seen.get(&r.key()) {
                            errors.push(format!(
                                "{}: {} is also defined in {}",
                                f.display(),
                                r.key(),
                                first.display()
                            ));
                        } else {
                            seen.insert(r.key(), f.clone());
                            all.push(r);
                        }
                    }
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !errors.is_empty() {
            return Err(StoreError::Files(errors.join("\n")));
        }
        let hash = hasher.finish();
        let revision = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.hash != Some(hash) {
                s.hash = Some(hash);
                s.revision += 1;
            }
            s.revision
        };
        for r in &mut all {
            r.metadata.resource_version = Some(revision.to_string());
        }
        Ok((all, revision))
    }

    fn of_kind(
        &self,
        kind: Kind,
    ) -> Result<(BTreeMap<ResourceKey, Resource>, Revision), StoreError> {
        let (all, rev) = self.read()?;
        Ok((
            all.into_iter()
                .filter(|r| r.kind == kind)
                .map(|r| (r.key(), r))
                .collect(),
            rev,
        ))
    }
}

fn io(p: &Path, e: std::io::Error) -> StoreError {
    StoreError::Files(format!("{}: cannot read: {e}", p.display()))
}

fn collect(p: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), StoreError> {
    let meta = std::fs::metadata(p).map_err(|e| io(p, e))?;
    if !meta.is_dir() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    if depth > 16 {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| io(p, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            collect(&e, out, depth + 1)?;
        } else if e
            .extension()
            .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        {
            out.push(e);
        }
    }
    Ok(())
}

impl Store for FilesStore {
    async fn list(&self, kind: Kind) -> Result<(Vec<Resource>, Revision), StoreError> {
        let (m, rev) = self.of_kind(kind)?;
        Ok((m.into_values().collect(), rev))
    }

    async fn get(&self, key: &ResourceKey) -> Result<Option<Resource>, StoreError> {
        let (mut m, _) = self.of_kind(key.kind)?;
        Ok(m.remove(key))
    }

    async fn watch(&self, kind: Kind, from: Revision) -> Result<EventStream, StoreError> {
        let (last, rev) = self.of_kind(kind)?;
        if rev != from {
            // No history is kept: a view older than the files' is resynced.
            return Ok(futures::stream::iter([Ok(Event::Compacted { revision: rev })]).boxed());
        }
        let store = self.clone();
        let s = futures::stream::unfold(
            (store, last, rev, Vec::<Event>::new()),
            move |(store, mut last, mut rev, mut pending)| async move {
                loop {
                    if !pending.is_empty() {
                        let ev = pending.remove(0);
                        return Some((Ok(ev), (store, last, rev, pending)));
                    }
                    tokio::time::sleep(store.poll).await;
                    match store.of_kind(kind) {
                        Ok((now, r)) if r != rev => {
                            // Take a change only once it reads the same twice, so a
                            // file caught half-written is not taken for the truth.
                            tokio::time::sleep(store.poll).await;
                            if !matches!(store.of_kind(kind), Ok((_, again)) if again == r) {
                                continue;
                            }
                            pending = crate::reflector::diff(&last, &now, r);
                            last = now;
                            rev = r;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!("datastore files: {e}; keeping the last good view")
                        }
                    }
                }
            },
        );
        Ok(s.boxed())
    }

    async fn watch_raw(&self, _: &str, _: Revision) -> Result<RawEventStream, StoreError> {
        Ok(futures::stream::pending().boxed())
    }

    async fn create(&self, _: &Resource) -> Result<Revision, StoreError> {
        Err(StoreError::ReadOnly)
    }

    async fn update(&self, _: &Resource, _: Revision) -> Result<Revision, StoreError> {
        Err(StoreError::ReadOnly)
    }

    async fn delete(&self, _: &ResourceKey, _: Option<Revision>) -> Result<Revision, StoreError> {
        Err(StoreError::ReadOnly)
    }

    async fn claim(&self, _: &str, _: &[u8]) -> Result<bool, StoreError> {
        Err(StoreError::ReadOnly)
    }

    async fn get_raw(&self, _: &str) -> Result<Option<RawValue>, StoreError> {
        Ok(None)
    }

    async fn list_raw(&self, _: &str) -> Result<(Vec<RawValue>, Revision), StoreError> {
        let (_, rev) = self.read()?;
        Ok((Vec::new(), rev))
    }

    async fn put_raw_if(&self, _: &str, _: &[u8], _: Revision) -> Result<bool, StoreError> {
        Err(StoreError::ReadOnly)
    }

    async fn delete_raw_if(&self, _: &str, _: Revision) -> Result<bool, StoreError> {
        Err(StoreError::ReadOnly)
    }
}
