//! Applying to a real kernel, inside throwaway namespaces: an incremental apply leaves
//! exactly the state a full apply of the same policy gives; a refused transaction leaves
//! the rules in force untouched (and the next apply still works); a table removed behind
//! tern's back is rebuilt.

use std::collections::BTreeMap;
use std::fs;

mod common;

use acl::{Applier, ApplyMode, Backend, CompileOptions, Ir};
use common::{examples, nft_state, two_irs};
use testlab::{container, Lab, Netns};

/// iptables state by chain (rule order kept), counters and comments-lines dropped.
fn ipt_state(ns: &Netns) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for tool in ["iptables-save", "ip6tables-save"] {
        for l in ns.ok(&[tool, "-t", "filter"]).lines() {
            if let Some(rest) = l.strip_prefix("-A ") {
                let chain = rest.split_whitespace().next().unwrap_or("").to_string();
                out.entry(format!("{tool} {chain}"))
                    .or_default()
                    .push(l.to_string());
            } else if let Some(c) = l.strip_prefix(':') {
                out.entry(format!(
                    "{tool} {}",
                    c.split_whitespace().next().unwrap_or("")
                ))
                .or_default();
            }
        }
    }
    // `initval` is random per set; everything else must match.
    let mut sets = ns
        .ok(&["ipset", "save"])
        .lines()
        .map(|l| l.split(" initval ").next().unwrap_or(l).to_string())
        .collect::<Vec<_>>();
    sets.sort();
    out.insert("ipsets".into(), sets);
    out
}

#[test]
fn incremental_nft_apply_equals_full_apply() {
    let mut lab = Lab::new("acl-incr-nft");
    let (x, y) = (lab.netns("x"), lab.netns("y"));
    let (a, b) = two_irs(lab.dir());
    let mut inc = Applier::new(Backend::Nftables).in_netns(x.name());
    assert_eq!(inc.apply(&a).unwrap().mode, ApplyMode::Full);
    assert_eq!(inc.apply(&b).unwrap().mode, ApplyMode::Incremental);
    assert_eq!(inc.apply(&b).unwrap().mode, ApplyMode::Unchanged);
    let mut full = Applier::new(Backend::Nftables).in_netns(y.name());
    assert_eq!(full.apply(&b).unwrap().mode, ApplyMode::Full);
    assert_eq!(nft_state(&x), nft_state(&y));
    // And back again (this change removes chains and sets: their removal runs after the
    // apply returns, so wait for it before comparing).
    assert_eq!(inc.apply(&a).unwrap().mode, ApplyMode::Incremental);
    assert_eq!(full.apply(&a).unwrap().mode, ApplyMode::Incremental);
    inc.settle().unwrap();
    full.settle().unwrap();
    assert_eq!(nft_state(&x), nft_state(&y));
}

#[test]
fn incremental_iptables_apply_equals_full_apply() {
    let mut lab = Lab::new("acl-incr-ipt");
    let (x, y) = (lab.netns("x"), lab.netns("y"));
    let (a, b) = two_irs(lab.dir());
    let mut inc = Applier::new(Backend::Iptables).in_netns(x.name());
    assert_eq!(inc.apply(&a).unwrap().mode, ApplyMode::Full);
    assert_eq!(inc.apply(&b).unwrap().mode, ApplyMode::Incremental);
    let mut full = Applier::new(Backend::Iptables).in_netns(y.name());
    assert_eq!(full.apply(&b).unwrap().mode, ApplyMode::Full);
    assert_eq!(ipt_state(&x), ipt_state(&y));
    assert_eq!(inc.apply(&a).unwrap().mode, ApplyMode::Incremental);
    assert_eq!(full.apply(&a).unwrap().mode, ApplyMode::Incremental);
    assert_eq!(ipt_state(&x), ipt_state(&y));
    inc.flush().unwrap();
    let saved =
        x.ok(&["iptables-save"]) + &x.ok(&["ip6tables-save"]) + &x.ok(&["ipset", "list", "-n"]);
    assert!(!saved.contains("tern-"), "{saved}");
}

/// An IR the kernel refuses: a set whose name nft cannot parse.
fn broken(ir: &Ir) -> Ir {
    let mut bad = ir.clone();
    let any = bad.addr_sets.values().next().cloned().unwrap();
    bad.addr_sets.insert("bad name".into(), any);
    bad
}

#[test]
fn refused_apply_leaves_rules_in_force() {
    let mut lab = Lab::new("acl-rollback");
    let x = lab.netns("x");
    let (a, b) = two_irs(lab.dir());
    for backend in [Backend::Nftables, Backend::Iptables] {
        let mut ap = Applier::new(backend).in_netns(x.name());
        ap.apply(&a).unwrap();
        let before = if backend == Backend::Nftables {
            nft_state(&x)
        } else {
            String::new()
        };
        let before_ipt = ipt_state(&x);
        let err = ap.apply(&broken(&b)).unwrap_err();
        assert!(err.to_string().contains("failed"), "{err}");
        if backend == Backend::Nftables {
            assert_eq!(nft_state(&x), before);
        }
        assert_eq!(ipt_state(&x), before_ipt);
        // The applier still knows what is in force: the next good apply is incremental.
        assert_eq!(ap.apply(&b).unwrap().mode, ApplyMode::Incremental);
        ap.flush().unwrap();
    }
}

#[test]
fn table_removed_behind_our_back_is_rebuilt() {
    let mut lab = Lab::new("acl-rebuild");
    let x = lab.netns("x");
    let (a, b) = two_irs(lab.dir());
    let mut ap = Applier::new(Backend::Nftables).in_netns(x.name());
    ap.apply(&a).unwrap();
    x.ok(&["nft", "delete", "table", "inet", "tern"]);
    assert_eq!(ap.apply(&b).unwrap().mode, ApplyMode::Full);
    assert!(nft_state(&x).contains("tw-web2"));
}

#[test]
fn engine_reloads_incrementally_and_keeps_rules_on_bad_files() {
    let mut lab = Lab::new("acl-engine");
    let x = lab.netns("x");
    let dir = lab.dir().join("conf");
    fs::create_dir_all(&dir).unwrap();
    for f in [
        "policies/calico.yaml",
        "policies/kubernetes.yaml",
        "endpoints/shop.yaml",
    ] {
        fs::copy(examples().join(f), dir.join(f.replace('/', "-"))).unwrap();
    }
    let mut engine = acl::Engine::new(
        Backend::Nftables,
        vec![dir.clone()],
        CompileOptions::default(),
    )
    .with_applier(Applier::new(Backend::Nftables).in_netns(x.name()));
    let r = engine.reload().unwrap();
    assert_eq!(r.report.mode, ApplyMode::Full);
    assert_eq!(r.bundle.workloads.len(), 4);
    let good = nft_state(&x);
    fs::write(
        dir.join("broken.yaml"),
        "kind: WorkloadEndpoint\nname: w\ninterface: tw-w\nips: [10.1.1.1/99]\n",
    )
    .unwrap();
    let err = engine.reload().unwrap_err();
    assert!(matches!(err, acl::EngineError::Load(_)), "{err}");
    assert!(
        err.to_string()
            .contains("broken.yaml:4:7: ips[0]: bad CIDR"),
        "{err}"
    );
    assert_eq!(nft_state(&x), good);
    fs::write(dir.join("broken.yaml"), "kind: WorkloadEndpoint\nname: w\nnamespace: shop\ninterface: tw-w\nips: [10.1.1.1/32]\nlabels: { app: web }\n").unwrap();
    let r = engine.reload().unwrap();
    assert_eq!(r.report.mode, ApplyMode::Incremental);
    assert!(nft_state(&x).contains("\"tw-w\""));
    engine.flush().unwrap();
    assert!(!x
        .run(&["nft", "list", "table", "inet", "tern"])
        .status
        .success());
}

#[test]
fn resync_repairs_drift() {
    let mut lab = Lab::new("acl-resync");
    let x = lab.netns("x");
    let (a, _) = two_irs(lab.dir());
    let mut ap = Applier::new(Backend::Nftables).in_netns(x.name());
    ap.apply(&a).unwrap();
    let good = nft_state(&x);
    x.ok(&[
        "nft",
        "add",
        "rule",
        "inet",
        "tern",
        "prerouting",
        "counter",
        "drop",
    ]);
    assert_ne!(nft_state(&x), good);
    assert_eq!(ap.apply(&a).unwrap().mode, ApplyMode::Unchanged);
    ap.resync();
    assert_eq!(ap.apply(&a).unwrap().mode, ApplyMode::Full);
    assert_eq!(nft_state(&x), good);
}

/// The agent's path (Engine, incremental apply) with real traffic: a long-lived TCP
/// connection stays up while the policy that allows it is changed, and a connection
/// the new policy denies is refused.
#[test]
fn long_lived_connection_survives_incremental_change() {
    let mut lab = Lab::new("acl-longlived");
    let host = lab.netns("host");
    container::gateway(&host);
    let mut ctr = Vec::new();
    for (name, ip) in [("a", "10.66.0.1"), ("b", "10.66.0.2")] {
        let iface = format!("tw-{name}");
        let addr = format!("{ip}/32");
        let ns = container::container(&mut lab, &host, name, &iface, &[&addr]);
        container::host_side(&host, &iface, &[&addr]);
        ctr.push(ns);
    }
    let (a, b) = (ctr[0].clone(), ctr[1].clone());
    let conf = lab.dir().join("conf");
    fs::create_dir_all(&conf).unwrap();
    fs::write(
        conf.join("endpoints.yaml"),
        "kind: WorkloadEndpoint\nname: a\nnamespace: t\ninterface: tw-a\nips: [10.66.0.1/32]\nlabels: { app: a }\n---\n\
         kind: WorkloadEndpoint\nname: b\nnamespace: t\ninterface: tw-b\nips: [10.66.0.2/32]\nlabels: { app: b }\n",
    )
    .unwrap();
    let policy = |ports: &str| {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{ name: b-in, namespace: t }}\nspec:\n  selector: app == 'b'\n  ingress:\n    - {{ action: Allow, protocol: TCP, source: {{ selector: app == 'a' }}, destination: {{ ports: [{ports}] }} }}\n"
        )
    };
    fs::write(conf.join("policy.yaml"), policy("8000, 8001")).unwrap();
    let mut engine = acl::Engine::new(
        Backend::Nftables,
        vec![conf.clone()],
        CompileOptions::default(),
    )
    .with_applier(Applier::new(Backend::Nftables).in_netns(host.name()));
    assert_eq!(engine.reload().unwrap().report.mode, ApplyMode::Full);

    lab.spawn(&b, &["nc", "-l", "8000"], "srv");
    lab.spawn(&b, &["nc", "-lk", "8001"], "srv8001");
    testlab::wait_for(std::time::Duration::from_secs(10), "listeners", || {
        let s = b.ok(&["ss", "-ltn"]);
        (s.contains(":8000 ") && s.contains(":8001 ")).then_some(())
    });
    let script = "i=0; while [ $i -lt 600 ]; do echo tick$i; i=$((i+1)); sleep 0.1; done | nc 10.66.0.2 8000";
    let client = lab.spawn(&a, &["sh", "-c", script], "client");
    let ticks = |lab: &Lab| lab.log("srv").matches("tick").count();
    testlab::wait_for(std::time::Duration::from_secs(20), "ticks before", || {
        (ticks(&lab) >= 5).then_some(())
    });
    assert!(a
        .run(&["nc", "-z", "-w", "2", "10.66.0.2", "8001"])
        .status
        .success());

    // Still allows 8000, no longer 8001.
    fs::write(conf.join("policy.yaml"), policy("8000, 9000")).unwrap();
    assert_eq!(engine.reload().unwrap().report.mode, ApplyMode::Incremental);
    let before = ticks(&lab);
    testlab::wait_for(std::time::Duration::from_secs(20), "ticks after", || {
        (ticks(&lab) >= before + 10).then_some(())
    });
    assert!(lab.alive(client), "the long-lived connection broke");
    assert!(
        !a.run(&["nc", "-z", "-w", "2", "10.66.0.2", "8001"])
            .status
            .success(),
        "8001 still allowed"
    );
    lab.kill(client);
}
