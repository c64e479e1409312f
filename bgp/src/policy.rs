//! Import policy: which received prefixes the RIB accepts into its Loc-RIB candidate set.
//!
//! tern's default import policy (Calico's): a prefix is accepted only when it lies inside
//! one of the configured `pools`, and never when it is (or lies inside) one of this node's
//! own `blocks` — those are originated here and must not be learned back. Prefix limits
//! are enforced by the RIB per peer ([`crate::rib::PeerSettings::receive_limit`],
//! [`crate::rib::PeerSettings::import_limit`]) and reported as
//! [`crate::rib::RibError::PrefixLimit`] so the speaker can act on them.
//!
//! The verdict is an explicit [`ImportVerdict`]; a rejected route is not stored (as BIRD
//! without `import keep filtered`): the RIB counts it per peer and reason.

use ipnet::IpNet;

/// Prefix filter applied to every route received from a peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPolicy {
    /// Accept only prefixes inside one of these (an empty list accepts nothing).
    pub pools: Vec<IpNet>,
    /// Never accept these prefixes or anything inside them (this node's own blocks).
    pub own_blocks: Vec<IpNet>,
}

/// Why the import policy refused a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportVerdict {
    /// Accepted.
    Accept,
    /// The prefix lies in no pool.
    OutsidePools,
    /// The prefix is one of this node's own blocks (or inside one).
    OwnBlock,
}

impl ImportPolicy {
    /// A policy accepting every prefix (pools 0.0.0.0/0 and ::/0, no own blocks).
    pub fn accept_all() -> Self {
        Self {
            pools: vec![
                IpNet::V4(ipnet::Ipv4Net::default()),
                IpNet::V6(ipnet::Ipv6Net::default()),
            ],
            own_blocks: Vec::new(),
        }
    }

    /// The verdict for `prefix`. Own blocks are checked first, so a block that is also
    /// inside a pool is reported as [`ImportVerdict::OwnBlock`].
    pub fn check(&self, prefix: &IpNet) -> ImportVerdict {
        if self.own_blocks.iter().any(|b| b.contains(prefix)) {
            return ImportVerdict::OwnBlock;
        }
        if self.pools.iter().any(|p| p.contains(prefix)) {
            ImportVerdict::Accept
        } else {
            ImportVerdict::OutsidePools
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn pools_and_own_blocks() {
        let p = ImportPolicy {
            pools: vec![net("10.244.0.0/16"), net("fd00:244::/48")],
            own_blocks: vec![net("10.244.1.0/24")],
        };
        assert_eq!(p.check(&net("10.244.2.0/24")), ImportVerdict::Accept);
        assert_eq!(p.check(&net("10.244.0.0/16")), ImportVerdict::Accept);
        assert_eq!(p.check(&net("fd00:244:0:5::/64")), ImportVerdict::Accept);
        assert_eq!(p.check(&net("10.245.0.0/24")), ImportVerdict::OutsidePools);
        assert_eq!(p.check(&net("10.0.0.0/8")), ImportVerdict::OutsidePools);
        assert_eq!(p.check(&net("10.244.1.0/24")), ImportVerdict::OwnBlock);
        assert_eq!(p.check(&net("10.244.1.128/25")), ImportVerdict::OwnBlock);
        assert_eq!(p.check(&net("fd01::/64")), ImportVerdict::OutsidePools);
    }

    #[test]
    fn empty_pools_accept_nothing_and_accept_all_accepts_everything() {
        let none = ImportPolicy::default();
        assert_eq!(none.check(&net("10.0.0.0/8")), ImportVerdict::OutsidePools);
        let all = ImportPolicy::accept_all();
        assert_eq!(all.check(&net("1.2.3.0/24")), ImportVerdict::Accept);
        assert_eq!(all.check(&net("2001:db8::/32")), ImportVerdict::Accept);
    }
}
