//! Unit tests of [`super`]: which resources become what, the merge with the node's files,
//! and the watch over a real (files) store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use resources::Resource;
use tokio::sync::watch;

use super::*;

const DOCS: &str = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: web-in }
spec:
  selector: app == 'web'
  ingress: [{ action: Allow, source: { selector: app == 'client' } }]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: db-in, namespace: shop }
spec:
  selector: app == 'db'
  ingress: [{ action: Allow }]
---
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { team: a } }
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: { name: host--a-cni-web-eth0, namespace: shop, labels: { app: web } }
spec: { node: host-a, interfaceName: ternaaa, ipNetworks: [10.244.1.5/32] }
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: { name: host--b-cni-client-eth0, namespace: shop, labels: { app: client } }
spec: { node: host-b, interfaceName: ternbbb, ipNetworks: [10.244.2.5/32] }
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: { name: a-eth0, labels: { role: node } }
spec: { node: host-a, interfaceName: eth0, expectedIPs: [192.0.2.1] }
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: { name: b-eth0, labels: { role: node } }
spec: { node: host-b, interfaceName: eth0, expectedIPs: [192.0.2.2] }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: { name: monitoring, labels: { role: prometheus } }
spec: { nets: [198.51.100.0/28] }
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pool }
spec: { cidr: 10.244.0.0/16 }
";

fn docs(text: &str) -> Vec<Resource> {
    resources::load_text(Path::new("docs.yaml"), text).expect("documents load")
}

#[test]
fn resources_become_policies_local_and_remote_endpoints() {
    let all = docs(DOCS);
    let c = ClusterPolicy::from_resources("host-a", &all);
    let mut ids: Vec<String> = c.policies.iter().map(|p| p.id.to_string()).collect();
    ids.sort();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(c.namespaces.len(), 1);
    assert_eq!(
        c.namespaces[0].labels.get("team").map(String::as_str),
        Some("a")
    );
    // host-a's own WorkloadEndpoint is the workload task's business, not the store's.
    assert_eq!(c.remote_workloads.len(), 1);
    assert_eq!(
        c.remote_workloads[0].ips,
        ["10.244.2.5/32".parse::<ipnet::IpNet>().unwrap()]
    );
    assert_eq!(c.remote_workloads[0].namespace, "shop");
    assert_eq!(c.hosts.len(), 1);
    assert_eq!(c.hosts[0].name, "a-eth0");
    assert_eq!(c.remote_hosts.len(), 1);
    assert_eq!(c.remote_hosts[0].name, "b-eth0");
    assert_eq!(c.network_sets.len(), 1);
    assert_eq!(c.network_sets[0].namespace, None);

    // Seen from host-b, the roles swap.
    let b = ClusterPolicy::from_resources("host-b", &all);
    assert_eq!(b.remote_workloads[0].interface, "ternaaa");
    assert_eq!(b.hosts[0].name, "b-eth0");
}

#[test]
fn merged_with_the_files_the_files_win() {
    let c = ClusterPolicy::from_resources("host-a", &docs(DOCS));
    let mut bundle = acl::loader::load_str(
        Path::new("node.yaml"),
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: web-in }
spec:
  selector: app == 'web'
  ingress: [{ action: Deny }]
---
kind: HostEndpoint
name: mine
interface: eth0
expectedIPs: [192.0.2.1]
",
    )
    .expect("files load");
    let warnings = c.merge_into(&mut bundle);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("web-in"), "{warnings:?}");
    assert!(warnings[1].contains("eth0"), "{warnings:?}");
    // The file's web-in (Deny) stays, the datastore's db-in is added.
    assert_eq!(bundle.policies.len(), 2);
    let web = bundle
        .policies
        .iter()
        .find(|p| p.id.name == "web-in")
        .expect("web-in");
    assert_eq!(
        web.ingress.as_ref().map(|r| r[0].action),
        Some(acl::model::Action::Deny)
    );
    assert_eq!(bundle.hosts.len(), 1);
    assert_eq!(bundle.hosts[0].name, "mine");
    assert_eq!(bundle.remote_workloads.len(), 1);
    assert_eq!(bundle.remote_hosts.len(), 1);
    assert_eq!(bundle.network_sets.len(), 1);
    assert_eq!(bundle.network_sets[0].key(), "monitoring");

    // Compiled: the remote client fills the source set, no chain is made for it.
    let ir = acl::compile(&bundle, &acl::CompileOptions::default());
    assert!(ir.endpoints.iter().all(|e| e.interface != "ternbbb"));
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("tern-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    Scratch(d)
}

async fn next_inputs(
    rx: &mut watch::Receiver<Option<Arc<ClusterPolicy>>>,
    what: &str,
    ok: impl Fn(&ClusterPolicy) -> bool,
) -> Arc<ClusterPolicy> {
    let got = tokio::time::timeout(
        Duration::from_secs(30),
        rx.wait_for(|c| c.as_deref().is_some_and(&ok)),
    )
    .await
    .unwrap_or_else(|_| panic!("no inputs with {what} within 30 s"))
    .expect("watch_inputs stopped");
    got.clone().expect("some")
}

#[tokio::test]
async fn the_watch_sends_inputs_once_synced_and_on_every_change() {
    let dir = scratch("cluster-policy-watch");
    let file = dir.0.join("cluster.yaml");
    std::fs::write(&file, DOCS).expect("write");
    let store = Arc::new(store::files::FilesStore::new(
        vec![dir.0.clone()],
        Duration::from_millis(20),
    ));
    let (tx, mut rx) = watch::channel(None);
    let task = tokio::spawn(watch_inputs(reflect(&store), "host-a".into(), tx));
    let first = next_inputs(&mut rx, "the first list", |_| true).await;
    assert_eq!(first.policies.len(), 2);
    assert_eq!(first.remote_workloads.len(), 1);

    // A policy deleted and a remote workload added: one new set of inputs has both.
    let edited = DOCS.replace(
        "kind: NetworkPolicy\nmetadata: { name: db-in, namespace: shop }",
        "kind: WorkloadEndpoint\nmetadata: { name: host--c-cni-x-eth0, namespace: shop }",
    );
    let edited = edited.replace(
        "spec:\n  selector: app == 'db'\n  ingress: [{ action: Allow }]",
        "spec: { node: host-c, interfaceName: ternccc, ipNetworks: [10.244.3.5/32] }",
    );
    std::fs::write(&file, edited).expect("edit");
    let next = next_inputs(&mut rx, "the edit", |c| c.policies.len() == 1).await;
    assert_eq!(next.remote_workloads.len(), 2, "{next:?}");
    task.abort();
}

#[test]
fn tiers_come_from_the_datastore_and_the_files_win_a_name_clash() {
    // Tiers security (order 100, Pass) and platform (order 200), as in tests/cluster_tiers.rs.
    let all = docs(concat!(
        include_str!("../../tests/cluster_support/tiers.yaml"),
        "---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: security.pass-web }
spec:
  tier: security
  selector: app == 'web'
  ingress: [{ action: Pass }]
",
    ));
    let c = ClusterPolicy::from_resources("host-a", &all);
    let mut names: Vec<&str> = c.tiers.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["platform", "security"]);
    assert_eq!(c.policies[0].tier.as_deref(), Some("security"));
    let mut bundle = acl::Bundle::default();
    bundle.tiers.push(acl::tier::Tier {
        name: "platform".into(),
        order: Some(5.0),
        default_action: acl::tier::TierAction::Pass,
    });
    let warnings = c.merge_into(&mut bundle);
    assert_eq!(
        warnings,
        ["datastore tier platform ignored: the node's policy files declare it"]
    );
    let got: Vec<(&str, Option<f64>)> = bundle
        .tiers
        .iter()
        .map(|t| (t.name.as_str(), t.order))
        .collect();
    assert_eq!(got, [("platform", Some(5.0)), ("security", Some(100.0))]);
    assert_eq!(bundle.policies.len(), 1);
}
