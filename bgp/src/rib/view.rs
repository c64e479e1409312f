//! Views for `tern routes`: each prefix with its best path, ECMP next hops and — with
//! `all` — every other path with the reason it lost. Reasons are recomputed on demand
//! by the same decision process, so nothing is stored per route. Rejected paths are
//! not stored; their counts per peer and reason come from [`Rib::rejected`].

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::decision::{select, Lost};
use super::import::Reject;
use super::peers::{candidate, local_pref, peer};
use super::table::{Addr, Key, PathRef, Table, LOCAL_SLOT, REJECT_MASK};
use super::update::fib_hops;
use super::{PathView, Rib, RouteView};

impl Rib {
    fn path_view(&self, p: PathRef, best: bool, ecmp: bool, lost: Option<Lost>) -> PathView {
        let it = self.attrs.get(p.attr);
        let from = peer(&self.peers, p.peer);
        let a = &it.value.attrs;
        let rejected = Reject::from_code(p.reject & REJECT_MASK).map(|r| r.summary().to_owned());
        PathView {
            peer: from.map(|f| f.id),
            from: from.map(|f| f.settings.address),
            path_id: (p.path_id != 0).then_some(p.path_id),
            next_hop: if p.peer == LOCAL_SLOT {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                it.next_hop()
            },
            as_path: a.as_path.clone().unwrap_or_default().to_string(),
            local_pref: local_pref(&it.summary, from),
            med: a.med,
            origin: it.summary.origin,
            best,
            ecmp,
            reason_lost: lost.map(|l| l.to_string()),
            rejected,
        }
    }

    fn view<A: Addr>(&self, table: &Table<A>, i: Key<A>, all: bool) -> Option<RouteView> {
        let (addr, len) = table.prefix(i)?;
        let paths = table.paths(i);
        let list = paths.as_slice();
        let ecmp_n = paths.ecmp().len();
        if ecmp_n == 0 && !all {
            return None;
        }
        let accepted: Vec<PathRef> = list.iter().copied().filter(PathRef::accepted).collect();
        let cands: Vec<_> = accepted
            .iter()
            .map(|p| candidate(*p, &self.attrs.get(p.attr).summary, &self.peers))
            .collect();
        let sel = (accepted.len() > 1).then(|| select(&cands));
        let mut views = Vec::new();
        for (k, p) in list.iter().enumerate() {
            if !all && k >= ecmp_n {
                break;
            }
            // The best path and the other ECMP members did not lose; rejected paths
            // carry their rejection instead.
            let lost = if !p.accepted() || k < ecmp_n {
                None
            } else {
                let idx = accepted.iter().position(|a| a == p);
                idx.and_then(|x| sel.as_ref().and_then(|s| s.lost.get(x).copied().flatten()))
            };
            let v = self.path_view(*p, k == 0 && p.accepted(), k < ecmp_n, lost);
            views.push(v);
        }
        let best = views.first().filter(|v| v.best).cloned();
        Some(RouteView {
            prefix: addr.net(len),
            best,
            ecmp_next_hops: fib_hops(&self.attrs, paths.ecmp()).unwrap_or_default(),
            paths: views,
        })
    }

    /// The Loc-RIB for display, sorted by prefix: prefixes with a best path, and with
    /// `all` also those with only rejected paths, every path included.
    pub fn routes(&self, all: bool) -> Vec<RouteView> {
        let mut out: Vec<RouteView> = Vec::new();
        for (i, _, _) in self.v4.iter_keys() {
            out.extend(self.view(&self.v4, i, all));
        }
        for (i, _, _) in self.v6.iter_keys() {
            out.extend(self.view(&self.v6, i, all));
        }
        out.sort_by_key(|r| r.prefix);
        out
    }

    /// Every stored prefix, with or without a best path, sorted (IPv4 first): the index
    /// of a paged listing (a few octets a prefix instead of a whole view).
    pub fn prefixes(&self) -> Vec<IpNet> {
        let mut v4: Vec<(u32, u8)> = self.v4.iter_keys().map(|(_, a, l)| (a, l)).collect();
        v4.sort_unstable();
        let mut v6: Vec<(u128, u8)> = self.v6.iter_keys().map(|(_, a, l)| (a, l)).collect();
        v6.sort_unstable();
        let mut out = Vec::with_capacity(v4.len() + v6.len());
        out.extend(v4.into_iter().map(|(a, l)| a.net(l)));
        out.extend(v6.into_iter().map(|(a, l)| a.net(l)));
        out
    }

    /// The views of `prefixes` (exact matches; absent ones and, without `all`, those
    /// without a best path are left out), in the given order.
    pub fn routes_of(&self, prefixes: &[IpNet], all: bool) -> Vec<RouteView> {
        prefixes
            .iter()
            .filter_map(|p| self.route(*p, all))
            .collect()
    }

    /// One prefix for display (exact match).
    pub fn route(&self, prefix: IpNet, all: bool) -> Option<RouteView> {
        match prefix.trunc() {
            IpNet::V4(n) => {
                let i = self.v4.find(u32::from(n.network()), n.prefix_len())?;
                self.view(&self.v4, i, all)
            }
            IpNet::V6(n) => {
                let i = self.v6.find(u128::from(n.network()), n.prefix_len())?;
                self.view(&self.v6, i, all)
            }
        }
    }
}
