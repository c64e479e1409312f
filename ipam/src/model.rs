//! The plain data IPAM hands out and keeps: [`Allocation`] (addresses plus the
//! [`Attachment`] metadata the agent needs to rebuild a workload after a restart),
//! [`Request`] (what ADD asks for) and [`Record`] (one persisted allocation).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::AttachmentKey;

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// Metadata about the workload behind an allocation. IPAM stores it and hands it back; it
/// never interprets it. The agent uses it to rebuild interfaces, routes and policy after a
/// restart. Unknown fields in stored files are ignored; missing ones take their defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Attachment {
    /// The container's network namespace path (`CNI_NETNS`).
    pub netns: String,
    /// The host-side interface name (the veth in the host namespace).
    pub host_ifname: String,
    /// The workload's namespace (`K8S_POD_NAMESPACE`, or a default).
    pub namespace: String,
    /// The workload's name (`K8S_POD_NAME`, or the container ID).
    pub name: String,
    /// Labels that policies select.
    pub labels: BTreeMap<String, String>,
    /// Anything else the agent wants kept with the allocation (`null` when unused).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub extra: serde_json::Value,
}

/// What one attachment holds: at most one IPv4 and one IPv6 address, and its metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Allocation {
    /// The IPv4 address (present when the node has an IPv4 block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Ipv4Addr>,
    /// The IPv6 address (present when the node has an IPv6 block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Addr>,
    /// The workload metadata.
    #[serde(default)]
    pub attachment: Attachment,
}

impl Allocation {
    /// The addresses, IPv4 first.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> {
        self.ipv4
            .map(IpAddr::V4)
            .into_iter()
            .chain(self.ipv6.map(IpAddr::V6))
    }
}

/// What an ADD asks for. `Request::default()` asks for any free address in each family.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// Metadata stored with a new allocation (ignored when the key already holds one; use
    /// [`crate::Allocator::set_attachment`] to change it).
    pub attachment: Attachment,
    /// A specific IPv4 address instead of the next free one (e.g. Docker's `RequestAddress`).
    pub ipv4: Option<Ipv4Addr>,
    /// A specific IPv6 address instead of the next free one.
    pub ipv6: Option<Ipv6Addr>,
}

impl Request {
    /// A request for any free addresses, storing `attachment` with them.
    pub fn new(attachment: Attachment) -> Self {
        Request {
            attachment,
            ..Request::default()
        }
    }
}

/// One allocation with its key: the unit that is persisted and restored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Whose allocation.
    pub key: AttachmentKey,
    /// The addresses and metadata.
    pub allocation: Allocation,
}
