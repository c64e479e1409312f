//! Which learned routes go through a tunnel: the pools' `ipipMode` / `vxlanMode` applied
//! to each BGP next hop (pure: [`Overlay::next_hop`]), and [`setup`], which makes
//! `tern.ipip` / `tern.vxlan` at start when a pool needs them and keeps the VXLAN
//! device's per-host entries in step with the routes through it.
//!
//! A route to a remote block inside a pool with mode `Always` goes
//! `via HOST dev tern.ipip onlink` (or `dev tern.vxlan`); with `CrossSubnet` only when
//! the next hop (the remote host's address, as BGP carries it) is on none of this host's
//! connected subnets (the guard's list, kept current by `guard::watch`); otherwise, and
//! for prefixes outside such pools, natively `via HOST`. IPv6 routes are never
//! encapsulated (the config refuses tunnel modes on IPv6 pools).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::node::{EncapMode, NodeConfig, PoolOverlay};
use controller::NextHop;
use ipnet::IpNet;

/// How often the VXLAN device's neighbour and FDB entries are reconciled with the
/// routes through it.
pub const VTEP_SYNC: Duration = Duration::from_secs(1);

/// The pools that ask for a tunnel, and the device their routes go through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlay {
    /// (pool, mode, device) for every pool whose mode is not `Never`.
    pools: Vec<(IpNet, EncapMode, &'static str)>,
}

impl Overlay {
    /// The modes of `cfg`'s pools.
    pub fn from_config(cfg: &NodeConfig) -> Overlay {
        Overlay::from_pools(&cfg.overlay.pools)
    }

    /// The modes of `pools`.
    pub fn from_pools(pools: &[PoolOverlay]) -> Overlay {
        let mut o = Overlay::ipip(pools.iter().map(|p| (p.cidr, p.ipip)));
        o.pools.extend(
            pools
                .iter()
                .filter(|p| p.vxlan != EncapMode::Never)
                .map(|p| (p.cidr, p.vxlan, controller::VXLAN_DEVICE)),
        );
        o
    }

    /// Pools with their `ipipMode` (those with `Never` are dropped).
    pub fn ipip(pools: impl IntoIterator<Item = (IpNet, EncapMode)>) -> Overlay {
        Overlay {
            pools: pools
                .into_iter()
                .filter(|(_, m)| *m != EncapMode::Never)
                .map(|(p, m)| (p, m, controller::IPIP_DEVICE))
                .collect(),
        }
    }

    /// Whether a pool's routes go through `device`.
    pub fn uses(&self, device: &str) -> bool {
        self.pools.iter().any(|(_, _, d)| *d == device)
    }

    /// Whether `prefix` lies in a pool with a tunnel mode (its route may change when the
    /// connected subnets do).
    pub fn covers(&self, prefix: &IpNet) -> bool {
        self.mode(prefix).is_some()
    }

    fn mode(&self, prefix: &IpNet) -> Option<(EncapMode, &'static str)> {
        self.pools
            .iter()
            .find(|(pool, _, _)| pool.contains(prefix))
            .map(|(_, m, d)| (*m, *d))
    }

    /// The next hop for a route to `prefix` learned via `hop`: through the tunnel when
    /// the pool's mode says so, else `hop` itself.
    pub fn next_hop(&self, prefix: &IpNet, hop: IpAddr, connected: &[IpNet]) -> NextHop {
        match (self.mode(prefix), hop) {
            (Some((EncapMode::Always, dev)), IpAddr::V4(_)) => NextHop::onlink(hop, dev),
            (Some((EncapMode::CrossSubnet, dev)), IpAddr::V4(_))
                if !connected.iter().any(|n| n.contains(&hop)) =>
            {
                NextHop::onlink(hop, dev)
            }
            _ => NextHop::new(hop),
        }
    }
}

/// The tunnel modes of the datastore's IPPools (etcd mode; read at start, as their CIDRs
/// are) for the pools the node file does not already give a mode. A pool with both modes
/// set, or an IPv6 pool with one, is left out (logged), as the file's checks refuse them.
pub fn pool_modes(items: &cluster::Items, known: &[PoolOverlay]) -> Vec<PoolOverlay> {
    let conv = |m: Option<resources::pool::EncapMode>| match m {
        Some(resources::pool::EncapMode::Always) => EncapMode::Always,
        Some(resources::pool::EncapMode::CrossSubnet) => EncapMode::CrossSubnet,
        Some(resources::pool::EncapMode::Never) | None => EncapMode::Never,
    };
    let mut out = Vec::new();
    for r in items.values() {
        let resources::Spec::IpPool(p) = &r.spec else {
            continue;
        };
        let Some(cidr) = p.cidr() else {
            continue;
        };
        let (ipip, vxlan) = (conv(p.ipip_mode), conv(p.vxlan_mode));
        if (ipip, vxlan) == (EncapMode::Never, EncapMode::Never)
            || known.iter().any(|k| k.cidr == cidr)
        {
            continue;
        }
        if (ipip != EncapMode::Never && vxlan != EncapMode::Never) || cidr.addr().is_ipv6() {
            tracing::warn!(%cidr, %ipip, %vxlan, "IPPool tunnel mode ignored: one mode, IPv4 pools only");
            continue;
        }
        out.push(PoolOverlay { cidr, ipip, vxlan });
    }
    out
}

/// What making tern's tunnel devices needs, and whether the VXLAN entries task runs.
#[derive(Debug)]
pub struct Devices {
    /// The tunnels' local end: `listen.address` when it is a specific IPv4 address,
    /// else `routerId`.
    local: Ipv4Addr,
    ipip_mtu: Option<u32>,
    vxlan_mtu: Option<u32>,
    vni: u32,
    /// The node file, to locate an error at the pool that asked for the device.
    file: PathBuf,
    /// The MTU of each device made so far (for new workload veths).
    made: Vec<(&'static str, u32)>,
    vteps_running: bool,
}

impl Devices {
    /// The settings of `cfg` (`overlay`, the local address, the file).
    pub fn new(cfg: &NodeConfig) -> Devices {
        let local = match cfg.listen.address {
            IpAddr::V4(a) if !a.is_unspecified() => a,
            _ => cfg.router_id,
        };
        Devices {
            local,
            ipip_mtu: cfg.overlay.ipip_mtu,
            vxlan_mtu: cfg.overlay.vxlan_mtu,
            vni: cfg.overlay.vxlan_vni,
            file: cfg.file.clone(),
            made: Vec::new(),
            vteps_running: false,
        }
    }

    /// Makes `device` ([`controller::IPIP_DEVICE`] or [`controller::VXLAN_DEVICE`]; MTU
    /// from `overlay`, else the uplink's less the encapsulation) and, for VXLAN, starts
    /// the task that keeps its per-host entries in step ([`VTEP_SYNC`], once per
    /// process). `pools` are the modes that asked for it (for the error's location).
    /// Runs inside the agent's runtime.
    pub fn make(&mut self, device: &'static str, pools: &[PoolOverlay]) -> Result<(), String> {
        let uplink = controller::uplink_mtu(IpAddr::V4(self.local))
            .map_err(|e| e.to_string())?
            .unwrap_or(controller::DEFAULT_UPLINK_MTU);
        let local = self.local;
        let made = if device == controller::IPIP_DEVICE {
            let mtu = self
                .ipip_mtu
                .unwrap_or(uplink.saturating_sub(controller::IPIP_OVERHEAD).max(68));
            controller::ensure_ipip(local, mtu).map(|()| {
                tracing::info!(%local, mtu, "tern.ipip ready");
                mtu
            })
        } else {
            let mtu = self
                .vxlan_mtu
                .unwrap_or(uplink.saturating_sub(controller::VXLAN_OVERHEAD).max(68));
            let vni = self.vni;
            controller::ensure_vxlan(local, vni, mtu).map(|()| {
                tracing::info!(%local, mtu, vni, "tern.vxlan ready");
                mtu
            })
        };
        let mtu = made.map_err(|e| self.explain(device, pools, &e))?;
        self.made.retain(|(d, _)| *d != device);
        self.made.push((device, mtu));
        if device == controller::VXLAN_DEVICE && !self.vteps_running {
            self.vteps_running = true;
            tokio::spawn(vteps());
        }
        Ok(())
    }

    /// Forgets `device` (deleted) for the workload MTU.
    pub fn forget(&mut self, device: &str) {
        self.made.retain(|(d, _)| *d != device);
    }

    /// New workload veths get the smallest MTU of the devices in use (as Calico's
    /// veth_mtu), or the kernel's default without one.
    pub fn set_workload_mtu(&self) {
        controller::set_workload_mtu(self.made.iter().map(|(_, m)| *m).min().unwrap_or(0));
    }

    /// The error of making `device`, in words; when the kernel lacks the device kind,
    /// located at the node file's first pool that asks for it.
    fn explain(
        &self,
        device: &'static str,
        pools: &[PoolOverlay],
        e: &controller::TunnelError,
    ) -> String {
        if !e.kernel_lacks_kind() {
            return e.to_string();
        }
        let ipip = device == controller::IPIP_DEVICE;
        let (key, module) = if ipip {
            ("ipipMode", "ipip")
        } else {
            ("vxlanMode", "vxlan")
        };
        let pool = pools.iter().find(|p| {
            if ipip {
                p.ipip != EncapMode::Never
            } else {
                p.vxlan != EncapMode::Never
            }
        });
        let what = match pool {
            Some(p) => format!(
                "{} has {key} {}",
                p.cidr,
                if ipip { p.ipip } else { p.vxlan }
            ),
            None => format!("a pool has a {key}"),
        };
        let msg = format!(
            "{what}, but the kernel has no {} support (module {module} not loaded? \
             `modprobe {module}`; the kernel needs {}): cannot create {device}",
            module.to_uppercase(),
            if ipip {
                "CONFIG_NET_IPIP"
            } else {
                "CONFIG_VXLAN"
            }
        );
        match pool.and_then(|p| locate(&self.file, p, key)) {
            Some(at) => format!("{at}: {msg}"),
            None => msg,
        }
    }
}

/// `FILE:LINE:COL` of the mode `key` of `pool`'s entry in the node file at `file`, when
/// the file has it (an IPPool's mode in etcd mode has no place in the file).
fn locate(file: &Path, pool: &PoolOverlay, key: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Pools {
        #[serde(default)]
        pools: Vec<serde_yaml::Value>,
    }
    let text = std::fs::read_to_string(file).ok()?;
    let doc = config::yaml::load_document::<Pools>(file, &text).ok()?;
    let i = doc.value.pools.iter().position(|v| {
        v.get("cidr")
            .and_then(serde_yaml::Value::as_str)
            .and_then(|c| c.parse::<IpNet>().ok())
            == Some(pool.cidr)
            && v.get(key).is_some()
    })?;
    let at = doc.positions.at(&format!("pools[{i}].{key}"));
    Some(format!("{}:{at}", file.display()))
}

/// Makes `tern.ipip` / `tern.vxlan` at start when a pool asks for them (see
/// [`Devices::make`]); workload veths made afterwards get the smallest tunnel MTU.
/// Returns the modes and the devices' settings (for switching modes at run time,
/// [`super::overlay_switch`]). Without such a pool nothing is touched (a device left by
/// an earlier run stays until `tern fib flush` or a switch that stops using it).
pub fn setup(cfg: &NodeConfig) -> Result<(Overlay, Devices), String> {
    let overlay = Overlay::from_config(cfg);
    let mut devices = Devices::new(cfg);
    for dev in [controller::IPIP_DEVICE, controller::VXLAN_DEVICE] {
        if overlay.uses(dev) {
            devices.make(dev, &cfg.overlay.pools)?;
        }
    }
    devices.set_workload_mtu();
    Ok((overlay, devices))
}

/// Reconciles `tern.vxlan`'s neighbour and FDB entries with the routes through it, every
/// [`VTEP_SYNC`], for as long as the agent runs.
async fn vteps() {
    let mut last: Option<String> = None;
    loop {
        let r = tokio::task::spawn_blocking(controller::sync_vteps).await;
        let said = match r {
            Ok(Ok(s)) if s.added + s.removed > 0 => {
                tracing::info!(
                    vteps = s.vteps,
                    added = s.added,
                    removed = s.removed,
                    "tern.vxlan entries repaired"
                );
                None
            }
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if said != last {
            if let Some(e) = &said {
                tracing::warn!(error = %e, "tern.vxlan entries");
            }
            last = said;
        }
        tokio::time::sleep(VTEP_SYNC).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn overlay() -> Overlay {
        Overlay {
            pools: vec![
                (net("10.244.0.0/16"), EncapMode::CrossSubnet, "tern.ipip"),
                (net("10.245.0.0/16"), EncapMode::Always, "tern.ipip"),
                (net("10.246.0.0/16"), EncapMode::CrossSubnet, "tern.vxlan"),
            ],
        }
    }

    #[test]
    fn ippool_modes_join_those_the_file_does_not_set() {
        let text = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: { name: a }\nspec: { cidr: 10.244.0.0/16, vxlanMode: CrossSubnet }\n---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: { name: b }\nspec: { cidr: 10.245.0.0/16 }\n---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: { name: c }\nspec: { cidr: 10.246.0.0/16, ipipMode: Always }\n";
        let items: cluster::Items = resources::load_text(std::path::Path::new("p.yaml"), text)
            .unwrap()
            .into_iter()
            .map(|r| (r.key(), r))
            .collect();
        let file = [PoolOverlay {
            cidr: net("10.246.0.0/16"),
            ipip: EncapMode::CrossSubnet,
            vxlan: EncapMode::Never,
        }];
        assert_eq!(
            pool_modes(&items, &file),
            vec![PoolOverlay {
                cidr: net("10.244.0.0/16"),
                ipip: EncapMode::Never,
                vxlan: EncapMode::CrossSubnet,
            }]
        );
    }

    #[test]
    fn cross_subnet_tunnels_only_off_the_connected_subnets() {
        let o = overlay();
        let connected = [net("192.168.1.0/24"), net("fd00:1::/64")];
        let block = net("10.244.2.0/26");
        assert_eq!(
            o.next_hop(&block, ip("192.168.1.3"), &connected),
            NextHop::new(ip("192.168.1.3"))
        );
        assert_eq!(
            o.next_hop(&block, ip("192.168.2.3"), &connected),
            NextHop::onlink(ip("192.168.2.3"), "tern.ipip")
        );
        // Always: the same subnet too.
        assert_eq!(
            o.next_hop(&net("10.245.9.0/26"), ip("192.168.1.3"), &connected),
            NextHop::onlink(ip("192.168.1.3"), "tern.ipip")
        );
        // Outside the pools, and IPv6: native.
        assert_eq!(
            o.next_hop(&net("10.9.0.0/24"), ip("192.168.2.3"), &connected),
            NextHop::new(ip("192.168.2.3"))
        );
        assert_eq!(
            o.next_hop(&net("fd00:244::/64"), ip("fd00:2::3"), &connected),
            NextHop::new(ip("fd00:2::3"))
        );
        assert_eq!(
            o.next_hop(&net("10.246.1.0/26"), ip("192.168.2.3"), &connected),
            NextHop::onlink(ip("192.168.2.3"), "tern.vxlan")
        );
        assert_eq!(
            o.next_hop(&net("10.246.1.0/26"), ip("192.168.1.3"), &connected),
            NextHop::new(ip("192.168.1.3"))
        );
        assert!(o.covers(&block) && !o.covers(&net("10.0.0.0/8")));
        assert!(!Overlay::default().uses("tern.vxlan") && o.uses("tern.ipip"));
    }
}
