//! `metadata` of every resource: what tern keeps (name, namespace, labels,
//! annotations), what the datastore sets (`resourceVersion`), and the server-set
//! fields a `get -o yaml` from Calico or Kubernetes carries, which are accepted and
//! dropped. Also the checks on names and the small `Problem` type every check returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Kind;

/// A problem found in a resource, at a key path of its document (`spec.cidr`,
/// `spec.nets[2]`); the loader turns it into `FILE:LINE:COL: path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path in serde_yaml's form (keys joined by `.`, items `[i]`).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// Columns into the value where the problem is (selectors), if known.
    pub offset: Option<usize>,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
            offset: None,
        }
    }

    /// The problem as the acl crate reports one.
    pub fn from_acl(e: &acl::model::FieldError) -> Problem {
        Problem {
            path: e.path_text(),
            message: e.message.clone(),
            offset: e.offset,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Object metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// Object name: a DNS-1123 subdomain.
    pub name: String,
    /// Namespace of namespaced kinds (`default` when absent); refused on the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels (what selectors match).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations, kept as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The datastore revision this copy was read at. On `apply`, when present, the
    /// revision the write expects (compare-and-swap); never stored.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "version::deserialize"
    )]
    pub resource_version: Option<String>,
    /// Server-set, ignored.
    #[serde(default, skip_serializing)]
    pub uid: Option<serde_json::Value>,
    /// Server-set, ignored.
    #[serde(default, skip_serializing)]
    pub creation_timestamp: Option<serde_json::Value>,
    /// Server-set, ignored.
    #[serde(default, skip_serializing)]
    pub generation: Option<serde_json::Value>,
    /// Server-set, ignored.
    #[serde(default, skip_serializing)]
    pub managed_fields: Option<serde_json::Value>,
    /// Server-set, ignored.
    #[serde(default, skip_serializing)]
    pub self_link: Option<serde_json::Value>,
}

mod version {
    use serde::{Deserialize, Deserializer};

    /// `resourceVersion` as a string or a number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum V {
            S(String),
            N(u64),
        }
        Ok(Option::<V>::deserialize(d)?.map(|v| match v {
            V::S(s) => s,
            V::N(n) => n.to_string(),
        }))
    }
}

impl Metadata {
    /// Metadata with just a name (and a namespace).
    pub fn named(name: &str, namespace: Option<&str>) -> Metadata {
        Metadata {
            name: name.to_string(),
            namespace: namespace.map(str::to_string),
            ..Metadata::default()
        }
    }

    /// Drops the server-set fields (what is stored).
    pub fn stored(&self) -> Metadata {
        Metadata {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            ..Metadata::default()
        }
    }

    /// Checks the name and namespace for `kind`, filling in the `default` namespace.
    pub fn normalize(&mut self, kind: Kind) -> Result<(), Problem> {
        if !acl::names::is_dns1123_subdomain(&self.name) {
            return Err(Problem::new(
                "metadata.name",
                format!(
                    "invalid name `{}`: a DNS-1123 subdomain is required (at most 253 characters of a-z, 0-9, `-` and `.`, each part starting and ending with a letter or digit)",
                    self.name.escape_debug()
                ),
            ));
        }
        if kind.namespaced() {
            let ns = self.namespace.get_or_insert_with(|| "default".to_string());
            if !acl::names::is_dns1123_label(ns) {
                return Err(Problem::new(
                    "metadata.namespace",
                    format!(
                        "invalid namespace `{}`: a DNS-1123 label is required (at most 63 characters of a-z, 0-9 and `-`)",
                        ns.escape_debug()
                    ),
                ));
            }
        } else if self.namespace.is_some() {
            return Err(Problem::new(
                "metadata.namespace",
                format!("{kind} is not namespaced: remove `namespace`"),
            ));
        }
        for k in self.labels.keys() {
            if k.is_empty()
                || k.len() > 317
                || k.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(Problem::new(
                    format!("metadata.labels.{k}"),
                    "bad label key (non-empty, no spaces or control characters)",
                ));
            }
        }
        Ok(())
    }
}
