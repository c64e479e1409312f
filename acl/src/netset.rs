//! Network sets: Calico's `NetworkSet` (namespaced) and `GlobalNetworkSet` — labelled
//! lists of CIDRs that rule selectors match as Calico matches them: like endpoints whose
//! addresses are the set's nets (a namespaced set in its namespace, carrying the implicit
//! `projectcalico.org/namespace` label; a global set outside every namespace, matched by
//! a global policy's rule selectors and by `namespaceSelector: global()`). Sets are never
//! policed themselves.

use ipnet::IpNet;
use serde::Deserialize;

use crate::endpoint::LABEL_NAMESPACE;
use crate::model::calico::Metadata;
use crate::model::{child, parse_nets, FieldError, PathSeg};
use crate::selector::Labels;

/// A network set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSet {
    /// Name.
    pub name: String,
    /// Namespace (`NetworkSet`); None for a `GlobalNetworkSet`.
    pub namespace: Option<String>,
    /// The set's CIDRs.
    pub nets: Vec<IpNet>,
    /// Labels as written (without implicit ones).
    pub labels: Labels,
}

impl NetworkSet {
    /// `ns/name` or `name` (global).
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Labels plus the implicit namespace label (namespaced sets).
    pub fn effective_labels(&self) -> Labels {
        let mut l = self.labels.clone();
        if let Some(ns) = &self.namespace {
            l.insert(LABEL_NAMESPACE.to_string(), ns.clone());
        }
        l
    }
}

/// A `NetworkSet` / `GlobalNetworkSet` document (`projectcalico.org/v3`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawNetworkSet {
    /// `projectcalico.org/v3`.
    pub api_version: String,
    /// `NetworkSet` or `GlobalNetworkSet`.
    pub kind: String,
    /// Name, namespace, labels.
    pub metadata: Metadata,
    /// The nets.
    #[serde(default)]
    pub spec: RawNetworkSetSpec,
    /// Ignored (server-set).
    #[serde(default)]
    pub status: Option<serde_yaml::Value>,
}

/// `spec` of a network set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawNetworkSetSpec {
    /// CIDRs or addresses.
    #[serde(default)]
    pub nets: Vec<String>,
    /// Refused: DNS-based policy.
    #[serde(default)]
    pub allowed_egress_domains: Option<serde_yaml::Value>,
}

/// Converts a network set document.
pub fn convert(raw: &RawNetworkSet) -> Result<NetworkSet, FieldError> {
    let root: &[PathSeg] = &[];
    if raw.api_version != "projectcalico.org/v3" {
        return Err(FieldError::new(
            &child(root, "apiVersion"),
            format!("a {} needs apiVersion projectcalico.org/v3", raw.kind),
        ));
    }
    let global = raw.kind == "GlobalNetworkSet";
    let meta = child(root, "metadata");
    crate::names::check_metadata(&meta, &raw.metadata.name, raw.metadata.namespace.as_deref())?;
    crate::names::check_labels(&child(&meta, "labels"), raw.metadata.labels.as_ref())?;
    if global && raw.metadata.namespace.is_some() {
        return Err(FieldError::new(
            &child(&meta, "namespace"),
            "a GlobalNetworkSet has no namespace (use a NetworkSet)",
        ));
    }
    let spec = child(root, "spec");
    if raw.spec.allowed_egress_domains.is_some() {
        return Err(FieldError::new(
            &child(&spec, "allowedEgressDomains"),
            "not supported by tern: domain names in policy need DNS snooping, which tern does not do; list the addresses in `nets`",
        ));
    }
    Ok(NetworkSet {
        name: raw.metadata.name.clone(),
        namespace: (!global).then(|| {
            raw.metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_string())
        }),
        nets: parse_nets(&child(&spec, "nets"), &raw.spec.nets)?,
        labels: raw.metadata.labels.clone().unwrap_or_default(),
    })
}
