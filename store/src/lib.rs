//! store: where tern's cluster resources live. One interface, [`Store`] — list by
//! kind at a revision, watch from a revision, compare-and-swap writes, and raw-key
//! claims for IPAM blocks — over two backends: [`files::FilesStore`] (read-only,
//! the node's own files, the default) and [`etcd::EtcdStore`] (etcd v3, a cluster).
//! [`reflector::Reflector`] turns list + watch into a local cache that consumers read
//! only as whole, in-sync snapshots.
//!
//! Key layout in etcd (see README): `/tern/v1/<kind plural>/<namespace>/<name>` for
//! namespaced kinds, `/tern/v1/<kind plural>/<name>` for the others, values are the
//! resource's JSON document without server-set metadata; raw keys for IPAM under
//! `/tern/v1/ipam/`.
#![warn(missing_docs)]

mod datastore;
pub mod etcd;
pub mod files;
pub mod keys;
pub mod lease;
pub mod reflector;
pub mod tls;

use std::future::Future;

use futures::stream::BoxStream;
use resources::{Kind, Resource, ResourceKey};

pub use datastore::{Datastore, DatastoreConfig, TlsFlags};
pub use lease::Registration;
pub use reflector::{Reflector, Snapshot};
pub use tls::EtcdTls;

/// A datastore revision: etcd's cluster-wide revision, or the files backend's count
/// of content changes. Every write advances it; a resource's `metadata.resourceVersion`
/// is the revision of its last write (as text).
pub type Revision = i64;

/// A change seen by a watch.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The resource was created or changed (its `resourceVersion` is set).
    Put(Box<Resource>),
    /// The resource was removed at `revision`.
    Delete {
        /// Which one.
        key: ResourceKey,
        /// Revision of the removal.
        revision: Revision,
    },
    /// History from the watch's start revision is gone (etcd compacted it, or the files
    /// changed more than once): the watch has ended; list again and diff.
    Compacted {
        /// The oldest revision still available.
        revision: Revision,
    },
}

/// A change to a raw key seen by [`Store::watch_raw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawEvent {
    /// The key was written.
    Put(RawValue),
    /// The key was removed at `revision`.
    Delete {
        /// The key.
        key: String,
        /// Revision of the removal.
        revision: Revision,
    },
    /// History from the watch's start is gone; the watch has ended (list again).
    Compacted {
        /// The oldest revision still available.
        revision: Revision,
    },
}

/// A stream of raw-key watch events.
pub type RawEventStream = BoxStream<'static, Result<RawEvent, StoreError>>;

/// What can go wrong talking to a datastore.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The files backend takes no writes.
    #[error(
        "read-only datastore (files): change the node's files instead, or use --datastore etcd"
    )]
    ReadOnly,
    /// A create found the resource there already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The resource (or key) is not there.
    #[error("{0} not found")]
    NotFound(String),
    /// A compare-and-swap lost: the resource is not at the revision the write expected.
    #[error("conflict: {key} is at revision {}, not {expected} (changed since it was read)", current.map_or("(deleted)".to_string(), |c| c.to_string()))]
    Conflict {
        /// Which one.
        key: String,
        /// The revision the write expected.
        expected: Revision,
        /// The revision it is at (None: it was deleted).
        current: Option<Revision>,
    },
    /// The datastore cannot be reached or failed.
    #[error("datastore unavailable: {0}")]
    Unavailable(String),
    /// A stored value is not a valid resource.
    #[error("{key}: stored value is invalid: {message}")]
    Corrupt {
        /// The key.
        key: String,
        /// Why.
        message: String,
    },
    /// `metadata.resourceVersion` is not a revision.
    #[error("{0}: metadata.resourceVersion is not a datastore revision")]
    BadRevision(String),
    /// The node's files are invalid or unreadable (files backend).
    #[error("{0}")]
    Files(String),
    /// The TLS files of an https connection to etcd are unreadable or not PEM.
    #[error("etcd TLS: {0}")]
    Tls(String),
}

/// A stream of watch events; it ends (or yields an error) when the connection is lost.
pub type EventStream = BoxStream<'static, Result<Event, StoreError>>;

/// A raw key's value and the revision of its last write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Vec<u8>,
    /// Revision of its last write (`mod_revision`): the CAS token.
    pub revision: Revision,
}

/// One datastore. All methods are safe to call concurrently (clients are cheap clones).
pub trait Store: Send + Sync + 'static {
    /// Every resource of `kind`, each with `metadata.resourceVersion` set, and the
    /// store's revision of that view (watch from it to miss nothing).
    fn list(
        &self,
        kind: Kind,
    ) -> impl Future<Output = Result<(Vec<Resource>, Revision), StoreError>> + Send;

    /// One resource, with `metadata.resourceVersion` set.
    fn get(
        &self,
        key: &ResourceKey,
    ) -> impl Future<Output = Result<Option<Resource>, StoreError>> + Send;

    /// Changes to resources of `kind` after revision `from`, in revision order.
    fn watch(
        &self,
        kind: Kind,
        from: Revision,
    ) -> impl Future<Output = Result<EventStream, StoreError>> + Send;

    /// Changes to raw keys under `prefix` after revision `from` (IPAM blocks), in
    /// revision order. The files backend has no raw keys: its stream never yields.
    fn watch_raw(
        &self,
        prefix: &str,
        from: Revision,
    ) -> impl Future<Output = Result<RawEventStream, StoreError>> + Send;

    /// Creates a resource that must not exist yet; returns the new revision.
    fn create(&self, r: &Resource) -> impl Future<Output = Result<Revision, StoreError>> + Send;

    /// Replaces a resource that must be at revision `expected` (compare-and-swap);
    /// returns the new revision, or [`StoreError::Conflict`].
    fn update(
        &self,
        r: &Resource,
        expected: Revision,
    ) -> impl Future<Output = Result<Revision, StoreError>> + Send;

    /// Deletes a resource, only if it is at `expected` when given. Returns the revision
    /// of the deletion; [`StoreError::NotFound`] if it is not there.
    fn delete(
        &self,
        key: &ResourceKey,
        expected: Option<Revision>,
    ) -> impl Future<Output = Result<Revision, StoreError>> + Send;

    /// Writes `value` at raw `key` only if the key does not exist: true if this call
    /// created it (won the claim), false if someone holds it. For IPAM blocks.
    fn claim(
        &self,
        key: &str,
        value: &[u8],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// A raw key's value and revision.
    fn get_raw(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<RawValue>, StoreError>> + Send;

    /// Every raw key under `prefix`, and the store's revision.
    fn list_raw(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<(Vec<RawValue>, Revision), StoreError>> + Send;

    /// Replaces a raw key's value only if it is at revision `expected`: true if written.
    fn put_raw_if(
        &self,
        key: &str,
        value: &[u8],
        expected: Revision,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes a raw key only if it is at revision `expected`: true if deleted.
    fn delete_raw_if(
        &self,
        key: &str,
        expected: Revision,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Creates the resource or updates it, compare-and-swap on the revision read: what
/// `tern apply` does. With `metadata.resourceVersion` set, that revision is the one
/// expected and a newer one is a [`StoreError::Conflict`]; without, the current one is
/// read and a lost race is retried (up to 5 reads), so the write never replaces a
/// version it did not read. Returns whether it was created, and the new revision.
pub async fn apply<S: Store>(store: &S, r: &Resource) -> Result<(bool, Revision), StoreError> {
    let key = r.key();
    if let Some(v) = &r.metadata.resource_version {
        let expected: Revision = v
            .parse()
            .map_err(|_| StoreError::BadRevision(key.to_string()))?;
        return store.update(r, expected).await.map(|rev| (false, rev));
    }
    let mut last = None;
    for attempt in 0..5u64 {
        if attempt > 0 {
            // Spread the re-reads of writers that lost the same race.
            tokio::time::sleep(std::time::Duration::from_millis(
                10 * attempt + (std::process::id() as u64 % 10),
            ))
            .await;
        }
        let current = store.get(&key).await?;
        let result = match current {
            None => store.create(r).await.map(|rev| (true, rev)),
            Some(cur) => {
                let rev = cur
                    .metadata
                    .resource_version
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                store.update(r, rev).await.map(|rev| (false, rev))
            }
        };
        match result {
            Err(e @ (StoreError::Conflict { .. } | StoreError::AlreadyExists(_))) => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or(StoreError::Unavailable("apply: no attempt made".into())))
}
