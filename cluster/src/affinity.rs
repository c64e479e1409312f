//! Block affinity (as Calico's IPAM): a node owns whole blocks of the pools and hands
//! out addresses from them itself. A block is owned by writing its key
//! (`/tern/v1/ipam/blocks/<addr>-<len>`, value `{"node":"NAME"}`) with an etcd
//! transaction that succeeds only if the key does not exist (`Store::claim`): of two
//! nodes racing for one block exactly one wins, and the other moves on to the next free
//! one. Ownership survives restarts: [`owned`] lists a node's blocks from the keys.
//!
//! Blocks are not released here: a block stays with its node (affinity) until an
//! operator deletes its key, also after the node is gone — its workloads may come back
//! with the node, and a second owner of their addresses would be worse than a block
//! left unused.

use std::collections::BTreeSet;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use store::{Store, StoreError};

use crate::pools::{block_key, parse_block_key, Pool, BLOCKS_PREFIX};

/// Most claims tried (lost races) in one [`claim_next`] before giving up for now.
pub const MAX_CLAIM_ATTEMPTS: usize = 64;

/// The value of a block key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockClaim {
    /// The owning node's name.
    pub node: String,
}

/// Why a block could not be claimed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AffinityError {
    /// The datastore failed (unreachable, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Every block of every usable pool of the family is owned.
    #[error("no free block in the usable {family} pools ({pools})")]
    Exhausted {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// The pools looked at.
        pools: String,
    },
    /// Too many claims lost to other nodes in a row; try again later.
    #[error("lost {0} block claims in a row to other nodes")]
    Contended(usize),
}

/// Every claimed block and its owner (keys that are not block keys, or values that
/// are not a claim, are skipped).
pub async fn all_claims<S: Store>(store: &S) -> Result<Vec<(IpNet, String)>, StoreError> {
    let (raw, _) = store.list_raw(BLOCKS_PREFIX).await?;
    Ok(raw
        .into_iter()
        .filter_map(|v| {
            let block = parse_block_key(&v.key)?;
            let claim: BlockClaim = serde_json::from_slice(&v.value).ok()?;
            Some((block, claim.node))
        })
        .collect())
}

/// The blocks `node` owns, sorted.
pub async fn owned<S: Store>(store: &S, node: &str) -> Result<Vec<IpNet>, StoreError> {
    let mut v: Vec<IpNet> = all_claims(store)
        .await?
        .into_iter()
        .filter(|(_, n)| n == node)
        .map(|(b, _)| b)
        .collect();
    v.sort();
    Ok(v)
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Claims the first free block of `pools` of one family (`v6`) for `node`: reads what
/// is taken, then claims candidates in address order; a claim lost to another node
/// marks that block taken and tries the next. `Ok(block)` is owned by `node` now.
pub async fn claim_next<S: Store>(
    store: &S,
    node: &str,
    pools: &[Pool],
    v6: bool,
) -> Result<IpNet, AffinityError> {
    let family = if v6 { "IPv6" } else { "IPv4" };
    let pools: Vec<&Pool> = pools
        .iter()
        .filter(|p| p.cidr.addr().is_ipv6() == v6)
        .collect();
    let value = serde_json::to_vec(&BlockClaim {
        node: node.to_string(),
    })
    .unwrap_or_default();
    let mut taken: BTreeSet<IpNet> = all_claims(store)
        .await?
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    let mut lost = 0;
    for pool in &pools {
        // Only blocks inside this pool can be in the way.
        let in_pool: Vec<IpNet> = taken
            .iter()
            .filter(|t| overlaps(t, &pool.cidr))
            .copied()
            .collect();
        let mut in_pool = in_pool;
        for block in pool.blocks() {
            if in_pool.iter().any(|t| overlaps(t, &block)) {
                continue;
            }
            if store.claim(&block_key(block), &value).await? {
                return Ok(block);
            }
            lost += 1;
            if lost >= MAX_CLAIM_ATTEMPTS {
                return Err(AffinityError::Contended(lost));
            }
            taken.insert(block);
            in_pool.push(block);
        }
    }
    Err(AffinityError::Exhausted {
        family,
        pools: if pools.is_empty() {
            "none".into()
        } else {
            pools
                .iter()
                .map(|p| p.cidr.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
    })
}
