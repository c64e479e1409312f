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
/// Implicit label naming a workload's service account (as Calico).
pub const LABEL_SERVICE_ACCOUNT: &str = "projectcalico.org/serviceaccount";
/// Prefix of a service account's labels on its workloads (as Calico).
pub const SERVICE_ACCOUNT_LABEL_PREFIX: &str = "pcsa.";
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

/// A Kubernetes `ServiceAccount` (`v1`): its labels are seen by `serviceAccounts.selector`
/// and `serviceAccountSelector` on the workloads that run as it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Labels.
    pub labels: Labels,
}

/// `kind: ServiceAccount` (`v1`) as written (`kubectl get -o yaml` form).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawServiceAccount {
    /// `v1`.
    pub api_version: String,
    /// `ServiceAccount`.
    pub kind: String,
    /// Name, namespace, labels.
    pub metadata: crate::model::calico::Metadata,
}

/// Converts a service account document (other fields, such as `secrets`, are ignored).
pub fn convert_service_account(raw: &RawServiceAccount) -> Result<ServiceAccount, FieldError> {
    let meta = child(&[], "metadata");
    crate::names::check_metadata(&meta, &raw.metadata.name, raw.metadata.namespace.as_deref())?;
    crate::names::check_labels(&child(&meta, "labels"), raw.metadata.labels.as_ref())?;
    Ok(ServiceAccount {
        name: raw.metadata.name.clone(),
        namespace: raw
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string()),
        labels: raw.metadata.labels.clone().unwrap_or_default(),
    })
}

/// Gives each workload running as a declared service account that account's labels,
/// `pcsa.`-prefixed (what Calico's service-account selectors match).
pub fn link_service_accounts(workloads: &mut [WorkloadEndpoint], accounts: &[ServiceAccount]) {
    for w in workloads {
        let Some(sa) = w.labels.get(LABEL_SERVICE_ACCOUNT).cloned() else {
            continue;
        };
        if let Some(a) = accounts
            .iter()
            .find(|a| a.name == sa && a.namespace == w.namespace)
        {
            for (k, v) in &a.labels {
                w.labels
                    .insert(format!("{SERVICE_ACCOUNT_LABEL_PREFIX}{k}"), v.clone());
            }
        }
    }
}

/// A named port of an endpoint (`ports: [{name, port, protocol}]`): rules that name
/// the port (`ports: [http]`) match this number on this endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPort {
    /// The port's name.
    pub name: String,
    /// TCP, UDP or SCTP.
    pub protocol: crate::model::Protocol,
    /// The number.
    pub port: u16,
}

/// A named port as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPort {
    /// Name (an IANA service name: 1-15 of a-z, 0-9, `-`).
    pub name: String,
    /// Number.
    pub port: u16,
    /// TCP (default), UDP or SCTP.
    #[serde(default)]
    pub protocol: Option<String>,
}

/// Converts named ports (`path` is the `ports` field).
pub fn convert_ports(path: &[PathSeg], raw: &[RawPort]) -> Result<Vec<NamedPort>, FieldError> {
    use crate::model::Protocol;
    let mut out: Vec<NamedPort> = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let at = index(path, i);
        if !crate::model::is_port_name(&p.name) {
            return Err(FieldError::new(
                &child(&at, "name"),
                format!(
                    "bad port name `{}` (1-15 of a-z, 0-9 and `-`, with a letter)",
                    p.name.escape_debug()
                ),
            ));
        }
        let protocol = match p
            .protocol
            .as_deref()
            .unwrap_or("TCP")
            .to_ascii_uppercase()
            .as_str()
        {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            _ => {
                return Err(FieldError::new(
                    &child(&at, "protocol"),
                    "a named port's protocol is TCP, UDP or SCTP",
                ))
            }
        };
        if p.port == 0 {
            return Err(FieldError::new(&child(&at, "port"), "port 0"));
        }
        if out
            .iter()
            .any(|o| o.name == p.name && o.protocol == protocol)
        {
            return Err(FieldError::new(
                &child(&at, "name"),
                format!("port {} ({protocol:?}) is named twice", p.name),
            ));
        }
        out.push(NamedPort {
            name: p.name.clone(),
            protocol,
            port: p.port,
        });
    }
    Ok(out)
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
    /// Named ports.
    #[serde(default)]
    pub ports: Vec<RawPort>,
    /// The workload's service account (in its namespace).
    #[serde(default)]
    pub service_account: Option<String>,
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
    /// Named ports.
    #[serde(default)]
    pub ports: Vec<RawPort>,
}

/// Calico's `HostEndpoint` (`projectcalico.org/v3`) as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCalicoHost {
    /// `projectcalico.org/v3`.
    pub api_version: String,
    /// `HostEndpoint`.
    pub kind: String,
    /// Name and labels.
    pub metadata: crate::model::calico::Metadata,
    /// The endpoint.
    pub spec: RawCalicoHostSpec,
    /// Ignored (server-set).
    #[serde(default)]
    pub status: Option<serde_yaml::Value>,
}

/// `spec` of a Calico `HostEndpoint`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCalicoHostSpec {
    /// The node (informational: the files are the node's own).
    #[serde(default)]
    pub node: Option<String>,
    /// The interface (required by tern: it enforces host policy per interface).
    #[serde(default)]
    pub interface_name: Option<String>,
    /// The host's addresses.
    #[serde(default, rename = "expectedIPs")]
    pub expected_ips: Vec<String>,
    /// Accepted and ignored (tern has no profiles).
    #[serde(default)]
    pub profiles: Option<Vec<String>>,
    /// Named ports.
    #[serde(default)]
    pub ports: Vec<RawPort>,
}

/// Calico's `WorkloadEndpoint` (`projectcalico.org/v3`) as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCalicoWorkload {
    /// `projectcalico.org/v3`.
    pub api_version: String,
    /// `WorkloadEndpoint`.
    pub kind: String,
    /// Name, namespace and labels.
    pub metadata: crate::model::calico::Metadata,
    /// The endpoint.
    pub spec: RawCalicoWorkloadSpec,
    /// Ignored (server-set).
    #[serde(default)]
    pub status: Option<serde_yaml::Value>,
}

/// `spec` of a Calico `WorkloadEndpoint`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCalicoWorkloadSpec {
    /// Informational.
    #[serde(default)]
    pub node: Option<String>,
    /// Informational.
    #[serde(default)]
    pub orchestrator: Option<String>,
    /// Informational.
    #[serde(default)]
    pub workload: Option<String>,
    /// Informational.
    #[serde(default)]
    pub pod: Option<String>,
    /// Informational.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Informational.
    #[serde(default, rename = "containerID")]
    pub container_id: Option<String>,
    /// Host side of the veth.
    pub interface_name: String,
    /// Informational.
    #[serde(default)]
    pub mac: Option<String>,
    /// The workload's addresses.
    #[serde(default, rename = "ipNetworks")]
    pub ip_networks: Vec<String>,
    /// Accepted and ignored (tern has no profiles).
    #[serde(default)]
    pub profiles: Option<Vec<String>>,
    /// Service account (matched by `serviceAccountSelector` / `serviceAccounts`).
    #[serde(default)]
    pub service_account_name: Option<String>,
    /// Named ports.
    #[serde(default)]
    pub ports: Vec<RawPort>,
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
    crate::names::check_labels(&child(root, "labels"), Some(&raw.labels))?;
    let mut labels = raw.labels.clone();
    if let Some(sa) = &raw.service_account {
        check_name(&child(root, "serviceAccount"), sa)?;
        labels.insert(LABEL_SERVICE_ACCOUNT.to_string(), sa.clone());
    }
    Ok(WorkloadEndpoint {
        name: raw.name.clone(),
        namespace,
        interface: raw.interface.clone(),
        ips,
        labels,
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
    crate::names::check_labels(&child(root, "labels"), Some(&raw.labels))?;
    Ok(HostEndpoint {
        name: raw.name.clone(),
        interface: raw.interface.clone(),
        expected_ips,
        labels: raw.labels.clone(),
    })
}

/// Converts a Calico `HostEndpoint` document.
pub fn convert_calico_host(raw: &RawCalicoHost) -> Result<HostEndpoint, FieldError> {
    let root: &[PathSeg] = &[];
    let meta = child(root, "metadata");
    let spec = child(root, "spec");
    if raw.metadata.namespace.is_some() {
        return Err(FieldError::new(
            &child(&meta, "namespace"),
            "a HostEndpoint has no namespace",
        ));
    }
    let Some(interface) = &raw.spec.interface_name else {
        return Err(FieldError::new(
            &spec,
            "`interfaceName` is required (tern enforces host policy per interface)",
        ));
    };
    if interface == "*" {
        return Err(FieldError::new(
            &child(&spec, "interfaceName"),
            "not supported by tern: `*` (all interfaces); name one",
        ));
    }
    check_interface(&child(&spec, "interfaceName"), interface)?;
    let flat = RawHost {
        kind: raw.kind.clone(),
        name: raw.metadata.name.clone(),
        interface: interface.clone(),
        expected_ips: raw.spec.expected_ips.clone(),
        labels: raw.metadata.labels.clone().unwrap_or_default(),
        ports: Vec::new(),
    };
    convert_host(&flat).map_err(|mut e| {
        e.path = match e.path.first() {
            Some(PathSeg::Key(k)) if k == "name" || k == "labels" => {
                let mut p = meta.clone();
                p.extend(e.path.iter().cloned());
                p
            }
            Some(PathSeg::Key(k)) if k == "expectedIPs" => {
                let mut p = spec.clone();
                p.extend(e.path.iter().cloned());
                p
            }
            _ => e.path.clone(),
        };
        e
    })
}

/// Converts a Calico `WorkloadEndpoint` document.
pub fn convert_calico_workload(raw: &RawCalicoWorkload) -> Result<WorkloadEndpoint, FieldError> {
    let root: &[PathSeg] = &[];
    let meta = child(root, "metadata");
    let spec = child(root, "spec");
    let flat = RawWorkload {
        kind: raw.kind.clone(),
        name: raw.metadata.name.clone(),
        namespace: raw.metadata.namespace.clone(),
        interface: raw.spec.interface_name.clone(),
        ips: raw.spec.ip_networks.clone(),
        labels: raw.metadata.labels.clone().unwrap_or_default(),
        ports: Vec::new(),
        service_account: raw.spec.service_account_name.clone(),
    };
    convert_workload(&flat).map_err(|mut e| {
        let (base, rest) = match e.path.first() {
            Some(PathSeg::Key(k)) if k == "name" || k == "namespace" || k == "labels" => {
                (meta.clone(), e.path.clone())
            }
            Some(PathSeg::Key(k)) if k == "interface" => (
                spec.clone(),
                std::iter::once(PathSeg::Key("interfaceName".into()))
                    .chain(e.path.iter().skip(1).cloned())
                    .collect(),
            ),
            Some(PathSeg::Key(k)) if k == "serviceAccount" => (
                spec.clone(),
                vec![PathSeg::Key("serviceAccountName".into())],
            ),
            Some(PathSeg::Key(k)) if k == "ips" => (
                spec.clone(),
                std::iter::once(PathSeg::Key("ipNetworks".into()))
                    .chain(e.path.iter().skip(1).cloned())
                    .collect(),
            ),
            _ => (Vec::new(), e.path.clone()),
        };
        let mut p = base;
        p.extend(rest);
        e.path = p;
        e
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
    let labels_path = if raw.metadata.is_some() {
        child(&child(root, "metadata"), "labels")
    } else {
        child(root, "labels")
    };
    crate::names::check_labels(&labels_path, Some(&labels))?;
    Ok(Namespace { name, labels })
}
