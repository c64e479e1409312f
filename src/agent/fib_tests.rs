//! Tests of the desired-FIB merge ([`super::FibTable`]) against a model of the
//! controller's desired table: every change the table returns is applied to the model,
//! which is where the table reads installed routes back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::*;
use controller::NextHop;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}
fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The controller's desired table, as far as the agent can see it.
#[derive(Clone, Default)]
struct Model(Arc<Mutex<BTreeMap<IpNet, Route>>>);

impl Model {
    fn apply(&self, changes: &[DesiredChange]) {
        let mut m = self.0.lock().unwrap();
        for c in changes {
            match c {
                DesiredChange::Upsert(r) => {
                    m.insert(r.prefix, r.clone());
                }
                DesiredChange::Remove(p) => {
                    m.remove(p);
                }
                DesiredChange::ReplaceAll(_) => unreachable!("the agent never replaces all"),
            }
        }
    }
    fn get(&self, p: &str) -> Option<Route> {
        self.0.lock().unwrap().get(&net(p)).cloned()
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl Desired for Model {
    async fn desired_where(&self, filter: PrefixFilter) -> Vec<Route> {
        let m = self.0.lock().unwrap();
        m.values().filter(|r| filter(&r.prefix)).cloned().collect()
    }
    async fn desired_of(&self, prefixes: Vec<IpNet>) -> Vec<Route> {
        let m = self.0.lock().unwrap();
        prefixes.iter().filter_map(|p| m.get(p).cloned()).collect()
    }
}

/// A table wired to a model; each call's changes are applied to the model.
struct Rig {
    t: FibTable<Model>,
    m: Model,
}

impl Rig {
    fn new() -> Rig {
        let m = Model::default();
        Rig {
            t: FibTable::new(m.clone()),
            m,
        }
    }
    fn sent(&self, ch: Vec<DesiredChange>) -> Vec<DesiredChange> {
        self.m.apply(&ch);
        ch
    }
    fn bgp(&mut self, p: &str, hops: &[&str]) -> Option<DesiredChange> {
        let action = if hops.is_empty() {
            RouteAction::Withdraw
        } else {
            RouteAction::Install(hops.iter().map(|h| ip(h)).collect())
        };
        let c = self.t.bgp(&RouteChange {
            prefix: net(p),
            action,
        });
        self.m.apply(c.as_slice());
        c
    }
    async fn blocks(&mut self, b: &[&str]) -> Vec<DesiredChange> {
        let b: Vec<IpNet> = b.iter().map(|s| net(s)).collect();
        let ch = self.t.set_blocks(&b).await;
        self.sent(ch)
    }
    async fn endpoints(&mut self, e: Vec<DeviceRoute>) -> Vec<DesiredChange> {
        let ch = self.t.set_endpoints(e).await;
        self.sent(ch)
    }
    async fn guard(&mut self, g: Guard) -> Vec<DesiredChange> {
        let ch = self.t.set_guard(g).await;
        self.sent(ch)
    }
    async fn overlay(&mut self, o: Overlay) -> Vec<DesiredChange> {
        let ch = self.t.set_overlay(o).await;
        self.sent(ch)
    }
}

#[tokio::test]
async fn sources_merge_with_endpoint_over_block_over_bgp() {
    let mut r = Rig::new();
    let ch = r.blocks(&["10.244.1.0/24"]).await;
    assert_eq!(
        ch,
        vec![DesiredChange::Upsert(Route::blackhole(net(
            "10.244.1.0/24"
        )))]
    );
    let ecmp = Route::via(
        net("10.244.2.0/24"),
        [NextHop::new(ip("192.0.2.2")), NextHop::new(ip("192.0.2.3"))],
    );
    assert_eq!(
        r.bgp("10.244.2.0/24", &["192.0.2.2", "192.0.2.3"]),
        Some(DesiredChange::Upsert(ecmp.clone()))
    );
    // BGP for our own block never displaces the blackhole.
    assert_eq!(r.bgp("10.244.1.0/24", &["192.0.2.9"]), None);
    let eps = vec![DeviceRoute {
        prefix: net("10.244.1.10/32"),
        interface: "tw-web1".into(),
        endpoint: "shop/web-1".into(),
    }];
    assert_eq!(
        r.endpoints(eps.clone()).await,
        vec![DesiredChange::Upsert(Route::device(
            net("10.244.1.10/32"),
            "tw-web1"
        ))]
    );
    assert!(r.endpoints(eps).await.is_empty());
    assert_eq!(
        r.endpoints(vec![]).await,
        vec![DesiredChange::Remove(net("10.244.1.10/32"))]
    );
    assert_eq!(
        r.bgp("10.244.2.0/24", &[]),
        Some(DesiredChange::Remove(net("10.244.2.0/24")))
    );
    // Removing the block leaves the BGP route learned for it (if any) in place.
    assert_eq!(
        r.blocks(&[]).await,
        vec![DesiredChange::Upsert(Route::via(
            net("10.244.1.0/24"),
            [NextHop::new(ip("192.0.2.9"))]
        ))]
    );
    assert!(r.t.local.is_empty());
    assert!(r.t.held.is_empty(), "nothing held once nothing shadows");
    assert_eq!(r.m.len(), 1);
}

#[tokio::test]
async fn a_reload_of_the_blocks_sends_only_what_changed() {
    let mut r = Rig::new();
    let hole = |p: &str| DesiredChange::Upsert(Route::blackhole(net(p)));
    let ab = r.blocks(&["10.96.0.0/26", "10.96.0.64/26"]).await;
    assert_eq!(ab, vec![hole("10.96.0.0/26"), hole("10.96.0.64/26")]);
    // One more block (the list as a reload hands it over): that block only.
    let abc = ["10.96.0.0/26", "10.96.0.64/26", "10.96.0.128/26"];
    assert_eq!(r.blocks(&abc).await, vec![hole("10.96.0.128/26")]);
    // The same blocks in another order: nothing.
    let cba = ["10.96.0.128/26", "10.96.0.64/26", "10.96.0.0/26"];
    assert_eq!(r.blocks(&cba).await, vec![]);
    // One dropped: its removal only.
    assert_eq!(
        r.blocks(&["10.96.0.128/26", "10.96.0.0/26"]).await,
        vec![DesiredChange::Remove(net("10.96.0.64/26"))]
    );
    // A block over an endpoint's address: the endpoint's route stays, nothing is sent;
    // the block is still recorded (dropping the endpoint leaves the blackhole).
    let ep = DeviceRoute {
        prefix: net("10.96.1.7/32"),
        interface: "tw-a".into(),
        endpoint: "ns/a".into(),
    };
    r.endpoints(vec![ep]).await;
    let with_ep = ["10.96.0.128/26", "10.96.0.0/26", "10.96.1.7/32"];
    assert_eq!(r.blocks(&with_ep).await, vec![]);
    assert_eq!(r.endpoints(vec![]).await, vec![hole("10.96.1.7/32")]);
    assert_eq!(r.m.len(), 3);
}

#[tokio::test]
async fn a_block_or_endpoint_over_an_installed_bgp_route_keeps_it_for_later() {
    let mut r = Rig::new();
    r.bgp("10.244.3.0/24", &["192.0.2.2"]);
    r.bgp("10.244.4.7/32", &["192.0.2.3"]);
    // The table keeps no copy of an installed BGP route ...
    assert!(r.t.held.is_empty());
    // ... and reads it back from the controller when a local source takes the prefix.
    r.blocks(&["10.244.3.0/24"]).await;
    let ep = DeviceRoute {
        prefix: net("10.244.4.7/32"),
        interface: "tw-a".into(),
        endpoint: "ns/a".into(),
    };
    r.endpoints(vec![ep]).await;
    assert_eq!(r.t.held.len(), 2);
    assert_eq!(
        r.m.get("10.244.3.0/24"),
        Some(Route::blackhole(net("10.244.3.0/24")))
    );
    // A change of the shadowed BGP route is held, not sent.
    assert_eq!(r.bgp("10.244.3.0/24", &["192.0.2.5"]), None);
    r.blocks(&[]).await;
    r.endpoints(vec![]).await;
    assert_eq!(
        r.m.get("10.244.3.0/24"),
        Some(Route::via(
            net("10.244.3.0/24"),
            [NextHop::new(ip("192.0.2.5"))]
        ))
    );
    assert_eq!(
        r.m.get("10.244.4.7/32"),
        Some(Route::via(
            net("10.244.4.7/32"),
            [NextHop::new(ip("192.0.2.3"))]
        ))
    );
    assert!(r.t.held.is_empty());
}

#[tokio::test]
async fn the_guard_keeps_routes_that_take_over_the_hosts_own_out_of_the_fib() {
    let mut r = Rig::new();
    // Before the host's addresses are known nothing is refused but the default.
    assert!(r.bgp("192.0.2.128/25", &["192.0.2.2"]).is_some());
    assert!(r.bgp("10.244.2.0/24", &["192.0.2.2"]).is_some());
    assert_eq!(r.bgp("0.0.0.0/0", &["192.0.2.2"]), None);
    assert_eq!(
        r.t.refused()
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
        r.guard(g.clone()).await,
        vec![DesiredChange::Remove(net("192.0.2.128/25"))]
    );
    assert!(r.guard(g.clone()).await.is_empty());
    assert_eq!(r.bgp("192.0.2.0/24", &["192.0.2.2"]), None);
    assert_eq!(
        r.t.refused()
            .into_iter()
            .map(|(p, _)| p)
            .collect::<Vec<_>>(),
        vec![net("0.0.0.0/0"), net("192.0.2.0/24"), net("192.0.2.128/25")]
    );
    // allowDefault, and the subnet gone from the host: all three installed now.
    let ch = r
        .guard(Guard {
            connected: vec![],
            peers: vec![],
            allow_default: true,
        })
        .await;
    assert_eq!(ch.len(), 3, "{ch:?}");
    assert!(r.t.refused().is_empty());
    assert_eq!(r.m.len(), 4);
    // A refused route withdrawn: nothing to send, nothing held.
    r.guard(g).await;
    assert_eq!(r.bgp("192.0.2.0/24", &[]), None);
    assert_eq!(r.t.refused().len(), 2);
}

#[tokio::test]
async fn tunnel_pools_move_routes_with_the_mode_and_the_connected_subnets() {
    use config::node::EncapMode;
    let mut r = Rig::new();
    let remote = ip("192.168.2.3");
    r.bgp("10.244.2.0/24", &["192.168.2.3"]);
    let tunnel = Route::via(net("10.244.2.0/24"), [NextHop::onlink(remote, "tern.ipip")]);
    let native = Route::via(net("10.244.2.0/24"), [NextHop::new(remote)]);
    let cross = Overlay::ipip([(net("10.244.0.0/16"), EncapMode::CrossSubnet)]);
    assert_eq!(
        r.overlay(cross.clone()).await,
        vec![DesiredChange::Upsert(tunnel.clone())]
    );
    assert!(r.overlay(cross).await.is_empty());
    // The remote host's subnet becomes connected: native; and back.
    let on = Guard {
        connected: vec![net("192.168.2.0/24")],
        ..Guard::default()
    };
    assert_eq!(
        r.guard(on).await,
        vec![DesiredChange::Upsert(native.clone())]
    );
    assert_eq!(
        r.guard(Guard::default()).await,
        vec![DesiredChange::Upsert(tunnel)]
    );
    assert_eq!(
        r.overlay(Overlay::default()).await,
        vec![DesiredChange::Upsert(native.clone())]
    );
    assert_eq!(r.m.get("10.244.2.0/24"), Some(native));
}

#[tokio::test]
async fn a_full_table_of_bgp_routes_is_kept_only_in_the_controller() {
    let mut r = Rig::new();
    for i in 0..1000u16 {
        let prefix = IpNet::new(IpAddr::from([10, (i >> 8) as u8, i as u8, 0]), 24).unwrap();
        let c = r.t.bgp(&RouteChange {
            prefix,
            action: RouteAction::Install(vec![ip("192.0.2.2"), ip("192.0.2.3")]),
        });
        r.m.apply(c.as_slice());
    }
    assert!(r.t.held.is_empty() && r.t.local.is_empty());
    assert_eq!(r.m.len(), 1000);
    for i in 0..1000u16 {
        let prefix = IpNet::new(IpAddr::from([10, (i >> 8) as u8, i as u8, 0]), 24).unwrap();
        let c = r.t.bgp(&RouteChange {
            prefix,
            action: RouteAction::Withdraw,
        });
        assert_eq!(c, Some(DesiredChange::Remove(prefix)));
        r.m.apply(c.as_slice());
    }
    assert_eq!(r.m.len(), 0);
}
