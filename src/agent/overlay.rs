//! Which learned routes go through a tunnel: the pools' `ipipMode` applied to each BGP
//! next hop (pure: [`Overlay::next_hop`]), and [`setup`], which makes `tern.ipip` at
//! start when a pool needs it.
//!
//! A route to a remote block inside a pool with `ipipMode: Always` goes
//! `via HOST dev tern.ipip onlink`; with `CrossSubnet` only when the next hop (the
//! remote host's address, as BGP carries it) is on none of this host's connected
//! subnets (the guard's list, kept current by `guard::watch`); otherwise, and for
//! prefixes outside such pools, natively `via HOST`. IPv6 routes are never
//! encapsulated (IPIP carries IPv4; the config refuses IPIP on IPv6 pools).

use std::net::IpAddr;

use config::node::{EncapMode, NodeConfig};
use controller::NextHop;
use ipnet::IpNet;

/// The pools that ask for IPIP, and the device their routes go through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlay {
    /// (pool, ipipMode) for every pool whose mode is not `Never`.
    ipip: Vec<(IpNet, EncapMode)>,
}

impl Overlay {
    /// The IPIP modes of `cfg`'s pools.
    pub fn from_config(cfg: &NodeConfig) -> Overlay {
        Overlay::ipip(cfg.overlay.pools.iter().map(|p| (p.cidr, p.ipip)))
    }

    /// Pools with their `ipipMode` (those with `Never` are dropped).
    pub fn ipip(pools: impl IntoIterator<Item = (IpNet, EncapMode)>) -> Overlay {
        Overlay {
            ipip: pools
                .into_iter()
                .filter(|(_, m)| *m != EncapMode::Never)
                .collect(),
        }
    }

    /// Whether no pool asks for a tunnel.
    pub fn is_empty(&self) -> bool {
        self.ipip.is_empty()
    }

    /// Whether `prefix` lies in a pool with a tunnel mode (its route may change when the
    /// connected subnets do).
    pub fn covers(&self, prefix: &IpNet) -> bool {
        self.mode(prefix).is_some()
    }

    fn mode(&self, prefix: &IpNet) -> Option<EncapMode> {
        self.ipip
            .iter()
            .find(|(pool, _)| pool.contains(prefix))
            .map(|(_, m)| *m)
    }

    /// The next hop for a route to `prefix` learned via `hop`: through the tunnel when
    /// the pool's mode says so, else `hop` itself.
    pub fn next_hop(&self, prefix: &IpNet, hop: IpAddr, connected: &[IpNet]) -> NextHop {
        let tunnel = match (self.mode(prefix), hop) {
            (Some(EncapMode::Always), IpAddr::V4(_)) => true,
            (Some(EncapMode::CrossSubnet), IpAddr::V4(_)) => {
                !connected.iter().any(|n| n.contains(&hop))
            }
            _ => false,
        };
        if tunnel {
            NextHop::onlink(hop, controller::IPIP_DEVICE)
        } else {
            NextHop::new(hop)
        }
    }
}

/// Makes `tern.ipip` (local address: `listen.address` when it is a specific IPv4
/// address, else `routerId`; MTU `overlay.ipipMtu`, else the uplink's less 20) when a
/// pool asks for IPIP, and returns the modes. Without such a pool nothing is touched
/// (a device left by an earlier run stays until `tern fib flush`).
pub fn setup(cfg: &NodeConfig) -> Result<Overlay, controller::TunnelError> {
    let overlay = Overlay::from_config(cfg);
    if overlay.is_empty() {
        return Ok(overlay);
    }
    let local = match cfg.listen.address {
        IpAddr::V4(a) if !a.is_unspecified() => a,
        _ => cfg.router_id,
    };
    let mtu = match cfg.overlay.ipip_mtu {
        Some(m) => m,
        None => {
            controller::uplink_mtu(IpAddr::V4(local))?.unwrap_or(controller::DEFAULT_UPLINK_MTU)
                - controller::IPIP_OVERHEAD
        }
    };
    controller::ensure_ipip(local, mtu)?;
    tracing::info!(%local, mtu, pools = ?overlay.ipip, "tern.ipip ready");
    Ok(overlay)
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
            ipip: vec![
                (net("10.244.0.0/16"), EncapMode::CrossSubnet),
                (net("10.245.0.0/16"), EncapMode::Always),
            ],
        }
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
        assert!(o.covers(&block) && !o.covers(&net("10.0.0.0/8")));
        assert!(Overlay::default().is_empty());
    }
}
