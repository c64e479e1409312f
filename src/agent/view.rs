//! What the control socket answers: the agent's state gathered from the speaker, the
//! controller and the endpoint/policy tasks, shaped into the `control` views.

use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bgp::rib::{PathView, RouteView};
use bgp::speaker::{PeerStatus, SpeakerHandle};
use bgp::wire::Origin;
use controller::{ControllerHandle, RouteState, RouteStatus};
use ipnet::IpNet;
use tokio::sync::watch;

use super::control::Reply;
use super::control::{
    FibSummary, PathRow, PeerRow, PolicySummary, PrefixMatch, RejectedSummary, RouteRow,
    RouteSource, RoutesItem, RoutesQuery, RoutesSink, Source, StatusView, ROUTES_PAGE,
};
use super::fib::DeviceRoute;
use super::guard::{Guard, Refusal};
use super::peer_detail;

/// Fixed facts about the node.
#[derive(Debug)]
pub struct NodeInfo {
    /// `nodeName`.
    pub name: String,
    /// Our AS.
    pub asn: u32,
    /// Our router ID.
    pub router_id: Ipv4Addr,
    /// This node's blocks (a config reload may change them).
    pub blocks: tokio::sync::watch::Receiver<Vec<IpNet>>,
    /// When the agent started.
    pub started: Instant,
}

/// The agent's state as the control socket sees it. Cheap to clone.
#[derive(Clone)]
pub struct AgentView {
    /// The speaker.
    pub speaker: SpeakerHandle,
    /// The FIB controller.
    /// `None` when `fib.enabled` is false.
    pub fib: Option<ControllerHandle>,
    /// What learned routes may not take over (why a BGP route is not in the FIB).
    pub guard: watch::Receiver<Guard>,
    /// Node facts.
    pub node: Arc<NodeInfo>,
    /// Local endpoint addresses in force.
    pub endpoints: watch::Receiver<Vec<DeviceRoute>>,
    /// Policy summary.
    pub policy: watch::Receiver<PolicySummary>,
    /// BFD sessions (`bfd` column of `tern status`).
    pub bfd: super::bfd::BfdHandle,
    /// The cluster datastore's health (etcd mode).
    pub datastore: Option<watch::Receiver<super::cluster::DatastoreHealth>>,
}

fn unix(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// A peer's row of `tern status`.
pub fn peer_row(p: &PeerStatus) -> PeerRow {
    PeerRow {
        address: p.address.to_string(),
        asn: p.asn,
        kind: p.kind.name().into(),
        state: p.state.into(),
        since_unix: p.since.and_then(unix),
        received: p.prefixes_received,
        accepted: p.prefixes_accepted,
        rejected: p.rejected.iter().map(|(_, n)| n).sum(),
        advertised: p.prefixes_advertised,
        oversized: p.prefixes_oversized,
        last_error: p.last_error.clone(),
        description: p.description.clone(),
        bfd: None,
    }
}

fn origin(o: Origin) -> &'static str {
    match o {
        Origin::Igp => "IGP",
        Origin::Egp => "EGP",
        Origin::Incomplete => "incomplete",
    }
}

fn path_row(p: &PathView) -> PathRow {
    PathRow {
        from: p.from.map_or_else(|| "local".into(), |a| a.to_string()),
        path_id: p.path_id,
        next_hop: if p.next_hop.is_unspecified() {
            "-".into()
        } else {
            p.next_hop.to_string()
        },
        as_path: p.as_path.clone(),
        local_pref: Some(p.local_pref),
        med: p.med,
        origin: origin(p.origin).into(),
        best: p.best || p.ecmp,
        reason_lost: p.reason_lost.clone(),
        rejected: p.rejected.clone(),
    }
}

/// `(fib, fib_reason)` for a prefix from the controller's status.
fn fib_state(st: Option<&RouteStatus>) -> (String, Option<String>) {
    match st.map(|s| &s.state) {
        Some(RouteState::Installed) => ("yes".into(), None),
        Some(RouteState::Pending) => ("no".into(), Some("pending".into())),
        Some(RouteState::Failed(r)) => ("failed".into(), Some(r.clone())),
        None => ("no".into(), Some("not in tern's desired table".into())),
    }
}

/// A `tern routes` row for a RIB entry (`None` when the peer filter leaves it out).
fn rib_row(v: &RouteView, st: Option<&RouteStatus>, blocks: &[IpNet], all: bool) -> RouteRow {
    let best = v.best.as_ref();
    let local = best.is_some_and(|b| b.from.is_none()) || blocks.contains(&v.prefix);
    let (fib_s, reason) = match best {
        None => ("-".into(), None),
        Some(_) => fib_state(st),
    };
    RouteRow {
        prefix: v.prefix.to_string(),
        source: if local {
            RouteSource::Block
        } else {
            RouteSource::Bgp
        },
        next_hops: v.ecmp_next_hops.iter().map(ToString::to_string).collect(),
        as_path: best.map(|b| b.as_path.clone()),
        learned_from: best.map(|b| b.from.map_or_else(|| "local".into(), |a| a.to_string())),
        fib: fib_s,
        fib_reason: reason,
        paths: if all {
            v.paths.iter().map(path_row).collect()
        } else {
            Vec::new()
        },
    }
}

/// The row of one of this node's blocks that the RIB does not show.
fn block_row(b: IpNet, st: Option<&RouteStatus>) -> RouteRow {
    let (fib_s, reason) = fib_state(st);
    RouteRow {
        prefix: b.to_string(),
        source: RouteSource::Block,
        next_hops: Vec::new(),
        as_path: None,
        learned_from: Some("local".into()),
        fib: fib_s,
        fib_reason: reason,
        paths: Vec::new(),
    }
}

/// The row of a local endpoint's address.
fn endpoint_row(e: &DeviceRoute, st: Option<&RouteStatus>) -> RouteRow {
    let (fib_s, reason) = fib_state(st);
    RouteRow {
        prefix: e.prefix.to_string(),
        source: RouteSource::Endpoint,
        next_hops: vec![format!("dev {}", e.interface)],
        as_path: None,
        learned_from: Some(e.endpoint.clone()),
        fib: fib_s,
        fib_reason: reason,
        paths: Vec::new(),
    }
}

/// Where a paged listing reads the RIB and the FIB state (the speaker and the
/// controller in the agent; tables in tests).
pub trait RouteData: Send + Sync {
    /// Every stored prefix, sorted.
    fn prefixes(&self) -> impl Future<Output = Vec<IpNet>> + Send;
    /// The views of these prefixes (those still stored), in order.
    fn views(&self, prefixes: Vec<IpNet>, all: bool)
        -> impl Future<Output = Vec<RouteView>> + Send;
    /// The FIB state of each prefix; `None` without a FIB (`fib.enabled: false`).
    fn fib(
        &self,
        prefixes: Vec<IpNet>,
    ) -> impl Future<Output = Option<Vec<Option<RouteStatus>>>> + Send;
    /// Why a learned route is kept out of the FIB by the host's own routes, if it is.
    fn refusal(&self, _prefix: &IpNet) -> Option<Refusal> {
        None
    }
}

/// Whether `key` is selected by the query's prefix (longest match is narrowed later).
fn prefix_selects(q: &RoutesQuery, key: &IpNet) -> bool {
    let Some(p) = q.prefix.map(|p| p.trunc()) else {
        return true;
    };
    match q.match_ {
        PrefixMatch::Exact => *key == p,
        PrefixMatch::Covered => p.contains(key),
        PrefixMatch::Longest => key.contains(&p),
    }
}

fn selected(q: &RoutesQuery, key: &IpNet) -> bool {
    prefix_selects(q, key) && q.after.is_none_or(|a| *key > a)
}

/// Streams the `tern routes` rows for `q` into `out`, a page of [`ROUTES_PAGE`] RIB
/// prefixes at a time (the RIB's index is a sorted list of prefixes; views and FIB state
/// are read per page), merged with this node's blocks and endpoints in prefix order.
/// Returns where the next page starts when `q.limit` cut the listing short.
pub async fn stream_routes<D: RouteData>(
    data: &D,
    blocks: &[IpNet],
    endpoints: &[DeviceRoute],
    q: &RoutesQuery,
    out: &RoutesSink,
) -> Option<IpNet> {
    let mut keys: Vec<IpNet> = data.prefixes().await;
    keys.retain(|k| selected(q, k));
    let mut extra: Vec<IpNet> = blocks.iter().filter(|b| selected(q, b)).copied().collect();
    extra.retain(|b| keys.binary_search(b).is_err());
    if !extra.is_empty() {
        keys.extend(extra);
        keys.sort_unstable();
    }
    let mut eps: Vec<&DeviceRoute> = endpoints
        .iter()
        .filter(|e| q.peer.is_none() && selected(q, &e.prefix))
        .collect();
    eps.sort_by_key(|e| e.prefix);
    let longest = q.prefix.is_some() && q.match_ == PrefixMatch::Longest;
    // A longest-match listing has at most one candidate per prefix length: gather the
    // rows, keep the most specific.
    let limit = if longest {
        usize::MAX
    } else {
        q.limit.unwrap_or(usize::MAX).max(1)
    };
    let mut page: Vec<(IpNet, RouteRow)> = Vec::new();
    let mut sent = 0usize;
    let mut last: Option<IpNet> = None;
    let mut e_at = 0usize;
    // Sends the page unless this is a longest-match listing; false when the client left.
    async fn flush(out: &RoutesSink, page: &mut Vec<(IpNet, RouteRow)>, hold: bool) -> bool {
        if hold || page.is_empty() {
            return true;
        }
        let rows = page.drain(..).map(|(_, r)| r).collect();
        out.send(RoutesItem::Rows(rows)).await.is_ok()
    }
    for chunk in keys.chunks(ROUTES_PAGE) {
        let views = data.views(chunk.to_vec(), q.all).await;
        let views: Vec<&RouteView> = views
            .iter()
            .filter(|v| {
                q.peer.is_none_or(|peer| {
                    v.paths
                        .iter()
                        .any(|p| p.from == Some(peer) && (q.all || p.ecmp))
                })
            })
            .collect();
        // FIB state for everything of this page that can be in the FIB.
        let mut wanted: Vec<IpNet> = views
            .iter()
            .filter(|v| v.best.is_some())
            .map(|v| v.prefix)
            .collect();
        wanted.extend(chunk.iter().filter(|k| blocks.contains(k)));
        let hi = chunk.last().copied();
        let page_eps: Vec<&DeviceRoute> = eps
            .iter()
            .skip(e_at)
            .take_while(|e| hi.is_some_and(|h| e.prefix <= h))
            .copied()
            .collect();
        wanted.extend(page_eps.iter().map(|e| e.prefix));
        wanted.sort_unstable();
        wanted.dedup();
        let fib = data.fib(wanted.clone()).await;
        let status = |p: &IpNet| -> Option<&RouteStatus> {
            let fib = fib.as_ref()?;
            let i = wanted.binary_search(p).ok()?;
            fib.get(i)?.as_ref()
        };
        let mut vi = views.iter().peekable();
        for key in chunk {
            // Endpoint rows sort before a greater prefix (after an equal one's RIB row).
            while let Some(e) = eps.get(e_at).filter(|e| e.prefix < *key) {
                if sent >= limit && last != Some(e.prefix) {
                    flush(out, &mut page, longest).await;
                    return last;
                }
                page.push((e.prefix, endpoint_row(e, status(&e.prefix))));
                sent += 1;
                last = Some(e.prefix);
                e_at += 1;
            }
            let row = match vi.peek() {
                Some(v) if v.prefix == *key => {
                    vi.next().map(|v| rib_row(v, status(key), blocks, q.all))
                }
                _ if blocks.contains(key) && q.peer.is_none() => Some(block_row(*key, status(key))),
                _ => None,
            };
            if let Some(mut row) = row {
                if sent >= limit && last != Some(*key) {
                    flush(out, &mut page, longest).await;
                    return last;
                }
                if row.source == RouteSource::Bgp && status(key).is_none() {
                    if let Some(r) = data.refusal(key) {
                        row.fib_reason = Some(format!("not installed: {r}"));
                    }
                }
                if fib.is_none() && row.fib != "-" {
                    row.fib = "off".into();
                    row.fib_reason = Some("fib.enabled is false".into());
                }
                page.push((*key, row));
                sent += 1;
                last = Some(*key);
            }
        }
        if page.len() >= ROUTES_PAGE && !flush(out, &mut page, longest).await {
            return None;
        }
    }
    // Endpoints after the last RIB prefix.
    let rest: Vec<&DeviceRoute> = eps.get(e_at..).unwrap_or_default().to_vec();
    let fib = if rest.is_empty() {
        None
    } else {
        data.fib(rest.iter().map(|e| e.prefix).collect()).await
    };
    for (i, e) in rest.iter().enumerate() {
        if sent >= limit && last != Some(e.prefix) {
            flush(out, &mut page, longest).await;
            return last;
        }
        let st = fib.as_ref().and_then(|f| f.get(i)).and_then(Option::as_ref);
        page.push((e.prefix, endpoint_row(e, st)));
        sent += 1;
        last = Some(e.prefix);
    }
    if longest {
        let best = page.iter().map(|(p, _)| p.prefix_len()).max();
        page.retain(|(p, _)| Some(p.prefix_len()) == best);
    }
    flush(out, &mut page, false).await;
    None
}

impl RouteData for AgentView {
    async fn prefixes(&self) -> Vec<IpNet> {
        self.speaker.route_prefixes().await
    }
    async fn views(&self, prefixes: Vec<IpNet>, all: bool) -> Vec<RouteView> {
        self.speaker.routes_of(prefixes, all).await
    }
    async fn fib(&self, prefixes: Vec<IpNet>) -> Option<Vec<Option<RouteStatus>>> {
        let fib = self.fib.as_ref()?;
        let asks = prefixes.into_iter().map(|p| fib.route_status(p));
        let answers = futures::future::join_all(asks).await;
        Some(answers.into_iter().map(|a| a.ok().flatten()).collect())
    }
    fn refusal(&self, prefix: &IpNet) -> Option<Refusal> {
        self.guard.borrow().refuses(prefix)
    }
}

impl Source for AgentView {
    async fn status(&self) -> StatusView {
        let peers = self.speaker.peers().await;
        let bfd = self.bfd.states().await;
        let c = self
            .fib
            .as_ref()
            .map(ControllerHandle::counters)
            .unwrap_or_default();
        StatusView {
            node_name: self.node.name.clone(),
            asn: self.node.asn,
            router_id: self.node.router_id.to_string(),
            uptime_secs: self.node.started.elapsed().as_secs(),
            peers: peers
                .iter()
                .map(|p| PeerRow {
                    bfd: bfd.get(&p.address).map(|b| b.state.clone()),
                    ..peer_row(p)
                })
                .collect(),
            fib: FibSummary {
                desired: c.routes_desired,
                installed: c.routes_installed,
                failed: c.routes_failed,
            },
            policy: self.policy.borrow().clone(),
            endpoints: {
                let eps = self.endpoints.borrow();
                let mut keys: Vec<&str> = eps.iter().map(|e| e.endpoint.as_str()).collect();
                keys.sort_unstable();
                keys.dedup();
                keys.len()
            },
            // Filled in by `agent::reload::WithReload`.
            config_reload: None,
            datastore: self.datastore.as_ref().map(|d| d.borrow().clone()),
        }
    }

    async fn peer(&self, query: String) -> Reply {
        let peers = self.speaker.peers().await;
        let Some(p) = peers.iter().find(|p| peer_detail::matches(p, &query)) else {
            let known: Vec<String> = peers
                .iter()
                .map(|p| match &p.description {
                    Some(d) => format!("{} ({d})", p.address),
                    None => p.address.to_string(),
                })
                .collect();
            return Reply::Error(format!(
                "no peer {query:?}; peers: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        };
        let bfd = self.bfd.states().await;
        let row = PeerRow {
            bfd: bfd.get(&p.address).map(|b| b.state.clone()),
            ..peer_row(p)
        };
        Reply::Peer(Box::new(peer_detail::detail(p, row)))
    }

    async fn routes(&self, query: RoutesQuery, out: RoutesSink) -> Option<IpNet> {
        let endpoints = if self.fib.is_some() {
            self.endpoints.borrow().clone()
        } else {
            Vec::new()
        };
        let blocks = self.node.blocks.borrow().clone();
        let next = stream_routes(self, &blocks, &endpoints, &query, &out).await;
        // Rejected announcements the RIB only counts: one line per peer and reason.
        if query.all && query.prefix.is_none() && next.is_none() {
            for p in self.speaker.peers().await {
                if query.peer.is_some_and(|a| a != p.address) {
                    continue;
                }
                for (reason, count) in p.rejected.iter().filter(|(_, n)| *n > 0) {
                    let line = RejectedSummary {
                        reason: (*reason).to_string(),
                        count: *count,
                        peer: Some(p.address.to_string()),
                    };
                    if out.send(RoutesItem::Rejected(line)).await.is_err() {
                        return None;
                    }
                }
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn path(from: Option<&str>, best: bool, rejected: Option<&str>) -> PathView {
        PathView {
            peer: None,
            from: from.map(ip),
            next_hop: from.map_or(IpAddr::from([0, 0, 0, 0]), ip),
            as_path: if from.is_some() {
                "65000".into()
            } else {
                String::new()
            },
            path_id: None,
            local_pref: 100,
            med: None,
            origin: Origin::Igp,
            best,
            ecmp: best,
            reason_lost: None,
            rejected: rejected.map(String::from),
        }
    }

    #[test]
    fn rows_join_rib_fib_blocks_and_endpoints() {
        let learned = RouteView {
            prefix: net("10.244.9.0/24"),
            best: Some(path(Some("10.0.0.2"), true, None)),
            ecmp_next_hops: vec![ip("10.0.0.2")],
            paths: vec![path(Some("10.0.0.2"), true, None)],
        };
        let rejected = RouteView {
            prefix: net("10.99.0.0/24"),
            best: None,
            ecmp_next_hops: vec![],
            paths: vec![path(
                Some("10.0.0.2"),
                false,
                Some("prefix outside the pools"),
            )],
        };
        let own = RouteView {
            prefix: net("10.244.1.0/24"),
            best: Some(path(None, true, None)),
            ecmp_next_hops: vec![],
            paths: vec![path(None, true, None)],
        };
        let fib = vec![
            RouteStatus {
                route: controller::Route::blackhole(net("10.244.1.0/24")),
                state: RouteState::Installed,
            },
            RouteStatus {
                route: controller::Route::via(
                    net("10.244.9.0/24"),
                    [controller::NextHop::new(ip("10.0.0.2"))],
                ),
                state: RouteState::Failed("next hop 10.0.0.2 not directly reachable".into()),
            },
            RouteStatus {
                route: controller::Route::device(net("10.244.1.10/32"), "tw-a"),
                state: RouteState::Pending,
            },
        ];
        let eps = vec![DeviceRoute {
            prefix: net("10.244.1.10/32"),
            interface: "tw-a".into(),
            endpoint: "ns/a".into(),
        }];
        let blocks = [net("10.244.1.0/24"), net("fd00:244:0:1::/64")];
        let data = Tables {
            views: vec![learned, rejected, own],
            fib: Some(fib),
        };
        let rows = list(&data, &blocks, &eps, RoutesQuery::default()).0;
        let prefixes: Vec<&str> = rows.iter().map(|r| r.prefix.as_str()).collect();
        assert_eq!(
            prefixes,
            [
                "10.244.1.0/24",
                "10.244.1.10/32",
                "10.244.9.0/24",
                "fd00:244:0:1::/64"
            ]
        );
        assert_eq!(rows[0].source, RouteSource::Block);
        assert_eq!(rows[0].fib, "yes");
        assert_eq!(rows[1].source, RouteSource::Endpoint);
        assert_eq!(rows[1].fib, "no");
        assert_eq!(rows[1].learned_from.as_deref(), Some("ns/a"));
        assert_eq!(rows[2].fib, "failed");
        assert!(rows[2]
            .fib_reason
            .as_deref()
            .unwrap()
            .contains("not directly reachable"));
        assert_eq!(rows[2].as_path.as_deref(), Some("65000"));
        assert!(rows[2].paths.is_empty());
        // A block the RIB does not show yet still has its row.
        assert_eq!(rows[3].fib, "no");

        let all_q = RoutesQuery {
            all: true,
            ..RoutesQuery::default()
        };
        let all = list(&data, &blocks, &eps, all_q.clone()).0;
        let r = all.iter().find(|r| r.prefix == "10.99.0.0/24").unwrap();
        assert_eq!(r.fib, "-");
        assert_eq!(
            r.paths[0].rejected.as_deref(),
            Some("prefix outside the pools")
        );
        assert_eq!(
            all.iter()
                .find(|r| r.prefix == "10.244.9.0/24")
                .unwrap()
                .paths
                .len(),
            1
        );

        // Filters: a peer, a prefix three ways, and pages.
        let by_peer = list(
            &data,
            &blocks,
            &eps,
            RoutesQuery {
                peer: Some(ip("10.0.0.2")),
                ..all_q.clone()
            },
        )
        .0;
        let p: Vec<&str> = by_peer.iter().map(|r| r.prefix.as_str()).collect();
        assert_eq!(p, ["10.99.0.0/24", "10.244.9.0/24"]);
        let q = |prefix: &str, m: PrefixMatch| RoutesQuery {
            prefix: Some(net(prefix)),
            match_: m,
            ..RoutesQuery::default()
        };
        let prefixes =
            |rows: Vec<RouteRow>| -> Vec<String> { rows.into_iter().map(|r| r.prefix).collect() };
        assert_eq!(
            prefixes(
                list(
                    &data,
                    &blocks,
                    &eps,
                    q("10.244.1.10/32", PrefixMatch::Longest)
                )
                .0
            ),
            ["10.244.1.10/32"]
        );
        assert_eq!(
            prefixes(
                list(
                    &data,
                    &blocks,
                    &eps,
                    q("10.244.1.77/32", PrefixMatch::Longest)
                )
                .0
            ),
            ["10.244.1.0/24"]
        );
        assert_eq!(
            prefixes(
                list(
                    &data,
                    &blocks,
                    &eps,
                    q("10.244.0.0/16", PrefixMatch::Covered)
                )
                .0
            ),
            ["10.244.1.0/24", "10.244.1.10/32", "10.244.9.0/24"]
        );
        assert_eq!(
            prefixes(list(&data, &blocks, &eps, q("10.244.9.0/24", PrefixMatch::Exact)).0),
            ["10.244.9.0/24"]
        );
        assert!(
            list(&data, &blocks, &eps, q("10.244.9.0/25", PrefixMatch::Exact))
                .0
                .is_empty()
        );
        // Pages of two: the cursor goes on where the last page stopped, nothing twice.
        let mut seen = Vec::new();
        let mut after = None;
        for _ in 0..10 {
            let (rows, next) = list(
                &data,
                &blocks,
                &eps,
                RoutesQuery {
                    limit: Some(2),
                    after,
                    ..all_q.clone()
                },
            );
            assert!(rows.len() <= 2);
            seen.extend(prefixes(rows));
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, prefixes(all));
    }

    /// Paging over more prefixes than one page with the FIB off.
    #[test]
    fn many_pages_without_a_fib() {
        let views: Vec<RouteView> = (0..(ROUTES_PAGE * 3 + 7) as u32)
            .map(|i| RouteView {
                prefix: IpNet::V4(
                    ipnet::Ipv4Net::new((0x0a00_0000 + (i << 8)).into(), 24).unwrap(),
                ),
                best: Some(path(Some("10.0.0.2"), true, None)),
                ecmp_next_hops: vec![ip("10.0.0.2")],
                paths: vec![path(Some("10.0.0.2"), true, None)],
            })
            .collect();
        let n = views.len();
        let data = Tables { views, fib: None };
        let (rows, next) = list(&data, &[], &[], RoutesQuery::default());
        assert_eq!(next, None);
        assert_eq!(rows.len(), n);
        assert!(rows
            .windows(2)
            .all(|w| net(&w[0].prefix) < net(&w[1].prefix)));
        assert!(rows.iter().all(|r| r.fib == "off"));
    }

    /// An in-memory RIB and FIB.
    struct Tables {
        views: Vec<RouteView>,
        fib: Option<Vec<RouteStatus>>,
    }

    impl RouteData for Tables {
        async fn prefixes(&self) -> Vec<IpNet> {
            let mut p: Vec<IpNet> = self.views.iter().map(|v| v.prefix).collect();
            p.sort();
            p
        }
        async fn views(&self, prefixes: Vec<IpNet>, all: bool) -> Vec<RouteView> {
            prefixes
                .iter()
                .filter_map(|p| self.views.iter().find(|v| v.prefix == *p))
                .filter(|v| all || v.best.is_some())
                .map(|v| RouteView {
                    paths: if all {
                        v.paths.clone()
                    } else {
                        v.paths.iter().filter(|p| p.ecmp).cloned().collect()
                    },
                    ..v.clone()
                })
                .collect()
        }
        async fn fib(&self, prefixes: Vec<IpNet>) -> Option<Vec<Option<RouteStatus>>> {
            let fib = self.fib.as_ref()?;
            Some(
                prefixes
                    .iter()
                    .map(|p| fib.iter().find(|s| s.route.prefix == *p).cloned())
                    .collect(),
            )
        }
    }

    /// Runs a listing to the end; (rows, next).
    fn list(
        data: &Tables,
        blocks: &[IpNet],
        eps: &[DeviceRoute],
        q: RoutesQuery,
    ) -> (Vec<RouteRow>, Option<IpNet>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::channel(2);
            let collect = async {
                let mut rows = Vec::new();
                while let Some(item) = rx.recv().await {
                    if let RoutesItem::Rows(r) = item {
                        rows.extend(r);
                    }
                }
                rows
            };
            let produce = async move { stream_routes(data, blocks, eps, &q, &tx).await };
            let (next, rows) = tokio::join!(produce, collect);
            (rows, next)
        })
    }
}
