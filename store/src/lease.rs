//! Resources kept alive by an etcd lease: a node registers its own `Node` and it
//! stays while the node lives; when the node dies (no keep-alive for the TTL) etcd
//! deletes it, and every watcher sees the delete. A keep-alive task renews the lease
//! every third of the TTL and, when the lease was lost (etcd restarted or
//! unreachable for longer than the TTL), grants a new one and writes the resource
//! again, with back-off.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, PutOptions};
use resources::{Resource, ResourceKey};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::etcd::EtcdStore;
use crate::{keys, StoreError};

/// A resource kept alive by a lease. Dropping it stops the keep-alive (etcd removes
/// the resource after the TTL); [`Registration::revoke`] removes it at once.
pub struct Registration {
    key: ResourceKey,
    lease: Arc<AtomicI64>,
    task: JoinHandle<()>,
    client: Client,
    renewals: watch::Receiver<u64>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.key)
            .field("lease", &self.lease.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn grant_and_put(client: &Client, r: &Resource, ttl: i64) -> Result<i64, StoreError> {
    let mut c = client.clone();
    let lease = c
        .lease_grant(ttl, None)
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
        .id();
    c.put(
        keys::key_of(&r.key()),
        r.to_json(),
        Some(PutOptions::new().with_lease(lease)),
    )
    .await
    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(lease)
}

/// Renews `lease` until it is lost, then returns.
async fn keep(client: &Client, lease: i64, ttl: Duration) {
    let Ok((mut keeper, mut stream)) = client.clone().lease_keep_alive(lease).await else {
        return;
    };
    loop {
        if keeper.keep_alive().await.is_err() {
            return;
        }
        match tokio::time::timeout(ttl / 2, stream.message()).await {
            Ok(Ok(Some(resp))) if resp.ttl() > 0 => {}
            // Expired (TTL 0), stream closed, error or no answer in time.
            _ => return,
        }
        tokio::time::sleep(ttl / 3).await;
    }
}

impl EtcdStore {
    /// Writes `r` (unconditionally: it is this node's own) attached to a lease of
    /// `ttl` (whole seconds, at least 2) and keeps the lease alive on the current
    /// tokio runtime until the returned registration is dropped or revoked.
    pub async fn register(&self, r: &Resource, ttl: Duration) -> Result<Registration, StoreError> {
        let ttl = ttl.max(Duration::from_secs(2));
        let secs = ttl.as_secs() as i64;
        let client = self.client().clone();
        let first = grant_and_put(&client, r, secs).await?;
        let lease = Arc::new(AtomicI64::new(first));
        let (renewed, renewals) = watch::channel(0u64);
        let task = {
            let (client, lease, r) = (client.clone(), lease.clone(), r.clone());
            tokio::spawn(async move {
                let mut backoff = Duration::from_millis(100);
                loop {
                    keep(&client, lease.load(Ordering::SeqCst), ttl).await;
                    tracing::warn!(resource = %r.key(), "datastore lease lost; registering again");
                    loop {
                        tokio::time::sleep(backoff).await;
                        match grant_and_put(&client, &r, secs).await {
                            Ok(id) => {
                                lease.store(id, Ordering::SeqCst);
                                renewed.send_modify(|n| *n += 1);
                                backoff = Duration::from_millis(100);
                                break;
                            }
                            Err(_) => backoff = (backoff * 2).min(Duration::from_secs(5)),
                        }
                    }
                }
            })
        };
        Ok(Registration {
            key: r.key(),
            lease,
            task,
            client,
            renewals,
        })
    }
}

impl Registration {
    /// The registered resource's key.
    pub fn key(&self) -> &ResourceKey {
        &self.key
    }

    /// Counts the registrations made again after the lease was lost (starts at 0):
    /// etcd may have deleted the resource meanwhile, and whoever watches it may have
    /// acted on that (e.g. other nodes freeing this node's IPAM blocks).
    pub fn renewals(&self) -> watch::Receiver<u64> {
        self.renewals.clone()
    }

    /// Stops the keep-alive and revokes the lease: the resource is deleted now.
    pub async fn revoke(self) -> Result<(), StoreError> {
        self.task.abort();
        let id = self.lease.load(Ordering::SeqCst);
        self.client
            .clone()
            .lease_revoke(id)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(())
    }
}
