//! Endpoint and set kinds: `NetworkSet` / `GlobalNetworkSet` (labelled CIDRs),
//! `HostEndpoint` and `WorkloadEndpoint` in Calico's v3 shape, with conversions to the
//! `acl` crate's endpoint types that the policy engine evaluates.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::check::{self, refused};
use crate::{Metadata, Problem};

/// `NetworkSet.spec` and `GlobalNetworkSet.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkSetSpec {
    /// CIDRs or addresses.
    #[serde(default)]
    pub nets: Vec<String>,
    /// Refused: no DNS policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_egress_domains: Option<serde_json::Value>,
}

impl NetworkSetSpec {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        refused(
            "spec.allowedEgressDomains",
            &self.allowed_egress_domains,
            "no DNS-based policy",
        )?;
        for (i, n) in self.nets.iter().enumerate() {
            check::net(&format!("spec.nets[{i}]"), n)?;
        }
        Ok(())
    }

    /// The nets, parsed.
    pub fn nets(&self) -> Vec<IpNet> {
        self.nets
            .iter()
            .filter_map(|n| check::net("", n).ok())
            .collect()
    }

    /// The set as the policy engine sees it (`meta.namespace` None: a
    /// `GlobalNetworkSet`).
    pub fn to_acl(&self, meta: &Metadata) -> acl::NetworkSet {
        acl::NetworkSet {
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            nets: self.nets(),
            labels: meta.labels.clone(),
        }
    }
}

/// `HostEndpoint.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostEndpointSpec {
    /// The node the interface is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The interface (required by tern; Calico's `*` is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    /// The host's addresses on it.
    #[serde(default, rename = "expectedIPs", skip_serializing_if = "Vec::is_empty")]
    pub expected_ips: Vec<String>,
    /// Accepted and kept; tern has no Profile resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Named ports (`[{name, port, protocol}]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<serde_json::Value>,
}

/// Named ports as the policy engine sees them (`spec.ports` of an endpoint).
fn named_ports(
    ports: &Option<serde_json::Value>,
) -> Result<Vec<acl::endpoint::NamedPort>, Problem> {
    let Some(v) = ports else {
        return Ok(Vec::new());
    };
    let raw: Vec<acl::endpoint::RawPort> = serde_json::from_value(v.clone())
        .map_err(|e| Problem::new("spec.ports", format!("bad named ports: {e}")))?;
    acl::endpoint::convert_ports(&[], &raw).map_err(|e| {
        Problem::new(
            format!("spec.ports{}", acl::model::path_text(&e.path)),
            e.message,
        )
    })
}

impl HostEndpointSpec {
    /// Its named ports (valid after load).
    pub fn named_ports(&self) -> Vec<acl::endpoint::NamedPort> {
        named_ports(&self.ports).unwrap_or_default()
    }

    pub(crate) fn validate(&self) -> Result<(), Problem> {
        named_ports(&self.ports)?;
        let Some(i) = &self.interface_name else {
            return Err(Problem::new(
                "spec",
                "`interfaceName` is required (tern enforces host policy per interface)",
            ));
        };
        if i == "*" {
            return Err(Problem::new(
                "spec.interfaceName",
                "not supported by tern: `*` (all interfaces); name one",
            ));
        }
        acl::endpoint::check_interface(&[], i)
            .map_err(|e| Problem::new("spec.interfaceName", e.message))?;
        for (k, a) in self.expected_ips.iter().enumerate() {
            a.parse::<std::net::IpAddr>().map_err(|_| {
                Problem::new(
                    format!("spec.expectedIPs[{k}]"),
                    format!("bad IP address `{}`", a.escape_debug()),
                )
            })?;
        }
        Ok(())
    }

    /// The endpoint as the policy engine sees it.
    pub fn to_acl(&self, meta: &Metadata) -> acl::HostEndpoint {
        acl::HostEndpoint {
            name: meta.name.clone(),
            interface: self.interface_name.clone().unwrap_or_default(),
            expected_ips: self
                .expected_ips
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
            labels: meta.labels.clone(),
        }
    }
}

/// `WorkloadEndpoint.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkloadEndpointSpec {
    /// The node the workload runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `k8s`, `cni`, `docker`, … (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestrator: Option<String>,
    /// Workload name (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Pod name (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Endpoint name inside the workload (`eth0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Container ID.
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id: Option<String>,
    /// Host side of the veth (required).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface_name: String,
    /// MAC of the container side (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The workload's addresses (`/32`, `/128`).
    #[serde(default, rename = "ipNetworks", skip_serializing_if = "Vec::is_empty")]
    pub ip_networks: Vec<String>,
    /// Accepted and kept; tern has no Profile resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Accepted and kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Refused: no 1:1 NAT.
    #[serde(default, rename = "ipNATs", skip_serializing_if = "Option::is_none")]
    pub ip_nats: Option<serde_json::Value>,
    /// Named ports (`[{name, port, protocol}]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<serde_json::Value>,
}

impl WorkloadEndpointSpec {
    /// Its named ports (valid after load).
    pub fn named_ports(&self) -> Vec<acl::endpoint::NamedPort> {
        named_ports(&self.ports).unwrap_or_default()
    }

    pub(crate) fn validate(&self) -> Result<(), Problem> {
        refused("spec.ipNATs", &self.ip_nats, "no 1:1 NAT")?;
        named_ports(&self.ports)?;
        if self.interface_name.is_empty() {
            return Err(Problem::new("spec", "`interfaceName` is required"));
        }
        acl::endpoint::check_interface(&[], &self.interface_name)
            .map_err(|e| Problem::new("spec.interfaceName", e.message))?;
        for (i, n) in self.ip_networks.iter().enumerate() {
            check::net(&format!("spec.ipNetworks[{i}]"), n)?;
        }
        if let Some(n) = &self.node {
            if !acl::names::is_dns1123_subdomain(n) {
                return Err(Problem::new(
                    "spec.node",
                    format!("bad node name `{}`", n.escape_debug()),
                ));
            }
        }
        Ok(())
    }

    /// The endpoint as the policy engine sees it.
    pub fn to_acl(&self, meta: &Metadata) -> acl::WorkloadEndpoint {
        acl::WorkloadEndpoint {
            name: meta.name.clone(),
            namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
            interface: self.interface_name.clone(),
            ips: self
                .ip_networks
                .iter()
                .filter_map(|n| check::net("", n).ok())
                .collect(),
            labels: {
                // As the files loader: the service account is a label selectors see.
                let mut l = meta.labels.clone();
                if let Some(sa) = &self.service_account_name {
                    l.insert(acl::endpoint::LABEL_SERVICE_ACCOUNT.to_string(), sa.clone());
                }
                l
            },
        }
    }
}
