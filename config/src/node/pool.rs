//! Pools with an overlay mode: `pools` entries are a CIDR string (no encapsulation) or
//! `{ cidr, ipipMode, vxlanMode }` (Calico's IPPool names and values), and the
//! `overlay` section's MTU settings. The raw entry's two forms are read here; the
//! checks live in `resolve` with the other located checks.

use std::fmt;

use ipnet::IpNet;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::raw::RawPoolSpec;

/// When traffic to a pool's remote blocks is encapsulated (Calico's `ipipMode` /
/// `vxlanMode` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum EncapMode {
    /// Never: plain routing (the fabric knows the blocks).
    #[default]
    Never,
    /// Only towards hosts outside this host's connected subnets.
    CrossSubnet,
    /// Towards every remote host.
    Always,
}

impl fmt::Display for EncapMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncapMode::Never => "Never",
            EncapMode::CrossSubnet => "CrossSubnet",
            EncapMode::Always => "Always",
        })
    }
}

/// The encapsulation a pool asks for (at most one of the two is not `Never`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOverlay {
    /// The pool.
    pub cidr: IpNet,
    /// `ipipMode`.
    pub ipip: EncapMode,
    /// `vxlanMode`.
    pub vxlan: EncapMode,
}

/// `overlay` and the pools' modes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlay {
    /// Every pool whose `ipipMode` or `vxlanMode` is not `Never`, in file order.
    pub pools: Vec<PoolOverlay>,
    /// `overlay.ipipMtu`: the MTU of `tern.ipip`; `None`: the uplink's MTU minus 20.
    pub ipip_mtu: Option<u32>,
    /// `overlay.vxlanMtu`: the MTU of `tern.vxlan`; `None`: the uplink's MTU minus 50.
    pub vxlan_mtu: Option<u32>,
    /// `overlay.vxlanVni` ([`DEFAULT_VNI`] unless set).
    pub vxlan_vni: u32,
}

/// The VXLAN network identifier unless `overlay.vxlanVni` says otherwise (Calico's).
pub const DEFAULT_VNI: u32 = 4096;

impl Overlay {
    /// Whether any pool uses IPIP.
    pub fn ipip(&self) -> bool {
        self.pools.iter().any(|p| p.ipip != EncapMode::Never)
    }

    /// Whether any pool uses VXLAN.
    pub fn vxlan(&self) -> bool {
        self.pools.iter().any(|p| p.vxlan != EncapMode::Never)
    }
}

/// One `pools` entry as written.
#[derive(Debug)]
pub(crate) enum RawPool {
    /// `10.244.0.0/16`.
    Cidr(String),
    /// `{ cidr: 10.244.0.0/16, ipipMode: CrossSubnet }`.
    Spec(RawPoolSpec),
}

impl<'de> Deserialize<'de> for RawPool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a CIDR such as 10.244.0.0/16 or { cidr: …, ipipMode: …, vxlanMode: … }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPool, E> {
                Ok(RawPool::Cidr(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPool, A::Error> {
                RawPoolSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawPool::Spec)
            }
        }
        d.deserialize_any(V)
    }
}

impl RawPool {
    /// The CIDR text and the path (below `pools[i]`) it was written at.
    pub(crate) fn cidr(&self) -> (&str, &'static str) {
        match self {
            RawPool::Cidr(c) => (c, ""),
            RawPool::Spec(s) => (&s.cidr, ".cidr"),
        }
    }

    /// (ipipMode, vxlanMode); Never/Never for the string form.
    pub(crate) fn modes(&self) -> (EncapMode, EncapMode) {
        match self {
            RawPool::Cidr(_) => (EncapMode::Never, EncapMode::Never),
            RawPool::Spec(s) => (
                s.ipip_mode.unwrap_or_default(),
                s.vxlan_mode.unwrap_or_default(),
            ),
        }
    }
}
