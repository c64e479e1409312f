//! The CNI plugin executed directly (as a runtime does: CNI_* environment, network config
//! on stdin) against a real `tern agent` in a namespace whose host has no default route:
//! ADD wires a container (veth, addresses, gateway, route with tern's protocol) that
//! reaches another container; ADD twice gives the same result; CHECK sees what is
//! missing; DEL undoes everything and is idempotent; GC frees what the runtime no longer
//! lists; bad input and a full block give spec errors and leave nothing behind; 200
//! ADD/DEL cycles leak no interface, route or allocation.

mod cni_support;
mod common;

use std::path::PathBuf;

use cni_support::*;
use common::{start_tern, write_node, Node, NodeSpec, CONVERGE};
use serde_json::Value;
use testlab::{Lab, Netns};

fn host_lab(lab: &mut Lab, blocks: &[&str]) -> (Netns, Node, PathBuf) {
    host_lab_with(lab, blocks, "")
}

fn host_lab_with(lab: &mut Lab, blocks: &[&str], more: &str) -> (Netns, Node, PathBuf) {
    let host = lab.netns("h");
    let state = lab.dir().join("state");
    let extra = format!("stateDir: \"{}\"\n{more}", state.display());
    let node = write_node(
        lab,
        &host,
        &NodeSpec {
            name: "a",
            blocks,
            extra: &extra,
            ..NodeSpec::default()
        },
    );
    start_tern(lab, &node);
    // No default route, no route to 169.254.1.1: the gateway must answer anyway.
    assert!(!host.ok(&["ip", "route", "show"]).contains("default"));
    (host, node, state)
}

#[test]
fn add_check_del_and_connectivity_on_a_host_without_default_route() {
    let mut lab = Lab::new("cni-basic");
    let (host, node, state) = host_lab(&mut lab, &["10.244.1.0/24", "fd00:244:0:1::/120"]);
    let cni = Cni {
        socket: node.socket.clone(),
        version: "1.0.0",
    };
    let c1 = lab.netns("c1");
    let c2 = lab.netns("c2");
    let (p1, p2) = (netns_path(&c1), netns_path(&c2));

    let a = cni.call("ADD", "ctr1", &p1);
    assert_eq!(a.code, 0, "ADD: {}", a.stdout);
    let r1 = a.json.expect("ADD result");
    assert_eq!(r1["cniVersion"], "1.0.0");
    let ip4 = address_of(&r1, false);
    let ip6 = address_of(&r1, true);
    assert!(
        ip4.starts_with("10.244.1.") && ip4.ends_with("/32"),
        "{ip4}"
    );
    assert!(
        ip6.starts_with("fd00:244:0:1::") && ip6.ends_with("/128"),
        "{ip6}"
    );
    let host_if = r1["interfaces"][0]["name"]
        .as_str()
        .expect("host if")
        .to_string();
    assert!(
        host_if.starts_with("tern") && host_if.len() == 15,
        "{host_if}"
    );
    assert_eq!(r1["interfaces"][1]["sandbox"], p1.as_str());

    // Container side, host side, route with tern's protocol.
    let inside = c1.ok(&["ip", "addr", "show", "dev", "eth0"]);
    assert!(inside.contains(&ip4) && inside.contains(&ip6), "{inside}");
    let defaults = c1.ok(&["ip", "route", "show", "default"]);
    assert!(defaults.contains("via 169.254.1.1"), "{defaults}");
    let route = host.ok(&["ip", "route", "show", ip4.trim_end_matches("/32")]);
    assert!(
        route.contains(&format!("dev {host_if}")) && route.contains("proto 201"),
        "{route}"
    );
    let v6route = host.ok(&["ip", "-6", "route", "show", ip6.trim_end_matches("/128")]);
    assert!(v6route.contains(&format!("dev {host_if}")), "{v6route}");

    // Same container and interface: the same result.
    let again = cni.call("ADD", "ctr1", &p1);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(again.json.expect("result"), r1);
    assert_eq!(tern_links(&host).len(), 1);

    // A second container: both ways over IPv4 and IPv6 through the link-local gateways.
    let b = cni.call("ADD", "ctr2", &p2);
    assert_eq!(b.code, 0, "ADD 2: {}", b.stdout);
    let r2 = b.json.expect("result 2");
    let ip4b = address_of(&r2, false);
    let ip6b = address_of(&r2, true);
    assert_ne!(ip4, ip4b);
    let t4 = ip4b.trim_end_matches("/32");
    let t6 = ip6b.trim_end_matches("/128");
    testlab::wait_for(CONVERGE, "ping c1 -> c2 over IPv4", || {
        c1.run(&["ping", "-c1", "-W1", t4])
            .status
            .success()
            .then_some(())
    });
    testlab::wait_for(CONVERGE, "ping c1 -> c2 over IPv6", || {
        c1.run(&["ping", "-6", "-c1", "-W1", t6])
            .status
            .success()
            .then_some(())
    });

    // tern endpoints lists both with their labels.
    let eps = common::tern_cli(&node, &["endpoints", "--json"]);
    let eps: Value = serde_json::from_slice(&eps.stdout).expect("endpoints json");
    let rows = eps["endpoints"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["labels"]["app"], "web");
    assert_eq!(rows[0]["namespace"], "test");

    // No ADD so far warned about its route (CHECK below removes an interface by hand: its
    // routes are then rightly reported).
    let route_warnings = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("WARN") && l.contains("route"))
            .map(str::to_string)
            .collect()
    };
    let warned = route_warnings(&lab.log("tern-a"));
    assert!(warned.is_empty(), "an ADD warned: {warned:#?}");

    // CHECK: fine, then the address and the interface go missing.
    assert_eq!(cni.call("CHECK", "ctr1", &p1).code, 0);
    c1.ok(&["ip", "addr", "del", &ip4, "dev", "eth0"]);
    let chk = cni.call("CHECK", "ctr1", &p1);
    assert_eq!(error_code(&chk), 5, "{}", chk.stdout);
    assert!(chk.stdout.contains("address"), "{}", chk.stdout);
    c2.ok(&["ip", "link", "del", "eth0"]);
    let chk = cni.call("CHECK", "ctr2", &p2);
    assert_eq!(error_code(&chk), 5);
    assert!(chk.stdout.contains("missing"), "{}", chk.stdout);
    // CHECK of an unknown attachment.
    assert_eq!(error_code(&cni.call("CHECK", "nope", &p1)), 3);

    // DEL undoes everything; DEL again and DEL of the unknown succeed.
    for id in ["ctr1", "ctr2"] {
        let d = cni.call("DEL", id, "");
        assert_eq!(d.code, 0, "DEL {id}: {}", d.stdout);
        assert!(d.stdout.trim().is_empty());
    }
    assert_eq!(cni.call("DEL", "ctr1", &p1).code, 0);
    assert_eq!(cni.call("DEL", "never-seen", "").code, 0);
    assert!(tern_links(&host).is_empty(), "{:?}", tern_links(&host));
    testlab::wait_for(CONVERGE, "device routes gone", || {
        tern_device_routes(&host).is_empty().then_some(())
    });
    assert_eq!(allocations(&state), 0);
    assert!(!c1.ok(&["ip", "link", "show"]).contains("eth0"));

    // The container already has an eth0: the kernel's EEXIST is the spec's "invalid
    // configuration" naming the interface, and nothing is left on the host.
    c1.ok(&[
        "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "other0",
    ]);
    let clash = cni.call("ADD", "ctr1", &p1);
    assert_eq!(error_code(&clash), 7, "{}", clash.stdout);
    assert!(
        clash.stdout.contains("eth0 already exists"),
        "{}",
        clash.stdout
    );
    assert!(tern_links(&host).is_empty(), "{:?}", tern_links(&host));
    assert_eq!(allocations(&state), 0);
    c1.ok(&["ip", "link", "del", "eth0"]);

    // The same container id again (a restarted container): a veth of the same name with a
    // new index. Its route goes in with the ADD, without a warning.
    let logged = lab.log("tern-a").len();
    let again = cni.call("ADD", "ctr1", &p1);
    assert_eq!(again.code, 0, "re-ADD: {}", again.stdout);
    let r = again.json.expect("re-ADD result");
    assert_eq!(r["interfaces"][0]["name"], host_if.as_str());
    let ip4 = address_of(&r, false);
    let route = host.ok(&["ip", "route", "show", ip4.trim_end_matches("/32")]);
    assert!(route.contains(&format!("dev {host_if}")), "{route}");
    let warned = route_warnings(lab.log("tern-a").get(logged..).unwrap_or_default());
    assert!(warned.is_empty(), "the re-ADD warned: {warned:#?}");
    assert_eq!(cni.call("DEL", "ctr1", &p1).code, 0);
    assert!(tern_links(&host).is_empty(), "{:?}", tern_links(&host));
}

#[test]
fn version_bad_input_unreachable_agent_and_exhaustion() {
    let cni_down = Cni {
        socket: PathBuf::from("/nonexistent/tern.sock"),
        version: "1.1.0",
    };
    // VERSION answers without an agent.
    let v = cni_down.exec("VERSION", &[], r#"{"cniVersion":"1.1.0"}"#);
    assert_eq!(v.code, 0, "{}", v.stdout);
    let v = v.json.expect("version json");
    let supported: Vec<&str> = v["supportedVersions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(supported, ["1.0.0", "1.1.0"]);

    let mut lab = Lab::new("cni-bad");
    // A /30 IPv4 block only: few addresses to exhaust.
    let (host, node, state) = host_lab(&mut lab, &["10.244.9.0/30"]);
    let cni = Cni {
        socket: node.socket.clone(),
        version: "1.0.0",
    };
    let c = lab.netns("c");
    let p = netns_path(&c);
    let env = |id: &'static str, netns: &str| {
        vec![
            ("CNI_CONTAINERID", id),
            ("CNI_NETNS", netns),
            ("CNI_IFNAME", "eth0"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect::<Vec<_>>()
    };
    let run = |cni: &Cni, cmd: &str, env: &[(&str, String)], stdin: &str| {
        let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        cni.exec(cmd, &e, stdin)
    };

    let nothing_left = |what: &str| {
        assert!(
            tern_links(&host).is_empty(),
            "{what}: {:?}",
            tern_links(&host)
        );
        assert!(tern_device_routes(&host).is_empty(), "{what}");
        assert_eq!(allocations(&state), 0, "{what}");
        assert!(!c.ok(&["ip", "link", "show"]).contains("eth0"), "{what}");
    };

    // Malformed JSON: 6. Unknown version: 1. Missing variables: 4. Missing netns: 3.
    assert_eq!(
        error_code(&run(&cni, "ADD", &env("x1", &p), "{not json")),
        6
    );
    let bad_version = cni.conf().replace("1.0.0", "9.9.9");
    let o = run(&cni, "ADD", &env("x1", &p), &bad_version);
    assert_eq!(error_code(&o), 1);
    assert_eq!(o.json.expect("err")["cniVersion"], "1.1.0");
    let no_id: Vec<(&str, String)> = env("x1", &p)
        .into_iter()
        .filter(|(k, _)| *k != "CNI_CONTAINERID")
        .collect();
    assert_eq!(error_code(&run(&cni, "ADD", &no_id, &cni.conf())), 4);
    assert_eq!(
        error_code(&run(&cni, "ADD", &env("../x", &p), &cni.conf())),
        4
    );
    assert_eq!(
        error_code(&run(
            &cni,
            "ADD",
            &env("x1", "/run/netns/does-not-exist"),
            &cni.conf()
        )),
        3
    );
    assert_eq!(
        error_code(&run(&cni, "FROB", &env("x1", &p), &cni.conf())),
        4
    );
    nothing_left("after bad input");

    // The agent is unreachable: 11 (STATUS: 50).
    assert_eq!(
        error_code(&run(&cni_down, "ADD", &env("x1", &p), &cni_down.conf())),
        11
    );
    assert_eq!(
        error_code(&cni_down.exec("STATUS", &[], &cni_down.conf())),
        50
    );
    let cni11 = Cni {
        socket: node.socket.clone(),
        version: "1.1.0",
    };
    assert_eq!(cni11.exec("STATUS", &[], &cni11.conf()).code, 0);

    // Fill the block: one netns per container.
    let mut added = Vec::new();
    let mut full = None;
    for i in 0..8 {
        let ns = lab.netns(&format!("f{i}"));
        let id: &'static str = Box::leak(format!("full{i}").into_boxed_str());
        let o = run(&cni, "ADD", &env(id, &netns_path(&ns)), &cni.conf());
        if o.code == 0 {
            added.push((id, ns));
        } else {
            full = Some((o, ns));
            break;
        }
    }
    let (o, ns) = full.expect("the /30 ran out");
    assert!(!added.is_empty());
    assert_eq!(error_code(&o), 11, "{}", o.stdout);
    assert!(o.stdout.contains("10.244.9.0/30"), "{}", o.stdout);
    assert!(!ns.ok(&["ip", "link", "show"]).contains("eth0"));
    assert_eq!(tern_links(&host).len(), added.len());
    assert_eq!(allocations(&state), added.len());

    // GC keeps only the first one.
    let keep = added[0].0;
    let gc_conf = format!(
        r#"{{"cniVersion":"1.1.0","name":"ternnet","type":"tern","socket":"{}","cni.dev/valid-attachments":[{{"containerID":"{keep}","ifname":"eth0"}}]}}"#,
        node.socket.display()
    );
    let g = cni11.exec("GC", &[], &gc_conf);
    assert_eq!(g.code, 0, "{}", g.stdout);
    assert_eq!(tern_links(&host).len(), 1);
    assert_eq!(allocations(&state), 1);
    // Freed addresses are handed out again.
    let o = run(&cni, "ADD", &env("again", &netns_path(&ns)), &cni.conf());
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert_eq!(run(&cni, "DEL", &env("again", ""), &cni.conf()).code, 0);
    assert_eq!(run(&cni, "DEL", &env(keep, ""), &cni.conf()).code, 0);
    nothing_left("after GC and DEL");
}

#[test]
fn two_hundred_add_del_cycles_leak_nothing() {
    let mut lab = Lab::new("cni-cycles");
    // A policy selecting the containers (app=web), so each cycle also adds and removes
    // the container's elements in the nftables ruleset.
    let policies = lab.dir().join("policies");
    std::fs::create_dir_all(&policies).expect("policy dir");
    std::fs::write(
        policies.join("web.yaml"),
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: web\nspec:\n  selector: app == 'web'\n  types: [Ingress]\n  ingress:\n    - action: Allow\n      protocol: TCP\n      destination: { ports: [80] }\n",
    )
    .expect("policy");
    let more = format!(
        "policy: {{ backend: nftables, paths: [\"{}\"] }}\n",
        policies.display()
    );
    let (host, node, state) =
        host_lab_with(&mut lab, &["10.244.2.0/24", "fd00:244:0:2::/120"], &more);
    let cni = Cni {
        socket: node.socket.clone(),
        version: "1.0.0",
    };
    let c = lab.netns("c");
    let p = netns_path(&c);
    for i in 0..200 {
        let id = format!("cycle{i}");
        let a = cni.call("ADD", &id, &p);
        assert_eq!(a.code, 0, "ADD {i}: {}", a.stdout);
        let d = cni.call("DEL", &id, &p);
        assert_eq!(d.code, 0, "DEL {i}: {}", d.stdout);
    }
    assert!(tern_links(&host).is_empty(), "{:?}", tern_links(&host));
    testlab::wait_for(CONVERGE, "no device routes", || {
        tern_device_routes(&host).is_empty().then_some(())
    });
    assert_eq!(allocations(&state), 0);
    assert!(!c.ok(&["ip", "link", "show"]).contains("eth0"));
    let eps = common::tern_cli(&node, &["endpoints", "--json"]);
    let eps: Value = serde_json::from_slice(&eps.stdout).expect("endpoints json");
    assert_eq!(eps["endpoints"].as_array().map(Vec::len), Some(0));
    // The policy is in force, and no container is left in it.
    testlab::wait_for(CONVERGE, "no container element in the ruleset", || {
        let s = common::status_json(&node)?;
        let rules = host.ok(&["nft", "list", "ruleset"]);
        (s["policy"]["ok"] == true
            && rules.contains("table")
            && !rules
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w.starts_with("tern") && w.len() == 15)
            && !rules.contains("10.244.2.")
            && !rules.contains("fd00:244:0:2::"))
        .then_some(())
    });
}
