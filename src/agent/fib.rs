//! The agent's desired FIB: where each prefix's route comes from, merged into the one
//! route the controller is told to install.
//!
//! Three sources meet here: this node's blocks (blackhole, as Calico: packets for an
//! unused address of a local block are dropped instead of following a default route),
//! best paths from BGP (via the advertising hosts' addresses, ECMP when several), and
//! local workload endpoints (`IP/32 dev VETH scope link`). When two sources name the same
//! prefix the most specific knowledge wins: endpoint, then block, then BGP. Pure logic:
//! every update returns the [`DesiredChange`]s to send to the controller.

use std::collections::BTreeMap;
use std::net::IpAddr;

use bgp::rib::{RouteAction, RouteChange};
use controller::{DesiredChange, NextHop, Route};
use ipnet::IpNet;

/// A local endpoint's address: the prefix, the interface, and the endpoint's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRoute {
    /// The container's address (/32 or /128).
    pub prefix: IpNet,
    /// Host side of its veth.
    pub interface: String,
    /// `namespace/name` of the endpoint.
    pub endpoint: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Sources {
    endpoint: Option<(String, String)>,
    block: bool,
    bgp: Option<Vec<IpAddr>>,
}

impl Sources {
    fn route(&self, prefix: IpNet) -> Option<Route> {
        if let Some((iface, _)) = &self.endpoint {
            return Some(Route::device(prefix, iface.clone()));
        }
        if self.block {
            return Some(Route::blackhole(prefix));
        }
        self.bgp
            .as_ref()
            .map(|hops| Route::via(prefix, hops.iter().copied().map(NextHop::new)))
    }

    fn is_empty(&self) -> bool {
        self.endpoint.is_none() && !self.block && self.bgp.is_none()
    }
}

/// The merged desired table.
#[derive(Debug, Default)]
pub struct FibTable {
    entries: BTreeMap<IpNet, Sources>,
    endpoints: Vec<DeviceRoute>,
}

impl FibTable {
    /// An empty table.
    pub fn new() -> FibTable {
        FibTable::default()
    }

    fn update(&mut self, prefix: IpNet, f: impl FnOnce(&mut Sources)) -> Option<DesiredChange> {
        let prefix = prefix.trunc();
        let entry = self.entries.entry(prefix).or_default();
        let before = entry.route(prefix);
        f(entry);
        let after = entry.route(prefix);
        if entry.is_empty() {
            self.entries.remove(&prefix);
        }
        match (before, after) {
            (b, Some(a)) if b.as_ref() != Some(&a) => Some(DesiredChange::Upsert(a)),
            (Some(_), None) => Some(DesiredChange::Remove(prefix)),
            _ => None,
        }
    }

    /// This node's blocks (blackholes). Returns the changes.
    pub fn set_blocks(&mut self, blocks: &[IpNet]) -> Vec<DesiredChange> {
        let old: Vec<IpNet> = self
            .entries
            .iter()
            .filter(|(p, s)| s.block && !blocks.contains(p))
            .map(|(p, _)| *p)
            .collect();
        let mut out: Vec<DesiredChange> = old
            .into_iter()
            .filter_map(|p| self.update(p, |s| s.block = false))
            .collect();
        for b in blocks {
            out.extend(self.update(*b, |s| s.block = true));
        }
        out
    }

    /// A best-path change from BGP.
    pub fn bgp(&mut self, change: &RouteChange) -> Option<DesiredChange> {
        match &change.action {
            RouteAction::Install(hops) | RouteAction::Replace(hops) if !hops.is_empty() => {
                let hops = hops.clone();
                self.update(change.prefix, |s| s.bgp = Some(hops))
            }
            _ => self.update(change.prefix, |s| s.bgp = None),
        }
    }

    /// The complete set of local endpoint addresses. Returns the changes.
    pub fn set_endpoints(&mut self, routes: Vec<DeviceRoute>) -> Vec<DesiredChange> {
        let mut out = Vec::new();
        let gone: Vec<IpNet> = self
            .endpoints
            .iter()
            .map(|d| d.prefix)
            .filter(|p| !routes.iter().any(|r| r.prefix == *p))
            .collect();
        for p in gone {
            out.extend(self.update(p, |s| s.endpoint = None));
        }
        for r in &routes {
            let v = (r.interface.clone(), r.endpoint.clone());
            out.extend(self.update(r.prefix, |s| s.endpoint = Some(v)));
        }
        self.endpoints = routes;
        out
    }

    /// The endpoint addresses in force.
    pub fn endpoints(&self) -> &[DeviceRoute] {
        &self.endpoints
    }
}

/// Device routes for a set of workload endpoints: one per address, truncated to the
/// host prefix as written (/32, /128). An address claimed by two endpoints goes to the
/// first in key order, and the clash is returned for the log.
pub fn device_routes(
    endpoints: &[acl::endpoint::WorkloadEndpoint],
) -> (Vec<DeviceRoute>, Vec<String>) {
    let mut sorted: Vec<&acl::endpoint::WorkloadEndpoint> = endpoints.iter().collect();
    sorted.sort_by_key(|e| e.key());
    let mut out: Vec<DeviceRoute> = Vec::new();
    let mut clashes = Vec::new();
    for e in sorted {
        for ip in &e.ips {
            let prefix = ip.trunc();
            if let Some(first) = out.iter().find(|d| d.prefix == prefix) {
                clashes.push(format!(
                    "{prefix} of endpoint {} is already endpoint {}'s; ignored",
                    e.key(),
                    first.endpoint
                ));
                continue;
            }
            out.push(DeviceRoute {
                prefix,
                interface: e.interface.clone(),
                endpoint: e.key(),
            });
        }
    }
    (out, clashes)
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

    #[test]
    fn sources_merge_with_endpoint_over_block_over_bgp() {
        let mut t = FibTable::new();
        let ch = t.set_blocks(&[net("10.244.1.0/24")]);
        assert_eq!(
            ch,
            vec![DesiredChange::Upsert(Route::blackhole(net(
                "10.244.1.0/24"
            )))]
        );
        let c = t.bgp(&RouteChange {
            prefix: net("10.244.2.0/24"),
            action: RouteAction::Install(vec![ip("192.0.2.2"), ip("192.0.2.3")]),
        });
        assert_eq!(
            c,
            Some(DesiredChange::Upsert(Route::via(
                net("10.244.2.0/24"),
                [NextHop::new(ip("192.0.2.2")), NextHop::new(ip("192.0.2.3"))]
            )))
        );
        // The same next hops again: nothing to do.
        let again = t.bgp(&RouteChange {
            prefix: net("10.244.2.0/24"),
            action: RouteAction::Replace(vec![ip("192.0.2.2"), ip("192.0.2.3")]),
        });
        assert_eq!(again, None);
        // BGP for our own block never displaces the blackhole.
        let own = t.bgp(&RouteChange {
            prefix: net("10.244.1.0/24"),
            action: RouteAction::Install(vec![ip("192.0.2.9")]),
        });
        assert_eq!(own, None);
        let eps = vec![DeviceRoute {
            prefix: net("10.244.1.10/32"),
            interface: "tw-web1".into(),
            endpoint: "shop/web-1".into(),
        }];
        let ch = t.set_endpoints(eps.clone());
        assert_eq!(
            ch,
            vec![DesiredChange::Upsert(Route::device(
                net("10.244.1.10/32"),
                "tw-web1"
            ))]
        );
        assert!(t.set_endpoints(eps).is_empty());
        assert_eq!(
            t.set_endpoints(vec![]),
            vec![DesiredChange::Remove(net("10.244.1.10/32"))]
        );
        let w = t.bgp(&RouteChange {
            prefix: net("10.244.2.0/24"),
            action: RouteAction::Withdraw,
        });
        assert_eq!(w, Some(DesiredChange::Remove(net("10.244.2.0/24"))));
        // Removing the block leaves the BGP route learned for it (if any) in place.
        let ch = t.set_blocks(&[]);
        assert_eq!(
            ch,
            vec![DesiredChange::Upsert(Route::via(
                net("10.244.1.0/24"),
                [NextHop::new(ip("192.0.2.9"))]
            ))]
        );
        assert_eq!(t.entries.len(), 1);
    }
}
