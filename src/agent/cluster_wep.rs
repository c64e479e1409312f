//! Publishing this node's workloads to a cluster datastore (etcd mode): every container
//! the workload task has wired becomes a `WorkloadEndpoint` resource (node, orchestrator,
//! workload, endpoint, container ID, interface, addresses, labels with
//! `projectcalico.org/namespace`), so that other nodes' selectors see it. The publisher
//! owns this node's WorkloadEndpoints in the store: it writes what is missing or
//! different, deletes the ones of this node that no longer exist (also those left over
//! from an earlier run), and repairs what others change, comparing with the view of the
//! policy watch's WorkloadEndpoint reflector. It is level-triggered: after a failure
//! (etcd away) it retries with back-off and converges; enforcement on this node never
//! waits for it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ipam::{Allocation, AttachmentKey};
use resources::{Resource, ResourceKey, Spec};
use serde_json::json;
use store::{Revision, Snapshot, Store, StoreError};
use tokio::sync::watch;

use super::workloads_net as net;

/// The wired attachments of the workload task; `None` until it has read its state.
pub type Attachments = Option<Vec<(AttachmentKey, Allocation)>>;

/// Back-off after a failed write: doubles from this…
const MIN_BACKOFF: Duration = Duration::from_millis(200);
/// …up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// `-` doubled, as Calico escapes the parts of a WorkloadEndpoint name.
fn escape(part: &str) -> String {
    part.to_ascii_lowercase().replace('-', "--")
}

/// FNV-1a, 64 bits (names stay stable across versions).
fn fnv64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The resource name: Calico's `<node>-<orchestrator>-<workload>-<endpoint>` with `-`
/// doubled in each part; when that is not a valid name (characters, length), the
/// workload part is a hash of the container ID and interface instead.
pub fn wep_name(node: &str, orchestrator: &str, key: &AttachmentKey, workload: &str) -> String {
    let name = format!(
        "{}-{}-{}-{}",
        escape(node),
        escape(orchestrator),
        escape(workload),
        escape(&key.ifname)
    );
    if acl::names::is_dns1123_subdomain(&name) {
        return name;
    }
    format!(
        "{}-{}-w{:016x}",
        escape(node),
        escape(orchestrator),
        fnv64(&key.to_string())
    )
}

/// The orchestrator of an attachment: `extra.orchestrator` when a front end set one,
/// `docker` for the Docker driver's (they keep `extra.docker`), else `cni`.
fn orchestrator(a: &Allocation) -> String {
    let extra = &a.attachment.extra;
    match extra
        .get("orchestrator")
        .and_then(serde_json::Value::as_str)
    {
        Some(o) => o.to_string(),
        None if extra.get("docker").is_some() => "docker".into(),
        None => "cni".into(),
    }
}

/// The WorkloadEndpoint of an attachment on `node`, validated as `tern apply` would.
pub fn wep_resource(node: &str, key: &AttachmentKey, a: &Allocation) -> Result<Resource, String> {
    let orch = orchestrator(a);
    let mut labels = a.attachment.labels.clone();
    labels.insert(
        acl::endpoint::LABEL_NAMESPACE.to_string(),
        a.attachment.namespace.clone(),
    );
    let doc = json!({
        "apiVersion": resources::CALICO_API,
        "kind": "WorkloadEndpoint",
        "metadata": {
            "name": wep_name(node, &orch, key, &a.attachment.name),
            "namespace": a.attachment.namespace,
            "labels": labels,
        },
        "spec": {
            "node": node,
            "orchestrator": orch,
            "workload": a.attachment.name,
            "endpoint": key.ifname,
            "containerID": key.container_id,
            "interfaceName": a.attachment.host_ifname,
            "mac": net::mac_text(&net::container_mac(key)),
            "ipNetworks": net::prefixes(a).iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
    });
    Resource::from_value(doc).map_err(|e| format!("workload {key}: {e}"))
}

/// What this node should have in the store, by key; attachments that cannot be
/// expressed as a resource are reported once per change and left out.
fn desired(
    node: &str,
    attachments: &[(AttachmentKey, Allocation)],
) -> BTreeMap<ResourceKey, Resource> {
    let mut out = BTreeMap::new();
    for (k, a) in attachments {
        match wep_resource(node, k, a) {
            Ok(r) => {
                if let Some(prev) = out.insert(r.key(), r) {
                    tracing::warn!(
                        "workload {k}: same WorkloadEndpoint name as another ({}); one is published",
                        prev.metadata.name
                    );
                }
            }
            Err(e) => tracing::warn!("not published: {e}"),
        }
    }
    out
}

fn is_mine(node: &str, r: &Resource) -> bool {
    matches!(&r.spec, Spec::WorkloadEndpoint(w) if w.node.as_deref() == Some(node))
}

/// Same content (what the store keeps), whatever the revision.
fn same(a: &Resource, b: &Resource) -> bool {
    a.to_json() == b.to_json()
}

/// Writes the store has taken but the reflector has not shown yet: key → what it now
/// holds (`None`: deleted) and the revision of the write.
type Pending = BTreeMap<ResourceKey, (Option<Resource>, Revision)>;

/// This node's WorkloadEndpoints as the reflector's view shows them, with the writes it
/// does not show yet on top (so a write is not repeated while its event is on the way).
fn current(node: &str, snap: &Snapshot, pending: &mut Pending) -> BTreeMap<ResourceKey, Resource> {
    pending.retain(|_, (_, rev)| *rev > snap.revision);
    let mut cur: BTreeMap<ResourceKey, Resource> = snap
        .items
        .values()
        .filter(|r| is_mine(node, r))
        .map(|r| (r.key(), r.clone()))
        .collect();
    for (k, (r, _)) in pending.iter() {
        match r {
            Some(r) => cur.insert(k.clone(), r.clone()),
            None => cur.remove(k),
        };
    }
    cur
}

/// Brings the store's WorkloadEndpoints of this node from `current` to `want`,
/// recording each write in `pending`. Returns (written, deleted).
async fn converge<S: Store>(
    store: &S,
    current: &BTreeMap<ResourceKey, Resource>,
    want: &BTreeMap<ResourceKey, Resource>,
    pending: &mut Pending,
) -> Result<(usize, usize), StoreError> {
    let (mut put, mut deleted) = (0, 0);
    for (k, r) in want {
        if current.get(k).is_some_and(|c| same(c, r)) {
            continue;
        }
        let (_, rev) = store::apply(store, r).await?;
        pending.insert(k.clone(), (Some(r.clone()), rev));
        put += 1;
    }
    for k in current.keys().filter(|k| !want.contains_key(*k)) {
        let rev = match store.delete(k, None).await {
            Ok(rev) => rev,
            // Already gone: the reflector will show it.
            Err(StoreError::NotFound(_)) => 0,
            Err(e) => return Err(e),
        };
        pending.insert(k.clone(), (None, rev));
        deleted += 1;
    }
    Ok((put, deleted))
}

/// Publishes the attachments on `local` as WorkloadEndpoints of `node` until the
/// sender is gone. `weps` is a reflector of every WorkloadEndpoint (the policy watch's):
/// what this node has in the store is read there, so a change made by someone else
/// (a deletion, an edit) is repaired as soon as it is seen, and nothing is listed again.
pub async fn publish<S: Store>(
    store: Arc<S>,
    node: String,
    mut local: watch::Receiver<Attachments>,
    mut weps: watch::Receiver<Arc<Snapshot>>,
) {
    // Nothing is deleted before the workload task has said what it holds, nor before
    // the store's view is complete.
    if local.wait_for(Option::is_some).await.is_err() || weps.wait_for(|s| s.synced).await.is_err()
    {
        return;
    }
    let mut pending = Pending::new();
    let mut backoff = MIN_BACKOFF;
    let mut failing = false;
    loop {
        let want = {
            let a = local.borrow_and_update();
            desired(&node, a.as_deref().unwrap_or_default())
        };
        let snap = weps.borrow_and_update().clone();
        let cur = current(&node, &snap, &mut pending);
        match converge(&*store, &cur, &want, &mut pending).await {
            Ok((put, deleted)) => {
                if put + deleted > 0 || failing {
                    tracing::info!(
                        published = want.len(),
                        written = put,
                        deleted,
                        "workload endpoints published"
                    );
                }
                failing = false;
                backoff = MIN_BACKOFF;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!("workload endpoints not published (retrying): {e}");
                }
                failing = true;
            }
        }
        tokio::select! {
            r = local.changed() => if r.is_err() { return },
            r = weps.changed() => if r.is_err() { return },
            () = tokio::time::sleep(backoff), if failing => {
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(ns: &str, name: &str, ip: &str, labels: &[(&str, &str)]) -> Allocation {
        Allocation {
            ipv4: Some(ip.parse().expect("ip")),
            ipv6: None,
            attachment: ipam::Attachment {
                netns: "/run/netns/x".into(),
                host_ifname: "tern0123456789a".into(),
                namespace: ns.into(),
                name: name.into(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                extra: serde_json::Value::Null,
            },
        }
    }

    fn key(id: &str) -> AttachmentKey {
        AttachmentKey::new(id, "eth0").expect("key")
    }

    #[test]
    fn a_workload_becomes_a_calico_style_workload_endpoint() {
        let a = alloc("shop", "web-1", "10.244.1.5", &[("app", "web")]);
        let r = wep_resource("host-a", &key("c0ffee"), &a).expect("valid");
        assert_eq!(r.metadata.name, "host--a-cni-web--1-eth0");
        assert_eq!(r.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(r.metadata.labels["app"], "web");
        assert_eq!(r.metadata.labels["projectcalico.org/namespace"], "shop");
        let Spec::WorkloadEndpoint(w) = &r.spec else {
            panic!("{r:?}")
        };
        assert_eq!(w.node.as_deref(), Some("host-a"));
        assert_eq!(w.orchestrator.as_deref(), Some("cni"));
        assert_eq!(w.workload.as_deref(), Some("web-1"));
        assert_eq!(w.endpoint.as_deref(), Some("eth0"));
        assert_eq!(w.container_id.as_deref(), Some("c0ffee"));
        assert_eq!(w.interface_name, "tern0123456789a");
        assert_eq!(w.ip_networks, ["10.244.1.5/32"]);
        // What another node's policy task sees.
        let seen = w.to_acl(&r.metadata);
        assert_eq!(seen.namespace, "shop");
        assert_eq!(seen.ips, ["10.244.1.5/32".parse::<ipnet::IpNet>().unwrap()]);
        // The JSON round trip the datastore does.
        assert_eq!(Resource::from_json(&r.to_json()).expect("decodes"), r);
    }

    #[test]
    fn names_that_are_not_dns_names_fall_back_to_a_hash() {
        let mut a = alloc("default", "My_Container", "10.244.1.6", &[]);
        a.attachment.extra = json!({"docker": {"network": "n1"}});
        let r = wep_resource("host-a", &key("ABC_def"), &a).expect("valid");
        assert!(
            r.metadata.name.starts_with("host--a-docker-w"),
            "{}",
            r.metadata.name
        );
        assert_eq!(r.metadata.name.len(), "host--a-docker-w".len() + 16);
        let again = wep_resource("host-a", &key("ABC_def"), &a).expect("valid");
        assert_eq!(r.metadata.name, again.metadata.name);
        let other = wep_resource("host-a", &key("ABC_deg"), &a).expect("valid");
        assert_ne!(r.metadata.name, other.metadata.name);
    }

    fn snapshot(revision: Revision, items: &[&Resource]) -> Snapshot {
        Snapshot {
            synced: true,
            connected: true,
            revision,
            items: Arc::new(items.iter().map(|r| (r.key(), (*r).clone())).collect()),
            ..Snapshot::default()
        }
    }

    #[test]
    fn writes_the_view_does_not_show_yet_count_until_it_catches_up() {
        let mine = |id: &str, ip: &str| {
            wep_resource("host-a", &key(id), &alloc("shop", id, ip, &[])).expect("valid")
        };
        let a = mine("a", "10.244.1.1");
        let b = mine("b", "10.244.1.2");
        let theirs = wep_resource("host-b", &key("c"), &alloc("shop", "c", "10.244.2.1", &[]))
            .expect("valid");
        // The view at revision 10 has a; we deleted a (11) and wrote b (12) since.
        let mut pending = Pending::new();
        pending.insert(a.key(), (None, 11));
        pending.insert(b.key(), (Some(b.clone()), 12));
        let cur = current("host-a", &snapshot(10, &[&a, &theirs]), &mut pending);
        assert_eq!(cur.keys().collect::<Vec<_>>(), [&b.key()]);
        assert_eq!(pending.len(), 2);
        // At 11 the delete is in the view, the write not yet.
        let cur = current("host-a", &snapshot(11, &[&theirs]), &mut pending);
        assert_eq!(cur.keys().collect::<Vec<_>>(), [&b.key()]);
        assert_eq!(pending.len(), 1);
        // At 12 the view has caught up: it alone counts (someone deleting b later is
        // seen and repaired).
        let cur = current("host-a", &snapshot(12, &[&b, &theirs]), &mut pending);
        assert!(pending.is_empty());
        assert_eq!(cur.len(), 1);
        let cur = current("host-a", &snapshot(13, &[&theirs]), &mut pending);
        assert!(cur.is_empty());
    }

    #[test]
    fn bad_labels_are_reported_not_published() {
        let a = alloc("shop", "web", "10.244.1.7", &[("bad key!", "x")]);
        let e = wep_resource("host-a", &key("c1"), &a).expect_err("invalid label");
        assert!(e.contains("c1"), "{e}");
        let d = desired(
            "host-a",
            &[
                (key("c1"), a),
                (key("c2"), alloc("shop", "ok", "10.244.1.8", &[])),
            ],
        );
        assert_eq!(d.len(), 1);
    }
}
