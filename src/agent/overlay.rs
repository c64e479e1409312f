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

use std::net::IpAddr;
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
    /// The IPIP modes of `cfg`'s pools.
    pub fn from_config(cfg: &NodeConfig) -> Overlay {
        let mut o = Overlay::ipip(cfg.overlay.pools.iter().map(|p| (p.cidr, p.ipip)));
        o.pools.extend(
            cfg.overlay
                .pools
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

    fn uses(&self, device: &str) -> bool {
        self.pools.iter().any(|(_, _, d)| *d == device)
    }

    /// Whether no pool asks for a tunnel.
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
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

/// Makes `tern.ipip` / `tern.vxlan` when a pool asks for them (local address:
/// `listen.address` when it is a specific IPv4 address, else `routerId`; MTU from
/// `overlay`, else the uplink's less the encapsulation) and, with VXLAN, starts the task
/// that keeps the device's per-host entries in step ([`VTEP_SYNC`]); workload veths made
/// afterwards get the smallest tunnel MTU. Returns the modes.
/// Without such a pool nothing is touched (a device left by an earlier run stays until
/// `tern fib flush`). Runs inside the agent's runtime.
pub fn setup(cfg: &NodeConfig) -> Result<Overlay, controller::TunnelError> {
    let overlay = Overlay::from_config(cfg);
    if overlay.is_empty() {
        return Ok(overlay);
    }
    let local = match cfg.listen.address {
        IpAddr::V4(a) if !a.is_unspecified() => a,
        _ => cfg.router_id,
    };
    let uplink =
        controller::uplink_mtu(IpAddr::V4(local))?.unwrap_or(controller::DEFAULT_UPLINK_MTU);
    let mut workload_mtu = u32::MAX;
    if overlay.uses(controller::IPIP_DEVICE) {
        let mtu = cfg
            .overlay
            .ipip_mtu
            .unwrap_or(uplink.saturating_sub(controller::IPIP_OVERHEAD).max(68));
        controller::ensure_ipip(local, mtu)?;
        workload_mtu = workload_mtu.min(mtu);
        tracing::info!(%local, mtu, "tern.ipip ready");
    }
    if overlay.uses(controller::VXLAN_DEVICE) {
        let mtu = cfg
            .overlay
            .vxlan_mtu
            .unwrap_or(uplink.saturating_sub(controller::VXLAN_OVERHEAD).max(68));
        let vni = cfg.overlay.vxlan_vni;
        controller::ensure_vxlan(local, vni, mtu)?;
        workload_mtu = workload_mtu.min(mtu);
        tracing::info!(%local, mtu, vni, "tern.vxlan ready");
        tokio::spawn(vteps());
    }
    // New workload veths leave room for the encapsulation too (as Calico's veth_mtu).
    controller::set_workload_mtu(workload_mtu);
    Ok(overlay)
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
        assert!(Overlay::default().is_empty());
    }
}
