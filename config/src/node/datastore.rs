//! `datastore`: `type: files` (the default) or `type: etcd` with client URLs, and TLS to
//! etcd (`https://` endpoints, `caCertFile`, `certFile` + `keyFile`): checks the values
//! as written and that every TLS file is a readable PEM file, each error at its key.

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use super::raw::{RawDatastore, RawDatastoreType};
use super::resolve::Checker;
use super::{Datastore, EtcdTls};

/// Largest TLS file read (a certificate chain is a few KiB).
const MAX_PEM: u64 = 1 << 20;

/// `SCHEME://HOST:PORT` (an optional trailing `/`), HOST a name or an address; the
/// scheme (`http` or `https`) when it is one.
fn endpoint_scheme(e: &str) -> Option<&'static str> {
    let (scheme, rest) = if let Some(r) = e.strip_prefix("http://") {
        ("http", r)
    } else {
        ("https", e.strip_prefix("https://")?)
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = rest.rsplit_once(':')?;
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    (host_ok && port.parse::<u16>().is_ok_and(|p| p != 0)).then_some(scheme)
}

/// Why a TLS file cannot be used, if it cannot: not a regular file, unreadable, too
/// large, or without a PEM `-----BEGIN` line.
fn pem_problem(file: &Path) -> Option<String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", file.display());
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(e) => return Some(cannot(e)),
    };
    if !meta.is_file() {
        return Some(format!("{} is not a regular file", file.display()));
    }
    if meta.len() > MAX_PEM {
        return Some(format!(
            "{} holds {} bytes: not a PEM certificate or key",
            file.display(),
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    if let Err(e) = std::fs::File::open(file).and_then(|f| f.take(MAX_PEM).read_to_end(&mut bytes))
    {
        return Some(cannot(e));
    }
    (!bytes.windows(11).any(|w| w == b"-----BEGIN "))
        .then(|| format!("{} is not a PEM file (no -----BEGIN line)", file.display()))
}

impl Checker<'_> {
    /// `datastore` (`None`: the files datastore).
    pub(super) fn datastore(&mut self, raw: Option<&RawDatastore>) -> Datastore {
        let Some(raw) = raw else {
            return Datastore::Files;
        };
        let files = [
            ("caCertFile", &raw.ca_cert_file),
            ("certFile", &raw.cert_file),
            ("keyFile", &raw.key_file),
        ];
        match raw.kind {
            RawDatastoreType::Files => {
                if !raw.endpoints.is_empty() {
                    self.error(
                        "datastore.endpoints",
                        "only for `type: etcd` (the files datastore is this file)",
                    );
                }
                for (key, v) in files {
                    if v.is_some() {
                        self.error(&format!("datastore.{key}"), "only for `type: etcd`");
                    }
                }
                Datastore::Files
            }
            RawDatastoreType::Etcd => {
                if raw.endpoints.is_empty() {
                    self.error(
                        "datastore",
                        "`type: etcd` needs `endpoints`, e.g. [http://127.0.0.1:2379]",
                    );
                }
                let mut endpoints = Vec::new();
                let mut schemes = Vec::new();
                for (i, e) in raw.endpoints.iter().enumerate() {
                    let e = e.trim();
                    match endpoint_scheme(e) {
                        Some(s) => {
                            schemes.push(s);
                            endpoints.push(e.to_string());
                        }
                        None => self.error(
                            &format!("datastore.endpoints[{i}]"),
                            format!(
                                "`{e}` is not an etcd client URL like http://192.0.2.10:2379 or https://192.0.2.10:2379"
                            ),
                        ),
                    }
                }
                let https = schemes.iter().filter(|s| **s == "https").count();
                let tls = if https != 0 && https != schemes.len() {
                    self.error(
                        "datastore.endpoints",
                        "mixes http:// and https://: use one scheme for every endpoint",
                    );
                    None
                } else {
                    self.etcd_tls(raw, https != 0)
                };
                Datastore::Etcd { endpoints, tls }
            }
        }
    }

    /// The TLS files of an etcd datastore; `https`: the endpoints are `https://`.
    fn etcd_tls(&mut self, raw: &RawDatastore, https: bool) -> Option<EtcdTls> {
        let given = [
            ("caCertFile", &raw.ca_cert_file),
            ("certFile", &raw.cert_file),
            ("keyFile", &raw.key_file),
        ];
        if !https {
            for (key, v) in given {
                if v.is_some() {
                    self.error(
                        &format!("datastore.{key}"),
                        "TLS files need https:// endpoints (these are http://)",
                    );
                }
            }
            return None;
        }
        let mut ok = true;
        let mut checked = |cx: &mut Self, key: &str, p: &Option<PathBuf>| -> Option<PathBuf> {
            let p = cx.path(p.as_deref()?);
            if let Some(problem) = pem_problem(&p) {
                cx.error(&format!("datastore.{key}"), problem);
                ok = false;
            }
            Some(p)
        };
        let ca = checked(self, "caCertFile", &raw.ca_cert_file);
        let cert = checked(self, "certFile", &raw.cert_file);
        let key = checked(self, "keyFile", &raw.key_file);
        let ca = match ca {
            Some(ca) => ca,
            None => {
                self.error(
                    "datastore",
                    "https:// endpoints need `caCertFile`: the CA certificate that signed etcd's",
                );
                return None;
            }
        };
        match (&cert, &key) {
            (Some(_), None) => self.error(
                "datastore.certFile",
                "needs `keyFile` (the client certificate's key)",
            ),
            (None, Some(_)) => self.error(
                "datastore.keyFile",
                "needs `certFile` (the client certificate)",
            ),
            _ => {}
        }
        ok.then_some(EtcdTls {
            ca_cert_file: ca,
            cert_file: cert,
            key_file: key,
        })
    }
}
