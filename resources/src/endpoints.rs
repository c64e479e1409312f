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
    /// Refused: named ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<serde_json::Value>,
}

impl HostEndpointSpec {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        refused("spec.ports", &self.ports, "no named ports")?;
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
    /// Refused: named ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<serde_json::Value>,
}

impl WorkloadEndpointSpec {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        refused("spec.ipNATs", &self.ip_nats, "no 1:1 NAT")?;
        refused("spec.ports", &self.ports, "no named ports")?;
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
            labels: meta.labels.clone(),
        }
    }
}
