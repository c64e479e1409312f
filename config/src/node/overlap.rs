//! Overlapping prefixes within one list (`blocks`, `pools`) in O(n log n): sort, then
//! one sweep with a stack of the prefixes that contain the current one. (The pairwise
//! check took minutes and gigabytes for a file with millions of blocks.)

use std::net::IpAddr;

use ipnet::IpNet;

/// For each prefix that overlaps an earlier one of the list, in list order: its
/// position in `nets`, and the position of the earlier prefix to name: the first
/// exact duplicate if there is one, else the first prefix (in list order) that
/// contains it or that it contains.
pub(crate) fn overlaps(nets: &[IpNet]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..nets.len()).collect();
    order.sort_by_key(|&i| key(&nets[i], i));

    // Earliest position among the prefixes that contain each one (itself excluded)
    // and among those it contains.
    let mut above = vec![usize::MAX; nets.len()];
    let mut below = vec![usize::MAX; nets.len()];
    // The open prefixes: (position, earliest position on the path from the root).
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let close = |stack: &mut Vec<(usize, usize)>, below: &mut [usize]| {
        if let Some((done, _)) = stack.pop() {
            if let Some((parent, _)) = stack.last() {
                below[*parent] = below[*parent].min(done).min(below[done]);
            }
        }
    };
    for &i in &order {
        while stack
            .last()
            .is_some_and(|(j, _)| !nets[*j].contains(&nets[i]))
        {
            close(&mut stack, &mut below);
        }
        let path_min = stack.last().map_or(usize::MAX, |(_, m)| *m);
        above[i] = path_min;
        stack.push((i, path_min.min(i)));
    }
    while !stack.is_empty() {
        close(&mut stack, &mut below);
    }

    // Exact duplicates are adjacent after sorting; the first of a run is the earliest.
    let mut first_equal = vec![usize::MAX; nets.len()];
    for w in order.windows(2) {
        if nets[w[0]] == nets[w[1]] {
            first_equal[w[1]] = first_equal[w[0]].min(w[0]);
        }
    }

    (0..nets.len())
        .filter_map(|i| {
            let earlier = if first_equal[i] < i {
                first_equal[i]
            } else {
                above[i].min(below[i])
            };
            (earlier < i).then_some((i, earlier))
        })
        .collect()
}

/// Sort key: family, first address, shorter prefixes first, then list position.
fn key(net: &IpNet, i: usize) -> (u8, u128, u8, usize) {
    let (family, addr) = match net.network() {
        IpAddr::V4(a) => (4, u128::from(u32::from(a))),
        IpAddr::V6(a) => (6, u128::from(a)),
    };
    (family, addr, net.prefix_len(), i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    /// The pairwise definition the sweep must agree with.
    fn pairwise(nets: &[IpNet]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (k, b) in nets.iter().enumerate() {
            let earlier = &nets[..k];
            let found = earlier
                .iter()
                .position(|a| a == b)
                .or_else(|| earlier.iter().position(|a| a.contains(b) || b.contains(a)));
            if let Some(i) = found {
                out.push((k, i));
            }
        }
        out
    }

    #[test]
    fn agrees_with_the_pairwise_check() {
        let cases = [
            nets(&[
                "10.0.0.0/8",
                "10.1.0.0/16",
                "10.1.0.0/16",
                "10.0.0.0/8",
                "192.168.0.0/16",
            ]),
            nets(&["10.1.2.0/24", "10.1.0.0/16", "10.0.0.0/8", "10.1.2.0/24"]),
            nets(&[
                "10.1.2.0/24",
                "10.1.3.0/24",
                "10.1.0.0/16",
                "fd00::/48",
                "fd00::/64",
                "::/0",
            ]),
            nets(&["0.0.0.0/0", "10.0.0.0/8"]),
            nets(&[
                "10.0.0.0/8",
                "11.0.0.0/8",
                "10.0.0.0/9",
                "10.128.0.0/9",
                "10.0.0.0/7",
            ]),
            nets(&[]),
        ];
        for c in &cases {
            assert_eq!(overlaps(c), pairwise(c), "{c:?}");
        }
        // A deterministic pseudo-random mix of nested and disjoint prefixes.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200 {
            let list: Vec<IpNet> = (0..30)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let len = 8 + (x >> 60) as u8;
                    let addr = std::net::Ipv4Addr::from(((x >> 20) as u32) & 0x0f0f_0000);
                    IpNet::new(IpAddr::V4(addr), len).unwrap().trunc()
                })
                .collect();
            assert_eq!(overlaps(&list), pairwise(&list), "{list:?}");
        }
    }
}
