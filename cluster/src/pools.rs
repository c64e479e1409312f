//! IPPools as this node sees them: which pools it may take blocks from (enabled, its
//! labels selected by `nodeSelector`), how a pool is cut into blocks, and the raw key
//! of a block in the datastore (`/tern/v1/ipam/blocks/<addr>-<len>`). Pure.

use std::net::IpAddr;

use acl::selector::{Labels, Target};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use resources::Spec;

use crate::Items;

/// Prefix of the block keys.
pub const BLOCKS_PREFIX: &str = "/tern/v1/ipam/blocks/";

/// One usable pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pool {
    /// The pool's CIDR.
    pub cidr: IpNet,
    /// Prefix length of its blocks.
    pub block_size: u8,
}

impl Pool {
    /// The pool's blocks in address order, lazily (a /48 of /122s is 2^74 blocks).
    pub fn blocks(&self) -> impl Iterator<Item = IpNet> {
        let pool = self.cidr;
        let size = self.block_size.max(pool.prefix_len());
        let (base, step_bits, max_bits): (u128, u32, u32) = match pool {
            IpNet::V4(n) => (u32::from(n.network()) as u128, 32 - size as u32, 32),
            IpNet::V6(n) => (u128::from(n.network()), 128 - size as u32, 128),
        };
        let count_bits = size as u32 - pool.prefix_len() as u32;
        let count: Option<u128> = 1u128.checked_shl(count_bits).filter(|_| count_bits < 128);
        (0u128..)
            .take_while(move |i| count.is_none_or(|c| *i < c))
            .map(move |i| {
                let addr = base + (i << step_bits);
                match max_bits {
                    32 => IpNet::V4(Ipv4Net::new((addr as u32).into(), size).unwrap_or_default()),
                    _ => IpNet::V6(Ipv6Net::new(addr.into(), size).unwrap_or_default()),
                }
            })
    }
}

/// The pools this node may claim blocks from: enabled, selected by their
/// `nodeSelector` (over `labels`), sorted (IPv4 first).
pub fn usable_pools(pools: &Items, labels: &Labels) -> Vec<Pool> {
    let mut out: Vec<Pool> = pools
        .values()
        .filter_map(|r| match &r.spec {
            Spec::IpPool(p) if !p.disabled => Some(p),
            _ => None,
        })
        .filter(|p| {
            p.node_selector().matches(Target {
                labels,
                global: true,
            })
        })
        .filter_map(|p| {
            Some(Pool {
                cidr: p.cidr()?,
                block_size: p.block_size(),
            })
        })
        .collect();
    out.sort();
    out
}

/// Every pool's CIDR, disabled ones included (routes inside them are accepted: a
/// disabled pool's blocks still hold workloads).
pub fn all_cidrs(pools: &Items) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = pools
        .values()
        .filter_map(|r| match &r.spec {
            Spec::IpPool(p) => p.cidr(),
            _ => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The datastore key of a block: `/tern/v1/ipam/blocks/10.244.0.64-26`.
pub fn block_key(block: IpNet) -> String {
    format!("{BLOCKS_PREFIX}{}-{}", block.addr(), block.prefix_len())
}

/// The block a key names, if it is a well-formed block key.
pub fn parse_block_key(key: &str) -> Option<IpNet> {
    let rest = key.strip_prefix(BLOCKS_PREFIX)?;
    let (addr, len) = rest.rsplit_once('-')?;
    let addr: IpAddr = addr.parse().ok()?;
    let net = IpNet::new(addr, len.parse().ok()?).ok()?;
    (net.trunc() == net).then_some(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn a_pool_cuts_into_its_blocks_in_order() {
        let p = Pool {
            cidr: net("10.244.0.0/24"),
            block_size: 26,
        };
        let b: Vec<IpNet> = p.blocks().collect();
        assert_eq!(
            b,
            [
                "10.244.0.0/26",
                "10.244.0.64/26",
                "10.244.0.128/26",
                "10.244.0.192/26"
            ]
            .map(net)
        );
        let v6 = Pool {
            cidr: net("fd00:244::/48"),
            block_size: 122,
        };
        let first: Vec<IpNet> = v6.blocks().take(2).collect();
        assert_eq!(first, [net("fd00:244::/122"), net("fd00:244::40/122")]);
        let whole = Pool {
            cidr: net("::/0"),
            block_size: 128,
        };
        assert_eq!(whole.blocks().nth(3), Some(net("::3/128")));
        let one = Pool {
            cidr: net("10.0.0.0/26"),
            block_size: 26,
        };
        assert_eq!(one.blocks().count(), 1);
    }

    #[test]
    fn block_keys_round_trip() {
        for b in ["10.244.0.64/26", "fd00:244::40/122"] {
            let k = block_key(net(b));
            assert_eq!(parse_block_key(&k), Some(net(b)), "{k}");
        }
        assert_eq!(
            block_key(net("10.244.0.64/26")),
            "/tern/v1/ipam/blocks/10.244.0.64-26"
        );
        assert_eq!(parse_block_key("/tern/v1/ipam/blocks/10.244.0.65-26"), None);
        assert_eq!(parse_block_key("/tern/v1/ipam/blocks/x-26"), None);
        assert_eq!(parse_block_key("/tern/v1/ipam/other/10.0.0.0-26"), None);
    }
}
