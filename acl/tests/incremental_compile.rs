//! The incremental compile ([`acl::Incremental`]) gives exactly what a full compile gives,
//! bundle after bundle, and takes from the last compile only what may be taken: the
//! chains of a policy seen before, while the endpoints, namespaces, network sets and
//! named ports are the same.

mod common;

use std::sync::Arc;

use acl::{compile, load_paths, Bundle, CompileOptions, Incremental};

/// Compiles `b` both ways, asserts the two are equal; returns how many chains were reused.
fn step(inc: &mut Incremental, b: &Bundle, what: &str) -> usize {
    let opts = CompileOptions::default();
    let full = compile(b, &opts);
    let got = inc.compile(b, &opts);
    assert_eq!(got, full, "{what}");
    assert!(!full.chains.is_empty(), "{what}: nothing compiled");
    inc.reused()
}

/// How many chains a full compile of `b` has.
fn chains(b: &Bundle) -> usize {
    compile(b, &CompileOptions::default()).chains.len()
}

fn examples(dirs: &[&str]) -> Bundle {
    let paths: Vec<_> = dirs.iter().map(|d| common::examples().join(d)).collect();
    load_paths(&paths).unwrap_or_else(|e| panic!("{e}"))
}

fn policy<'a>(b: &'a mut Bundle, name: &str) -> &'a mut acl::model::Policy {
    let p = b
        .policies
        .iter_mut()
        .find(|p| p.id.name == name)
        .unwrap_or_else(|| panic!("no policy {name}"));
    Arc::make_mut(p)
}

#[test]
fn unchanged_policies_are_reused_and_a_changed_world_rebuilds_everything() {
    let mut inc = Incremental::new();
    let mut b = examples(&["policies", "endpoints"]);
    assert_eq!(step(&mut inc, &b, "first"), 0);
    let all = chains(&b);

    // The same files loaded again: new values, equal to the last ones.
    let again = examples(&["policies", "endpoints"]);
    assert_eq!(step(&mut inc, &again, "reloaded"), all);
    // The same shared values.
    assert_eq!(step(&mut inc, &b, "same bundle"), all);

    // One policy's rules change: its chain is built again, the others are reused.
    let web_chains = compile(&b, &CompileOptions::default())
        .chains
        .keys()
        .filter(|(id, _)| id.ends_with("/web"))
        .count();
    assert!(web_chains > 0);
    if let Some(r) = policy(&mut b, "web").ingress.as_mut() {
        r.truncate(3);
    }
    assert_eq!(step(&mut inc, &b, "web changed"), all - web_chains);

    // An endpoint's labels change what a rule selector selects (web's UDP rule from
    // app == 'db'): nothing is reused.
    let db = b.workloads.iter_mut().find(|w| w.name == "db-1").unwrap();
    db.labels.insert("app".into(), "db-old".into());
    assert_eq!(step(&mut inc, &b, "db relabelled"), 0);
    assert_eq!(step(&mut inc, &b, "db relabelled, again"), chains(&b));

    // A namespace's labels change what a namespace selector selects (web's rule from
    // env == 'dev').
    let dev = b.namespaces.iter_mut().find(|n| n.name == "dev").unwrap();
    dev.labels.insert("env".into(), "qa".into());
    assert_eq!(step(&mut inc, &b, "dev relabelled"), 0);

    // An endpoint goes, one comes with another address.
    b.workloads.retain(|w| w.name != "cache-1");
    let mut extra = b.workloads[0].clone();
    extra.name = "web-9".into();
    extra.interface = "tw-web9".into();
    extra.ips = vec!["10.65.0.99/32".parse().unwrap()];
    b.workloads.push(extra);
    assert_eq!(step(&mut inc, &b, "endpoints changed"), 0);

    // A policy goes: the rest are reused.
    b.policies.retain(|p| p.id.name != "client-egress");
    assert_eq!(step(&mut inc, &b, "policy removed"), chains(&b));
}

#[test]
fn named_ports_and_network_sets_are_part_of_what_is_compared() {
    let mut inc = Incremental::new();
    let mut b = examples(&["named-ports"]);
    step(&mut inc, &b, "first");
    let all = chains(&b);
    assert_eq!(step(&mut inc, &b, "same"), all);
    // web-2 serves `metrics` on another port: the (address, port) set changes.
    let ports = b
        .named_ports
        .values_mut()
        .find(|ps| ps.iter().any(|p| p.port == 9200))
        .expect("web-2's ports");
    for p in ports.iter_mut().filter(|p| p.port == 9200) {
        p.port = 9300;
    }
    assert_eq!(step(&mut inc, &b, "named port moved"), 0);
    assert_eq!(step(&mut inc, &b, "named port moved, again"), all);
    // A network set appears that a selector may select.
    b.network_sets.push(acl::NetworkSet {
        name: "extra".into(),
        namespace: Some("shop".into()),
        nets: vec!["198.51.100.0/24".parse().unwrap()],
        labels: [("app".to_string(), "client".to_string())].into(),
    });
    assert_eq!(step(&mut inc, &b, "network set added"), 0);
}
