//! examples/cluster: the node file loads, the resources load, and with three such nodes
//! registered host-a gets the mesh of the other two and the rack's ToR, with the AS of
//! `BGPConfiguration default`, and a /26 of the pool.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use cluster::{mesh, pools, Items, Local};
use config::node::Datastore;
use config::NodeConfig;

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/cluster")
        .join(name)
}

#[test]
fn the_example_cluster_computes_what_its_comments_say() {
    let cfg = NodeConfig::load(&example("node-a.yaml")).expect("node-a.yaml loads");
    assert!(matches!(cfg.datastore, Datastore::Etcd { .. }));
    assert!(!cfg.as_number_given);
    let res = resources::load_file(&example("cluster.yaml")).expect("cluster.yaml loads");
    let by_kind = |k: resources::Kind| -> Items {
        res.iter()
            .filter(|r| r.kind == k)
            .map(|r| (r.key(), r.clone()))
            .collect()
    };
    let configs = by_kind(resources::Kind::BgpConfiguration);
    let peers = by_kind(resources::Kind::BgpPeer);
    let ippools = by_kind(resources::Kind::IpPool);
    // Three nodes registered as the agents register themselves.
    let mut nodes: Items = BTreeMap::new();
    for (name, addr, rack) in [
        ("host-a", "10.0.0.1", "r1"),
        ("host-b", "10.0.0.2", "r1"),
        ("host-c", "10.0.0.3", "r2"),
    ] {
        let local = Local {
            name: name.into(),
            labels: [("rack".to_string(), rack.to_string())].into(),
            file_as: None,
            addresses: vec![addr.parse().expect("address")],
        };
        let r = mesh::own_node(&local, None);
        nodes.insert(r.key(), r);
    }
    let a = Local {
        name: cfg.node_name.clone(),
        labels: cfg.labels.clone(),
        file_as: None,
        addresses: vec![IpAddr::V4(cfg.router_id)],
    };
    assert_eq!(mesh::local_as(&a, &nodes, &configs), 64512);
    let (got, notes) =
        mesh::desired_peers(&a, &nodes, &configs, &peers, &Default::default(), |_| None);
    assert!(notes.is_empty(), "{notes:?}");
    let addrs: Vec<(String, u32)> = got.iter().map(|p| (p.address.to_string(), p.asn)).collect();
    assert_eq!(
        addrs,
        [
            ("10.0.0.2".to_string(), 64512),
            ("10.0.0.3".to_string(), 64512),
            ("10.0.0.254".to_string(), 65000)
        ]
    );
    let usable = pools::usable_pools(&ippools, &cfg.labels);
    assert_eq!(usable.len(), 1);
    assert_eq!(
        usable[0].blocks().next().map(|b| b.to_string()).as_deref(),
        Some("10.244.0.0/26")
    );
}
