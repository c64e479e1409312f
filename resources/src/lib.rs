//! resources: tern's cluster resources in Calico's v3 shape (`apiVersion:
//! projectcalico.org/v3`, `kind`, `metadata`, `spec`) — Node, IPPool,
//! BGPConfiguration, BGPPeer, NetworkSet, GlobalNetworkSet, HostEndpoint,
//! WorkloadEndpoint, Calico NetworkPolicy / GlobalNetworkPolicy and Tier, Kubernetes
//! NetworkPolicy and Namespace (the last five validated by the `acl` crate's model).
//!
//! This crate owns the types, their validation, loading YAML files with
//! `FILE:LINE:COL` errors ([`load`]), and the JSON form the datastore keeps
//! ([`Resource::to_json`], [`Resource::from_json`]). It does no I/O besides what
//! [`load::load_file`] reads.
#![warn(missing_docs)]

pub mod bgp;
mod check;
pub mod endpoints;
mod kind;
pub mod load;
mod meta;
pub mod pool;

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

pub use bgp::{BgpConfigurationSpec, BgpPeerSpec, NodeSpec};
pub use endpoints::{HostEndpointSpec, NetworkSetSpec, WorkloadEndpointSpec};
pub use kind::{Kind, CALICO_API, K8S_CORE_API, K8S_NETWORKING_API};
pub use load::{load_file, load_text};
pub use meta::{Metadata, Problem};
pub use pool::{EncapMode, IpPoolSpec};

/// One resource: its kind, metadata and validated spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The kind.
    pub kind: Kind,
    /// Name, namespace (filled with `default` for namespaced kinds), labels, ….
    pub metadata: Metadata,
    /// The spec.
    pub spec: Spec,
}

/// The spec of a resource, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// `Node`.
    Node(NodeSpec),
    /// `IPPool`.
    IpPool(IpPoolSpec),
    /// `BGPConfiguration`.
    BgpConfiguration(BgpConfigurationSpec),
    /// `BGPPeer`.
    BgpPeer(BgpPeerSpec),
    /// `NetworkSet` and `GlobalNetworkSet`.
    NetworkSet(NetworkSetSpec),
    /// `HostEndpoint`.
    HostEndpoint(HostEndpointSpec),
    /// `WorkloadEndpoint`.
    WorkloadEndpoint(WorkloadEndpointSpec),
    /// Calico `NetworkPolicy` / `GlobalNetworkPolicy`, Kubernetes `NetworkPolicy`.
    Policy(PolicySpec),
    /// Kubernetes `Namespace` (labels only).
    Namespace,
    /// Calico `Tier`.
    Tier(TierSpec),
}

/// A tier: the spec as written (what is stored and shown) and acl's tier.
#[derive(Debug, Clone, PartialEq)]
pub struct TierSpec {
    /// `spec` as written.
    pub raw: Value,
    /// Its order and default action, as policy evaluation uses them.
    pub tier: acl::tier::Tier,
}

/// A policy: the spec as written (what is stored and shown) and acl's model of it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySpec {
    /// `spec` as written.
    pub raw: Value,
    /// The normalized policy the engine evaluates.
    pub policy: acl::model::Policy,
}

/// The identity of a resource: kind, namespace (namespaced kinds only) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    /// The kind.
    pub kind: Kind,
    /// Namespace of namespaced kinds.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl fmt::Display for ResourceKey {
    /// `Kind ns/name` or `Kind name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Why a stored or given JSON value is not a resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The shape is wrong (unknown field, wrong type, missing field, bad JSON).
    #[error("{0}")]
    Shape(String),
    /// A value is invalid.
    #[error("{0}")]
    Invalid(Problem),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Envelope<S> {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: Metadata,
    #[serde(default = "none")]
    spec: Option<S>,
    #[serde(default)]
    #[allow(dead_code)]
    status: Option<Value>,
}

fn none<S>() -> Option<S> {
    None
}

/// Deserializes a document with location, as the kind's typed shape, to find where a
/// shape error that `from_value` reported is.
pub(crate) fn locate_shape(
    kind: Kind,
    src: config::yaml::DocumentSource<'_>,
) -> Option<config::yaml::LocatedError> {
    fn t<T: DeserializeOwned>(
        src: config::yaml::DocumentSource<'_>,
    ) -> Option<config::yaml::LocatedError> {
        src.deserialize::<T>().err()
    }
    match kind {
        Kind::Node => t::<Envelope<NodeSpec>>(src),
        Kind::IpPool => t::<Envelope<IpPoolSpec>>(src),
        Kind::BgpConfiguration => t::<Envelope<BgpConfigurationSpec>>(src),
        Kind::BgpPeer => t::<Envelope<BgpPeerSpec>>(src),
        Kind::NetworkSet | Kind::GlobalNetworkSet => t::<Envelope<NetworkSetSpec>>(src),
        Kind::HostEndpoint => t::<Envelope<HostEndpointSpec>>(src),
        Kind::WorkloadEndpoint => t::<Envelope<WorkloadEndpointSpec>>(src),
        Kind::Namespace => t::<Envelope<Value>>(src),
        Kind::Tier => t::<acl::tier::RawTier>(src),
        Kind::KubernetesNetworkPolicy => t::<acl::model::k8s::K8sPolicyDoc>(src),
        Kind::NetworkPolicy | Kind::GlobalNetworkPolicy => {
            t::<acl::model::calico::CalicoPolicyDoc>(src)
        }
    }
}

impl Resource {
    /// The resource's identity.
    pub fn key(&self) -> ResourceKey {
        ResourceKey {
            kind: self.kind,
            namespace: self.metadata.namespace.clone(),
            name: self.metadata.name.clone(),
        }
    }

    /// The document (`apiVersion`, `kind`, `metadata`, `spec`) as shown by `get`,
    /// with `metadata.resourceVersion` when known.
    pub fn to_value(&self) -> Value {
        let meta = serde_json::to_value(&self.metadata).unwrap_or(Value::Null);
        let spec = match &self.spec {
            Spec::Node(s) => serde_json::to_value(s),
            Spec::IpPool(s) => serde_json::to_value(s),
            Spec::BgpConfiguration(s) => serde_json::to_value(s),
            Spec::BgpPeer(s) => serde_json::to_value(s),
            Spec::NetworkSet(s) => serde_json::to_value(s),
            Spec::HostEndpoint(s) => serde_json::to_value(s),
            Spec::WorkloadEndpoint(s) => serde_json::to_value(s),
            Spec::Policy(p) => Ok(p.raw.clone()),
            Spec::Tier(t) => Ok(t.raw.clone()),
            Spec::Namespace => Ok(Value::Null),
        }
        .unwrap_or(Value::Null);
        let mut doc = json!({
            "apiVersion": self.kind.api_version(),
            "kind": self.kind.name(),
            "metadata": meta,
        });
        if !spec.is_null() {
            doc["spec"] = spec;
        }
        doc
    }

    /// The bytes the datastore keeps: the document without server-set metadata.
    pub fn to_json(&self) -> Vec<u8> {
        let mut r = self.clone();
        r.metadata = r.metadata.stored();
        serde_json::to_vec(&r.to_value()).unwrap_or_default()
    }

    /// Reads what [`Resource::to_json`] wrote (or any JSON document of a known kind),
    /// validating it as the loader does.
    pub fn from_json(bytes: &[u8]) -> Result<Resource, DecodeError> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::Shape(e.to_string()))?;
        Resource::from_value(v)
    }

    /// A resource from a document value (YAML or JSON, already parsed).
    pub fn from_value(mut v: Value) -> Result<Resource, DecodeError> {
        let kind_s = v
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let api = v
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let kind = kind_of(&kind_s, &api)?;
        let invalid = DecodeError::Invalid;
        let (mut metadata, spec) = match kind {
            Kind::Node => typed(v, kind, Spec::Node)?,
            Kind::IpPool => typed(v, kind, Spec::IpPool)?,
            Kind::BgpConfiguration => typed(v, kind, Spec::BgpConfiguration)?,
            Kind::BgpPeer => typed(v, kind, Spec::BgpPeer)?,
            Kind::NetworkSet | Kind::GlobalNetworkSet => typed(v, kind, Spec::NetworkSet)?,
            Kind::HostEndpoint => typed(v, kind, Spec::HostEndpoint)?,
            Kind::WorkloadEndpoint => typed(v, kind, Spec::WorkloadEndpoint)?,
            Kind::Namespace => {
                let env: Envelope<Value> = serde_json::from_value(v).map_err(shape)?;
                if !acl::names::is_dns1123_label(&env.metadata.name) {
                    return Err(invalid(Problem::new(
                        "metadata.name",
                        format!(
                            "invalid namespace `{}`: a DNS-1123 label is required",
                            env.metadata.name.escape_debug()
                        ),
                    )));
                }
                (env.metadata, Spec::Namespace)
            }
            Kind::Tier => {
                strip_server_fields(&mut v);
                let raw_spec = v.get("spec").cloned().unwrap_or(json!({}));
                let doc: acl::tier::RawTier = serde_json::from_value(v.clone()).map_err(shape)?;
                let tier = acl::tier::convert(&doc).map_err(|e| invalid(Problem::from_acl(&e)))?;
                let meta: Metadata =
                    serde_json::from_value(v.get("metadata").cloned().unwrap_or(Value::Null))
                        .map_err(shape)?;
                (
                    meta,
                    Spec::Tier(TierSpec {
                        raw: raw_spec,
                        tier,
                    }),
                )
            }
            Kind::NetworkPolicy | Kind::GlobalNetworkPolicy | Kind::KubernetesNetworkPolicy => {
                strip_server_fields(&mut v);
                let raw_spec = v.get("spec").cloned().unwrap_or(json!({}));
                let policy = if kind == Kind::KubernetesNetworkPolicy {
                    let doc: acl::model::k8s::K8sPolicyDoc =
                        serde_json::from_value(v.clone()).map_err(shape)?;
                    acl::model::k8s::convert(&doc)
                } else {
                    let doc: acl::model::calico::CalicoPolicyDoc =
                        serde_json::from_value(v.clone()).map_err(shape)?;
                    acl::model::calico::convert(&doc)
                }
                .map_err(|e| invalid(Problem::from_acl(&e)))?;
                let meta: Metadata =
                    serde_json::from_value(v.get("metadata").cloned().unwrap_or(Value::Null))
                        .map_err(shape)?;
                (
                    meta,
                    Spec::Policy(PolicySpec {
                        raw: raw_spec,
                        policy,
                    }),
                )
            }
        };
        metadata.normalize(kind).map_err(invalid)?;
        let r = Resource {
            kind,
            metadata,
            spec,
        };
        r.validate().map_err(invalid)?;
        Ok(r)
    }

    fn validate(&self) -> Result<(), Problem> {
        match &self.spec {
            Spec::Node(s) => s.validate(),
            Spec::IpPool(s) => s.validate(),
            Spec::BgpConfiguration(s) => s.validate(),
            Spec::BgpPeer(s) => s.validate(),
            Spec::NetworkSet(s) => s.validate(),
            Spec::HostEndpoint(s) => s.validate(),
            Spec::WorkloadEndpoint(s) => s.validate(),
            Spec::Policy(_) | Spec::Namespace | Spec::Tier(_) => Ok(()),
        }
    }

    /// The namespace as acl sees it (`Namespace` kind only).
    pub fn to_acl_namespace(&self) -> Option<acl::Namespace> {
        matches!(self.spec, Spec::Namespace).then(|| acl::Namespace {
            name: self.metadata.name.clone(),
            labels: self.metadata.labels.clone(),
        })
    }
}

fn shape(e: serde_json::Error) -> DecodeError {
    DecodeError::Shape(e.to_string())
}

fn kind_of(kind: &str, api: &str) -> Result<Kind, DecodeError> {
    let bad = |path: &str, m: String| DecodeError::Invalid(Problem::new(path, m));
    if kind.is_empty() {
        return Err(bad("kind", "missing `kind`".into()));
    }
    let k = Kind::from_document(kind, api).ok_or_else(|| {
        bad(
            "kind",
            format!(
                "unknown kind `{}` ({})",
                kind.escape_debug(),
                Kind::ALL
                    .iter()
                    .filter(|k| **k != Kind::KubernetesNetworkPolicy)
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    if api != k.api_version() {
        return Err(bad(
            "apiVersion",
            format!(
                "{k} needs apiVersion {} (got `{}`)",
                k.api_version(),
                api.escape_debug()
            ),
        ));
    }
    Ok(k)
}

fn typed<S: DeserializeOwned>(
    v: Value,
    kind: Kind,
    wrap: fn(S) -> Spec,
) -> Result<(Metadata, Spec), DecodeError> {
    let env: Envelope<S> = serde_json::from_value(v).map_err(shape)?;
    let spec = env.spec.ok_or_else(|| {
        DecodeError::Invalid(Problem::new("", format!("a {kind} needs a `spec`")))
    })?;
    Ok((env.metadata, wrap(spec)))
}

/// Removes what a server adds and acl's policy model does not know: `status`,
/// `metadata.managedFields`, `metadata.selfLink`.
fn strip_server_fields(v: &mut Value) {
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
            m.remove("selfLink");
        }
    }
}

#[cfg(test)]
mod tests;
