//! The agent's policy wiring (issue 5, "Agent wiring"): policy and endpoint files from
//! the node config are applied with nftables, a change re-applies, and a broken file is
//! reported with its location while the rules in force stay as they were. Real packets
//! between two containers on one host (forwarded through the host, where the rules sit).

mod common;

use common::*;
use testlab::{wait_for, Lab, Netns};

const ALLOW_8080: &str = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: web-ingress
spec:
  order: 10
  selector: app == 'web'
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: TCP
      source: { selector: app == 'client' }
      destination: { ports: [8080] }
";

fn connects(lab: &mut Lab, server: &Netns, client: &Netns, port: &str) -> bool {
    let pid = spawn_tcp_server(lab, server, "10.244.1.20", port, &format!("nc-{port}"));
    // Wait until the listener is up before probing.
    wait_for(CONVERGE, "listener", || {
        let ss = server.run(&["ss", "-ltn"]);
        String::from_utf8_lossy(&ss.stdout)
            .contains(&format!(":{port}"))
            .then_some(())
    });
    let out = client.sh(&format!("echo x | nc -N -w 2 10.244.1.20 {port}"));
    lab.kill(pid);
    String::from_utf8_lossy(&out.stdout).contains("pong-from-server")
}

#[test]
fn policy_files_are_applied_watched_and_bad_ones_keep_the_rules() {
    let mut lab = Lab::new("tpol");
    let h = lab.netns("host");
    let other = lab.netns("other");
    // A host with an uplink (its default route covers the containers' gateway).
    lab.veth(
        &h,
        "eth0",
        &["10.0.0.1/24"],
        &other,
        "eth0",
        &["10.0.0.2/24"],
    );
    h.ok(&["ip", "route", "add", "default", "via", "10.0.0.2"]);
    let policies = lab.dir().join("policies");
    std::fs::create_dir_all(&policies).expect("policy dir");
    std::fs::write(policies.join("web.yaml"), ALLOW_8080).expect("write policy");
    let node = write_node(
        &lab,
        &h,
        &NodeSpec {
            blocks: &["10.244.1.0/24"],
            extra: &format!(
                "policy: {{ backend: nftables, paths: [\"{}\"] }}\nmetrics: {{ listen: \"127.0.0.1:9469\" }}\n",
                policies.display()
            ),
            ..NodeSpec::default()
        },
    );
    let client = container(&mut lab, &node, "client", "tw-client", &["10.244.1.10/32"]);
    let web = container(&mut lab, &node, "web", "tw-web", &["10.244.1.20/32"]);
    // `container` labels each endpoint app=<name>.
    start_tern(&mut lab, &node);
    wait_for(CONVERGE, "policy applied", || {
        let s = status_json(&node)?;
        (s["policy"]["ok"] == true && s["policy"]["rules"].as_u64()? > 0).then_some(())
    });
    let ruleset = h.ok(&["nft", "list", "table", "inet", "tern"]);
    assert!(ruleset.contains("tw-web"), "{ruleset}");
    wait_for(CONVERGE, "device routes", || {
        kernel_route(&h, "10.244.1.20")
    });

    // Allowed: retried while the first packets resolve the gateway (proxy ARP).
    wait_for(CONVERGE, "8080 is allowed", || {
        connects(&mut lab, &web, &client, "8080").then_some(())
    });
    assert!(
        !connects(&mut lab, &web, &client, "9090"),
        "9090 is denied (default deny)"
    );

    // A broken file: located error in status and log, rules in force unchanged.
    std::fs::write(
        policies.join("broken.yaml"),
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: bad\nspec:\n  selektor: all()\n",
    )
    .expect("write broken policy");
    let err = wait_for(CONVERGE, "policy error in status", || {
        let s = status_json(&node)?;
        (s["policy"]["ok"] == false).then(|| s["policy"]["last_error"].to_string())
    });
    assert!(err.contains("broken.yaml:6:"), "{err}");
    assert!(err.contains("selektor"), "{err}");
    assert_eq!(h.ok(&["nft", "list", "table", "inet", "tern"]), ruleset);
    wait_for(CONVERGE, "8080 still allowed", || {
        connects(&mut lab, &web, &client, "8080").then_some(())
    });
    assert!(!connects(&mut lab, &web, &client, "9090"));
    let m = scrape(&h, "127.0.0.1:9469");
    assert!(m.contains("tern_acl_apply_failures_total 1"), "{m}");
    let table = String::from_utf8_lossy(&tern_cli(&node, &["status"]).stdout).into_owned();
    assert!(
        table.contains("NOT applied") && table.contains("broken.yaml:6:"),
        "{table}"
    );

    // Fixed, and widened to 9090: applied on the next poll.
    std::fs::remove_file(policies.join("broken.yaml")).expect("remove broken");
    std::fs::write(
        policies.join("web.yaml"),
        ALLOW_8080.replace("ports: [8080]", "ports: [8080, 9090]"),
    )
    .expect("rewrite policy");
    wait_for(CONVERGE, "9090 allowed after the change", || {
        connects(&mut lab, &web, &client, "9090").then_some(())
    });
    let s = status_json(&node).expect("status");
    assert_eq!(s["policy"]["ok"], true, "{s}");
    let m = scrape(&h, "127.0.0.1:9469");
    assert!(m.contains("tern_acl_apply_duration_seconds_count"), "{m}");
    assert!(m.contains("tern_acl_rules_rendered"), "{m}");
}
