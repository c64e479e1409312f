//! Choosing a datastore: `--datastore files|etcd` and `--endpoints`, or calicoctl's
//! environment (`DATASTORE_TYPE=etcdv3`, `ETCD_ENDPOINTS`), and [`Datastore`], the
//! backend chosen at run time behind the same [`Store`] interface.

use std::path::PathBuf;
use std::time::Duration;

use resources::{Kind, Resource, ResourceKey};

use crate::etcd::EtcdStore;
use crate::files::FilesStore;
use crate::{EventStream, RawEventStream, RawValue, Revision, Store, StoreError};

/// calicoctl's default endpoint.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:2379";

/// Which datastore to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatastoreConfig {
    /// Read-only, from these files or folders.
    Files(Vec<PathBuf>),
    /// etcd v3 at these endpoints.
    Etcd(Vec<String>),
}

impl DatastoreConfig {
    /// From the command line (`datastore`, `endpoints` comma-separated, `files`), else
    /// the environment as calicoctl reads it (`DATASTORE_TYPE`, `ETCD_ENDPOINTS`), else
    /// etcd at `http://127.0.0.1:2379` (calicoctl's default). `env` reads a variable.
    pub fn resolve(
        datastore: Option<&str>,
        endpoints: Option<&str>,
        files: &[PathBuf],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<DatastoreConfig, String> {
        let ty = datastore
            .map(str::to_string)
            .or_else(|| env("DATASTORE_TYPE"))
            .unwrap_or_else(|| "etcdv3".to_string());
        match ty.as_str() {
            "etcd" | "etcdv3" => {
                let list = endpoints
                    .map(str::to_string)
                    .or_else(|| env("ETCD_ENDPOINTS"))
                    .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
                let eps: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if eps.is_empty() {
                    return Err("no etcd endpoints (--endpoints URL,... or ETCD_ENDPOINTS)".into());
                }
                for e in &eps {
                    if !(e.starts_with("http://") || e.starts_with("https://")) {
                        return Err(format!(
                            "bad etcd endpoint `{e}`: expected http://HOST:PORT"
                        ));
                    }
                    if e.starts_with("https://") {
                        return Err(format!(
                            "etcd endpoint `{e}`: TLS is not supported yet; use http://"
                        ));
                    }
                }
                Ok(DatastoreConfig::Etcd(eps))
            }
            "files" => {
                if files.is_empty() {
                    return Err("the files datastore needs --files PATH (files or folders)".into());
                }
                Ok(DatastoreConfig::Files(files.to_vec()))
            }
            "kubernetes" => Err(
                "DATASTORE_TYPE=kubernetes is not supported: tern uses etcd (etcdv3) or files"
                    .into(),
            ),
            other => Err(format!(
                "unknown datastore `{other}` (etcd, etcdv3 or files)"
            )),
        }
    }
}

/// The datastore chosen at run time.
#[derive(Debug, Clone)]
pub enum Datastore {
    /// Read-only files.
    Files(FilesStore),
    /// etcd.
    Etcd(Box<EtcdStore>),
}

impl Datastore {
    /// Opens it (connects to etcd).
    pub async fn open(cfg: &DatastoreConfig) -> Result<Datastore, StoreError> {
        Ok(match cfg {
            DatastoreConfig::Files(paths) => {
                Datastore::Files(FilesStore::new(paths.clone(), Duration::from_secs(1)))
            }
            DatastoreConfig::Etcd(eps) => Datastore::Etcd(Box::new(EtcdStore::connect(eps).await?)),
        })
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Datastore::Files($s) => $e,
            Datastore::Etcd($s) => $e,
        }
    };
}

impl Store for Datastore {
    async fn list(&self, kind: Kind) -> Result<(Vec<Resource>, Revision), StoreError> {
        each!(self, s => s.list(kind).await)
    }
    async fn get(&self, key: &ResourceKey) -> Result<Option<Resource>, StoreError> {
        each!(self, s => s.get(key).await)
    }
    async fn watch(&self, kind: Kind, from: Revision) -> Result<EventStream, StoreError> {
        each!(self, s => s.watch(kind, from).await)
    }
    async fn watch_raw(&self, prefix: &str, from: Revision) -> Result<RawEventStream, StoreError> {
        each!(self, s => s.watch_raw(prefix, from).await)
    }
    async fn create(&self, r: &Resource) -> Result<Revision, StoreError> {
        each!(self, s => s.create(r).await)
    }
    async fn update(&self, r: &Resource, expected: Revision) -> Result<Revision, StoreError> {
        each!(self, s => s.update(r, expected).await)
    }
    async fn delete(
        &self,
        key: &ResourceKey,
        expected: Option<Revision>,
    ) -> Result<Revision, StoreError> {
        each!(self, s => s.delete(key, expected).await)
    }
    async fn claim(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        each!(self, s => s.claim(key, value).await)
    }
    async fn get_raw(&self, key: &str) -> Result<Option<RawValue>, StoreError> {
        each!(self, s => s.get_raw(key).await)
    }
    async fn list_raw(&self, prefix: &str) -> Result<(Vec<RawValue>, Revision), StoreError> {
        each!(self, s => s.list_raw(prefix).await)
    }
    async fn put_raw_if(
        &self,
        key: &str,
        value: &[u8],
        expected: Revision,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.put_raw_if(key, value, expected).await)
    }
    async fn delete_raw_if(&self, key: &str, expected: Revision) -> Result<bool, StoreError> {
        each!(self, s => s.delete_raw_if(key, expected).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn flags_then_environment_then_default() {
        let none: &[(&str, &str)] = &[];
        assert_eq!(
            DatastoreConfig::resolve(None, None, &[], env(none)),
            Ok(DatastoreConfig::Etcd(vec![DEFAULT_ENDPOINT.into()]))
        );
        let vars = [
            ("DATASTORE_TYPE", "etcdv3"),
            (
                "ETCD_ENDPOINTS",
                "http://10.0.0.1:2379,http://10.0.0.2:2379",
            ),
        ];
        assert_eq!(
            DatastoreConfig::resolve(None, None, &[], env(&vars)),
            Ok(DatastoreConfig::Etcd(vec![
                "http://10.0.0.1:2379".into(),
                "http://10.0.0.2:2379".into()
            ]))
        );
        assert_eq!(
            DatastoreConfig::resolve(Some("etcd"), Some("http://a:1"), &[], env(&vars)),
            Ok(DatastoreConfig::Etcd(vec!["http://a:1".into()]))
        );
        assert!(DatastoreConfig::resolve(Some("kubernetes"), None, &[], env(none)).is_err());
        assert!(DatastoreConfig::resolve(Some("etcd"), Some("a:1"), &[], env(none)).is_err());
        assert!(DatastoreConfig::resolve(Some("files"), None, &[], env(none)).is_err());
    }
}
