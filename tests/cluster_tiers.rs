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

use cluster_support::tcp::{add_labelled, wait_verdicts};
use cluster_support::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Tiers `security` (order 100, defaultAction Pass) and `platform` (order 200), then
/// security's policy.
const TIERS: &str = concat!(
    include_str!("cluster_support/tiers.yaml"),
    "---
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
"
);

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

#[test]
fn tiers_from_the_datastore_pass_and_decide_in_order_across_hosts() {
    let mut c = Cluster::new("cl-tier");
    c.apply("pool.yaml", &pool("10.244.0.0/16", 26));
    c.up(2);
    let web = c.etcd.lab.netns("web");
    let client = c.etcd.lab.netns("client");
    let other = c.etcd.lab.netns("other");
    let web_ip = add_labelled(&c.hosts[0].cni, "web", &web, "app=web");
    add_labelled(&c.hosts[1].cni, "client", &client, "app=client");
    add_labelled(&c.hosts[1].cni, "other", &other, "app=other");
    wait_verdicts(
        &mut c.etcd.lab,
        &web,
        &web_ip,
        &[
            (&client, true, "client -> web, no policy"),
            (&other, true, "other -> web, no policy"),
        ],
    );

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
    wait_verdicts(
        &mut c.etcd.lab,
        &web,
        &web_ip,
        &[
            (&other, false, "other -> web, denied in security"),
            (&client, true, "client -> web, passed, allowed in platform"),
        ],
    );

    // platform now denies them: the packet passed by security meets that deny.
    c.apply("platform.yaml", &platform("Deny"));
    wait_verdicts(
        &mut c.etcd.lab,
        &web,
        &web_ip,
        &[
            (&client, false, "client -> web, passed, denied in platform"),
            (&other, false, "other -> web, still denied"),
        ],
    );
    let status = common::status_json(&c.hosts[0].node).expect("status");
    assert_eq!(status["policy"]["ok"], true, "{status}");
    assert_eq!(status["policy"]["datastore"]["policies"], 2, "{status}");

    // Deleting the policies and tiers lifts it.
    let p = c.etcd.lab.dir().join("all.yaml");
    std::fs::write(&p, format!("{TIERS}---\n{}", platform("Deny"))).expect("file");
    let out = c.tern_ds(&["delete", "-f", &p.to_string_lossy()]);
    assert!(out.status.success(), "tern delete: {}", text(&out.stderr));
    wait_verdicts(
        &mut c.etcd.lab,
        &web,
        &web_ip,
        &[
            (&client, true, "client -> web after delete"),
            (&other, true, "other -> web after delete"),
        ],
    );
}
