//! The reflector (an informer, as client-go's and Calico's syncers): list a kind once,
//! then watch from the list's revision; keep a local cache that is the only thing
//! consumers read, published as whole [`Snapshot`]s. Consumers see `synced` only after
//! the first full list and never a half-applied view. A compacted watch relists and
//! replaces the cache (consumers diff snapshots); a lost connection is retried with
//! back-off (100 ms doubling to 5 s), watching again from the last revision seen.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use resources::{Kind, Resource, ResourceKey};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Event, Revision, Store};

/// What a reflector knows, as one consistent view.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// True once the first full list has been loaded (and forever after): before that,
    /// `items` is empty and must not be acted on.
    pub synced: bool,
    /// True while the last list or watch call succeeded.
    pub connected: bool,
    /// The datastore revision this view is at.
    pub revision: Revision,
    /// Every resource of the kind, by key.
    pub items: Arc<BTreeMap<ResourceKey, Resource>>,
    /// Full relists after the first (history compacted).
    pub resyncs: u64,
    /// Failed list or watch attempts that were retried.
    pub reconnects: u64,
    /// The last failure, while disconnected.
    pub last_error: Option<String>,
}

/// A running reflector for one kind; stops when dropped.
#[derive(Debug)]
pub struct Reflector {
    kind: Kind,
    rx: watch::Receiver<Arc<Snapshot>>,
    task: JoinHandle<()>,
}

impl Drop for Reflector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Backoff(Duration);

impl Backoff {
    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Backoff::MAX);
        d
    }

    fn reset(&mut self) {
        self.0 = Backoff::MIN;
    }
}

impl Reflector {
    /// Starts reflecting `kind` from `store` on the current tokio runtime.
    pub fn spawn<S: Store>(store: Arc<S>, kind: Kind) -> Reflector {
        let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
        let task = tokio::spawn(run(store, kind, tx));
        Reflector { kind, rx, task }
    }

    /// The kind reflected.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The current view.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.rx.borrow().clone()
    }

    /// A receiver that wakes on every new view (`changed().await`).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.rx.clone()
    }

    /// Waits until the first full list is loaded.
    pub async fn wait_synced(&self) -> Arc<Snapshot> {
        let mut rx = self.rx.clone();
        let r = match rx.wait_for(|s| s.synced).await {
            Ok(s) => s.clone(),
            // The task ended (runtime shutting down): the last view is all there is.
            Err(_) => self.snapshot(),
        };
        r
    }
}

fn revision_of(r: &Resource) -> Option<Revision> {
    r.metadata.resource_version.as_deref()?.parse().ok()
}

async fn run<S: Store>(store: Arc<S>, kind: Kind, tx: watch::Sender<Arc<Snapshot>>) {
    let mut snap = Snapshot::default();
    let mut items: BTreeMap<ResourceKey, Resource> = BTreeMap::new();
    let mut need_list = true;
    let mut backoff = Backoff(Backoff::MIN);
    let publish = |snap: &mut Snapshot, items: &BTreeMap<ResourceKey, Resource>| {
        snap.items = Arc::new(items.clone());
        let _ = tx.send(Arc::new(snap.clone()));
    };
    loop {
        if need_list {
            match store.list(kind).await {
                Ok((list, rev)) => {
                    let new: BTreeMap<_, _> = list.into_iter().map(|r| (r.key(), r)).collect();
                    if snap.synced {
                        let changes = diff(&items, &new, rev).len();
                        tracing::info!(%kind, revision = rev, changes, "datastore resync");
                        snap.resyncs += 1;
                    }
                    items = new;
                    snap.synced = true;
                    snap.connected = true;
                    snap.revision = rev;
                    snap.last_error = None;
                    need_list = false;
                    backoff.reset();
                    publish(&mut snap, &items);
                }
                Err(e) => {
                    fail(&mut snap, &e.to_string(), &tx);
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
            }
        }
        let mut stream = match store.watch(kind, snap.revision).await {
            Ok(s) => s,
            Err(e) => {
                fail(&mut snap, &e.to_string(), &tx);
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
        };
        if !snap.connected {
            snap.connected = true;
            snap.last_error = None;
            publish(&mut snap, &items);
        }
        loop {
            let Some(first) = stream.next().await else {
                fail(&mut snap, "watch ended", &tx);
                tokio::time::sleep(backoff.next()).await;
                break;
            };
            // Apply every event that is already here, then publish once.
            let mut batch = vec![first];
            while let Some(Some(more)) = stream.next().now_or_never() {
                batch.push(more);
            }
            let mut end = None;
            let mut changed = false;
            for item in batch {
                match item {
                    Ok(Event::Put(r)) => {
                        if let Some(rev) = revision_of(&r) {
                            snap.revision = snap.revision.max(rev);
                        }
                        items.insert(r.key(), *r);
                        changed = true;
                    }
                    Ok(Event::Delete { key, revision }) => {
                        snap.revision = snap.revision.max(revision);
                        items.remove(&key);
                        changed = true;
                    }
                    Ok(Event::Compacted { revision }) => {
                        tracing::info!(%kind, revision, "datastore history compacted; relisting");
                        end = Some(true);
                        break;
                    }
                    Err(e) => {
                        end = Some(false);
                        snap.last_error = Some(e.to_string());
                        break;
                    }
                }
            }
            if changed {
                backoff.reset();
                publish(&mut snap, &items);
            }
            match end {
                Some(true) => {
                    need_list = true;
                    break;
                }
                Some(false) => {
                    let why = snap.last_error.clone().unwrap_or_default();
                    fail(&mut snap, &why, &tx);
                    tokio::time::sleep(backoff.next()).await;
                    break;
                }
                None => {}
            }
        }
    }
}

/// Events that turn `old` into `new` (two snapshots' `items`) at `revision`: a `Put`
/// for each added or changed resource, a `Delete` for each removed one, in key order
/// (`resourceVersion` alone does not count as a change). For consumers that act on
/// changes rather than on whole views.
pub fn diff(
    old: &BTreeMap<ResourceKey, Resource>,
    new: &BTreeMap<ResourceKey, Resource>,
    revision: Revision,
) -> Vec<Event> {
    let mut out = Vec::new();
    for (k, r) in new {
        let same = old.get(k).is_some_and(|o| {
            let mut a = o.clone();
            a.metadata.resource_version = None;
            let mut b = r.clone();
            b.metadata.resource_version = None;
            a == b
        });
        if !same {
            out.push(Event::Put(Box::new(r.clone())));
        }
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            out.push(Event::Delete {
                key: k.clone(),
                revision,
            });
        }
    }
    out
}

fn fail(snap: &mut Snapshot, why: &str, tx: &watch::Sender<Arc<Snapshot>>) {
    if snap.connected || snap.last_error.as_deref() != Some(why) {
        tracing::warn!("datastore: {why}; retrying");
    }
    snap.connected = false;
    snap.reconnects += 1;
    snap.last_error = Some(why.to_string());
    let _ = tx.send(Arc::new(snap.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools(text: &str) -> BTreeMap<ResourceKey, Resource> {
        resources::load_text(std::path::Path::new("t.yaml"), text)
            .expect("valid")
            .into_iter()
            .map(|r| (r.key(), r))
            .collect()
    }

    #[test]
    fn diff_reports_changes_not_revisions() {
        let p = |n: &str, c: &str, v: &str| {
            format!("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{name: {n}, resourceVersion: \"{v}\"}}\nspec: {{cidr: {c}}}\n")
        };
        let old = pools(
            &[
                p("a", "10.1.0.0/16", "1"),
                p("b", "10.2.0.0/16", "1"),
                p("c", "10.3.0.0/16", "1"),
            ]
            .join("---\n"),
        );
        let new = pools(
            &[
                p("a", "10.1.0.0/16", "9"),
                p("c", "10.4.0.0/16", "9"),
                p("d", "10.5.0.0/16", "9"),
            ]
            .join("---\n"),
        );
        let names: Vec<String> = diff(&old, &new, 9)
            .into_iter()
            .map(|e| match e {
                Event::Put(r) => format!("put {}", r.metadata.name),
                Event::Delete { key, revision } => format!("delete {} {revision}", key.name),
                Event::Compacted { .. } => "compacted".into(),
            })
            .collect();
        assert_eq!(names, ["put c", "put d", "delete b 9"]);
    }
}
