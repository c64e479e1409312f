//! Pure helpers of the workload task: the host-side interface name of an attachment, the
//! CNI result for an allocation, the device routes and the policy endpoints of the
//! attachments, and the `tern endpoints` rows.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipam::{Allocation, AttachmentKey};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::fib::DeviceRoute;
use crate::cni::spec::{AddResult, Interface, IpConfig, ResultRoute};

/// Prefix of every host-side workload interface tern makes (`tern` + 11 hex = 15 bytes).
pub const HOST_IF_PREFIX: &str = "tern";

/// FNV-1a, 64 bits: stable across versions (names are also persisted with each record).
fn fnv64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The host end's name for an attachment: `tern` and 11 hex digits of a hash of the
/// container ID (and the interface, when it is not `eth0`), as Calico's `cali…`.
pub fn host_ifname(key: &AttachmentKey) -> String {
    let input = if key.ifname == "eth0" {
        key.container_id.clone()
    } else {
        format!("{}.{}", key.container_id, key.ifname)
    };
    let hex = format!("{:016x}", fnv64(&input));
    format!("{HOST_IF_PREFIX}{}", &hex[..11])
}

/// The container end's MAC: locally administered, unicast, from a hash of the key, so
/// every ADD of the same attachment reports the same result.
pub fn container_mac(key: &AttachmentKey) -> [u8; 6] {
    let h = fnv64(&format!("mac/{key}")).to_be_bytes();
    [0x02, h[0], h[1], h[2], h[3], h[4]]
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The container's addresses as host prefixes (/32, /128).
pub fn prefixes(a: &Allocation) -> Vec<IpNet> {
    a.addrs().map(IpNet::from).collect()
}

/// The ADD result (spec 1.0.0 shape) for an allocation.
pub fn add_result(key: &AttachmentKey, a: &Allocation, container_mac: &str) -> AddResult {
    let interfaces = vec![
        Interface {
            name: a.attachment.host_ifname.clone(),
            mac: "ee:ee:ee:ee:ee:ee".into(),
            sandbox: None,
        },
        Interface {
            name: key.ifname.clone(),
            mac: container_mac.to_string(),
            sandbox: Some(a.attachment.netns.clone()),
        },
    ];
    let mut ips = Vec::new();
    let mut routes = Vec::new();
    for ip in a.addrs() {
        let gw = match ip {
            IpAddr::V4(_) => controller::GATEWAY4.to_string(),
            IpAddr::V6(_) => controller::GATEWAY_V6.to_string(),
        };
        ips.push(IpConfig {
            address: IpNet::from(ip).to_string(),
            gateway: Some(gw.clone()),
            interface: Some(1),
        });
        routes.push(ResultRoute {
            dst: if ip.is_ipv4() { "0.0.0.0/0" } else { "::/0" }.into(),
            gw: Some(gw),
        });
    }
    AddResult {
        cni_version: String::new(),
        interfaces,
        ips,
        routes,
        dns: serde_json::Map::new(),
    }
}

/// Device routes for the wired attachments.
pub fn device_routes<'a>(
    wired: impl Iterator<Item = (&'a AttachmentKey, &'a Allocation)>,
) -> Vec<DeviceRoute> {
    let mut out = Vec::new();
    for (_, a) in wired {
        for p in prefixes(a) {
            out.push(DeviceRoute {
                prefix: p,
                interface: a.attachment.host_ifname.clone(),
                endpoint: format!("{}/{}", a.attachment.namespace, a.attachment.name),
            });
        }
    }
    out
}

/// Policy endpoints for the wired attachments.
pub fn policy_endpoints<'a>(
    wired: impl Iterator<Item = (&'a AttachmentKey, &'a Allocation)>,
) -> Vec<acl::WorkloadEndpoint> {
    wired
        .map(|(_, a)| acl::WorkloadEndpoint {
            name: a.attachment.name.clone(),
            namespace: a.attachment.namespace.clone(),
            interface: a.attachment.host_ifname.clone(),
            ips: prefixes(a),
            labels: a.attachment.labels.clone(),
        })
        .collect()
}

/// One row of `tern endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRow {
    /// Workload namespace.
    pub namespace: String,
    /// Workload name.
    pub name: String,
    /// CNI_CONTAINERID.
    pub container_id: String,
    /// CNI_IFNAME.
    pub ifname: String,
    /// Host end of the veth.
    pub interface: String,
    /// The container's addresses.
    pub addresses: Vec<String>,
    /// Labels policies select on.
    pub labels: BTreeMap<String, String>,
    /// The container's netns path.
    pub netns: String,
}

/// `tern endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointsView {
    /// Sorted by namespace/name.
    pub endpoints: Vec<EndpointRow>,
}

/// `tern endpoint label NS/NAME k=v k-`: set or (with a trailing `-`) remove labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRequest {
    /// Workload namespace.
    pub namespace: String,
    /// Workload name.
    pub name: String,
    /// Labels to set.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Labels to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// The row of an attachment.
pub fn endpoint_row(key: &AttachmentKey, a: &Allocation) -> EndpointRow {
    EndpointRow {
        namespace: a.attachment.namespace.clone(),
        name: a.attachment.name.clone(),
        container_id: key.container_id.clone(),
        ifname: key.ifname.clone(),
        interface: a.attachment.host_ifname.clone(),
        addresses: prefixes(a).iter().map(ToString::to_string).collect(),
        labels: a.attachment.labels.clone(),
        netns: a.attachment.netns.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_fit_ifnamsiz_and_differ_per_interface() {
        let k = |c: &str, i: &str| AttachmentKey {
            container_id: c.into(),
            ifname: i.into(),
        };
        let a = host_ifname(&k(&"f".repeat(64), "eth0"));
        assert_eq!(a.len(), 15);
        assert!(a.starts_with("tern"));
        assert_eq!(a, host_ifname(&k(&"f".repeat(64), "eth0")));
        assert_ne!(a, host_ifname(&k(&"f".repeat(64), "net1")));
        assert_ne!(a, host_ifname(&k(&"e".repeat(64), "eth0")));
    }
}
