//! A simulated mesh of speakers with RIBs.

use super::*;

fn prefixes(sim: &Sim, node: usize) -> Vec<String> {
    let rib = sim.nodes[node].rib.as_ref().expect("rib");
    let mut v: Vec<String> = rib
        .routes(false)
        .iter()
        .map(|r| r.prefix.to_string())
        .collect();
    v.sort();
    v
}

fn block(i: usize) -> ipnet::IpNet {
    format!("10.244.{i}.0/24").parse().expect("prefix")
}

#[test]
fn mesh_of_four_speakers_converges_and_withdraws() {
    // Nodes 0–2: iBGP full mesh in AS 65000; node 3: AS 65100, eBGP to node 0 only.
    let asn = |i: usize| if i == 3 { 65100 } else { 65000 };
    let mut sim = Sim::new(4);
    let links = [(0, 1), (0, 2), (1, 2), (0, 3)];
    for (a, b) in links {
        sim.add_session(a, b, cfg(a, b, asn));
        sim.add_session(b, a, cfg(b, a, asn));
    }
    sim.with_ribs(asn);
    for i in 0..4 {
        sim.nodes[i].rib.as_mut().expect("rib").originate(block(i));
    }
    let now = sim.now;
    for (a, b) in links {
        sim.session_mut(a, b).start(now);
        sim.session_mut(b, a).start(now);
    }
    sim.run_for(Duration::from_secs(60));
    for (a, b) in links {
        assert_eq!(sim.state(a, b), State::Established, "{a}→{b}");
        assert_eq!(sim.state(b, a), State::Established, "{b}→{a}");
        // Each side sent End-of-RIB after its initial table for each family.
        assert_eq!(sim.session(a, b).end_of_rib_received().len(), 2, "{a}←{b}");
    }
    let all: Vec<String> = (0..4).map(|i| block(i).to_string()).collect();
    for i in 0..4 {
        assert_eq!(prefixes(&sim, i), all, "node {i}");
    }
    // Directly learned routes point at the neighbour.
    let r = sim.nodes[1]
        .rib
        .as_ref()
        .expect("rib")
        .route(block(0), false)
        .expect("route");
    assert_eq!(r.ecmp_next_hops, vec![sim.nodes[0].addr]);

    // Node 3 stops originating: the withdrawal reaches everyone.
    sim.nodes[3]
        .rib
        .as_mut()
        .expect("rib")
        .withdraw_originated(block(3));
    sim.settle();
    for i in 0..4 {
        assert!(
            !prefixes(&sim, i).contains(&block(3).to_string()),
            "node {i}"
        );
    }

    // Node 0 shuts the eBGP session down: node 3 loses the mesh's blocks, the mesh
    // keeps its own.
    let now = sim.now;
    sim.session_mut(0, 3)
        .stop(now, Notification::shutdown("decommissioned", false));
    sim.settle();
    assert_eq!(prefixes(&sim, 3), Vec::<String>::new());
    for i in 0..3 {
        assert_eq!(prefixes(&sim, i), all[..3].to_vec(), "node {i}");
    }

    // An hour later everything is still up and nothing flapped.
    sim.run_for(Duration::from_secs(3600));
    for (a, b) in links.iter().take(3) {
        assert_eq!(sim.state(*a, *b), State::Established);
    }
    let downs: Vec<(usize, usize)> = sim
        .seen
        .iter()
        .filter_map(|s| match s {
            Seen::Down(n, p, _) => Some((*n, *p)),
            _ => None,
        })
        .collect();
    assert_eq!(
        downs,
        vec![(0, 3), (3, 0)],
        "only the stopped session went down"
    );
}

#[test]
fn route_refresh_resends_the_adj_rib_out() {
    let asn = EBGP;
    let mut sim = pair(asn);
    sim.with_ribs(asn);
    sim.nodes[0].rib.as_mut().expect("rib").originate(block(0));
    sim.start(0, 1);
    sim.start(1, 0);
    let updates = |sim: &Sim| {
        sim.sent(0, 1)
            .iter()
            .filter(|m| matches!(m, Message::Update(u) if !u.is_end_of_rib()))
            .count()
    };
    let before = updates(&sim);
    assert!(before >= 1);
    sim.inject(
        1,
        0,
        Message::RouteRefresh(RouteRefresh {
            family: AddressFamily::IPV4_UNICAST,
            subtype: RouteRefreshSubtype::Normal,
        }),
    );
    assert!(updates(&sim) > before, "the table was sent again");
    assert_eq!(prefixes(&sim, 1), vec![block(0).to_string()]);
}
