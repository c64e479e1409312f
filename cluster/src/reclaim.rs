//! Giving IPAM blocks back to the pools (as Calico's IPAM garbage collection does):
//!
//! - [`release`]: a node deletes one of its own blocks that its workload task found
//!   empty (the agent decides when: after a grace period, never its last block of a
//!   family). The delete is an etcd transaction on the revision just read, so a block
//!   someone changed meanwhile is left alone.
//! - [`sweep_gone`]: any node deletes the blocks of nodes whose `Node` is gone (its
//!   lease expired) and that hold no workload any more — no `WorkloadEndpoint` of that
//!   node has an address inside — and marks the others [`BlockClaim::unaffined`]
//!   (Calico: the block loses its affinity, its allocations stay). An unaffined block
//!   is deleted by a later sweep once those workloads are gone (deleted by an operator
//!   with `tern delete workloadendpoint`, or by their node when it returns and finds
//!   them stale). Every write is a transaction on the revision read, and the owner's
//!   `Node` is read fresh just before: of several nodes sweeping at once one wins, the
//!   others find the key changed and move on.
//! - [`reaffirm`]: a starting node rewrites each block it owns (dropping the unaffined
//!   mark), again on the revision read, so a sweep that read the block before the node
//!   came back cannot delete it afterwards (its transaction fails on the new revision),
//!   and a block already deleted is not used.
//!
//! - [`recheck`]: a running node whose lease was lost (cut off from etcd for longer
//!   than its TTL, so the others may have counted it gone) checks the blocks it uses:
//!   its own ones are rewritten, freed ones claimed again, and one another node
//!   claimed meanwhile is reported so the node stops using it.
//!
//! [`verdict`] is the pure decision for one block of a gone node.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use resources::{Kind, Resource, ResourceKey, Spec};
use store::{RawValue, Store, StoreError};

use crate::affinity::BlockClaim;
use crate::pools::{block_key, parse_block_key, BLOCKS_PREFIX};

/// What [`release`] came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// The key was this node's and is deleted now.
    Deleted,
    /// The key was gone already, or is another node's: this node must not use the block.
    NotOurs,
    /// The key changed between the read and the delete: try again later.
    Changed,
}

/// Deletes `block` of `node` from the datastore, if the key is still `node`'s at the
/// revision read (transaction).
pub async fn release<S: Store>(
    store: &S,
    node: &str,
    block: IpNet,
) -> Result<Released, StoreError> {
    let key = block_key(block);
    let Some(v) = store.get_raw(&key).await? else {
        return Ok(Released::NotOurs);
    };
    match serde_json::from_slice::<BlockClaim>(&v.value) {
        Ok(c) if c.node == node => {}
        _ => return Ok(Released::NotOurs),
    }
    Ok(if store.delete_raw_if(&key, v.revision).await? {
        Released::Deleted
    } else {
        Released::Changed
    })
}

/// The blocks `node` owns (unaffined ones included), each rewritten as affine on the
/// revision read; blocks whose rewrite lost to another writer are left out (the node
/// does not use them). Sorted.
pub async fn reaffirm<S: Store>(store: &S, node: &str) -> Result<Vec<IpNet>, StoreError> {
    let (raw, _) = store.list_raw(BLOCKS_PREFIX).await?;
    let value = BlockClaim::of(node).to_value();
    let mut kept = Vec::new();
    for v in raw {
        let Some((block, claim)) = parse(&v) else {
            continue;
        };
        if claim.node != node {
            continue;
        }
        if store.put_raw_if(&v.key, &value, v.revision).await? {
            kept.push(block);
        } else {
            tracing::warn!(%block, "block changed while this node took it back; not used");
        }
    }
    kept.sort();
    Ok(kept)
}

/// What [`recheck`] found for the blocks a node was using.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recheck {
    /// Still this node's (rewritten as affine).
    pub kept: Vec<IpNet>,
    /// Gone from the datastore (freed by another node's sweep) and claimed again.
    pub taken_back: Vec<IpNet>,
    /// Claimed by another node meanwhile: this node must stop using them. With the
    /// owner's name.
    pub lost: Vec<(IpNet, String)>,
    /// Changed under every attempt: to be checked again.
    pub unsettled: Vec<IpNet>,
}

/// Checks the blocks `node` is using after it may have looked gone to the others
/// (its lease was lost: other nodes may have freed or unaffined its blocks): each
/// block still `node`'s is rewritten as affine, a freed one is claimed again, one
/// that another node claimed meanwhile is reported lost. Every write is a
/// transaction (a claim only if the key is absent, a rewrite on the revision read);
/// a key that changed between read and write is read again.
pub async fn recheck<S: Store>(
    store: &S,
    node: &str,
    blocks: &[IpNet],
) -> Result<Recheck, StoreError> {
    let value = BlockClaim::of(node).to_value();
    let mut out = Recheck::default();
    for &block in blocks {
        let key = block_key(block);
        // A few rounds: each lost transaction means another writer just acted.
        let settled = |o: &Recheck| {
            o.kept.contains(&block)
                || o.taken_back.contains(&block)
                || o.lost.iter().any(|(b, _)| *b == block)
        };
        for _ in 0..5 {
            match store.get_raw(&key).await? {
                None => {
                    if store.claim(&key, &value).await? {
                        out.taken_back.push(block);
                        break;
                    }
                }
                Some(v) => match serde_json::from_slice::<BlockClaim>(&v.value) {
                    Ok(c) if c.node == node => {
                        if store.put_raw_if(&key, &value, v.revision).await? {
                            out.kept.push(block);
                            break;
                        }
                    }
                    Ok(c) => {
                        out.lost.push((block, c.node));
                        break;
                    }
                    Err(_) => {
                        out.lost.push((block, "(unreadable claim)".into()));
                        break;
                    }
                },
            }
        }
        if !settled(&out) {
            out.unsettled.push(block);
        }
    }
    Ok(out)
}

fn parse(v: &RawValue) -> Option<(IpNet, BlockClaim)> {
    let block = parse_block_key(&v.key)?;
    let claim = serde_json::from_slice(&v.value).ok()?;
    Some((block, claim))
}

/// What to do with a block whose node is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No workload of the node holds an address in it: delete the key.
    Free,
    /// Workloads still hold addresses in it: mark it unaffined, keep it.
    Unaffine,
    /// Already unaffined and still holding workloads: nothing to write.
    Keep,
}

/// The decision for one block of a gone node, given how many of that node's
/// `WorkloadEndpoint`s have an address inside the block.
pub fn verdict(claim: &BlockClaim, holders: usize) -> Verdict {
    match (holders, claim.unaffined) {
        (0, _) => Verdict::Free,
        (_, false) => Verdict::Unaffine,
        (_, true) => Verdict::Keep,
    }
}

/// How many `WorkloadEndpoint`s of `node` (among `weps`) have an address in `block`.
pub fn holders(weps: &[Resource], node: &str, block: IpNet) -> usize {
    weps.iter()
        .filter(|r| match &r.spec {
            Spec::WorkloadEndpoint(w) => {
                w.node.as_deref() == Some(node)
                    && w.ip_networks.iter().any(|n| {
                        n.parse::<IpNet>()
                            .map(|n| n.addr())
                            .or_else(|_| n.parse::<std::net::IpAddr>())
                            .is_ok_and(|a| block.contains(&a))
                    })
            }
            _ => false,
        })
        .count()
}

/// What one [`sweep_gone`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Blocks deleted (block, the gone node).
    pub freed: Vec<(IpNet, String)>,
    /// Blocks marked unaffined now.
    pub unaffined: Vec<(IpNet, String)>,
    /// Blocks of gone nodes still held by workloads (unaffined), after this sweep.
    pub held: Vec<(IpNet, String)>,
    /// Writes lost to another node (it swept first, or the owner came back).
    pub lost: usize,
}

/// Frees or unaffines the blocks of nodes that are gone. `gone(name)` says which owners
/// this node has not seen registered for long enough; each is confirmed by a fresh read
/// of its `Node` (a node that registered again keeps its blocks). Reads nothing more
/// when no block belongs to such a node.
pub async fn sweep_gone<S: Store>(
    store: &S,
    gone: impl Fn(&str) -> bool,
) -> Result<Sweep, StoreError> {
    let (raw, _) = store.list_raw(BLOCKS_PREFIX).await?;
    let orphans: Vec<(RawValue, IpNet, BlockClaim)> = raw
        .into_iter()
        .filter_map(|v| {
            let (b, c) = parse(&v)?;
            gone(&c.node).then_some((v, b, c))
        })
        .collect();
    let mut out = Sweep::default();
    if orphans.is_empty() {
        return Ok(out);
    }
    let owners: BTreeSet<&str> = orphans.iter().map(|(_, _, c)| c.node.as_str()).collect();
    let mut absent: BTreeMap<&str, bool> = BTreeMap::new();
    for o in owners {
        let key = ResourceKey {
            kind: Kind::Node,
            namespace: None,
            name: o.to_string(),
        };
        absent.insert(o, store.get(&key).await?.is_none());
    }
    let (weps, _) = store.list(Kind::WorkloadEndpoint).await?;
    for (v, block, claim) in &orphans {
        if !absent.get(claim.node.as_str()).copied().unwrap_or(false) {
            continue;
        }
        let entry = (*block, claim.node.clone());
        match verdict(claim, holders(&weps, &claim.node, *block)) {
            Verdict::Free => {
                if store.delete_raw_if(&v.key, v.revision).await? {
                    out.freed.push(entry);
                } else {
                    out.lost += 1;
                }
            }
            Verdict::Unaffine => {
                let marked = BlockClaim {
                    node: claim.node.clone(),
                    unaffined: true,
                };
                if store
                    .put_raw_if(&v.key, &marked.to_value(), v.revision)
                    .await?
                {
                    out.unaffined.push(entry.clone());
                    out.held.push(entry);
                } else {
                    out.lost += 1;
                }
            }
            Verdict::Keep => out.held.push(entry),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wep(node: &str, ips: &[&str]) -> Resource {
        let doc = serde_json::json!({
            "apiVersion": "projectcalico.org/v3",
            "kind": "WorkloadEndpoint",
            "metadata": { "name": format!("{node}-cni-c1-eth0"), "namespace": "default" },
            "spec": { "node": node, "interfaceName": "eth0", "ipNetworks": ips },
        });
        Resource::from_json(doc.to_string().as_bytes()).expect("wep")
    }

    #[test]
    fn a_gone_nodes_block_is_freed_only_when_no_workload_of_it_is_inside() {
        let block: IpNet = "10.244.3.0/26".parse().expect("net");
        let weps = [
            wep("n1", &["10.244.3.5/32"]),
            wep("n1", &["10.244.4.1/32", "fd00::1/128"]),
            wep("n2", &["10.244.3.6/32"]),
            wep("n1", &["10.244.3.7"]),
        ];
        // n1 holds two addresses in the block (with and without a prefix length); n2's
        // workload there is not n1's and does not count.
        assert_eq!(holders(&weps, "n1", block), 2);
        assert_eq!(holders(&weps, "n3", block), 0);
        let affine = BlockClaim::of("n1");
        let marked = BlockClaim {
            node: "n1".into(),
            unaffined: true,
        };
        assert_eq!(verdict(&affine, 0), Verdict::Free);
        assert_eq!(verdict(&marked, 0), Verdict::Free);
        assert_eq!(verdict(&affine, 2), Verdict::Unaffine);
        assert_eq!(verdict(&marked, 1), Verdict::Keep);
    }
}
