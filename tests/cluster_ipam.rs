//! IPAM blocks given back, against a real etcd (Debian's etcd-server) in a lab
//! namespace, with the agents' kernel FIBs:
//!
//! - a block that a node claimed for a burst of containers and that has been empty for
//!   the grace period (`workloads::blocks`, 60 s) is deleted from etcd and its route
//!   withdrawn everywhere, while the node keeps one block;
//! - when nodes die (SIGKILL: no lease revoke), their `Node` goes with the lease, and
//!   after `NODE_GONE_GRACE` one surviving agent (exactly one) frees the empty block —
//!   a new node claims it — and marks the block that still holds a workload unaffined;
//!   the node that held it comes back and takes it back;
//! - two live nodes cut off from etcd (not from each other) look gone: their empty
//!   blocks are freed; when they reach etcd again, one claims its block back, the other
//!   finds its block claimed by another node meanwhile and withdraws it.
//!
//! The block keys are read from etcd itself (`cluster::affinity::all_claims` through a
//! client in the lab's namespace), next to the agents' FIBs. Topology as in
//! `cluster_etcd.rs` (tests/cluster_support).

mod cluster_support;
mod cni_support;
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use cluster::affinity::BlockClaim;
use cluster::pools::{parse_block_key, BLOCKS_PREFIX};
use cluster_support::*;
use store::Store;
use testlab::{wait_for, Netns};

/// Longer than the grace periods plus the lease: 60 s (empty blocks) or 10 s TTL +
/// 30 s + 5 s (gone nodes), with room for a loaded machine.
const RECLAIM_WAIT: Duration = Duration::from_secs(150);

/// Runs `f` with a client of the lab's etcd, in the clients' namespace.
fn with_store<T, F>(c: &Cluster, f: impl FnOnce(store::etcd::EtcdStore) -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
{
    let endpoint = c.etcd.endpoint().to_string();
    let ns = c.etcd.cl.name().to_string();
    controller::netns::run_in(&ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async move {
            let s = store::etcd::EtcdStore::connect(&[endpoint])
                .await
                .expect("connect");
            f(s).await
        })
    })
    .expect("etcd in the lab")
}

/// Block → its claim, as etcd holds them now.
fn claims(c: &Cluster) -> BTreeMap<String, BlockClaim> {
    with_store(c, |s| async move {
        let (raw, _) = s.list_raw(BLOCKS_PREFIX).await.expect("list blocks");
        raw.into_iter()
            .filter_map(|v| {
                let block = parse_block_key(&v.key)?.to_string();
                let claim: BlockClaim = serde_json::from_slice(&v.value).ok()?;
                Some((block, claim))
            })
            .collect()
    })
}

/// Writes a claim of `block` for `node` into etcd, as that node's agent would.
fn claim_for(c: &Cluster, block: &str, node: &str) -> bool {
    let block: ipnet::IpNet = block.parse().expect("block");
    let value = BlockClaim::of(node).to_value();
    with_store(c, move |s| async move {
        s.claim(&cluster::pools::block_key(block), &value)
            .await
            .expect("claim")
    })
}

/// The one block `addr`'s node owns (of the blocks by owner `Cluster::up` returns).
fn one_block(blocks: &BTreeMap<String, Vec<String>>, addr: &str) -> String {
    let b = &blocks[addr];
    assert_eq!(b.len(), 1, "{addr}: {b:?}");
    b[0].clone()
}

fn owned_in_etcd(c: &Cluster, node: &str) -> Vec<String> {
    claims(c)
        .into_iter()
        .filter(|(_, cl)| cl.node == node)
        .map(|(b, _)| b)
        .collect()
}

#[test]
fn an_empty_block_goes_back_after_the_grace_and_the_node_keeps_one() {
    let mut c = Cluster::new("cl-ipam-rel");
    // Four /29 blocks of six usable addresses each.
    c.apply("pool.yaml", &pool("10.246.0.0/27", 29));
    c.up(2);
    let h1 = &c.hosts[0];
    let h2 = &c.hosts[1];
    let first = own_blocks(&h1.node.ns);
    assert_eq!(first.len(), 1, "{first:?}");
    // A burst: seven containers on h1; the seventh needs a second block.
    let nss: Vec<Netns> = (0..7).map(|k| c.etcd.lab.netns(&format!("w{k}"))).collect();
    let mut addrs = Vec::new();
    for (k, ns) in nss.iter().enumerate() {
        addrs.push(add(h1, &format!("burst-{k}"), ns));
    }
    let blocks = own_blocks(&h1.node.ns);
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert_eq!(owned_in_etcd(&c, "h1"), blocks);
    let second: String = blocks
        .iter()
        .find(|b| !first.contains(b))
        .cloned()
        .expect("a second block");
    assert!(
        inside(&addrs[6], std::slice::from_ref(&second)),
        "{addrs:?}"
    );
    wait_for(CONVERGE_ROUTE, &format!("h2: {second} via h1"), || {
        (via(&h2.node.ns, &second).as_deref() == Some(h1.addr.as_str())).then_some(())
    });
    // The burst is over: every container goes (CNI DEL). Both blocks are empty now.
    for (k, ns) in nss.iter().enumerate() {
        let o = h1
            .cni
            .call("DEL", &format!("burst-{k}"), &cni_support::netns_path(ns));
        assert_eq!(o.code, 0, "DEL {k}: {}", o.stdout);
    }
    // Not at once: within the grace both blocks stay (the check is seconds after the
    // DELs, the grace 60 s).
    assert_eq!(own_blocks(&h1.node.ns), blocks);
    // After the grace one block goes: out of etcd, out of h1's FIB, out of h2's.
    let kept = wait_for(RECLAIM_WAIT, "h1 gives back one empty block", || {
        let now = own_blocks(&h1.node.ns);
        (now.len() == 1).then_some(now)
    });
    let gone: &String = blocks
        .iter()
        .find(|b| !kept.contains(b))
        .expect("a block given back");
    wait_for(CONVERGE_ROUTE, "the block's key deleted", || {
        (owned_in_etcd(&c, "h1") == kept).then_some(())
    });
    assert!(!claims(&c).contains_key(gone), "{gone} still claimed");
    wait_for(CONVERGE_ROUTE, &format!("h2: {gone} withdrawn"), || {
        via(&h2.node.ns, gone).is_none().then_some(())
    });
    assert_eq!(
        via(&h2.node.ns, &kept[0]).as_deref(),
        Some(h1.addr.as_str()),
        "the kept block is still routed"
    );
    // The last block stays however long it is empty: still one after another check
    // period, and a new container gets its address from it.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(own_blocks(&h1.node.ns), kept);
    let again = add(h1, "after", &nss[0]);
    assert!(inside(&again, &kept), "{again} not in {kept:?}");
    let log = c.etcd.lab.log("tern-h1");
    assert_eq!(
        log.matches("empty block given back to the pool").count(),
        1,
        "{log}"
    );
}

#[test]
fn blocks_of_a_dead_node_are_freed_or_unaffined_and_taken_back_on_return() {
    let mut c = Cluster::new("cl-ipam-gone");
    // Four /30 blocks: four nodes use the pool up.
    c.apply("pool.yaml", &pool("10.247.0.0/28", 30));
    let (pids, blocks) = c.up(4);
    let block_of = |addr: &str| one_block(&blocks, addr);
    let (b2, b3) = (block_of("10.1.0.2"), block_of("10.1.0.3"));
    // h2 runs a workload: its WorkloadEndpoint (with its address) is in etcd.
    let w = c.etcd.lab.netns("w2");
    let addr = add(&c.hosts[1], "held", &w);
    assert!(
        inside(&addr, std::slice::from_ref(&b2)),
        "{addr} not in {b2}"
    );
    wait_for(CONVERGE_ROUTE, "h2's WorkloadEndpoint in etcd", || {
        let out = c.tern_ds(&["get", "workloadendpoint", "-A", "-o", "json"]);
        String::from_utf8_lossy(&out.stdout)
            .contains(&addr)
            .then_some(())
    });
    // h2 and h3 die without a word: their leases expire, their Nodes go.
    c.etcd.lab.kill9(pids[1]);
    c.etcd.lab.kill9(pids[2]);
    // h3's block held nothing: deleted. h2's still holds the workload: unaffined, kept.
    wait_for(RECLAIM_WAIT, "h3's block freed and h2's unaffined", || {
        let now = claims(&c);
        let freed = !now.contains_key(&b3);
        let held = now
            .get(&b2)
            .is_some_and(|cl| cl.node == "h2" && cl.unaffined);
        (freed && held).then_some(())
    });
    // Exactly one surviving agent freed it (the others' transactions found it gone).
    let logs = [c.etcd.lab.log("tern-h1"), c.etcd.lab.log("tern-h4")];
    let freed_lines = logs
        .iter()
        .flat_map(|l| l.lines())
        .filter(|l| l.contains("block of a gone node freed") && l.contains(&b3))
        .count();
    assert_eq!(freed_lines, 1, "{logs:?}");
    // The survivors keep theirs.
    assert_eq!(owned_in_etcd(&c, "h1"), vec![block_of("10.1.0.1")]);
    assert_eq!(owned_in_etcd(&c, "h4"), vec![block_of("10.1.0.4")]);
    // A new node claims the freed block (the only free one), never the held one.
    let h5 = c.host(5);
    c.start(h5);
    let b5 = wait_for(CONVERGE_ROUTE, "h5: a block", || {
        let b = own_blocks(&c.hosts[h5].node.ns);
        (!b.is_empty()).then_some(b)
    });
    assert_eq!(b5, vec![b3.clone()]);
    assert_eq!(claims(&c).get(&b3).map(|cl| cl.node.as_str()), Some("h5"));
    // h2 comes back under its name: it takes its block back (no longer unaffined),
    // and its peers route the block to it again.
    c.start(1);
    wait_for(CONVERGE_ROUTE, "h2 takes its block back", || {
        let cl = claims(&c);
        cl.get(&b2)
            .is_some_and(|cl| cl.node == "h2" && !cl.unaffined)
            .then_some(())
    });
    assert_eq!(own_blocks(&c.hosts[1].node.ns), vec![b2.clone()]);
    let h1 = &c.hosts[0];
    wait_for(CONVERGE_ROUTE, &format!("h1: {b2} via h2"), || {
        (via(&h1.node.ns, &b2).as_deref() == Some("10.1.0.2")).then_some(())
    });
}

/// How long a route or a key change may take to show (a mesh update, an etcd write).
const CONVERGE_ROUTE: Duration = Duration::from_secs(30);

#[test]
fn a_node_cut_off_from_etcd_takes_its_block_back_or_withdraws_it() {
    let mut c = Cluster::new("cl-ipam-cut");
    c.apply("pool.yaml", &pool("10.248.0.0/28", 30));
    let (_pids, blocks) = c.up(3);
    let block_of = |addr: &str| one_block(&blocks, addr);
    let (b2, b3) = (block_of("10.1.0.2"), block_of("10.1.0.3"));
    // h2 and h3 lose etcd (not each other, nor h1): their leases expire, and after
    // the grace h1 frees their empty blocks as a gone node's.
    cut_off_etcd(&c.hosts[1].node.ns, true);
    cut_off_etcd(&c.hosts[2].node.ns, true);
    wait_for(RECLAIM_WAIT, "h2's and h3's blocks freed", || {
        let now = claims(&c);
        (!now.contains_key(&b2) && !now.contains_key(&b3)).then_some(())
    });
    // Meanwhile another node (registered, so its block is not swept in turn) claims
    // h3's block.
    c.apply(
        "h9.yaml",
        "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: { name: h9 }\nspec: {}\n",
    );
    assert!(claim_for(&c, &b3, "h9"), "{b3} was free");
    // Both come back: h2 claims its block again and keeps it; h3 finds its block
    // another node's and withdraws it, so that one block is never announced twice.
    cut_off_etcd(&c.hosts[1].node.ns, false);
    cut_off_etcd(&c.hosts[2].node.ns, false);
    wait_for(CONVERGE_ROUTE, "h2's block claimed again by h2", || {
        (claims(&c).get(&b2).map(|cl| cl.node.as_str()) == Some("h2")).then_some(())
    });
    assert_eq!(own_blocks(&c.hosts[1].node.ns), vec![b2.clone()]);
    wait_for(CONVERGE_ROUTE, "h3 withdraws the block h9 holds", || {
        (!own_blocks(&c.hosts[2].node.ns).contains(&b3)).then_some(())
    });
    assert_eq!(claims(&c).get(&b3).map(|cl| cl.node.as_str()), Some("h9"));
    let h1 = &c.hosts[0];
    wait_for(
        CONVERGE_ROUTE,
        &format!("h1: {b2} via h2, {b3} not via h3"),
        || {
            let b2_via = via(&h1.node.ns, &b2);
            let b3_via = via(&h1.node.ns, &b3);
            (b2_via.as_deref() == Some("10.1.0.2") && b3_via.as_deref() != Some("10.1.0.3"))
                .then_some(())
        },
    );
    let log = c.etcd.lab.log("tern-h3");
    assert!(
        log.contains("block was claimed by another node while this node looked gone")
            && log.contains(&b3),
        "{log}"
    );
    let log = c.etcd.lab.log("tern-h2");
    assert!(
        log.contains("block was freed while this node looked gone; claimed again"),
        "{log}"
    );
}
