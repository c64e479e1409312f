//! `IPPool`: a CIDR that workload addresses come from, cut into blocks that nodes
//! claim (block size 26 for IPv4 and 122 for IPv6 by default, as Calico), with the
//! encapsulation modes and the selector of nodes that may use it.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::check::{self, refused};
use crate::Problem;

/// Default block size of an IPv4 pool.
pub const DEFAULT_BLOCK_V4: u8 = 26;
/// Default block size of an IPv6 pool.
pub const DEFAULT_BLOCK_V6: u8 = 122;

/// `ipipMode` / `vxlanMode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EncapMode {
    /// Always encapsulate.
    Always,
    /// Encapsulate only towards nodes in another subnet.
    CrossSubnet,
    /// Never (pure layer 3).
    #[default]
    Never,
}

/// `IPPool.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IpPoolSpec {
    /// The pool.
    pub cidr: String,
    /// Prefix length of the blocks nodes claim (IPv4 20–32, IPv6 116–128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u8>,
    /// IP-in-IP mode (default Never).
    #[serde(default, rename = "ipipMode", skip_serializing_if = "Option::is_none")]
    pub ipip_mode: Option<EncapMode>,
    /// VXLAN mode (default Never).
    #[serde(default, rename = "vxlanMode", skip_serializing_if = "Option::is_none")]
    pub vxlan_mode: Option<EncapMode>,
    /// Nodes that may claim blocks of this pool (default `all()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<String>,
    /// No new blocks are claimed from a disabled pool.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// Accepted and kept; source NAT is not done by tern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_outgoing: Option<bool>,
    /// Accepted and kept: the pool's blocks are not advertised over BGP.
    #[serde(
        default,
        rename = "disableBGPExport",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_bgp_export: Option<bool>,
    /// Accepted: `Workload` (tern has no other use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_uses: Option<Vec<String>>,
    /// Refused: Calico's v1 form; use `ipipMode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipip: Option<serde_json::Value>,
    /// Refused: Calico's v1 form; use `natOutgoing`.
    #[serde(
        default,
        rename = "nat-outgoing",
        skip_serializing_if = "Option::is_none"
    )]
    pub nat_outgoing_v1: Option<serde_json::Value>,
}

impl IpPoolSpec {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        refused("spec.ipip", &self.ipip, "the v1 form; use `ipipMode`")?;
        refused(
            "spec.nat-outgoing",
            &self.nat_outgoing_v1,
            "the v1 form; use `natOutgoing`",
        )?;
        let cidr = check::net("spec.cidr", &self.cidr)?;
        let (lo, hi) = match cidr {
            IpNet::V4(_) => (20, 32),
            IpNet::V6(_) => (116, 128),
        };
        let bs = self.block_size();
        if !(lo..=hi).contains(&bs) {
            return Err(Problem::new(
                "spec.blockSize",
                format!("block size {bs} is out of range {lo}..={hi} for this family"),
            ));
        }
        if bs < cidr.prefix_len() {
            return Err(Problem::new(
                "spec.blockSize",
                format!(
                    "block size /{bs} is larger than the pool /{}",
                    cidr.prefix_len()
                ),
            ));
        }
        if self.ipip_mode.unwrap_or_default() != EncapMode::Never
            && self.vxlan_mode.unwrap_or_default() != EncapMode::Never
        {
            return Err(Problem::new(
                "spec.vxlanMode",
                "`ipipMode` and `vxlanMode` cannot both be on",
            ));
        }
        if self.ipip_mode.unwrap_or_default() != EncapMode::Never && cidr.addr().is_ipv6() {
            return Err(Problem::new("spec.ipipMode", "IP-in-IP is IPv4 only"));
        }
        if let Some(s) = &self.node_selector {
            check::selector("spec.nodeSelector", s)?;
        }
        for (i, u) in self.allowed_uses.iter().flatten().enumerate() {
            if u != "Workload" {
                return Err(Problem::new(
                    format!("spec.allowedUses[{i}]"),
                    format!(
                        "not supported by tern: `{}` (only Workload)",
                        u.escape_debug()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The pool's CIDR.
    pub fn cidr(&self) -> Option<IpNet> {
        check::net("", &self.cidr).ok()
    }

    /// The block size, with the family's default.
    pub fn block_size(&self) -> u8 {
        self.block_size.unwrap_or(match check::net("", &self.cidr) {
            Ok(IpNet::V6(_)) => DEFAULT_BLOCK_V6,
            _ => DEFAULT_BLOCK_V4,
        })
    }

    /// The node selector (`all()` when absent).
    pub fn node_selector(&self) -> acl::selector::Selector {
        self.node_selector
            .as_deref()
            .and_then(|s| acl::selector::parse(s).ok())
            .unwrap_or(acl::selector::Selector::All)
    }
}
