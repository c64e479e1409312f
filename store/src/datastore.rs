//! Choosing a datastore: `--datastore files|etcd`, `--endpoints` and the TLS files, or
//! calicoctl's environment (`DATASTORE_TYPE=etcdv3`, `ETCD_ENDPOINTS`,
//! `ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`), and [`Datastore`], the
//! backend chosen at run time behind the same [`Store`] interface.

use std::path::PathBuf;
use std::time::Duration;

use resources::{Kind, Resource, ResourceKey};

use crate::etcd::EtcdStore;
use crate::files::FilesStore;
use crate::tls::EtcdTls;
use crate::{EventStream, RawEventStream, RawValue, Revision, Store, StoreError};

/// calicoctl's default endpoint.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:2379";

/// Which datastore to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatastoreConfig {
    /// Read-only, from these files or folders.
    Files(Vec<PathBuf>),
    /// etcd v3 at these endpoints (`https://` ones with `tls`).
    Etcd {
        /// Client URLs.
        endpoints: Vec<String>,
        /// The TLS files, for `https://` endpoints.
        tls: Option<EtcdTls>,
    },
}

/// The TLS files given on the command line (`--ca-cert-file`, `--cert-file`,
/// `--key-file`); the environment fills what is not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFlags {
    /// `--ca-cert-file`.
    pub ca_cert_file: Option<PathBuf>,
    /// `--cert-file`.
    pub cert_file: Option<PathBuf>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
}

impl DatastoreConfig {
    /// From the command line (`datastore`, `endpoints` comma-separated, `files`, the TLS
    /// files), else the environment as calicoctl reads it (`DATASTORE_TYPE`,
    /// `ETCD_ENDPOINTS`, `ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`), else
    /// etcd at `http://127.0.0.1:2379` (calicoctl's default). `env` reads a variable.
    pub fn resolve(
        datastore: Option<&str>,
        endpoints: Option<&str>,
        files: &[PathBuf],
        tls: &TlsFlags,
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
                            "bad etcd endpoint `{e}`: expected http://HOST:PORT or https://HOST:PORT"
                        ));
                    }
                }
                let file = |flag: &Option<PathBuf>, var: &str| {
                    flag.clone()
                        .or_else(|| env(var).filter(|v| !v.is_empty()).map(PathBuf::from))
                };
                let tls = EtcdTls::from_parts(
                    &eps,
                    file(&tls.ca_cert_file, "ETCD_CA_CERT_FILE"),
                    file(&tls.cert_file, "ETCD_CERT_FILE"),
                    file(&tls.key_file, "ETCD_KEY_FILE"),
                )?;
                Ok(DatastoreConfig::Etcd {
                    endpoints: eps,
                    tls,
                })
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
            DatastoreConfig::Etcd { endpoints, tls } => Datastore::Etcd(Box::new(
                EtcdStore::connect_with(endpoints, tls.as_ref()).await?,
            )),
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

    fn etcd(eps: &[&str], tls: Option<EtcdTls>) -> DatastoreConfig {
        DatastoreConfig::Etcd {
            endpoints: eps.iter().map(|e| e.to_string()).collect(),
            tls,
        }
    }

    #[test]
    fn tls_files_from_flags_then_environment() {
        let vars = [
            ("ETCD_ENDPOINTS", "https://10.0.0.1:2379"),
            ("ETCD_CA_CERT_FILE", "/env/ca.pem"),
            ("ETCD_CERT_FILE", "/env/client.pem"),
            ("ETCD_KEY_FILE", "/env/client-key.pem"),
        ];
        let want = |ca: &str| {
            Ok(etcd(
                &["https://10.0.0.1:2379"],
                Some(EtcdTls {
                    ca_cert_file: ca.into(),
                    client: Some(("/env/client.pem".into(), "/env/client-key.pem".into())),
                }),
            ))
        };
        let none = TlsFlags::default();
        assert_eq!(
            DatastoreConfig::resolve(None, None, &[], &none, env(&vars)),
            want("/env/ca.pem")
        );
        let flag = TlsFlags {
            ca_cert_file: Some("/flag/ca.pem".into()),
            ..TlsFlags::default()
        };
        assert_eq!(
            DatastoreConfig::resolve(None, None, &[], &flag, env(&vars)),
            want("/flag/ca.pem")
        );
        // https without a CA; a certificate without its key; TLS files with http://; mixed schemes.
        let e =
            DatastoreConfig::resolve(None, Some("https://a:1"), &[], &none, env(&[])).unwrap_err();
        assert!(e.contains("CA certificate"), "{e}");
        let e = DatastoreConfig::resolve(None, None, &[], &none, env(&vars[..3])).unwrap_err();
        assert!(e.contains("needs its key"), "{e}");
        let e =
            DatastoreConfig::resolve(None, Some("http://a:1"), &[], &flag, env(&[])).unwrap_err();
        assert!(e.contains("use https:// endpoints"), "{e}");
        let e =
            DatastoreConfig::resolve(None, Some("http://a:1,https://b:1"), &[], &flag, env(&[]))
                .unwrap_err();
        assert!(e.contains("mix"), "{e}");
        // Without TLS the http:// default stays.
        assert_eq!(
            DatastoreConfig::resolve(None, Some("https://a:1"), &[], &flag, env(&[])),
            Ok(etcd(
                &["https://a:1"],
                Some(EtcdTls {
                    ca_cert_file: "/flag/ca.pem".into(),
                    client: None
                })
            ))
        );
    }

    #[test]
    fn flags_then_environment_then_default() {
        let no_tls = TlsFlags::default();
        let none: &[(&str, &str)] = &[];
        assert_eq!(
            DatastoreConfig::resolve(None, None, &[], &no_tls, env(none)),
            Ok(etcd(&[DEFAULT_ENDPOINT], None))
        );
        let vars = [
            ("DATASTORE_TYPE", "etcdv3"),
            (
                "ETCD_ENDPOINTS",
                "http://10.0.0.1:2379,http://10.0.0.2:2379",
            ),
        ];
        assert_eq!(
            DatastoreConfig::resolve(None, None, &[], &no_tls, env(&vars)),
            Ok(etcd(
                &["http://10.0.0.1:2379", "http://10.0.0.2:2379"],
                None
            ))
        );
        assert_eq!(
            DatastoreConfig::resolve(Some("etcd"), Some("http://a:1"), &[], &no_tls, env(&vars)),
            Ok(etcd(&["http://a:1"], None))
        );
        assert!(
            DatastoreConfig::resolve(Some("kubernetes"), None, &[], &no_tls, env(none)).is_err()
        );
        assert!(
            DatastoreConfig::resolve(Some("etcd"), Some("a:1"), &[], &no_tls, env(none)).is_err()
        );
        assert!(DatastoreConfig::resolve(Some("files"), None, &[], &no_tls, env(none)).is_err());
    }
}
