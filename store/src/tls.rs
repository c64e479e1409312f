//! TLS to etcd (`https://` endpoints): the CA that signed etcd's server certificate and,
//! when etcd asks for client certificates (`--client-cert-auth`), this client's
//! certificate and key — file paths as calicoctl takes them (`ETCD_CA_CERT_FILE`,
//! `ETCD_CERT_FILE`, `ETCD_KEY_FILE`), read when a connection is opened.

use std::path::{Path, PathBuf};

use etcd_client::{Certificate, Identity, TlsOptions};

use crate::StoreError;

/// The PEM files of a TLS connection to etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdTls {
    /// The CA certificate(s) etcd's server certificate must chain to.
    pub ca_cert_file: PathBuf,
    /// This client's certificate and key, both or neither.
    pub client: Option<(PathBuf, PathBuf)>,
}

fn read(what: &str, p: &Path) -> Result<Vec<u8>, StoreError> {
    let bytes = std::fs::read(p)
        .map_err(|e| StoreError::Tls(format!("{what} {}: cannot read it: {e}", p.display())))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(StoreError::Tls(format!(
            "{what} {}: not a PEM file (no -----BEGIN line)",
            p.display()
        )));
    }
    Ok(bytes)
}

impl EtcdTls {
    /// The client's TLS settings, from the files as they are now.
    pub(crate) fn options(&self) -> Result<TlsOptions, StoreError> {
        let ca = read("CA certificate", &self.ca_cert_file)?;
        let mut opts = TlsOptions::new().ca_certificate(Certificate::from_pem(ca));
        if let Some((cert, key)) = &self.client {
            let cert = read("client certificate", cert)?;
            let key = read("client key", key)?;
            opts = opts.identity(Identity::from_pem(cert, key));
        }
        Ok(opts)
    }

    /// From calicoctl's settings: `ca` (`--ca-cert-file` / `ETCD_CA_CERT_FILE`), `cert`
    /// and `key`. None when none is given; an error when only some are, or when the
    /// endpoints are not all `https://` (or all `http://` without TLS).
    pub fn from_parts(
        endpoints: &[String],
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> Result<Option<EtcdTls>, String> {
        let https = endpoints
            .iter()
            .filter(|e| e.starts_with("https://"))
            .count();
        if https != 0 && https != endpoints.len() {
            return Err("etcd endpoints mix http:// and https://: use one scheme for all".into());
        }
        let client = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(
                    "a client certificate needs its key (ETCD_KEY_FILE / --key-file)".into(),
                )
            }
            (None, Some(_)) => {
                return Err(
                    "a client key needs its certificate (ETCD_CERT_FILE / --cert-file)".into(),
                )
            }
        };
        match (https != 0, ca) {
            (false, None) if client.is_none() => Ok(None),
            (false, _) => Err(
                "TLS files are given but the etcd endpoints are http://: use https:// endpoints"
                    .into(),
            ),
            (true, None) => Err(
                "https:// etcd endpoints need the CA certificate that signed etcd's (ETCD_CA_CERT_FILE / --ca-cert-file)"
                    .into(),
            ),
            (true, Some(ca_cert_file)) => Ok(Some(EtcdTls {
                ca_cert_file,
                client,
            })),
        }
    }
}
