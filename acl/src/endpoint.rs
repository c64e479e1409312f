//! Endpoints and namespaces: `WorkloadEndpoint` (a container's veth), `HostEndpoint`
//! (a host interface) and `Namespace` (labels for namespace selectors). The same YAML
//! files are read by the agent for device routes, so these types are the public shape.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use crate::model::{child, index, parse_nets, FieldError, PathSeg};
use crate::names::{check_name, check_namespace};
use crate::selector::Labels;

/// Implicit label naming a workload's namespace (as Calico).
pub const LABEL_NAMESPACE: &str = "projectcalico.org/namespace";
/// Implicit label naming a namespace (as Calico).
pub const LABEL_NS_NAME: &str = "projectcalico.org/name";
/// Implicit label naming a namespace (as Kubernetes ≥ 1.21).
pub const LABEL_K8S_NS_NAME: &str = "kubernetes.io/metadata.name";

/// A container's network endpoint: the host side of its veth and its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadEndpoint {
    /// Endpoint name (unique within the namespace).
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Host side of the container's veth.
    pub interface: String,
    /// The container's addresses (normally /32 and /128).
    pub ips: Vec<IpNet>,
    /// Labels as written (without implicit ones).
    pub labels: Labels,
}

/// A host interface under policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEndpoint {
    /// Endpoint name.
    pub name: String,
    /// Interface name.
    pub interface: String,
    /// The host's addresses on that interface.
    pub expected_ips: Vec<IpAddr>,
    /// Labels.
    pub labels: Labels,
}

/// A namespace and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Namespace name.
    pub name: String,
    /// Labels as written (without implicit ones).
    pub labels: Labels,
}

impl WorkloadEndpoint {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Labels plus the implicit namespace label.
    pub fn effective_labels(&self) -> Labels {
        let mut l = self.labels.clone();
        l.insert(LABEL_NAMESPACE.to_string(), self.namespace.clone());
        l
    }
}

impl Namespace {
    /// A namespace that no document declared: no labels.
    pub fn implicit(name: &str) -> Namespace {
        Namespace {
            name: name.to_string(),
            labels: Labels::new(),
        }
    }

    /// Labels plus the implicit name labels.
    pub fn effective_labels(&self) -> Labels {
        let mut l = self.labels.clone();
        l.insert(LABEL_NS_NAME.to_string(), self.name.clone());
        l.insert(LABEL_K8S_NS_NAME.to_string(), self.name.clone());
        l
    }
}

/// `kind: WorkloadEndpoint` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawWorkload {
    /// `WorkloadEndpoint`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (`default` when absent).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Host-side veth.
    pub interface: String,
    /// Addresses.
    #[serde(default)]
    pub ips: Vec<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `kind: HostEndpoint` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawHost {
    /// `HostEndpoint`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Interface.
    pub interface: String,
    /// Host addresses.
    #[serde(default, rename = "expectedIPs")]
    pub expected_ips: Vec<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `kind: Namespace` as written: flat (`name`, `labels`) or Kubernetes-style (`metadata`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawNamespace {
    /// `v1` in the Kubernetes form.
    #[serde(default)]
    pub api_version: Option<String>,
    /// `Namespace`.
    pub kind: String,
    /// Name (flat form).
    #[serde(default)]
    pub name: Option<String>,
    /// Labels (flat form).
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Kubernetes form.
    #[serde(default)]
    pub metadata: Option<crate::model::calico::Metadata>,
}

/// Checks that an interface name is one Linux accepts and tern can name chains after.
pub fn check_interface(path: &[PathSeg], name: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            path,
            format!(
                "bad interface name `{name}` (1-15 characters of a-z, A-Z, 0-9, `-`, `_`, `.`)"
            ),
        ))
    }
}

/// Converts a workload endpoint document.
pub fn convert_workload(raw: &RawWorkload) -> Result<WorkloadEndpoint, FieldError> {
    let root: &[PathSeg] = &[];
    check_name(&child(root, "name"), &raw.name)?;
    let namespace = raw
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    check_namespace(&child(root, "namespace"), &namespace)?;
    check_interface(&child(root, "interface"), &raw.interface)?;
    let ips = parse_nets(&child(root, "ips"), &raw.ips)?;
    Ok(WorkloadEndpoint {
        name: raw.name.clone(),
        namespace,
        interface: raw.interface.clone(),
        ips,
        labels: raw.labels.clone(),
    })
}

/// Converts a host endpoint document.
pub fn convert_host(raw: &RawHost) -> Result<HostEndpoint, FieldError> {
    let root: &[PathSeg] = &[];
    check_name(&child(root, "name"), &raw.name)?;
    check_interface(&child(root, "interface"), &raw.interface)?;
    let ips_path = child(root, "expectedIPs");
    let mut expected_ips = Vec::new();
    for (i, s) in raw.expected_ips.iter().enumerate() {
        let a = s
            .parse::<IpAddr>()
            .map_err(|_| FieldError::new(&index(&ips_path, i), format!("bad IP address `{s}`")))?;
        expected_ips.push(a);
    }
    Ok(HostEndpoint {
        name: raw.name.clone(),
        interface: raw.interface.clone(),
        expected_ips,
        labels: raw.labels.clone(),
    })
}

/// Converts a namespace document.
pub fn convert_namespace(raw: &RawNamespace) -> Result<Namespace, FieldError> {
    let root: &[PathSeg] = &[];
    let (name, labels, path) = match (&raw.name, &raw.metadata) {
        (Some(n), None) => (
            n.clone(),
            raw.labels.clone().unwrap_or_default(),
            child(root, "name"),
        ),
        (None, Some(m)) if raw.labels.is_none() => (
            m.name.clone(),
            m.labels.clone().unwrap_or_default(),
            child(&child(root, "metadata"), "name"),
        ),
        _ => {
            return Err(FieldError::new(
                root,
                "a Namespace needs either `name` (+ `labels`) or `metadata`",
            ))
        }
    };
    check_namespace(&path, &name)?;
    Ok(Namespace { name, labels })
}
