//! The agent's desired FIB: where each prefix's route comes from, merged into the one
//! route the controller is told to install.
//!
//! Three sources meet here: this node's blocks (blackhole, as Calico: packets for an
//! unused address of a local block are dropped instead of following a default route),
//! best paths from BGP (via the advertising hosts' addresses, ECMP when several), and
//! local workload endpoints (`IP/32 dev VETH scope link`). When two sources name the same
//! prefix the most specific knowledge wins: endpoint, then block, then BGP. Pure logic:
//! every update returns the [`DesiredChange`]s to send to the controller. A BGP route
//! the [`Guard`] refuses (it would take over the host's connected subnets, its route
//! to a peer, or the default route) is kept but not installed. BGP routes are
//! kept compactly (a prefix → interned next-hop-set id map) because there may be a full
//! table of them; the local sources are few.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::guard::Guard;
use super::overlay::Overlay;
use bgp::rib::{RouteAction, RouteChange};
use controller::{DesiredChange, Route};
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

/// What this node itself says about a prefix (few entries: blocks and endpoints).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Local {
    /// (interface, endpoint key) of a local workload address.
    endpoint: Option<(String, String)>,
    /// One of this node's blocks.
    block: bool,
}

/// Interned ECMP next-hop sets: a full table has a million prefixes but only as many
/// distinct next-hop sets as there are peers (and their combinations), so each prefix
/// keeps a 4-octet id instead of a vector.
#[derive(Debug, Default)]
struct HopSets {
    sets: Vec<Vec<IpAddr>>,
    refs: Vec<u32>,
    index: HashMap<Vec<IpAddr>, u32>,
    free: Vec<u32>,
}

impl HopSets {
    fn intern(&mut self, hops: &[IpAddr]) -> u32 {
        if let Some(&id) = self.index.get(hops) {
            if let Some(r) = self.refs.get_mut(id as usize) {
                *r += 1;
            }
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.sets.get_mut(id as usize) {
                    *slot = hops.to_vec();
                }
                if let Some(r) = self.refs.get_mut(id as usize) {
                    *r = 1;
                }
                id
            }
            None => {
                self.sets.push(hops.to_vec());
                self.refs.push(1);
                u32::try_from(self.sets.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index.insert(hops.to_vec(), id);
        id
    }

    fn release(&mut self, id: u32) {
        let Some(r) = self.refs.get_mut(id as usize) else {
            return;
        };
        *r = r.saturating_sub(1);
        if *r == 0 {
            if let Some(set) = self.sets.get_mut(id as usize) {
                self.index.remove(set.as_slice());
                set.clear();
                self.free.push(id);
            }
        }
    }

    fn get(&self, id: u32) -> &[IpAddr] {
        self.sets.get(id as usize).map_or(&[], Vec::as_slice)
    }
}

/// The merged desired table.
#[derive(Debug, Default)]
pub struct FibTable {
    local: BTreeMap<IpNet, Local>,
    bgp: HashMap<IpNet, u32>,
    hops: HopSets,
    endpoints: Vec<DeviceRoute>,
    guard: Guard,
    /// Pools whose routes may go through a tunnel (`super::overlay`).
    overlay: Overlay,
}

impl FibTable {
    /// An empty table.
    pub fn new() -> FibTable {
        FibTable::default()
    }

    /// The route the controller should have for `prefix`.
    fn route(&self, prefix: IpNet) -> Option<Route> {
        if let Some(l) = self.local.get(&prefix) {
            if let Some((iface, _)) = &l.endpoint {
                return Some(Route::device(prefix, iface.clone()));
            }
            if l.block {
                return Some(Route::blackhole(prefix));
            }
        }
        if self.guard.refuses(&prefix).is_some() {
            return None;
        }
        let connected = &self.guard.connected;
        self.bgp.get(&prefix).map(|id| {
            let hops = self.hops.get(*id).iter();
            Route::via(
                prefix,
                hops.map(|h| self.overlay.next_hop(&prefix, *h, connected)),
            )
        })
    }

    /// Replaces the pools' tunnel modes; returns the changes of the routes that move
    /// into or out of the tunnel.
    pub fn set_overlay(&mut self, overlay: Overlay) -> Vec<DesiredChange> {
        if overlay == self.overlay {
            return Vec::new();
        }
        let affected: Vec<IpNet> = self
            .bgp
            .keys()
            .filter(|p| self.overlay.covers(p) || overlay.covers(p))
            .copied()
            .collect();
        let before: Vec<(IpNet, Option<Route>)> =
            affected.iter().map(|p| (*p, self.route(*p))).collect();
        self.overlay = overlay;
        let mut out = Vec::new();
        for (p, b) in before {
            out.extend(change(p, b, self.route(p)));
        }
        out
    }

    /// Replaces the guard; BGP routes it now refuses are removed, those it now allows
    /// installed. Returns the changes.
    pub fn set_guard(&mut self, guard: Guard) -> Vec<DesiredChange> {
        if guard == self.guard {
            return Vec::new();
        }
        // Only prefixes either guard refuses, or in a tunnel pool (CrossSubnet follows the
        // connected subnets), can change.
        let affected: Vec<IpNet> = self
            .bgp
            .keys()
            .filter(|p| {
                self.guard.refuses(p).is_some()
                    || guard.refuses(p).is_some()
                    || self.overlay.covers(p)
            })
            .copied()
            .collect();
        let before: Vec<(IpNet, Option<Route>)> =
            affected.iter().map(|p| (*p, self.route(*p))).collect();
        self.guard = guard;
        let mut out = Vec::new();
        for (p, b) in before {
            out.extend(change(p, b, self.route(p)));
        }
        out
    }

    /// BGP prefixes the guard keeps out of the FIB, with the reason.
    #[cfg(test)]
    pub fn refused(&self) -> Vec<(IpNet, super::guard::Refusal)> {
        let mut v: Vec<(IpNet, super::guard::Refusal)> = self
            .bgp
            .keys()
            .filter(|p| !self.local.contains_key(p))
            .filter_map(|p| Some((*p, self.guard.refuses(p)?)))
            .collect();
        v.sort_unstable_by_key(|(p, _)| *p);
        v
    }

    fn update(&mut self, prefix: IpNet, f: impl FnOnce(&mut Self)) -> Option<DesiredChange> {
        let before = self.route(prefix);
        f(self);
        change(prefix, before, self.route(prefix))
    }

    fn update_local(&mut self, prefix: IpNet, f: impl FnOnce(&mut Local)) -> Option<DesiredChange> {
        let prefix = prefix.trunc();
        self.update(prefix, |t| {
            let l = t.local.entry(prefix).or_default();
            f(l);
            if l.endpoint.is_none() && !l.block {
                t.local.remove(&prefix);
            }
        })
    }

    /// This node's blocks (blackholes). Returns the changes.
    pub fn set_blocks(&mut self, blocks: &[IpNet]) -> Vec<DesiredChange> {
        let old: Vec<IpNet> = self
            .local
            .iter()
            .filter(|(p, l)| l.block && !blocks.contains(p))
            .map(|(p, _)| *p)
            .collect();
        let mut out: Vec<DesiredChange> = old
            .into_iter()
            .filter_map(|p| self.update_local(p, |l| l.block = false))
            .collect();
        for b in blocks {
            out.extend(self.update_local(*b, |l| l.block = true));
        }
        out
    }

    /// A best-path change from BGP.
    pub fn bgp(&mut self, change: &RouteChange) -> Option<DesiredChange> {
        let prefix = change.prefix.trunc();
        let hops = match &change.action {
            RouteAction::Install(h) | RouteAction::Replace(h) if !h.is_empty() => Some(h),
            _ => None,
        };
        self.update(prefix, |t| {
            let new = hops.map(|h| t.hops.intern(h));
            let old = match new {
                Some(id) => t.bgp.insert(prefix, id),
                None => t.bgp.remove(&prefix),
            };
            if let Some(old) = old {
                t.hops.release(old);
            }
        })
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
            out.extend(self.update_local(p, |l| l.endpoint = None));
        }
        for r in &routes {
            let v = (r.interface.clone(), r.endpoint.clone());
            out.extend(self.update_local(r.prefix, |l| l.endpoint = Some(v)));
        }
        self.endpoints = routes;
        out
    }

    /// The endpoint addresses in force.
    pub fn endpoints(&self) -> &[DeviceRoute] {
        &self.endpoints
    }
}

/// What the controller must be told when `prefix`'s route goes from `before` to `after`.
fn change(prefix: IpNet, before: Option<Route>, after: Option<Route>) -> Option<DesiredChange> {
    match (before, after) {
        (b, Some(a)) if b.as_ref() != Some(&a) => Some(DesiredChange::Upsert(a)),
        (Some(_), None) => Some(DesiredChange::Remove(prefix)),
        _ => None,
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
    use controller::NextHop;

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
        assert!(t.local.is_empty());
        assert_eq!(t.bgp.len(), 1);
    }

    #[test]
    fn the_guard_keeps_routes_that_take_over_the_hosts_own_out_of_the_fib() {
        let mut t = FibTable::new();
        let learn = |t: &mut FibTable, p: &str| {
            t.bgp(&RouteChange {
                prefix: net(p),
                action: RouteAction::Install(vec![ip("192.0.2.2")]),
            })
        };
        // Before the host's addresses are known nothing is refused but the default.
        assert!(learn(&mut t, "192.0.2.128/25").is_some());
        assert!(learn(&mut t, "10.244.2.0/24").is_some());
        assert_eq!(learn(&mut t, "0.0.0.0/0"), None);
        assert_eq!(
            t.refused()
                .first()
                .map(|(p, r)| format!("{p}: {r}"))
                .as_deref(),
            Some("0.0.0.0/0: default route and fib.allowDefault is false")
        );
        let g = Guard {
            connected: vec![net("192.0.2.0/24")],
            peers: vec![ip("192.0.2.2")],
            allow_default: false,
        };
        assert_eq!(
            t.set_guard(g.clone()),
            vec![DesiredChange::Remove(net("192.0.2.128/25"))]
        );
        assert!(t.set_guard(g.clone()).is_empty());
        assert_eq!(learn(&mut t, "192.0.2.0/24"), None);
        assert_eq!(
            t.refused().into_iter().map(|(p, _)| p).collect::<Vec<_>>(),
            vec![net("0.0.0.0/0"), net("192.0.2.0/24"), net("192.0.2.128/25")]
        );
        // allowDefault, and the subnet gone from the host: both installed now.
        let ch = t.set_guard(Guard {
            connected: vec![],
            peers: vec![],
            allow_default: true,
        });
        assert_eq!(ch.len(), 3, "{ch:?}");
        assert!(t.refused().is_empty());
    }

    #[test]
    fn tunnel_pools_move_routes_with_the_mode_and_the_connected_subnets() {
        use config::node::EncapMode;
        let mut t = FibTable::new();
        let remote = ip("192.168.2.3");
        t.bgp(&RouteChange {
            prefix: net("10.244.2.0/24"),
            action: RouteAction::Install(vec![remote]),
        });
        let tunnel = Route::via(net("10.244.2.0/24"), [NextHop::onlink(remote, "tern.ipip")]);
        let native = Route::via(net("10.244.2.0/24"), [NextHop::new(remote)]);
        let cross = Overlay::ipip([(net("10.244.0.0/16"), EncapMode::CrossSubnet)]);
        assert_eq!(
            t.set_overlay(cross.clone()),
            vec![DesiredChange::Upsert(tunnel.clone())]
        );
        assert!(t.set_overlay(cross).is_empty());
        // The remote host's subnet becomes connected: native; and back.
        let on = Guard {
            connected: vec![net("192.168.2.0/24")],
            ..Guard::default()
        };
        assert_eq!(t.set_guard(on), vec![DesiredChange::Upsert(native.clone())]);
        assert_eq!(
            t.set_guard(Guard::default()),
            vec![DesiredChange::Upsert(tunnel)]
        );
        assert_eq!(
            t.set_overlay(Overlay::default()),
            vec![DesiredChange::Upsert(native)]
        );
    }

    #[test]
    fn next_hop_sets_are_shared_and_freed() {
        let mut t = FibTable::new();
        let hops = vec![ip("192.0.2.2"), ip("192.0.2.3")];
        for i in 0..100u8 {
            let prefix = IpNet::new(IpAddr::from([10, 244, i, 0]), 24).unwrap();
            t.bgp(&RouteChange {
                prefix,
                action: RouteAction::Install(hops.clone()),
            });
        }
        assert_eq!(t.hops.index.len(), 1);
        assert_eq!(t.hops.refs[0], 100);
        for i in 0..100u8 {
            let prefix = IpNet::new(IpAddr::from([10, 244, i, 0]), 24).unwrap();
            let c = t.bgp(&RouteChange {
                prefix,
                action: RouteAction::Withdraw,
            });
            assert_eq!(c, Some(DesiredChange::Remove(prefix)));
        }
        assert!(t.hops.index.is_empty());
        assert!(t.bgp.is_empty());
        // The freed id is reused.
        t.bgp(&RouteChange {
            prefix: net("10.244.1.0/24"),
            action: RouteAction::Install(vec![ip("192.0.2.9")]),
        });
        assert_eq!(t.hops.sets.len(), 1);
    }
}
