//! The JSON bodies of Docker's plugin protocols as libnetwork's remote driver
//! (`drivers/remote/api`) and remote IPAM (`ipams/remote/api`) define them: field names
//! exactly as on the wire (Go's exported names). Requests accept unknown fields (newer
//! dockerds add some) and missing ones (Go sends zero values or omits them); answers
//! leave out what is empty, as Go's `omitempty` does where libnetwork uses it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The content type of every plugin answer.
pub const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.2+json";

/// `Plugin.Activate`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Activate {
    /// The protocols this plugin serves.
    pub implements: Vec<String>,
}

/// `NetworkDriver.GetCapabilities`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCapabilities {
    /// `local`: networks live on one host (each host has its own).
    pub scope: String,
    /// `local` as well.
    pub connectivity_scope: String,
}

/// One address pool of a network (`IPv4Data`, `IPv6Data`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamData {
    /// The IPAM address space.
    pub address_space: String,
    /// The pool (CIDR).
    pub pool: String,
    /// The gateway (CIDR), when IPAM gave one.
    pub gateway: String,
    /// Other reserved addresses.
    #[serde(deserialize_with = "null_as_default")]
    pub aux_addresses: BTreeMap<String, String>,
}

/// `NetworkDriver.CreateNetwork`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateNetwork {
    /// Docker's network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Driver options and labels (`com.docker.network.generic`, …).
    #[serde(deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, Value>,
    /// IPv4 pools.
    #[serde(rename = "IPv4Data", deserialize_with = "null_as_default")]
    pub ipv4_data: Vec<IpamData>,
    /// IPv6 pools.
    #[serde(rename = "IPv6Data", deserialize_with = "null_as_default")]
    pub ipv6_data: Vec<IpamData>,
}

/// Requests that name only a network (`DeleteNetwork`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkRef {
    /// Docker's network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
}

/// The interface part of `CreateEndpoint` (request and answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointInterface {
    /// IPv4 address (CIDR) from IPAM.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// IPv6 address (CIDR) from IPAM.
    #[serde(rename = "AddressIPv6", skip_serializing_if = "String::is_empty")]
    pub address_ipv6: String,
    /// MAC address.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
}

/// `NetworkDriver.CreateEndpoint`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateEndpoint {
    /// Docker's network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Docker's endpoint ID.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The addresses IPAM gave (the driver may only add what is missing).
    #[serde(deserialize_with = "null_as_default")]
    pub interface: EndpointInterface,
    /// Endpoint options.
    #[serde(deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, Value>,
}

/// `NetworkDriver.CreateEndpoint`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateEndpointReply {
    /// Only fields Docker did not give (here the MAC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<EndpointInterface>,
}

/// Requests that name an endpoint (`DeleteEndpoint`, `EndpointOperInfo`, `Leave`,
/// `RevokeExternalConnectivity`, `ProgramExternalConnectivity`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointRef {
    /// Docker's network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Docker's endpoint ID.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// Options (`ProgramExternalConnectivity`).
    #[serde(deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, Value>,
}

/// `NetworkDriver.EndpointOperInfo`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointInfo {
    /// Free-form facts shown by `docker network inspect`.
    pub value: BTreeMap<String, Value>,
}

/// `NetworkDriver.Join`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Join {
    /// Docker's network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Docker's endpoint ID.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The sandbox's network namespace (it may not exist yet when Join is called).
    pub sandbox_key: String,
    /// Options.
    #[serde(deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, Value>,
}

/// The interface Docker moves into the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InterfaceName {
    /// Its name in the host namespace.
    pub src_name: String,
    /// The name prefix inside the sandbox (`eth` gives `eth0`, `eth1`, …).
    pub dst_prefix: String,
}

/// A route Docker adds in the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StaticRoute {
    /// Destination (CIDR).
    pub destination: String,
    /// 0: via `NextHop`; 1: connected (on the interface).
    pub route_type: u8,
    /// The next hop for type 0.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub next_hop: String,
}

/// Route type "connected" (libnetwork `types.CONNECTED`).
pub const ROUTE_CONNECTED: u8 = 1;

/// `NetworkDriver.Join`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinReply {
    /// The host interface to move.
    pub interface_name: InterfaceName,
    /// IPv4 default gateway (an address, no mask).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub gateway: String,
    /// IPv6 default gateway.
    #[serde(
        rename = "GatewayIPv6",
        skip_serializing_if = "String::is_empty",
        default
    )]
    pub gateway_ipv6: String,
    /// Routes to add before the gateway.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub static_routes: Vec<StaticRoute>,
    /// Docker must not add its own gateway network (docker_gwbridge).
    pub disable_gateway_service: bool,
}

/// `DiscoverNew` / `DiscoverDelete`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Discovery {
    /// What was discovered (1: node).
    pub discovery_type: i64,
    /// Its data.
    #[serde(deserialize_with = "null_as_default")]
    pub discovery_data: Value,
}

/// `IpamDriver.GetCapabilities`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamCapabilities {
    /// Whether RequestAddress needs the MAC.
    #[serde(rename = "RequiresMACAddress")]
    pub requires_mac_address: bool,
    /// Whether Docker must replay its allocations after a restart.
    pub requires_request_replay: bool,
}

/// `IpamDriver.GetDefaultAddressSpaces`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddressSpaces {
    /// For local-scope networks.
    pub local_default_address_space: String,
    /// For global-scope networks.
    pub global_default_address_space: String,
}

/// `IpamDriver.RequestPool`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestPool {
    /// The address space.
    pub address_space: String,
    /// `--subnet` (CIDR), or empty.
    pub pool: String,
    /// `--ip-range`, or empty.
    pub sub_pool: String,
    /// `--ipam-opt`.
    #[serde(deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, String>,
    /// An IPv6 pool.
    #[serde(rename = "V6")]
    pub v6: bool,
}

/// `IpamDriver.RequestPool`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PoolReply {
    /// The pool's ID for the calls that follow.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    /// The pool (CIDR).
    pub pool: String,
    /// Extra data; `com.docker.network.gateway` keeps Docker from asking for a gateway.
    pub data: BTreeMap<String, String>,
}

/// `IpamDriver.ReleasePool`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReleasePool {
    /// The pool's ID.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
}

/// `IpamDriver.RequestAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestAddress {
    /// The pool's ID.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    /// A specific address (`--ip`), or empty.
    pub address: String,
    /// `RequestAddressType` says `com.docker.network.gateway` for a gateway.
    #[serde(deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, String>,
}

/// The option key that marks a gateway request.
pub const REQUEST_ADDRESS_TYPE: &str = "RequestAddressType";
/// Its value for a gateway.
pub const GATEWAY_REQUEST: &str = "com.docker.network.gateway";

/// `IpamDriver.RequestAddress`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddressReply {
    /// The address with its mask (CIDR).
    pub address: String,
    /// Extra data.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub data: BTreeMap<String, String>,
}

/// `IpamDriver.ReleaseAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReleaseAddress {
    /// The pool's ID.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    /// The address (no mask).
    pub address: String,
}

/// `{"Err": "…"}`: the answer to a call that could not be done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrReply {
    /// The message Docker shows.
    pub err: String,
}

/// Go encodes a nil slice or map as `null`: read it as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
