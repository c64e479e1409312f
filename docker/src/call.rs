//! One plugin call: the URL path (`/NetworkDriver.Join`) and JSON body decoded into a
//! [`Call`], the calls whose answer is fixed answered here, and the outcome of a call
//! ([`Outcome`]) turned into the HTTP status and JSON body Docker expects.
//!
//! Docker's contract (libnetwork `docs/remote.md`): a request that cannot be decoded gets
//! an HTTP error status with `{"Err": …}` (what libnetwork's plugin client reads from any
//! non-200 answer); a request that was understood but cannot be done gets 200 with the
//! protocol's error field: `{"Err": …}` for the network driver, `{"Error": …}` for IPAM
//! (libnetwork's `ipams/remote/api.Response` names it so: an `Err` there is ignored and
//! Docker goes on with an empty answer).

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::protocol::*;

/// A decoded plugin call.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `Plugin.Activate`.
    Activate,
    /// `NetworkDriver.GetCapabilities`.
    NetworkCapabilities,
    /// `NetworkDriver.CreateNetwork`.
    CreateNetwork(CreateNetwork),
    /// `NetworkDriver.DeleteNetwork`.
    DeleteNetwork(NetworkRef),
    /// `NetworkDriver.AllocateNetwork` / `FreeNetwork` (global scope only; nothing to do).
    AllocateNetwork,
    /// `NetworkDriver.CreateEndpoint`.
    CreateEndpoint(CreateEndpoint),
    /// `NetworkDriver.EndpointOperInfo`.
    EndpointOperInfo(EndpointRef),
    /// `NetworkDriver.DeleteEndpoint`.
    DeleteEndpoint(EndpointRef),
    /// `NetworkDriver.Join`.
    Join(Join),
    /// `NetworkDriver.Leave`.
    Leave(EndpointRef),
    /// `NetworkDriver.DiscoverNew` / `DiscoverDelete`.
    Discover(Discovery),
    /// `NetworkDriver.ProgramExternalConnectivity`.
    ProgramExternalConnectivity(EndpointRef),
    /// `NetworkDriver.RevokeExternalConnectivity`.
    RevokeExternalConnectivity(EndpointRef),
    /// `IpamDriver.GetCapabilities`.
    IpamCapabilities,
    /// `IpamDriver.GetDefaultAddressSpaces`.
    AddressSpaces,
    /// `IpamDriver.RequestPool`.
    RequestPool(RequestPool),
    /// `IpamDriver.ReleasePool`.
    ReleasePool(ReleasePool),
    /// `IpamDriver.RequestAddress`.
    RequestAddress(RequestAddress),
    /// `IpamDriver.ReleaseAddress`.
    ReleaseAddress(ReleaseAddress),
}

/// Why a request was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No such call.
    #[error("unknown plugin call {0}")]
    UnknownCall(String),
    /// The body is not the call's JSON.
    #[error("{call}: bad request body: {message}")]
    BadBody {
        /// The call.
        call: String,
        /// serde_json's message (line and column).
        message: String,
    },
}

/// The local address space tern's IPAM names.
pub const LOCAL_ADDRESS_SPACE: &str = "tern-local";
/// The global address space (tern has none of its own; Docker still asks).
pub const GLOBAL_ADDRESS_SPACE: &str = "tern-global";

fn body<T: DeserializeOwned + Default>(call: &str, bytes: &[u8]) -> Result<T, DecodeError> {
    let text = bytes.trim_ascii();
    if text.is_empty() || text == b"null" {
        return Ok(T::default());
    }
    serde_json::from_slice(text).map_err(|e| DecodeError::BadBody {
        call: call.to_string(),
        message: e.to_string(),
    })
}

/// Calls that carry no body: anything but empty, `null` or a JSON object is refused.
fn no_body(call: &str, bytes: &[u8]) -> Result<(), DecodeError> {
    body::<serde_json::Map<String, Value>>(call, bytes).map(|_| ())
}

impl Call {
    /// Decodes the call at `path` (`/NetworkDriver.CreateNetwork`) with its body.
    pub fn decode(path: &str, bytes: &[u8]) -> Result<Call, DecodeError> {
        let name = path.trim_start_matches('/');
        let call = match name {
            "Plugin.Activate" => no_body(name, bytes).map(|_| Call::Activate)?,
            "NetworkDriver.GetCapabilities" => {
                no_body(name, bytes).map(|_| Call::NetworkCapabilities)?
            }
            "NetworkDriver.CreateNetwork" => Call::CreateNetwork(body(name, bytes)?),
            "NetworkDriver.DeleteNetwork" => Call::DeleteNetwork(body(name, bytes)?),
            "NetworkDriver.AllocateNetwork" | "NetworkDriver.FreeNetwork" => {
                no_body(name, bytes).map(|_| Call::AllocateNetwork)?
            }
            "NetworkDriver.CreateEndpoint" => Call::CreateEndpoint(body(name, bytes)?),
            "NetworkDriver.EndpointOperInfo" => Call::EndpointOperInfo(body(name, bytes)?),
            "NetworkDriver.DeleteEndpoint" => Call::DeleteEndpoint(body(name, bytes)?),
            "NetworkDriver.Join" => Call::Join(body(name, bytes)?),
            "NetworkDriver.Leave" => Call::Leave(body(name, bytes)?),
            "NetworkDriver.DiscoverNew" | "NetworkDriver.DiscoverDelete" => {
                Call::Discover(body(name, bytes)?)
            }
            "NetworkDriver.ProgramExternalConnectivity" => {
                Call::ProgramExternalConnectivity(body(name, bytes)?)
            }
            "NetworkDriver.RevokeExternalConnectivity" => {
                Call::RevokeExternalConnectivity(body(name, bytes)?)
            }
            "IpamDriver.GetCapabilities" => no_body(name, bytes).map(|_| Call::IpamCapabilities)?,
            "IpamDriver.GetDefaultAddressSpaces" => {
                no_body(name, bytes).map(|_| Call::AddressSpaces)?
            }
            "IpamDriver.RequestPool" => Call::RequestPool(body(name, bytes)?),
            "IpamDriver.ReleasePool" => Call::ReleasePool(body(name, bytes)?),
            "IpamDriver.RequestAddress" => Call::RequestAddress(body(name, bytes)?),
            "IpamDriver.ReleaseAddress" => Call::ReleaseAddress(body(name, bytes)?),
            other => return Err(DecodeError::UnknownCall(other.to_string())),
        };
        Ok(call)
    }

    /// The answer of a call that needs no state (activation, capabilities, address
    /// spaces, discovery, the global-scope calls); `None` for the others.
    pub fn fixed_answer(&self) -> Option<Value> {
        let v = match self {
            Call::Activate => to_value(&Activate {
                implements: vec!["NetworkDriver".into(), "IpamDriver".into()],
            }),
            Call::NetworkCapabilities => to_value(&NetworkCapabilities {
                scope: "local".into(),
                connectivity_scope: "local".into(),
            }),
            Call::IpamCapabilities => to_value(&IpamCapabilities::default()),
            Call::AddressSpaces => to_value(&AddressSpaces {
                local_default_address_space: LOCAL_ADDRESS_SPACE.into(),
                global_default_address_space: GLOBAL_ADDRESS_SPACE.into(),
            }),
            Call::AllocateNetwork | Call::Discover(_) => Value::Object(Default::default()),
            _ => return None,
        };
        Some(v)
    }
}

/// An answer as JSON.
pub fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_else(|e| err_body(&format!("encoding the answer: {e}")))
}

/// `{"Err": message}`.
pub fn err_body(message: &str) -> Value {
    serde_json::json!({ "Err": message })
}

/// The HTTP status and JSON body for a decoded-or-not request and the driver's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// HTTP status code.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

impl Outcome {
    /// A successful answer.
    pub fn ok(body: Value) -> Outcome {
        Outcome { status: 200, body }
    }

    /// A call at `path` that was understood but could not be done.
    pub fn failed(path: &str, message: &str) -> Outcome {
        let body = if path.trim_start_matches('/').starts_with("IpamDriver.") {
            serde_json::json!({ "Error": message })
        } else {
            err_body(message)
        };
        Outcome { status: 200, body }
    }

    /// A request that could not be decoded (404 for an unknown call, 400 otherwise).
    pub fn undecodable(e: &DecodeError) -> Outcome {
        let status = match e {
            DecodeError::UnknownCall(_) => 404,
            DecodeError::BadBody { .. } => 400,
        };
        Outcome {
            status,
            body: err_body(&e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bodies as dockerd 20.10's remote driver sends them (Go's encoding/json of
    /// libnetwork's `api` structs: nil maps as `null`).
    #[test]
    fn decodes_dockerd_bodies() {
        let c = Call::decode(
            "/NetworkDriver.CreateNetwork",
            br#"{"NetworkID":"3c8f","Options":{"com.docker.network.enable_ipv6":false,"com.docker.network.generic":{}},"IPv4Data":[{"AddressSpace":"tern-local","Pool":"10.244.0.0/16","Gateway":"0.0.0.0/0","AuxAddresses":null}],"IPv6Data":null}"#,
        )
        .unwrap();
        let Call::CreateNetwork(n) = c else {
            panic!("{c:?}")
        };
        assert_eq!(n.network_id, "3c8f");
        assert_eq!(n.ipv4_data[0].pool, "10.244.0.0/16");
        assert!(n.ipv6_data.is_empty());

        let c = Call::decode(
            "/NetworkDriver.CreateEndpoint",
            br#"{"NetworkID":"3c8f","EndpointID":"9a1b","Interface":{"Address":"10.244.1.2/32","AddressIPv6":"","MacAddress":""},"Options":{"com.docker.network.endpoint.exposedports":[],"com.docker.network.portmap":[]}}"#,
        )
        .unwrap();
        let Call::CreateEndpoint(e) = c else {
            panic!("{c:?}")
        };
        assert_eq!(e.interface.address, "10.244.1.2/32");

        let c = Call::decode(
            "/IpamDriver.RequestAddress",
            br#"{"PoolID":"tern-ipv4","Address":"","Options":null}"#,
        )
        .unwrap();
        assert_eq!(
            c,
            Call::RequestAddress(RequestAddress {
                pool_id: "tern-ipv4".into(),
                ..Default::default()
            })
        );
        assert_eq!(
            Call::decode("/Plugin.Activate", b"").unwrap(),
            Call::Activate
        );
        assert_eq!(
            Call::decode("/NetworkDriver.GetCapabilities", b"null").unwrap(),
            Call::NetworkCapabilities
        );
    }

    #[test]
    fn bad_requests_are_refused_with_err() {
        let e = Call::decode("/NetworkDriver.Join", b"{\"NetworkID\": 12").unwrap_err();
        let o = Outcome::undecodable(&e);
        assert_eq!(o.status, 400);
        assert!(o.body["Err"]
            .as_str()
            .unwrap()
            .contains("NetworkDriver.Join"));
        let e = Call::decode("/NetworkDriver.Join", b"{\"NetworkID\": 12}").unwrap_err();
        assert!(matches!(e, DecodeError::BadBody { .. }));
        let e = Call::decode("/NetworkDriver.Join", b"[1,2]").unwrap_err();
        assert!(matches!(e, DecodeError::BadBody { .. }));
        let e = Call::decode("/Plugin.Activate", b"\"x\"").unwrap_err();
        assert!(matches!(e, DecodeError::BadBody { .. }));
        let e = Call::decode("/NetworkDriver.Nope", b"{}").unwrap_err();
        assert_eq!(Outcome::undecodable(&e).status, 404);
    }

    #[test]
    fn fixed_answers() {
        assert_eq!(
            Call::Activate.fixed_answer().unwrap(),
            serde_json::json!({"Implements": ["NetworkDriver", "IpamDriver"]})
        );
        assert_eq!(
            Call::NetworkCapabilities.fixed_answer().unwrap(),
            serde_json::json!({"Scope": "local", "ConnectivityScope": "local"})
        );
        assert_eq!(
            Call::IpamCapabilities.fixed_answer().unwrap(),
            serde_json::json!({"RequiresMACAddress": false, "RequiresRequestReplay": false})
        );
        assert!(Call::Join(Join::default()).fixed_answer().is_none());
    }

    #[test]
    fn join_reply_shape() {
        let r = JoinReply {
            interface_name: InterfaceName {
                src_name: "tmp0123".into(),
                dst_prefix: "eth".into(),
            },
            gateway: "169.254.1.1".into(),
            static_routes: vec![StaticRoute {
                destination: "169.254.1.1/32".into(),
                route_type: ROUTE_CONNECTED,
                next_hop: String::new(),
            }],
            disable_gateway_service: true,
            ..Default::default()
        };
        assert_eq!(
            to_value(&r),
            serde_json::json!({
                "InterfaceName": {"SrcName": "tmp0123", "DstPrefix": "eth"},
                "Gateway": "169.254.1.1",
                "StaticRoutes": [{"Destination": "169.254.1.1/32", "RouteType": 1}],
                "DisableGatewayService": true
            })
        );
    }
}
