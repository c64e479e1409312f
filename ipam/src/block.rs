//! One address block: which offsets are taken (a set of maximal runs, so a /16 or an IPv6
//! /64 costs memory per run, not per address, and every operation is O(log runs)), which
//! are reserved, and the round-robin cursor.

use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The addresses of one block that IPAM never hands out.
///
/// Rule: the block's first address (the network address; in IPv6 the Subnet-Router
/// anycast address of RFC 4291 2.6.1) is never handed out. In IPv4 blocks of /30 and
/// shorter the last address (broadcast) is not handed out either. Calico hands out every
/// address of a block because workloads are routed as /32s; tern gives up two addresses
/// of a /26 so that a block that happens to be a LAN-style subnet somewhere (a /24-aligned
/// `.0` or `.255`) never confuses a stack or middlebox that treats them specially.
/// A /31 therefore has one usable address, a /32 or /128 none.
pub(crate) fn reserved_offsets(net: &IpNet) -> Vec<u128> {
    let last = last_offset(net);
    let mut r = vec![0];
    if matches!(net, IpNet::V4(_)) && net.prefix_len() <= 30 {
        r.push(last);
    }
    r
}

/// The highest offset in `net` (its size minus one, which fits u128 even for a /0).
fn last_offset(net: &IpNet) -> u128 {
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    }
}

/// Taken offsets of one block, with the round-robin cursor.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    net: IpNet,
    last: u128,
    /// Maximal runs of taken offsets (start → end, inclusive); no two runs touch.
    runs: BTreeMap<u128, u128>,
    /// Taken offsets, reserved ones included.
    taken: u128,
    reserved: Vec<u128>,
}

impl Block {
    pub(crate) fn new(net: IpNet) -> Self {
        let net = net.trunc();
        let mut b = Block {
            last: last_offset(&net),
            net,
            runs: BTreeMap::new(),
            taken: 0,
            reserved: Vec::new(),
        };
        b.reserved = reserved_offsets(&net);
        for o in b.reserved.clone() {
            b.take(o);
        }
        b
    }

    pub(crate) fn net(&self) -> IpNet {
        self.net
    }

    /// The offset of `addr` in this block, if it is inside.
    pub(crate) fn offset_of(&self, addr: IpAddr) -> Option<u128> {
        if !self.net.contains(&addr) {
            return None;
        }
        Some(match (addr, self.net) {
            (IpAddr::V4(a), IpNet::V4(n)) => u128::from(u32::from(a) - u32::from(n.network())),
            (IpAddr::V6(a), IpNet::V6(n)) => u128::from(a) - u128::from(n.network()),
            _ => return None,
        })
    }

    /// The address at `offset` (which must be inside the block).
    pub(crate) fn addr_at(&self, offset: u128) -> IpAddr {
        match self.net {
            // An IPv4 offset is below 2^32 because it is at most `last`.
            IpNet::V4(n) => IpAddr::V4((u32::from(n.network()) + offset as u32).into()),
            IpNet::V6(n) => IpAddr::V6((u128::from(n.network()) + offset).into()),
        }
    }

    pub(crate) fn is_reserved(&self, offset: u128) -> bool {
        self.reserved.contains(&offset)
    }

    pub(crate) fn is_full(&self) -> bool {
        // A /0 IPv6 block (2^128 addresses) cannot fill up: its size does not fit u128.
        self.last
            .checked_add(1)
            .is_some_and(|size| self.taken == size)
    }

    pub(crate) fn is_taken(&self, offset: u128) -> bool {
        self.runs
            .range(..=offset)
            .next_back()
            .is_some_and(|(_, &e)| e >= offset)
    }

    /// The lowest free offset at or after `from`, if any.
    pub(crate) fn first_free_from(&self, from: u128) -> Option<u128> {
        if from > self.last {
            return None;
        }
        match self.runs.range(..=from).next_back() {
            // Runs are maximal, so the offset after a run is free (or past the end).
            Some((_, &end)) if end >= from => (end < self.last).then(|| end + 1),
            _ => Some(from),
        }
    }

    /// Marks `offset` taken; false when it already was.
    pub(crate) fn take(&mut self, offset: u128) -> bool {
        debug_assert!(offset <= self.last);
        if self.is_taken(offset) {
            return false;
        }
        let left = offset.checked_sub(1).and_then(|p| {
            self.runs
                .range(..=p)
                .next_back()
                .filter(|(_, &e)| e == p)
                .map(|(&s, _)| s)
        });
        let right_end = offset
            .checked_add(1)
            .and_then(|n| self.runs.get(&n).copied());
        if let Some(n) = offset.checked_add(1) {
            if right_end.is_some() {
                self.runs.remove(&n);
            }
        }
        let start = left.unwrap_or(offset);
        let end = right_end.unwrap_or(offset);
        self.runs.insert(start, end);
        self.taken += 1;
        true
    }

    /// Marks `offset` free; false when it was not taken.
    pub(crate) fn free(&mut self, offset: u128) -> bool {
        let Some((&start, &end)) = self.runs.range(..=offset).next_back() else {
            return false;
        };
        if end < offset {
            return false;
        }
        self.runs.remove(&start);
        if start < offset {
            self.runs.insert(start, offset - 1);
        }
        if offset < end {
            self.runs.insert(offset + 1, end);
        }
        self.taken -= 1;
        true
    }

    /// Offsets handed out (reserved ones not counted).
    pub(crate) fn allocated(&self) -> u128 {
        self.taken - self.reserved.len() as u128
    }

    /// Offsets that can ever be handed out (saturating for a /0 IPv6 block).
    pub(crate) fn capacity(&self) -> u128 {
        self.last.saturating_add(1) - self.reserved.len() as u128
    }

    /// Number of runs (for tests: a measure of fragmentation).
    #[cfg(test)]
    pub(crate) fn runs(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn reserved_rule() {
        assert_eq!(reserved_offsets(&net("10.0.0.0/26")), vec![0, 63]);
        assert_eq!(reserved_offsets(&net("10.0.0.0/30")), vec![0, 3]);
        assert_eq!(reserved_offsets(&net("10.0.0.0/31")), vec![0]);
        assert_eq!(reserved_offsets(&net("10.0.0.1/32")), vec![0]);
        assert_eq!(reserved_offsets(&net("fd00::/122")), vec![0]);
    }

    #[test]
    fn take_and_free_keep_runs_maximal() {
        let mut b = Block::new(net("10.0.0.0/28"));
        assert_eq!(b.runs(), 2); // offset 0 and 15
        for o in 1..=14 {
            assert!(b.take(o));
        }
        assert_eq!(b.runs(), 1);
        assert!(b.is_full());
        assert!(!b.take(7));
        assert!(b.free(7));
        assert!(!b.free(7));
        assert_eq!(b.runs(), 2);
        assert_eq!(b.first_free_from(0), Some(7));
        assert_eq!(b.first_free_from(8), None);
        assert!(b.take(7));
        assert_eq!(b.runs(), 1);
    }

    #[test]
    fn addresses_and_offsets() {
        let b = Block::new(net("10.1.2.64/26"));
        assert_eq!(b.offset_of("10.1.2.70".parse().unwrap()), Some(6));
        assert_eq!(b.offset_of("10.1.2.128".parse().unwrap()), None);
        assert_eq!(b.offset_of("fd00::1".parse().unwrap()), None);
        assert_eq!(b.addr_at(6), "10.1.2.70".parse::<IpAddr>().unwrap());
        let b6 = Block::new(net("fd00:1::/64"));
        assert_eq!(b6.offset_of("fd00:1::ff".parse().unwrap()), Some(255));
        assert_eq!(b6.addr_at(255), "fd00:1::ff".parse::<IpAddr>().unwrap());
        assert_eq!(b6.first_free_from(0), Some(1));
        assert_eq!(
            b6.first_free_from(u128::from(u64::MAX)),
            Some(u128::from(u64::MAX))
        );
    }

    #[test]
    fn host_bits_are_ignored() {
        let b = Block::new(net("10.0.0.77/26"));
        assert_eq!(b.net(), net("10.0.0.64/26"));
    }

    #[test]
    fn whole_v6_space_does_not_overflow() {
        let mut b = Block::new(net("::/0"));
        assert!(!b.is_full());
        assert!(b.take(u128::MAX));
        assert_eq!(b.first_free_from(u128::MAX), None);
        assert_eq!(b.first_free_from(5), Some(5));
    }
}
