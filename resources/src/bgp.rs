//! The BGP kinds: `Node` (a host's BGP addresses and AS), `BGPConfiguration` (the
//! cluster's AS and mesh switch) and `BGPPeer` (neighbours for all nodes or some).
//! Raw fields stay as written (so a `get` shows what was applied); the accessors
//! return parsed values, which cannot fail once [`crate::Resource`] validated them.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::check::{self, refused};
use crate::Problem;

/// `Node.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeSpec {
    /// BGP settings of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<NodeBgp>,
    /// The node's addresses (informational).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    /// Accepted and kept (Kubernetes references), unused by tern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orch_refs: Option<serde_json::Value>,
    /// Refused: tern has no VXLAN tunnel device per node.
    #[serde(
        default,
        rename = "ipv4VXLANTunnelAddr",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_vxlan_tunnel_addr: Option<serde_json::Value>,
    /// Refused: Wireguard is not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard: Option<serde_json::Value>,
}

/// `Node.spec.bgp`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeBgp {
    /// IPv4 address (with its subnet length, as Calico writes it: `192.0.2.1/24`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    /// IPv6 address (with its subnet length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    /// The node's AS; the cluster's (`BGPConfiguration default`) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_number: Option<u32>,
    /// Route-reflector cluster ID: the node is a route reflector when set.
    #[serde(
        default,
        rename = "routeReflectorClusterID",
        skip_serializing_if = "Option::is_none"
    )]
    pub route_reflector_cluster_id: Option<String>,
    /// Refused: tern has no IP-in-IP tunnel device.
    #[serde(
        default,
        rename = "ipv4IPIPTunnelAddr",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_ipip_tunnel_addr: Option<serde_json::Value>,
}

/// One of `Node.spec.addresses`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeAddress {
    /// Address, optionally with a length.
    pub address: String,
    /// `InternalIP`, `ExternalIP`, `CalicoNodeIP` (free text for tern).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl NodeSpec {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        refused(
            "spec.ipv4VXLANTunnelAddr",
            &self.ipv4_vxlan_tunnel_addr,
            "no VXLAN tunnel device",
        )?;
        refused("spec.wireguard", &self.wireguard, "no Wireguard")?;
        if let Some(b) = &self.bgp {
            refused(
                "spec.bgp.ipv4IPIPTunnelAddr",
                &b.ipv4_ipip_tunnel_addr,
                "no IP-in-IP tunnel device",
            )?;
            if let Some(a) = &b.ipv4_address {
                let (ip, _) = check::address_in_net("spec.bgp.ipv4Address", a)?;
                if !ip.is_ipv4() {
                    return Err(Problem::new("spec.bgp.ipv4Address", "not an IPv4 address"));
                }
            }
            if let Some(a) = &b.ipv6_address {
                let (ip, _) = check::address_in_net("spec.bgp.ipv6Address", a)?;
                if !ip.is_ipv6() {
                    return Err(Problem::new("spec.bgp.ipv6Address", "not an IPv6 address"));
                }
            }
            if let Some(asn) = b.as_number {
                check::as_number("spec.bgp.asNumber", asn)?;
            }
            if let Some(id) = &b.route_reflector_cluster_id {
                id.parse::<std::net::Ipv4Addr>().map_err(|_| {
                    Problem::new(
                        "spec.bgp.routeReflectorClusterID",
                        format!("bad cluster ID `{}` (an IPv4 address)", id.escape_debug()),
                    )
                })?;
            }
        }
        for (i, a) in self.addresses.iter().enumerate() {
            check::address_in_net(&format!("spec.addresses[{i}].address"), &a.address)?;
        }
        Ok(())
    }

    /// The node's IPv4 BGP address.
    pub fn ipv4(&self) -> Option<IpAddr> {
        let a = self.bgp.as_ref()?.ipv4_address.as_deref()?;
        check::address_in_net("", a).ok().map(|(ip, _)| ip)
    }

    /// The node's IPv6 BGP address.
    pub fn ipv6(&self) -> Option<IpAddr> {
        let a = self.bgp.as_ref()?.ipv6_address.as_deref()?;
        check::address_in_net("", a).ok().map(|(ip, _)| ip)
    }

    /// The subnets the node's BGP addresses are in (for `CrossSubnet` decisions).
    pub fn subnets(&self) -> Vec<IpNet> {
        let Some(b) = &self.bgp else {
            return Vec::new();
        };
        [&b.ipv4_address, &b.ipv6_address]
            .into_iter()
            .flatten()
            .filter_map(|a| check::address_in_net("", a).ok().map(|(_, n)| n))
            .collect()
    }

    /// The node's own AS, when it has one.
    pub fn as_number(&self) -> Option<u32> {
        self.bgp.as_ref()?.as_number
    }

    /// The route-reflector cluster ID, when the node is a route reflector.
    pub fn route_reflector_cluster_id(&self) -> Option<std::net::Ipv4Addr> {
        self.bgp
            .as_ref()?
            .route_reflector_cluster_id
            .as_deref()?
            .parse()
            .ok()
    }
}

/// `BGPConfiguration.spec`. The object named `default` holds the cluster's settings;
/// `node.NAME` one node's (as Calico).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BgpConfigurationSpec {
    /// The cluster's AS (default 64512, as Calico).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_number: Option<u32>,
    /// Node-to-node full mesh (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_to_node_mesh_enabled: Option<bool>,
    /// Accepted and kept; tern's log level comes from its command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_severity_screen: Option<String>,
    /// BGP port (default 179).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u16>,
    /// Refused: no Kubernetes services.
    #[serde(
        default,
        rename = "serviceClusterIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_cluster_ips: Option<serde_json::Value>,
    /// Refused: no Kubernetes services.
    #[serde(
        default,
        rename = "serviceExternalIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_external_ips: Option<serde_json::Value>,
    /// Refused: no Kubernetes services.
    #[serde(
        default,
        rename = "serviceLoadBalancerIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_load_balancer_ips: Option<serde_json::Value>,
    /// Refused: BGP communities are not attached by tern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communities: Option<serde_json::Value>,
    /// Refused: BGP communities are not attached by tern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_advertisements: Option<serde_json::Value>,
    /// Refused: a Kubernetes secret; the mesh's key is the node file's
    /// `nodeToNodeMesh.password.file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_mesh_password: Option<serde_json::Value>,
    /// Refused: the node file's `gracefulRestart.restartTime` sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_mesh_max_restart_time: Option<serde_json::Value>,
}

/// Calico's default AS.
pub const DEFAULT_AS: u32 = 64512;

impl BgpConfigurationSpec {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        let svc = "no Kubernetes services to advertise";
        refused("spec.serviceClusterIPs", &self.service_cluster_ips, svc)?;
        refused("spec.serviceExternalIPs", &self.service_external_ips, svc)?;
        refused(
            "spec.serviceLoadBalancerIPs",
            &self.service_load_balancer_ips,
            svc,
        )?;
        refused("spec.communities", &self.communities, "no BGP communities")?;
        refused(
            "spec.prefixAdvertisements",
            &self.prefix_advertisements,
            "no BGP communities",
        )?;
        refused(
            "spec.nodeMeshPassword",
            &self.node_mesh_password,
            "no Kubernetes secrets; set `nodeToNodeMesh: { password: { file: PATH } }` in the node files",
        )?;
        refused(
            "spec.nodeMeshMaxRestartTime",
            &self.node_mesh_max_restart_time,
            "set `gracefulRestart: { restartTime: … }` in the node files",
        )?;
        if let Some(asn) = self.as_number {
            check::as_number("spec.asNumber", asn)?;
        }
        if let Some(s) = &self.log_severity_screen {
            if !matches!(
                s.as_str(),
                "Trace" | "Debug" | "Info" | "Warning" | "Error" | "Fatal"
            ) {
                return Err(Problem::new(
                    "spec.logSeverityScreen",
                    format!(
                        "unknown severity `{}` (Debug, Info, Warning, Error, Fatal)",
                        s.escape_debug()
                    ),
                ));
            }
        }
        if self.listen_port == Some(0) {
            return Err(Problem::new("spec.listenPort", "port 0"));
        }
        Ok(())
    }

    /// The AS, or Calico's default.
    pub fn as_number_or_default(&self) -> u32 {
        self.as_number.unwrap_or(DEFAULT_AS)
    }

    /// Whether the full mesh is on (default true).
    pub fn mesh_enabled(&self) -> bool {
        self.node_to_node_mesh_enabled.unwrap_or(true)
    }
}

/// `BGPPeer.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BgpPeerSpec {
    /// The peer's address (`IP`, `IP:PORT`, `[IPv6]:PORT`); or use `peerSelector`.
    #[serde(default, rename = "peerIP", skip_serializing_if = "Option::is_none")]
    pub peer_ip: Option<String>,
    /// The peer's AS (required with `peerIP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_number: Option<u32>,
    /// Only this node peers (else every node, or `nodeSelector`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Nodes that peer (a selector over Node labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<String>,
    /// Peer with the nodes this selects (their Node addresses and AS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_selector: Option<String>,
    /// TCP-MD5 password: `{file: PATH}` on every node (tern), not a Kubernetes secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<BgpPassword>,
    /// Accepted: `UseNodeIP` (default) or `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    /// Refused with a message (tern always sets itself as next hop towards peers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_original_next_hop: Option<serde_json::Value>,
    /// Refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_allowed_local_as_numbers: Option<serde_json::Value>,
    /// Refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<serde_json::Value>,
    /// Refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachable_by: Option<serde_json::Value>,
    /// Refused (BFD is configured in the node file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_detection_mode: Option<serde_json::Value>,
}

/// `BGPPeer.spec.password`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BgpPassword {
    /// A file on every node that holds the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Refused: tern reads no Kubernetes secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<serde_json::Value>,
}

impl BgpPeerSpec {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        refused(
            "spec.keepOriginalNextHop",
            &self.keep_original_next_hop,
            "tern always advertises itself as the next hop to a BGPPeer; remove the field",
        )?;
        refused(
            "spec.numAllowedLocalASNumbers",
            &self.num_allowed_local_as_numbers,
            "no AS-path loop allowance",
        )?;
        refused("spec.filters", &self.filters, "no BGPFilter resources")?;
        refused(
            "spec.reachableBy",
            &self.reachable_by,
            "no next-hop routes to peers",
        )?;
        refused(
            "spec.failureDetectionMode",
            &self.failure_detection_mode,
            "configure BFD in the node file",
        )?;
        match (&self.peer_ip, &self.peer_selector) {
            (Some(_), Some(_)) => {
                return Err(Problem::new(
                    "spec.peerSelector",
                    "give either `peerIP` or `peerSelector`, not both",
                ))
            }
            (None, None) => {
                return Err(Problem::new(
                    "spec",
                    "a BGPPeer needs `peerIP` or `peerSelector`",
                ))
            }
            (Some(ip), None) => {
                parse_peer(ip).ok_or_else(|| {
                    Problem::new(
                        "spec.peerIP",
                        format!(
                            "bad peer address `{}` (IP, IP:PORT or [IPv6]:PORT)",
                            ip.escape_debug()
                        ),
                    )
                })?;
                if self.as_number.is_none() {
                    return Err(Problem::new("spec", "`asNumber` is required with `peerIP`"));
                }
            }
            (None, Some(s)) => {
                check::selector("spec.peerSelector", s)?;
            }
        }
        if let Some(asn) = self.as_number {
            check::as_number("spec.asNumber", asn)?;
        }
        if self.node.is_some() && self.node_selector.is_some() {
            return Err(Problem::new(
                "spec.nodeSelector",
                "give either `node` or `nodeSelector`, not both",
            ));
        }
        if let Some(n) = &self.node {
            if !acl::names::is_dns1123_subdomain(n) {
                return Err(Problem::new(
                    "spec.node",
                    format!("bad node name `{}`", n.escape_debug()),
                ));
            }
        }
        if let Some(s) = &self.node_selector {
            check::selector("spec.nodeSelector", s)?;
        }
        if let Some(p) = &self.password {
            refused(
                "spec.password.secretKeyRef",
                &p.secret_key_ref,
                "tern reads no Kubernetes secrets; use `password: {file: PATH}` with the key on every node",
            )?;
            if p.file.as_deref().is_none_or(str::is_empty) {
                return Err(Problem::new("spec.password", "`file` is required"));
            }
        }
        if let Some(s) = &self.source_address {
            if s != "UseNodeIP" && s != "None" {
                return Err(Problem::new(
                    "spec.sourceAddress",
                    format!("unknown value `{}` (UseNodeIP or None)", s.escape_debug()),
                ));
            }
        }
        Ok(())
    }

    /// The peer's address and port (179 unless given).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        parse_peer(self.peer_ip.as_deref()?)
    }

    /// The node selector (`node: NAME` is `projectcalico.org/name == 'NAME'` in
    /// Calico; here the caller compares names). None = every node.
    pub fn node_selector(&self) -> Option<acl::selector::Selector> {
        acl::selector::parse(self.node_selector.as_deref()?).ok()
    }

    /// The peer selector.
    pub fn peer_selector(&self) -> Option<acl::selector::Selector> {
        acl::selector::parse(self.peer_selector.as_deref()?).ok()
    }
}

fn parse_peer(text: &str) -> Option<SocketAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 179));
    }
    let sa: SocketAddr = text.parse().ok()?;
    (sa.port() != 0).then_some(sa)
}
