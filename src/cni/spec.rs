//! The CNI wire types tern needs (spec 1.0.0 and 1.1.0): the network configuration a
//! plugin reads on stdin, the error object and its codes, the ADD result, and the request
//! and reply that travel between the plugin and the agent over the control socket.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The spec versions tern speaks, oldest first.
pub const SUPPORTED_VERSIONS: [&str; 2] = ["1.0.0", "1.1.0"];

/// CNI error codes (spec, "Error"), plus tern's use of them.
pub mod code {
    /// Incompatible CNI version.
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    /// Container unknown or does not exist (e.g. its netns is gone).
    pub const UNKNOWN_CONTAINER: u32 = 3;
    /// Invalid necessary environment variables (CNI_COMMAND, CNI_CONTAINERID, …).
    pub const INVALID_ENV: u32 = 4;
    /// I/O failure (reading stdin, netlink, the state directory).
    pub const IO_FAILURE: u32 = 5;
    /// Failed to decode content (stdin is not JSON).
    pub const DECODE: u32 = 6;
    /// Invalid network configuration (and, in tern, no address left in a block).
    pub const INVALID_CONFIG: u32 = 7;
    /// Try again later: the agent cannot be reached.
    pub const TRY_AGAIN_LATER: u32 = 11;
    /// STATUS: the plugin cannot serve ADD now (the agent is down).
    pub const NOT_AVAILABLE: u32 = 50;
}

/// A CNI error object, printed on stdout with a non-zero exit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniError {
    /// The spec version the reply is written in.
    #[serde(default)]
    pub cni_version: String,
    /// Error code.
    pub code: u32,
    /// Short message.
    pub msg: String,
    /// Longer explanation, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl CniError {
    /// An error with `code` and `msg`.
    pub fn new(code: u32, msg: impl Into<String>) -> CniError {
        CniError {
            cni_version: String::new(),
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// Adds details.
    pub fn details(mut self, d: impl Into<String>) -> CniError {
        self.details = d.into();
        self
    }
}

/// `args.cni.labels` entry (CNI conventions).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LabelArg {
    /// Label key.
    pub key: String,
    /// Label value.
    pub value: String,
}

/// `args.cni` (CNI conventions).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CniArgs {
    /// Labels for the workload.
    #[serde(default)]
    pub labels: Vec<LabelArg>,
}

/// `args` (CNI conventions).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Args {
    /// The `cni` part.
    #[serde(default)]
    pub cni: Option<CniArgs>,
}

/// `cni.dev/valid-attachments` entry (GC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidAttachment {
    /// CNI_CONTAINERID of a live attachment.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// CNI_IFNAME of it.
    pub ifname: String,
}

/// The network configuration tern reads on stdin. Fields other plugins' configs carry
/// (`ipam`, `dns`, `prevResult`, `runtimeConfig`, …) are accepted and ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetConf {
    /// Spec version of the config.
    pub cni_version: String,
    /// Network name.
    pub name: String,
    /// Control socket of the agent (default `/run/tern/tern.sock`).
    #[serde(default)]
    pub socket: Option<String>,
    /// Where the plugin writes its log lines (default: stderr only).
    #[serde(default)]
    pub log_file: Option<String>,
    /// `args` (labels, CNI conventions).
    #[serde(default)]
    pub args: Option<Args>,
    /// GC: the attachments the runtime still knows.
    #[serde(default, rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Option<Vec<ValidAttachment>>,
}

/// What the plugin asks the agent for (one control-socket request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniCall {
    /// `ADD`, `DEL`, `CHECK`, `GC` or `STATUS`.
    pub command: String,
    /// Spec version of the config (the reply is written in it).
    pub cni_version: String,
    /// Network name.
    pub network: String,
    /// CNI_CONTAINERID (empty for GC and STATUS).
    #[serde(default)]
    pub container_id: String,
    /// CNI_NETNS (may be empty for DEL).
    #[serde(default)]
    pub netns: String,
    /// CNI_IFNAME.
    #[serde(default)]
    pub ifname: String,
    /// Workload namespace (K8S_POD_NAMESPACE, else `default`).
    #[serde(default)]
    pub namespace: String,
    /// Workload name (K8S_POD_NAME, else the container ID).
    #[serde(default)]
    pub name: String,
    /// Labels from CNI_ARGS `TERN_LABELS` and the config's `args.cni.labels`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// GC: live attachments (`None` outside GC).
    #[serde(default)]
    pub valid_attachments: Option<Vec<ValidAttachment>>,
}

/// The agent's answer to a [`CniCall`]: the result to print (ADD), nothing (DEL, CHECK,
/// GC, STATUS), or a CNI error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CniReply {
    /// Success; ADD carries its result.
    Ok(Option<AddResult>),
    /// Failure.
    Err(CniError),
}

/// An interface in a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Name.
    pub name: String,
    /// MAC address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// The netns path when the interface is in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

/// An address in a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// CIDR.
    pub address: String,
    /// Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// A route in a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRoute {
    /// Destination.
    pub dst: String,
    /// Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

/// The ADD result (spec 1.0.0 "Success").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddResult {
    /// Spec version.
    pub cni_version: String,
    /// Host end and container end.
    pub interfaces: Vec<Interface>,
    /// The container's addresses.
    pub ips: Vec<IpConfig>,
    /// Its routes.
    pub routes: Vec<ResultRoute>,
    /// No DNS settings from tern.
    pub dns: serde_json::Map<String, serde_json::Value>,
}

/// What tern reads from `CNI_ARGS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeArgs {
    /// `K8S_POD_NAMESPACE`.
    pub namespace: Option<String>,
    /// `K8S_POD_NAME`.
    pub name: Option<String>,
    /// `TERN_LABELS`.
    pub labels: BTreeMap<String, String>,
}

/// Parses `CNI_ARGS` (`K=V;K=V`); `TERN_LABELS` is `key=value,key=value`. Other keys
/// are ignored.
pub fn parse_cni_args(s: &str) -> Result<RuntimeArgs, String> {
    let mut ns = None;
    let mut name = None;
    let mut labels = BTreeMap::new();
    for pair in s.split(';').filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(format!("CNI_ARGS: {pair:?} is not KEY=VALUE"));
        };
        match k {
            "K8S_POD_NAMESPACE" => ns = Some(v.to_string()),
            "K8S_POD_NAME" => name = Some(v.to_string()),
            "TERN_LABELS" => {
                for l in v.split(',').filter(|l| !l.is_empty()) {
                    let Some((lk, lv)) = l.split_once('=') else {
                        return Err(format!("CNI_ARGS TERN_LABELS: {l:?} is not key=value"));
                    };
                    labels.insert(lk.to_string(), lv.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(RuntimeArgs {
        namespace: ns,
        name,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cni_args_as_runtimes_send_them() {
        let a = parse_cni_args(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=abc;TERN_LABELS=app=web,tier=fe",
        )
        .unwrap();
        assert_eq!(a.namespace.as_deref(), Some("shop"));
        assert_eq!(a.name.as_deref(), Some("web-1"));
        assert_eq!(a.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(a.labels.get("tier").map(String::as_str), Some("fe"));
        assert!(parse_cni_args("").unwrap().labels.is_empty());
        assert!(parse_cni_args("novalue").is_err());
        assert!(parse_cni_args("TERN_LABELS=app").is_err());
    }

    #[test]
    fn config_from_the_spec_with_foreign_fields() {
        // Shape of the spec's example plugin config (with a prevResult, as for DEL/CHECK).
        let c: NetConf = serde_json::from_str(
            r#"{"cniVersion":"1.1.0","name":"dbnet","type":"tern","socket":"/tmp/t.sock",
                "args":{"cni":{"labels":[{"key":"app","value":"db"}]}},
                "ipam":{"type":"host-local"},"dns":{"nameservers":["10.1.0.1"]},
                "prevResult":{"cniVersion":"1.1.0","ips":[]},
                "cni.dev/valid-attachments":[{"containerID":"abc","ifname":"eth0"}]}"#,
        )
        .unwrap();
        assert_eq!(c.name, "dbnet");
        assert_eq!(c.socket.as_deref(), Some("/tmp/t.sock"));
        let labels = c.args.unwrap().cni.unwrap().labels;
        assert_eq!(labels[0].key, "app");
        assert_eq!(c.valid_attachments.unwrap()[0].container_id, "abc");
    }

    #[test]
    fn error_object_has_the_spec_fields() {
        let mut e = CniError::new(code::TRY_AGAIN_LATER, "agent unreachable").details("x");
        e.cni_version = "1.0.0".into();
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"cniVersion":"1.0.0","code":11,"msg":"agent unreachable","details":"x"}"#
        );
    }
}
