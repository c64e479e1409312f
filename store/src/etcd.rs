//! The etcd v3 backend (crate `etcd-client`): resources as JSON under
//! [`crate::keys`], compare-and-swap writes as etcd transactions on `mod_revision`
//! (`create_revision == 0` for creates and claims), watches from a revision with
//! compaction reported as [`Event::Compacted`].

use std::collections::VecDeque;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, KeyValue, Txn, TxnOp,
    WatchOptions, WatchStream,
};
use futures::StreamExt;
use resources::{Kind, Resource, ResourceKey};

use crate::{
    keys, Event, EventStream, RawEvent, RawEventStream, RawValue, Revision, Store, StoreError,
};

/// A connection to an etcd cluster. Cheap to clone; every call picks a live endpoint.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore").finish_non_exhaustive()
    }
}

fn unavailable(e: etcd_client::Error) -> StoreError {
    let msg = e.to_string();
    // rustls' words for a server certificate that does not chain to the given CA.
    if msg.contains("invalid peer certificate") {
        return StoreError::Unavailable(format!(
            "{msg} (etcd's server certificate is not accepted with the CA certificate given: caCertFile / ETCD_CA_CERT_FILE / --ca-cert-file)"
        ));
    }
    StoreError::Unavailable(msg)
}

impl EtcdStore {
    /// Connects to `endpoints` (`http://HOST:PORT`). Each request times out after 5 s;
    /// connecting to an endpoint after 3 s.
    pub async fn connect(endpoints: &[String]) -> Result<EtcdStore, StoreError> {
        Self::connect_with(endpoints, None).await
    }

    /// Connects to `endpoints`; `https://` ones with `tls` (its files are read now: an
    /// unreadable one is [`StoreError::Tls`]). A server certificate that does not chain
    /// to the CA, or a refused client certificate, shows on the first request.
    pub async fn connect_with(
        endpoints: &[String],
        tls: Option<&crate::EtcdTls>,
    ) -> Result<EtcdStore, StoreError> {
        if endpoints.is_empty() {
            return Err(StoreError::Unavailable("no etcd endpoints given".into()));
        }
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(5));
        if let Some(t) = tls {
            opts = opts.with_tls(t.options()?);
        }
        let client = Client::connect(endpoints, Some(opts))
            .await
            .map_err(unavailable)?;
        Ok(EtcdStore { client })
    }

    /// The etcd client (for the lease helpers).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Compacts etcd's history up to `revision` (operators and tests).
    pub async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.client
            .clone()
            .compact(revision, None)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The cluster's current revision.
    pub async fn revision(&self) -> Result<Revision, StoreError> {
        let r = self
            .client
            .clone()
            .get(
                keys::ROOT,
                Some(GetOptions::new().with_count_only().with_prefix()),
            )
            .await
            .map_err(unavailable)?;
        Ok(r.header().map_or(0, |h| h.revision()))
    }

    async fn current_revision_of(&self, key: &str) -> Result<Option<Revision>, StoreError> {
        let r = self
            .client
            .clone()
            .get(key, None)
            .await
            .map_err(unavailable)?;
        Ok(r.kvs().first().map(KeyValue::mod_revision))
    }
}

fn decode(kind: Kind, kv: &KeyValue) -> Result<Resource, StoreError> {
    decode_raw(kind, &raw(kv))
}

fn decode_raw(kind: Kind, v: &RawValue) -> Result<Resource, StoreError> {
    let key = v.key.clone();
    let mut r = Resource::from_json(&v.value).map_err(|e| StoreError::Corrupt {
        key: key.clone(),
        message: e.to_string(),
    })?;
    if r.kind != kind || keys::parse(kind, &key).as_ref() != Some(&r.key()) {
        return Err(StoreError::Corrupt {
            key,
            message: format!("holds {} (not what its key names)", r.key()),
        });
    }
    r.metadata.resource_version = Some(v.revision.to_string());
    Ok(r)
}

fn header_revision(h: Option<&etcd_client::ResponseHeader>) -> Revision {
    h.map_or(0, |h| h.revision())
}

impl Store for EtcdStore {
    async fn list(&self, kind: Kind) -> Result<(Vec<Resource>, Revision), StoreError> {
        let resp = self
            .client
            .clone()
            .get(
                keys::kind_prefix(kind),
                Some(GetOptions::new().with_prefix()),
            )
            .await
            .map_err(unavailable)?;
        let mut out = Vec::with_capacity(resp.kvs().len());
        for kv in resp.kvs() {
            match decode(kind, kv) {
                Ok(r) => out.push(r),
                // One bad value must not hide every other resource of the kind.
                Err(e) => tracing::warn!("{e}"),
            }
        }
        Ok((out, header_revision(resp.header())))
    }

    async fn get(&self, key: &ResourceKey) -> Result<Option<Resource>, StoreError> {
        let resp = self
            .client
            .clone()
            .get(keys::key_of(key), None)
            .await
            .map_err(unavailable)?;
        resp.kvs()
            .first()
            .map(|kv| decode(key.kind, kv))
            .transpose()
    }

    async fn watch(&self, kind: Kind, from: Revision) -> Result<EventStream, StoreError> {
        let raw = self.watch_raw(&keys::kind_prefix(kind), from).await?;
        let s = raw.filter_map(move |item| async move {
            let ev = match item {
                Err(e) => return Some(Err(e)),
                Ok(RawEvent::Compacted { revision }) => Event::Compacted { revision },
                Ok(RawEvent::Delete { key, revision }) => Event::Delete {
                    key: keys::parse(kind, &key)?,
                    revision,
                },
                Ok(RawEvent::Put(v)) => {
                    let key = keys::parse(kind, &v.key)?;
                    match decode_raw(kind, &v) {
                        Ok(r) => Event::Put(Box::new(r)),
                        Err(e) => {
                            // Not usable: consumers see it as gone.
                            tracing::warn!("{e}");
                            Event::Delete {
                                key,
                                revision: v.revision,
                            }
                        }
                    }
                }
            };
            Some(Ok(ev))
        });
        Ok(s.boxed())
    }

    async fn watch_raw(&self, prefix: &str, from: Revision) -> Result<RawEventStream, StoreError> {
        let opts = WatchOptions::new()
            .with_prefix()
            .with_start_revision(from + 1);
        let stream = self
            .client
            .clone()
            .watch(prefix, Some(opts))
            .await
            .map_err(unavailable)?;
        struct State {
            stream: WatchStream,
            pending: VecDeque<Result<RawEvent, StoreError>>,
            done: bool,
        }
        let state = State {
            stream,
            pending: VecDeque::new(),
            done: false,
        };
        let s = futures::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(ev) = st.pending.pop_front() {
                    return Some((ev, st));
                }
                if st.done {
                    return None;
                }
                let msg = match st.stream.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => {
                        st.done = true;
                        st.pending
                            .push_back(Err(StoreError::Unavailable("watch ended".into())));
                        continue;
                    }
                    Err(e) => {
                        st.done = true;
                        st.pending.push_back(Err(unavailable(e)));
                        continue;
                    }
                };
                if msg.compact_revision() > 0 {
                    st.done = true;
                    st.pending.push_back(Ok(RawEvent::Compacted {
                        revision: msg.compact_revision(),
                    }));
                    continue;
                }
                if msg.canceled() {
                    st.done = true;
                    st.pending.push_back(Err(StoreError::Unavailable(format!(
                        "watch canceled: {}",
                        msg.cancel_reason()
                    ))));
                    continue;
                }
                for ev in msg.events() {
                    let Some(kv) = ev.kv() else { continue };
                    let item = match ev.event_type() {
                        EventType::Put => RawEvent::Put(raw(kv)),
                        EventType::Delete => RawEvent::Delete {
                            key: String::from_utf8_lossy(kv.key()).into_owned(),
                            revision: kv.mod_revision(),
                        },
                    };
                    st.pending.push_back(Ok(item));
                }
            }
        });
        Ok(s.boxed())
    }

    async fn create(&self, r: &Resource) -> Result<Revision, StoreError> {
        let key = keys::key_of(&r.key());
        let txn = Txn::new()
            .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key.as_str(), r.to_json(), None)]);
        let resp = self.client.clone().txn(txn).await.map_err(unavailable)?;
        if resp.succeeded() {
            Ok(header_revision(resp.header()))
        } else {
            Err(StoreError::AlreadyExists(r.key().to_string()))
        }
    }

    async fn update(&self, r: &Resource, expected: Revision) -> Result<Revision, StoreError> {
        let key = keys::key_of(&r.key());
        let txn = Txn::new()
            .when([Compare::mod_revision(
                key.as_str(),
                CompareOp::Equal,
                expected,
            )])
            .and_then([TxnOp::put(key.as_str(), r.to_json(), None)]);
        let resp = self.client.clone().txn(txn).await.map_err(unavailable)?;
        if resp.succeeded() {
            Ok(header_revision(resp.header()))
        } else {
            Err(StoreError::Conflict {
                key: r.key().to_string(),
                expected,
                current: self.current_revision_of(&key).await?,
            })
        }
    }

    async fn delete(
        &self,
        rk: &ResourceKey,
        expected: Option<Revision>,
    ) -> Result<Revision, StoreError> {
        let key = keys::key_of(rk);
        let cmp = match expected {
            Some(rev) => Compare::mod_revision(key.as_str(), CompareOp::Equal, rev),
            None => Compare::create_revision(key.as_str(), CompareOp::Greater, 0),
        };
        let txn = Txn::new()
            .when([cmp])
            .and_then([TxnOp::delete(key.as_str(), None)]);
        let resp = self.client.clone().txn(txn).await.map_err(unavailable)?;
        if resp.succeeded() {
            return Ok(header_revision(resp.header()));
        }
        match (self.current_revision_of(&key).await?, expected) {
            (None, _) => Err(StoreError::NotFound(rk.to_string())),
            (Some(cur), Some(exp)) => Err(StoreError::Conflict {
                key: rk.to_string(),
                expected: exp,
                current: Some(cur),
            }),
            (Some(_), None) => Err(StoreError::Unavailable(format!(
                "delete of {rk} did not apply; retry"
            ))),
        }
    }

    async fn claim(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value, None)]);
        let resp = self.client.clone().txn(txn).await.map_err(unavailable)?;
        Ok(resp.succeeded())
    }

    async fn get_raw(&self, key: &str) -> Result<Option<RawValue>, StoreError> {
        let resp = self
            .client
            .clone()
            .get(key, None)
            .await
            .map_err(unavailable)?;
        Ok(resp.kvs().first().map(raw))
    }

    async fn list_raw(&self, prefix: &str) -> Result<(Vec<RawValue>, Revision), StoreError> {
        let resp = self
            .client
            .clone()
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .map_err(unavailable)?;
        Ok((
            resp.kvs().iter().map(raw).collect(),
            header_revision(resp.header()),
        ))
    }

    async fn put_raw_if(
        &self,
        key: &str,
        value: &[u8],
        expected: Revision,
    ) -> Result<bool, StoreError> {
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::put(key, value, None)]);
        let resp = self.client.clone().txn(txn).await.map_err(unavailable)?;
        Ok(resp.succeeded())
    }

    async fn delete_raw_if(&self, key: &str, expected: Revision) -> Result<bool, StoreError> {
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::delete(key, None)]);
        let resp = self.client.clone().txn(txn).await.map_err(unavailable)?;
        Ok(resp.succeeded())
    }
}

fn raw(kv: &KeyValue) -> RawValue {
    RawValue {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        revision: kv.mod_revision(),
    }
}
