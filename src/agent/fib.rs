//! The agent's desired FIB: where each prefix's route comes from, merged into the one
//! route the controller is told to install.
//!
//! Three sources meet here: this node's blocks (blackhole, as Calico: packets for an
//! unused address of a local block are dropped instead of following a default route),
//! best paths from BGP (via the advertising hosts' addresses, ECMP when several), and
//! local workload endpoints (`IP/32 dev VETH scope link`). When two sources name the same
//! prefix the most specific knowledge wins: endpoint, then block, then BGP. Every update
//! returns the [`DesiredChange`]s to send to the controller. A BGP route the [`Guard`]
//! refuses (it would take over the host's connected subnets, its route to a peer, or
//! the default route) is kept but not installed.
//!
//! One copy of a full table: a BGP route that goes into the FIB is kept only in the
//! controller's desired table. This table keeps the BGP next hops only of the few
//! prefixes whose BGP route is *not* there (a local source shadows it, or the guard
//! refuses it), and reads installed routes back from the controller ([`Desired`]) when
//! a rule that decides them changes (guard, tunnel modes, a prefix becoming local).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use super::guard::Guard;
use super::overlay::Overlay;
use bgp::rib::{RouteAction, RouteChange};
use bgp::speaker::{sorted_diff, sorted_set, RouteSink};
use controller::{ControllerHandle, DesiredChange, PrefixFilter, Route, RouteKind};
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

impl Local {
    fn route(&self, prefix: IpNet) -> Option<Route> {
        match &self.endpoint {
            Some((iface, _)) => Some(Route::device(prefix, iface.clone())),
            None => self.block.then(|| Route::blackhole(prefix)),
        }
    }
}

/// Where the desired routes handed over live: the controller (tests use a model).
pub trait Desired {
    /// The desired routes whose prefix `filter` picks, after every change sent before.
    fn desired_where(&self, filter: PrefixFilter) -> impl Future<Output = Vec<Route>> + Send;
    /// The desired routes of these prefixes (those there are), after every change sent
    /// before.
    fn desired_of(&self, prefixes: Vec<IpNet>) -> impl Future<Output = Vec<Route>> + Send;
}

impl Desired for ControllerHandle {
    async fn desired_where(&self, filter: PrefixFilter) -> Vec<Route> {
        // A stopped controller: the next change sent fails and ends the routes task.
        ControllerHandle::desired_where(self, filter)
            .await
            .unwrap_or_default()
    }
    async fn desired_of(&self, prefixes: Vec<IpNet>) -> Vec<Route> {
        ControllerHandle::desired_of(self, prefixes)
            .await
            .unwrap_or_default()
    }
}

/// The merge rules and the few routes that are not in the controller.
#[derive(Debug)]
pub struct FibTable<D = ControllerHandle> {
    local: BTreeMap<IpNet, Local>,
    /// The blocks of the last [`FibTable::set_blocks`], truncated, sorted, deduplicated:
    /// exactly the prefixes whose `local` entry has `block` set.
    blocks: Vec<IpNet>,
    /// BGP next hops of prefixes whose BGP route is not in the controller: shadowed by
    /// a local source, or refused by the guard.
    held: BTreeMap<IpNet, Vec<IpAddr>>,
    endpoints: Vec<DeviceRoute>,
    guard: Guard,
    /// Pools whose routes may go through a tunnel (`super::overlay`).
    overlay: Overlay,
    desired: D,
}

/// Applies a small batch of best-path changes in the BGP speaker's own turn
/// ([`bgp::speaker::RouteSink`]): the table's merge rules, then the controller's direct
/// push. It gives the batch back, untouched, when the routes task holds the table (it is
/// applying another input) or the controller is not idle; the routes task then takes it.
/// One hop fewer from an UPDATE's read to its route's write than through the routes
/// task, which is how BIRD's single thread does it.
pub struct BgpSink {
    table: Arc<tokio::sync::Mutex<FibTable>>,
    fib: ControllerHandle,
}

impl BgpSink {
    /// A sink sharing the routes task's table.
    pub fn new(table: Arc<tokio::sync::Mutex<FibTable>>, fib: ControllerHandle) -> BgpSink {
        BgpSink { table, fib }
    }
}

impl RouteSink for BgpSink {
    fn apply_now(&mut self, changes: Vec<RouteChange>) -> Result<(), Vec<RouteChange>> {
        let Ok(mut table) = self.table.try_lock() else {
            return Err(changes);
        };
        // Taken before the table changes: nothing to undo when the controller is busy.
        let Some(mut direct) = self.fib.direct() else {
            return Err(changes);
        };
        for c in &changes {
            if let Some(d) = table.bgp(c) {
                direct.change(d);
            }
        }
        direct.push();
        Ok(())
    }
}

/// Blocks as the kernel has them: truncated, sorted, without duplicates.
pub(super) fn normalized_blocks(blocks: &[IpNet]) -> Vec<IpNet> {
    sorted_set(blocks.iter().map(IpNet::trunc).collect())
}

/// The BGP next hops of a route handed to the controller (its addresses: a tunnel
/// next hop keeps the remote host's).
fn hops_of(route: &Route) -> Option<Vec<IpAddr>> {
    match &route.kind {
        RouteKind::Via(h) => Some(h.iter().map(|n| n.address).collect()),
        _ => None,
    }
}

impl<D: Desired> FibTable<D> {
    /// An empty table whose BGP routes live in `desired`.
    pub fn new(desired: D) -> FibTable<D> {
        FibTable {
            local: BTreeMap::new(),
            blocks: Vec::new(),
            held: BTreeMap::new(),
            endpoints: Vec::new(),
            guard: Guard::default(),
            overlay: Overlay::default(),
            desired,
        }
    }

    /// The route for a BGP prefix learned via `hops`, through a tunnel where a pool says so.
    fn bgp_route(&self, prefix: IpNet, hops: &[IpAddr]) -> Route {
        let connected = &self.guard.connected;
        Route::via(
            prefix,
            hops.iter()
                .map(|h| self.overlay.next_hop(&prefix, *h, connected)),
        )
    }

    /// Installed BGP routes (not shadowed by a local source) whose prefix `pick` picks.
    async fn installed_bgp(
        &self,
        pick: impl Fn(&IpNet) -> bool + Send + 'static,
    ) -> Vec<(IpNet, Vec<IpAddr>)> {
        let routes = self.desired.desired_where(Box::new(pick)).await;
        routes
            .iter()
            .filter(|r| !self.local.contains_key(&r.prefix))
            .filter_map(|r| Some((r.prefix, hops_of(r)?)))
            .collect()
    }

    /// Replaces the pools' tunnel modes; returns the changes of the routes that move
    /// into or out of the tunnel.
    pub async fn set_overlay(&mut self, overlay: Overlay) -> Vec<DesiredChange> {
        if overlay == self.overlay {
            return Vec::new();
        }
        let (old, new) = (self.overlay.clone(), overlay.clone());
        let affected = self
            .installed_bgp(move |p| old.covers(p) || new.covers(p))
            .await;
        self.overlay = overlay;
        affected
            .into_iter()
            .map(|(p, h)| DesiredChange::Upsert(self.bgp_route(p, &h)))
            .collect()
    }

    /// Replaces the guard; BGP routes it now refuses are removed, those it now allows
    /// installed. Returns the changes.
    pub async fn set_guard(&mut self, guard: Guard) -> Vec<DesiredChange> {
        if guard == self.guard {
            return Vec::new();
        }
        // Only prefixes either guard refuses, or in a tunnel pool (CrossSubnet follows the
        // connected subnets), can change. Those the old one refused are held here.
        let (g, overlay) = (guard.clone(), self.overlay.clone());
        let installed = self
            .installed_bgp(move |p| g.refuses(p).is_some() || overlay.covers(p))
            .await;
        self.guard = guard;
        let mut out = Vec::new();
        let freed: Vec<IpNet> = self
            .held
            .keys()
            .filter(|p| !self.local.contains_key(p) && self.guard.refuses(p).is_none())
            .copied()
            .collect();
        for p in freed {
            if let Some(h) = self.held.remove(&p) {
                out.push(DesiredChange::Upsert(self.bgp_route(p, &h)));
            }
        }
        for (p, h) in installed {
            if self.guard.refuses(&p).is_some() {
                self.held.insert(p, h);
                out.push(DesiredChange::Remove(p));
            } else {
                out.push(DesiredChange::Upsert(self.bgp_route(p, &h)));
            }
        }
        out
    }

    /// BGP prefixes the guard keeps out of the FIB, with the reason.
    #[cfg(test)]
    pub fn refused(&self) -> Vec<(IpNet, super::guard::Refusal)> {
        self.held
            .keys()
            .filter(|p| !self.local.contains_key(p))
            .filter_map(|p| Some((*p, self.guard.refuses(p)?)))
            .collect()
    }

    /// Before `prefixes` become local: hold the BGP routes the controller has for them.
    async fn hold_shadowed(&mut self, prefixes: impl Iterator<Item = IpNet>) {
        let mut new: Vec<IpNet> = prefixes
            .map(|p| p.trunc())
            .filter(|p| !self.local.contains_key(p) && !self.held.contains_key(p))
            .collect();
        if new.is_empty() {
            return;
        }
        new.sort_unstable();
        new.dedup();
        // Looked up one by one (a block or an endpoint among a full table's routes), on
        // this task when the controller is idle.
        for r in self.desired.desired_of(new).await {
            if let Some(h) = hops_of(&r) {
                self.held.insert(r.prefix, h);
            }
        }
    }

    /// Applies `f` to the local sources of `prefix` (whose BGP route, if the controller
    /// had one, is held already).
    fn update_local(&mut self, prefix: IpNet, f: impl FnOnce(&mut Local)) -> Option<DesiredChange> {
        let prefix = prefix.trunc();
        let l = self.local.entry(prefix).or_default();
        let before = l.route(prefix);
        f(l);
        let after = l.route(prefix);
        if after.is_none() {
            self.local.remove(&prefix);
        }
        match (before, after) {
            (b, Some(a)) => (b.as_ref() != Some(&a)).then_some(DesiredChange::Upsert(a)),
            (Some(_), None) => {
                // No longer local: the BGP route underneath, if any and allowed.
                if self.guard.refuses(&prefix).is_none() {
                    if let Some(h) = self.held.remove(&prefix) {
                        return Some(DesiredChange::Upsert(self.bgp_route(prefix, &h)));
                    }
                }
                Some(DesiredChange::Remove(prefix))
            }
            (None, None) => None,
        }
    }

    /// This node's blocks (blackholes). Returns the changes.
    pub async fn set_blocks(&mut self, blocks: &[IpNet]) -> Vec<DesiredChange> {
        let wanted = normalized_blocks(blocks);
        // A reload hands over the whole list: only the blocks added and removed since the
        // last one are looked up (searching the table's maps for every block was most of
        // the reloading host's work after the new block's UPDATE had left).
        let (added, removed) = sorted_diff(&self.blocks, &wanted);
        self.hold_shadowed(added.iter().copied()).await;
        let mut out: Vec<DesiredChange> = removed
            .into_iter()
            .filter_map(|p| self.update_local(p, |l| l.block = false))
            .collect();
        for b in added {
            out.extend(self.update_local(b, |l| l.block = true));
        }
        self.blocks = wanted;
        out
    }

    /// A best-path change from BGP. An installed route goes to the controller (which
    /// ignores one it already has); a shadowed or refused one is held here.
    pub fn bgp(&mut self, change: &RouteChange) -> Option<DesiredChange> {
        let prefix = change.prefix.trunc();
        match &change.action {
            RouteAction::Install(h) | RouteAction::Replace(h) if !h.is_empty() => {
                if self.local.contains_key(&prefix) || self.guard.refuses(&prefix).is_some() {
                    self.held.insert(prefix, h.clone());
                    None
                } else {
                    Some(DesiredChange::Upsert(self.bgp_route(prefix, h)))
                }
            }
            _ => {
                let held = self.held.remove(&prefix).is_some();
                (!held && !self.local.contains_key(&prefix))
                    .then_some(DesiredChange::Remove(prefix))
            }
        }
    }

    /// The complete set of local endpoint addresses. Returns the changes.
    pub async fn set_endpoints(&mut self, routes: Vec<DeviceRoute>) -> Vec<DesiredChange> {
        self.hold_shadowed(routes.iter().map(|r| r.prefix)).await;
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
#[path = "fib_tests.rs"]
mod tests;
