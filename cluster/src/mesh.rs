//! This node's BGP neighbours from the cluster's resources, as Calico computes them:
//! the node-to-node mesh (every other `Node`, unless `BGPConfiguration default` turns it
//! off) and the `BGPPeer`s that apply to this node (global, `node: NAME`,
//! `nodeSelector`), each peering with `peerIP` or with the nodes its `peerSelector`
//! selects. Pure: snapshots in, a sorted peer list out.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use acl::selector::{Labels, Selector, Target};
use bgp::rib::PrefixLimit;
use bgp::speaker::{PeerConfig, PeerKind};
use bgp::wire::AddPathMode;
use resources::{BgpConfigurationSpec, NodeSpec, Resource, Spec};

use crate::Items;

/// This node as the mesh computation sees it.
#[derive(Debug, Clone, Default)]
pub struct Local {
    /// `nodeName`.
    pub name: String,
    /// Labels from the node file (used when the node's `Node` resource is not there).
    pub labels: Labels,
    /// `asNumber` of the node file, when it sets one (it wins over the cluster's).
    pub file_as: Option<u32>,
    /// This node's own addresses: never a peer.
    pub addresses: Vec<IpAddr>,
}

/// Session settings of peers that come from resources (the node file's
/// `nodeToNodeMesh` timers and port, when it has that section, for every such peer; its
/// password, prefix limits and ADD-PATH for the mesh peers).
#[derive(Debug, Clone)]
pub struct PeerDefaults {
    /// The port we connect to (179).
    pub port: u16,
    /// Hold time we offer.
    pub hold_time: Duration,
    /// Keepalive interval (`None`: a third of the negotiated hold time).
    pub keepalive: Option<Duration>,
    /// ConnectRetry back-off base.
    pub connect_retry: Duration,
    /// TCP-MD5 key of mesh sessions.
    pub mesh_password: Option<String>,
    /// Most prefixes accepted from a mesh peer.
    pub mesh_import_limit: Option<PrefixLimit>,
    /// Most prefixes received from a mesh peer.
    pub mesh_receive_limit: Option<PrefixLimit>,
    /// ADD-PATH of mesh sessions.
    pub mesh_add_path: Option<AddPathMode>,
}

impl PeerDefaults {
    /// The settings of `mesh`, a mesh peer as the node file's `nodeToNodeMesh` section
    /// configures one (its address and AS are not used).
    pub fn from_mesh(mesh: &PeerConfig) -> PeerDefaults {
        PeerDefaults {
            port: mesh.port,
            hold_time: mesh.hold_time,
            keepalive: mesh.keepalive,
            connect_retry: mesh.connect_retry,
            mesh_password: mesh.password.clone(),
            mesh_import_limit: mesh.import_limit,
            mesh_receive_limit: mesh.receive_limit,
            mesh_add_path: mesh.add_path,
        }
    }
}

impl Default for PeerDefaults {
    fn default() -> Self {
        let p = PeerConfig::new(IpAddr::from([0, 0, 0, 0]), 0);
        PeerDefaults {
            port: p.port,
            hold_time: p.hold_time,
            keepalive: p.keepalive,
            connect_retry: p.connect_retry,
            mesh_password: None,
            mesh_import_limit: None,
            mesh_receive_limit: None,
            mesh_add_path: None,
        }
    }
}

/// `BGPConfiguration default`, if there is one.
pub fn cluster_config(configs: &Items) -> Option<&BgpConfigurationSpec> {
    configs.iter().find_map(|(k, r)| match &r.spec {
        Spec::BgpConfiguration(c) if k.name == "default" => Some(c),
        _ => None,
    })
}

/// The node's spec and labels, by name.
fn nodes(items: &Items) -> impl Iterator<Item = (&str, &Labels, &NodeSpec)> {
    items.values().filter_map(|r| match &r.spec {
        Spec::Node(n) => Some((r.metadata.name.as_str(), &r.metadata.labels, n)),
        _ => None,
    })
}

/// This node's AS: the file's, else its `Node`'s `bgp.asNumber`, else `BGPConfiguration
/// default`'s `asNumber`, else 64512 (Calico's order).
pub fn local_as(local: &Local, nodes_items: &Items, configs: &Items) -> u32 {
    if let Some(asn) = local.file_as {
        return asn;
    }
    if let Some(asn) = nodes(nodes_items)
        .find(|(n, _, _)| *n == local.name)
        .and_then(|(_, _, s)| s.as_number())
    {
        return asn;
    }
    cluster_config(configs).map_or(resources::bgp::DEFAULT_AS, |c| c.as_number_or_default())
}

/// Whether the node-to-node mesh is on (`BGPConfiguration default`, default true).
pub fn mesh_enabled(configs: &Items) -> bool {
    cluster_config(configs).is_none_or(BgpConfigurationSpec::mesh_enabled)
}

fn matches(sel: &Selector, labels: &Labels) -> bool {
    sel.matches(Target {
        labels,
        global: true,
    })
}

/// Every peer this node should have, sorted by address (one per address: an explicit
/// `BGPPeer` wins over the mesh, the first `BGPPeer` by name over later ones).
/// `password` reads a `BGPPeer`'s `password.file` (`None`: unreadable, logged by the
/// caller; the peer is then left out rather than run without its key). Problems are
/// returned as notes for the log.
pub fn desired_peers(
    local: &Local,
    nodes_items: &Items,
    configs: &Items,
    bgp_peers: &Items,
    defaults: &PeerDefaults,
    password: impl Fn(&str) -> Option<String>,
) -> (Vec<PeerConfig>, Vec<String>) {
    let my_as = local_as(local, nodes_items, configs);
    let me = nodes(nodes_items).find(|(n, _, _)| *n == local.name);
    let my_labels = me.map_or(&local.labels, |(_, l, _)| l);
    let my_rr = me.and_then(|(_, _, s)| s.route_reflector_cluster_id());
    let mut notes = Vec::new();
    let mut out: BTreeMap<IpAddr, PeerConfig> = BTreeMap::new();
    let own = |a: &IpAddr| {
        local
            .addresses
            .iter()
            .any(|o| o.to_canonical() == a.to_canonical())
    };

    let base = |address: IpAddr, asn: u32, kind: PeerKind| {
        let mut p = PeerConfig::new(address, asn);
        p.kind = kind;
        p.port = defaults.port;
        p.hold_time = defaults.hold_time;
        p.keepalive = defaults.keepalive;
        p.connect_retry = defaults.connect_retry;
        p
    };

    // Explicit BGPPeers first: they win over the mesh for the same address.
    for r in bgp_peers.values() {
        let Spec::BgpPeer(spec) = &r.spec else {
            continue;
        };
        let name = &r.metadata.name;
        let applies = match (&spec.node, spec.node_selector()) {
            (Some(n), _) => *n == local.name,
            (None, Some(sel)) => matches(&sel, my_labels),
            (None, None) => spec.node_selector.is_none(),
        };
        if !applies {
            continue;
        }
        let key = match &spec.password {
            Some(pw) => match pw.file.as_deref().and_then(&password) {
                Some(k) => Some(k),
                None => {
                    notes.push(format!(
                        "BGPPeer {name}: password file unreadable; its peers are left out"
                    ));
                    continue;
                }
            },
            None => None,
        };
        let mut found: Vec<(IpAddr, u16, u32, bool)> = Vec::new();
        if let Some(sa) = spec.peer_addr() {
            let Some(asn) = spec.as_number else { continue };
            found.push((sa.ip(), sa.port(), asn, false));
        } else if let Some(sel) = spec.peer_selector() {
            for (n, labels, s) in nodes(nodes_items) {
                if n == local.name || !matches(&sel, labels) {
                    continue;
                }
                let asn = s.as_number().unwrap_or(my_as);
                // A route reflector's peers that are not reflectors of its cluster
                // are its clients (Calico's rule).
                let client = my_rr.is_some() && s.route_reflector_cluster_id() != my_rr;
                for a in [s.ipv4(), s.ipv6()].into_iter().flatten() {
                    found.push((a, defaults.port, asn, client));
                }
            }
        } else {
            notes.push(format!(
                "BGPPeer {name}: neither a usable peerIP nor peerSelector"
            ));
        }
        for (address, port, asn, client) in found {
            if own(&address) || out.contains_key(&address) {
                continue;
            }
            let mut p = base(address, asn, PeerKind::Global);
            p.port = port;
            p.password = key.clone();
            p.route_reflector_client = client && asn == my_as;
            p.description = Some(format!("BGPPeer {name}"));
            out.insert(address, p);
        }
    }

    if mesh_enabled(configs) {
        let my_v4 = local.addresses.iter().any(IpAddr::is_ipv4);
        let my_v6 = local.addresses.iter().any(IpAddr::is_ipv6);
        for (n, _, s) in nodes(nodes_items) {
            if n == local.name {
                continue;
            }
            let asn = s.as_number().unwrap_or(my_as);
            let fams = [(s.ipv4(), my_v4), (s.ipv6(), my_v6)];
            for a in fams.into_iter().filter_map(|(a, ok)| a.filter(|_| ok)) {
                if own(&a) || out.contains_key(&a) {
                    continue;
                }
                let mut p = base(a, asn, PeerKind::Mesh);
                p.password = defaults.mesh_password.clone();
                p.import_limit = defaults.mesh_import_limit;
                p.receive_limit = defaults.mesh_receive_limit;
                p.add_path = defaults.mesh_add_path;
                p.description = Some(mesh_description(n));
                out.insert(a, p);
            }
        }
    }
    (out.into_values().collect(), notes)
}

/// The description of the mesh peer of node `name` (shown by `tern status`).
pub fn mesh_description(name: &str) -> String {
    format!("Node {name}")
}

/// The node name of a mesh peer, from its [`mesh_description`].
pub fn mesh_node(description: &str) -> Option<&str> {
    description.strip_prefix("Node ")
}

/// The `Node` this node registers: its BGP addresses (an IPv4 `/32`, an IPv6 `/128`),
/// its AS when the file sets one, its labels.
pub fn own_node(local: &Local, route_reflector_cluster_id: Option<std::net::Ipv4Addr>) -> Resource {
    let v4 = local.addresses.iter().find(|a| a.is_ipv4());
    let v6 = local.addresses.iter().find(|a| a.is_ipv6());
    let mut metadata = resources::Metadata::named(&local.name, None);
    metadata.labels = local.labels.clone();
    Resource {
        kind: resources::Kind::Node,
        metadata,
        spec: Spec::Node(NodeSpec {
            bgp: Some(resources::bgp::NodeBgp {
                ipv4_address: v4.map(|a| format!("{a}/32")),
                ipv6_address: v6.map(|a| format!("{a}/128")),
                as_number: local.file_as,
                route_reflector_cluster_id: route_reflector_cluster_id.map(|c| c.to_string()),
                ipv4_ipip_tunnel_addr: None,
            }),
            ..NodeSpec::default()
        }),
    }
}

#[cfg(test)]
#[path = "mesh_tests.rs"]
mod tests;
