//! What the control socket answers: the agent's state gathered from the speaker, the
//! controller and the endpoint/policy tasks, shaped into the `control` views.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bgp::rib::{PathView, RouteView};
use bgp::speaker::{PeerStatus, SpeakerHandle};
use bgp::wire::Origin;
use controller::{ControllerHandle, RouteState, RouteStatus};
use ipnet::IpNet;
use tokio::sync::watch;

use super::control::{
    FibSummary, PathRow, PeerRow, PolicySummary, RouteRow, RouteSource, RoutesView, Source,
    StatusView,
};
use super::fib::DeviceRoute;

/// Fixed facts about the node.
#[derive(Debug)]
pub struct NodeInfo {
    /// `nodeName`.
    pub name: String,
    /// Our AS.
    pub asn: u32,
    /// Our router ID.
    pub router_id: Ipv4Addr,
    /// This node's blocks.
    pub blocks: Vec<IpNet>,
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
    /// Node facts.
    pub node: Arc<NodeInfo>,
    /// Local endpoint addresses in force.
    pub endpoints: watch::Receiver<Vec<DeviceRoute>>,
    /// Policy summary.
    pub policy: watch::Receiver<PolicySummary>,
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
        advertised: p.prefixes_advertised,
        last_error: p.last_error.clone(),
        description: p.description.clone(),
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

/// Builds the `tern routes` rows from the Loc-RIB view, the FIB status, the blocks and the
/// local endpoints. Sorted by prefix (IPv4 first).
pub fn route_rows(
    rib: Vec<RouteView>,
    fib: Vec<RouteStatus>,
    blocks: &[IpNet],
    endpoints: &[DeviceRoute],
    all: bool,
) -> Vec<RouteRow> {
    let fib: HashMap<IpNet, RouteStatus> = fib.into_iter().map(|s| (s.route.prefix, s)).collect();
    let mut rows: Vec<(IpNet, RouteRow)> = Vec::new();
    for v in rib {
        let best = v.best.as_ref();
        if best.is_none() && !all {
            continue;
        }
        let local = best.is_some_and(|b| b.from.is_none()) || blocks.contains(&v.prefix);
        let (fib_s, reason) = match best {
            None => ("-".into(), None),
            Some(_) => fib_state(fib.get(&v.prefix)),
        };
        rows.push((
            v.prefix,
            RouteRow {
                prefix: v.prefix.to_string(),
                source: if local {
                    RouteSource::Block
                } else {
                    RouteSource::Bgp
                },
                next_hops: v.ecmp_next_hops.iter().map(ToString::to_string).collect(),
                as_path: best.map(|b| b.as_path.clone()),
                learned_from: best
                    .map(|b| b.from.map_or_else(|| "local".into(), |a| a.to_string())),
                fib: fib_s,
                fib_reason: reason,
                paths: if all {
                    v.paths.iter().map(path_row).collect()
                } else {
                    Vec::new()
                },
            },
        ));
    }
    for b in blocks {
        if !rows.iter().any(|(p, _)| p == b) {
            let (fib_s, reason) = fib_state(fib.get(b));
            rows.push((
                *b,
                RouteRow {
                    prefix: b.to_string(),
                    source: RouteSource::Block,
                    next_hops: Vec::new(),
                    as_path: None,
                    learned_from: Some("local".into()),
                    fib: fib_s,
                    fib_reason: reason,
                    paths: Vec::new(),
                },
            ));
        }
    }
    for e in endpoints {
        let (fib_s, reason) = fib_state(fib.get(&e.prefix));
        rows.push((
            e.prefix,
            RouteRow {
                prefix: e.prefix.to_string(),
                source: RouteSource::Endpoint,
                next_hops: vec![format!("dev {}", e.interface)],
                as_path: None,
                learned_from: Some(e.endpoint.clone()),
                fib: fib_s,
                fib_reason: reason,
                paths: Vec::new(),
            },
        ));
    }
    rows.sort_by_key(|r| r.0);
    rows.into_iter().map(|(_, r)| r).collect()
}

impl Source for AgentView {
    async fn status(&self) -> StatusView {
        let peers = self.speaker.peers().await;
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
            peers: peers.iter().map(peer_row).collect(),
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
        }
    }

    async fn routes(&self, all: bool) -> RoutesView {
        let rib = self.speaker.routes(all).await;
        let Some(fib) = &self.fib else {
            let mut routes = route_rows(rib, Vec::new(), &self.node.blocks, &[], all);
            for r in routes.iter_mut().filter(|r| r.fib != "-") {
                r.fib = "off".into();
                r.fib_reason = Some("fib.enabled is false".into());
            }
            return RoutesView { routes };
        };
        let fib = fib.routes().await.unwrap_or_default();
        let endpoints = self.endpoints.borrow().clone();
        RoutesView {
            routes: route_rows(rib, fib, &self.node.blocks, &endpoints, all),
        }
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
        let views = vec![learned.clone(), rejected.clone(), own.clone()];
        let rows = route_rows(views, fib.clone(), &blocks, &eps, false);
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

        let all = route_rows(vec![learned, rejected, own], fib, &blocks, &eps, true);
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
    }
}
