//! Block affinity (as Calico's IPAM): a node owns whole blocks of the pools and hands
//! out addresses from them itself. A block is owned by writing its key
//! (`/tern/v1/ipam/blocks/<addr>-<len>`, value `{"node":"NAME"}`) with an etcd
//! transaction that succeeds only if the key does not exist (`Store::claim`): of two
//! nodes racing for one block exactly one wins, and the other moves on to the next free
//! one. Ownership survives restarts: [`owned`] lists a node's blocks from the keys.
//!
//! Each node searches the pool from its own place ([`search_order`]: a hash of its
//! name picks the first block, then the search wraps around the pool), as Calico's IPAM
//! picks a random free block: nodes starting together rarely want the same block, so
//! claims grow with the number of nodes, not with its square. The transaction still
//! decides every race.
//!
//! Giving blocks back (empty ones, and those of nodes that are gone) is
//! [`crate::reclaim`]'s.

use std::collections::BTreeSet;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
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
    /// The node is gone but its block still held workload addresses when that was
    /// found (Calico: the block lost its affinity, its allocations stay): nobody claims
    /// it, and it is deleted once those workloads are gone ([`crate::reclaim`]). The
    /// node takes it back if it returns.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unaffined: bool,
}

impl BlockClaim {
    /// The claim of an affine block of `node`.
    pub fn of(node: &str) -> BlockClaim {
        BlockClaim {
            node: node.to_string(),
            unaffined: false,
        }
    }

    /// The key's value (JSON).
    pub fn to_value(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
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

/// A stable number for a node's name: FNV-1a (64 bits) with a final mix, so that names
/// differing only in a digit (`n17`, `n71`) land far apart in a pool.
pub fn name_seed(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64's finaliser: every input bit moves the low bits taken by `% count`.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// How many blocks `pool` has (saturating at `u128::MAX` for `::/0` in /128s).
fn block_count(pool: &Pool) -> u128 {
    let size = pool.block_size.max(pool.cidr.prefix_len());
    let bits = u32::from(size - pool.cidr.prefix_len());
    1u128.checked_shl(bits).unwrap_or(u128::MAX)
}

/// The `i`th block of `pool` (in address order).
fn block_at(pool: &Pool, i: u128) -> IpNet {
    let size = pool.block_size.max(pool.cidr.prefix_len());
    match pool.cidr {
        IpNet::V4(n) => {
            let step = 32 - u32::from(size);
            let base = u32::from(n.network());
            let addr = base.wrapping_add((i as u32).checked_shl(step).unwrap_or(0));
            IpNet::V4(Ipv4Net::new(addr.into(), size).unwrap_or_default())
        }
        IpNet::V6(n) => {
            let step = 128 - u32::from(size);
            let base = u128::from(n.network());
            let addr = base.wrapping_add(i.checked_shl(step).unwrap_or(0));
            IpNet::V6(Ipv6Net::new(addr.into(), size).unwrap_or_default())
        }
    }
}

/// The blocks of `pool` in the order a node with `seed` ([`name_seed`]) tries them:
/// from block `seed mod count`, up to the pool's end, then from its start — every block
/// once, lazily (a /48 of /122s is 2^74 blocks).
pub fn search_order(pool: &Pool, seed: u64) -> impl Iterator<Item = IpNet> {
    let pool = *pool;
    let count = block_count(&pool);
    let start = u128::from(seed) % count;
    (0..count).map(move |k| {
        // (start + k) mod count without overflowing.
        let i = if k < count - start {
            start + k
        } else {
            k - (count - start)
        };
        block_at(&pool, i)
    })
}

/// Claims a free block of `pools` of one family (`v6`) for `node`: reads what is taken,
/// then claims candidates in each pool's [`search_order`] for `node` (pools in order);
/// a claim lost to another node marks that block taken and tries the next. `Ok(block)`
/// is owned by `node` now.
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
    let value = BlockClaim::of(node).to_value();
    let seed = name_seed(node);
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
        for block in search_order(pool, seed) {
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

#[cfg(test)]
#[path = "affinity_tests.rs"]
mod tests;
