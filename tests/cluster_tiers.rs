//! Calico tiers in etcd mode: `Tier` resources and policies in them, applied once with
//! `tern apply -f`, are enforced on another host exactly as the files mode evaluates
//! them — tiers in `order`, `Pass` hands the packet to the next tier, the first tier
//! that decides wins (real TCP across hosts with nc).
//!
//! Two hosts on one bridge with etcd (tests/cluster_support). h1 runs `web`
//! (app=web, the server), h2 runs `client` (app=client) and `other` (app=other).
//! Tier `security` (order 100, defaultAction Pass) passes clients to web on and denies
//! the rest; tier `platform` (order 200) then decides for the clients: Allow, later
//! Deny (a Pass taken for an Allow would still connect, one taken for a Deny never
//! would). `tern delete -f` lifts it all.

mod cluster_support;
mod cni_support;
mod common;

use std::time::Duration;

use cluster_support::*;
use cni_support::{address_of, netns_path, Cni};
use testlab::{wait_for, Lab, Netns};

const ENFORCED: Duration = Duration::from_secs(45);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const TIERS: &str = "apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: security }
spec: { order: 100, defaultAction: Pass }
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: platform }
spec: { order: 200 }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: security.web-in }
spec:
  tier: security
  selector: app == 'web'
  types: [Ingress]
  ingress:
    - action: Pass
      source: { selector: app == 'client' }
    - action: Deny
";

fn platform(action: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {{ name: platform.web-clients }}
spec:
  tier: platform
  selector: app == 'web'
  types: [Ingress]
  ingress:
    - action: {action}
      protocol: TCP
      source: {{ selector: app == 'client' }}
      destination: {{ ports: [8080] }}
"
    )
}

/// ADD of container `id` with `labels`; returns its IPv4 address.
fn add_labelled(cni: &Cni, id: &str, c: &Netns, labels: &str) -> String {
    let args = format!("K8S_POD_NAMESPACE=shop;K8S_POD_NAME={id};TERN_LABELS={labels}");
    let o = cni.call_args("ADD", id, &netns_path(c), &args);
    assert_eq!(o.code, 0, "ADD {id}: {}", o.stdout);
    let r = o.json.expect("result");
    address_of(&r, false).trim_end_matches("/32").to_string()
}

/// One TCP exchange from `client` to `ip`:8080 served by nc in `server`.
fn connects(lab: &mut Lab, server: &Netns, client: &Netns, ip: &str) -> bool {
    let pid = lab.spawn(
        server,
        &["sh", "-c", "echo hi | nc -4 -l -N 8080"],
        "nc-8080",
    );
    wait_for(Duration::from_secs(10), "listener", || {
        let ss = server.run(&["ss", "-ltn"]);
        text(&ss.stdout).contains(":8080").then_some(())
    });
    let out = client.sh(&format!("(echo x; sleep 1) | nc -N -w 2 {ip} 8080"));
    lab.kill(pid);
    text(&out.stdout).contains("hi")
}

fn wait_verdict(lab: &mut Lab, server: &Netns, client: &Netns, ip: &str, want: bool, what: &str) {
    let deadline = std::time::Instant::now() + ENFORCED;
    while connects(lab, server, client, ip) != want {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: still {} after {ENFORCED:?}",
            if want { "denied" } else { "allowed" }
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn tiers_from_the_datastore_pass_and_decide_in_order_across_hosts() {
    let mut c = Cluster::new("cl-tier");
    c.apply("pool.yaml", &pool("10.244.0.0/16", 26));
    for n in 1..=2 {
        c.host(n);
    }
    for i in 0..2 {
        c.start(i);
    }
    let hosts: Vec<&Host> = c.hosts.iter().collect();
    wait_mesh(&hosts);
    wait_blocks_learned(&hosts);
    let web = c.etcd.lab.netns("web");
    let client = c.etcd.lab.netns("client");
    let other = c.etcd.lab.netns("other");
    let web_ip = add_labelled(&c.hosts[0].cni, "web", &web, "app=web");
    add_labelled(&c.hosts[1].cni, "client", &client, "app=client");
    add_labelled(&c.hosts[1].cni, "other", &other, "app=other");
    let lab = &mut c.etcd.lab;
    wait_verdict(
        lab,
        &web,
        &client,
        &web_ip,
        true,
        "client -> web, no policy",
    );
    wait_verdict(lab, &web, &other, &web_ip, true, "other -> web, no policy");

    // security passes the clients on, platform allows them; the rest is denied.
    c.apply("tiers.yaml", &format!("{TIERS}---\n{}", platform("Allow")));
    let out = c.tern_ds(&["get", "tiers", "-o", "wide"]);
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        table.contains("security") && table.contains("100") && table.contains("Pass"),
        "{table}"
    );
    assert!(
        table.contains("platform") && table.contains("200"),
        "{table}"
    );
    let lab = &mut c.etcd.lab;
    wait_verdict(
        lab,
        &web,
        &other,
        &web_ip,
        false,
        "other -> web, denied in security",
    );
    wait_verdict(
        lab,
        &web,
        &client,
        &web_ip,
        true,
        "client -> web, passed, allowed in platform",
    );

    // platform now denies them: the packet passed by security meets that deny.
    c.apply("platform.yaml", &platform("Deny"));
    let lab = &mut c.etcd.lab;
    wait_verdict(
        lab,
        &web,
        &client,
        &web_ip,
        false,
        "client -> web, passed, denied in platform",
    );
    wait_verdict(
        lab,
        &web,
        &other,
        &web_ip,
        false,
        "other -> web, still denied",
    );
    let status = common::status_json(&c.hosts[0].node).expect("status");
    assert_eq!(status["policy"]["ok"], true, "{status}");
    assert_eq!(status["policy"]["datastore"]["policies"], 2, "{status}");

    // Deleting the policies and tiers lifts it.
    let p = c.etcd.lab.dir().join("all.yaml");
    std::fs::write(&p, format!("{TIERS}---\n{}", platform("Deny"))).expect("file");
    let out = c.tern_ds(&["delete", "-f", &p.to_string_lossy()]);
    assert!(out.status.success(), "tern delete: {}", text(&out.stderr));
    let lab = &mut c.etcd.lab;
    wait_verdict(
        lab,
        &web,
        &client,
        &web_ip,
        true,
        "client -> web after delete",
    );
    wait_verdict(
        lab,
        &web,
        &other,
        &web_ip,
        true,
        "other -> web after delete",
    );
}
