//! The host's own reachability, which learned routes may not take over.
//!
//! A BGP route is not installed when it would change where this host reaches its own
//! connected subnets or its configured peers:
//! - a prefix equal to or inside a subnet of one of the host's interface addresses
//!   (a more specific route would win over the connected one by longest match);
//! - a prefix holding a peer's address and more specific than the host's connected
//!   subnet for that address (or, for a peer on no connected subnet, any prefix but
//!   the default route holding it: the host reaches it through its own routes);
//! - a default route (`0.0.0.0/0`, `::/0`) unless `fib.allowDefault` is set.
//!
//! Such routes stay in the RIB (shown and advertised as usual); `tern routes` says why
//! they are not in the FIB. The rule ([`Guard`]) is pure; [`interface_subnets`] reads
//! the addresses and [`watch`] re-reads them every few seconds so an address added or
//! removed later is honoured without a restart.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use tokio::sync::watch;

/// How often the host's addresses are read again.
pub const REFRESH: Duration = Duration::from_secs(5);

/// What learned routes may not take over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    /// Subnets of the host's interface addresses (network address, sorted, IPv6
    /// link-local left out).
    pub connected: Vec<IpNet>,
    /// The configured peers' addresses, sorted (looked up by binary search: a full
    /// table checked against a large mesh costs a few comparisons per route).
    pub peers: Vec<IpAddr>,
    /// `fib.allowDefault`: a learned default route may be installed.
    pub allow_default: bool,
}

/// Why a learned route is not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A default route while `fib.allowDefault` is off.
    Default,
    /// Equal to or inside this connected subnet.
    Connected(IpNet),
    /// More specific than the host's own route to this peer.
    Peer(IpAddr),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Default => f.write_str("default route and fib.allowDefault is false"),
            Refusal::Connected(n) => write!(f, "inside the host's connected subnet {n}"),
            Refusal::Peer(a) => write!(f, "would change the host's route to peer {a}"),
        }
    }
}

impl Guard {
    /// Why `prefix`, learned from BGP, may not go into the FIB (`None`: it may).
    pub fn refuses(&self, prefix: &IpNet) -> Option<Refusal> {
        if prefix.prefix_len() == 0 {
            return (!self.allow_default).then_some(Refusal::Default);
        }
        if let Some(c) = self.connected.iter().find(|c| c.contains(prefix)) {
            return Some(Refusal::Connected(*c));
        }
        let first = self.peers.partition_point(|a| *a < prefix.network());
        let inside = self.peers[first..]
            .iter()
            .take_while(|a| **a <= prefix.broadcast());
        for &peer in inside {
            let own = self
                .connected
                .iter()
                .filter(|c| c.contains(&peer))
                .map(IpNet::prefix_len)
                .max()
                .unwrap_or(0);
            if prefix.prefix_len() > own {
                return Some(Refusal::Peer(peer));
            }
        }
        None
    }
}

/// The subnets of the addresses of every interface of this network namespace.
pub fn interface_subnets() -> std::io::Result<Vec<IpNet>> {
    let mut v: Vec<IpNet> = bgp::speaker::interface_addresses()?
        .into_iter()
        .map(|a| a.net.trunc())
        .filter(|n| !matches!(n, IpNet::V6(v6) if v6.addr().segments()[0] & 0xffc0 == 0xfe80))
        .collect();
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// The guard with the host's subnets as they are now (none, logged, when they cannot
/// be read).
pub fn current(base: &Guard) -> Guard {
    let connected = interface_subnets().unwrap_or_else(|e| {
        tracing::warn!("cannot read the host's addresses: {e}");
        Vec::new()
    });
    Guard {
        connected,
        ..base.clone()
    }
}

/// Re-reads the host's subnets every [`REFRESH`] and publishes a new [`Guard`] when
/// they changed. Ends when every receiver is gone. A failed read is logged and the
/// last guard kept.
pub async fn watch(tx: watch::Sender<Guard>) {
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if tx.is_closed() {
            return;
        }
        let subnets = match tokio::task::spawn_blocking(interface_subnets).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!("cannot read the host's addresses: {e}");
                continue;
            }
            Err(_) => continue,
        };
        tx.send_if_modified(|g| {
            if g.connected == subnets {
                return false;
            }
            tracing::info!(subnets = ?subnets, "the host's connected subnets changed");
            g.connected = subnets;
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn guard(allow_default: bool) -> Guard {
        Guard {
            connected: vec![
                net("192.0.2.0/24"),
                net("10.0.0.1/32"),
                net("2001:db8::/64"),
            ],
            // Sorted, as plan::guard makes them.
            peers: vec![
                "192.0.2.254".parse().unwrap(),
                "198.51.100.7".parse().unwrap(),
                "2001:db8:1::1".parse().unwrap(),
            ],
            allow_default,
        }
    }

    #[test]
    fn connected_subnets_peers_and_the_default_route_are_protected() {
        let g = guard(false);
        assert_eq!(g.refuses(&net("0.0.0.0/0")), Some(Refusal::Default));
        assert_eq!(g.refuses(&net("::/0")), Some(Refusal::Default));
        assert_eq!(guard(true).refuses(&net("0.0.0.0/0")), None);
        let c = Some(Refusal::Connected(net("192.0.2.0/24")));
        assert_eq!(g.refuses(&net("192.0.2.0/24")), c);
        assert_eq!(g.refuses(&net("192.0.2.128/25")), c);
        assert_eq!(g.refuses(&net("192.0.2.5/32")), c);
        assert_eq!(
            g.refuses(&net("10.0.0.1/32")),
            Some(Refusal::Connected(net("10.0.0.1/32")))
        );
        assert!(g.refuses(&net("2001:db8::/80")).is_some());
        // Less specific than the connected subnet: longest match keeps the host's.
        assert_eq!(g.refuses(&net("192.0.0.0/16")), None);
        // A peer on no connected subnet: nothing but the default may hold it.
        assert_eq!(
            g.refuses(&net("198.51.100.0/24")),
            Some(Refusal::Peer("198.51.100.7".parse().unwrap()))
        );
        assert_eq!(
            g.refuses(&net("198.51.0.0/16"))
                .map(|r| r.to_string())
                .as_deref(),
            Some("would change the host's route to peer 198.51.100.7")
        );
        assert_eq!(guard(true).refuses(&net("0.0.0.0/0")), None);
        assert_eq!(
            g.refuses(&net("2001:db8:1::/48")),
            Some(Refusal::Peer("2001:db8:1::1".parse().unwrap()))
        );
        assert_eq!(g.refuses(&net("2001:db8:2::/48")), None);
        // Pools and other hosts' blocks are not affected.
        assert_eq!(g.refuses(&net("10.244.2.0/24")), None);
        assert_eq!(g.refuses(&net("10.0.0.0/24")), None);
    }
}
