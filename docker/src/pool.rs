//! IPAM pools as tern hands them to Docker. A pool holds no state: its ID says which
//! addresses it draws from, so a restarted agent reads the same IDs the same way.
//!
//! - No `--subnet`: pool `0.0.0.0/0` (`::/0`), ID `tern-ipv4` (`tern-ipv6`): any address
//!   of this node's blocks of that family.
//! - `--subnet CIDR`: it must lie inside one of the node's `pools` and overlap one of its
//!   blocks; the ID is the CIDR and addresses come from the blocks' part of it.
//!
//! Either way the answer carries `com.docker.network.gateway` so Docker does not ask
//! for a gateway address: containers route through 169.254.1.1 / fe80::1, as in Calico.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::protocol::{PoolReply, RequestPool};

/// The ID of the default IPv4 pool.
pub const DEFAULT_V4: &str = "tern-ipv4";
/// The ID of the default IPv6 pool.
pub const DEFAULT_V6: &str = "tern-ipv6";

/// What a pool ID means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// The `--subnet` the addresses must be in (`None`: any of the node's blocks).
    pub subnet: Option<IpNet>,
}

impl Pool {
    /// Reads a pool ID handed out by [`request_pool`].
    pub fn parse(id: &str) -> Result<Pool, String> {
        match id {
            DEFAULT_V4 => Ok(Pool {
                v6: false,
                subnet: None,
            }),
            DEFAULT_V6 => Ok(Pool {
                v6: true,
                subnet: None,
            }),
            other => match other.parse::<IpNet>() {
                Ok(n) => Ok(Pool {
                    v6: n.addr().is_ipv6(),
                    subnet: Some(n),
                }),
                Err(_) => Err(format!("unknown pool ID {other:?}")),
            },
        }
    }

    /// Whether `addr` may be handed out from this pool.
    pub fn admits(&self, addr: IpAddr) -> bool {
        addr.is_ipv6() == self.v6 && self.subnet.is_none_or(|s| s.contains(&addr))
    }
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Answers `RequestPool` for a node with `pools` and `blocks`.
pub fn request_pool(
    req: &RequestPool,
    pools: &[IpNet],
    blocks: &[IpNet],
) -> Result<PoolReply, String> {
    if !req.sub_pool.is_empty() {
        return Err(format!(
            "tern IPAM does not support --ip-range ({}): addresses come from this node's blocks",
            req.sub_pool
        ));
    }
    if let Some(k) = req.options.keys().next() {
        return Err(format!("tern IPAM takes no options (got {k:?})"));
    }
    if !blocks.iter().any(|b| b.addr().is_ipv6() == req.v6) {
        return Err(format!(
            "this node has no {} block",
            if req.v6 { "IPv6" } else { "IPv4" }
        ));
    }
    let gateway = if req.v6 { "::/0" } else { "0.0.0.0/0" };
    let data = BTreeMap::from([(
        crate::protocol::GATEWAY_REQUEST.to_string(),
        gateway.to_string(),
    )]);
    if req.pool.is_empty() {
        return Ok(PoolReply {
            pool_id: if req.v6 { DEFAULT_V6 } else { DEFAULT_V4 }.into(),
            pool: gateway.into(),
            data,
        });
    }
    let subnet: IpNet = req
        .pool
        .parse()
        .map_err(|_| format!("subnet {:?} is not a CIDR", req.pool))?;
    if subnet.addr().is_ipv6() != req.v6 {
        return Err(format!(
            "subnet {subnet} is not of the requested address family"
        ));
    }
    if subnet != subnet.trunc() {
        return Err(format!(
            "subnet {subnet} has host bits set (did you mean {}?)",
            subnet.trunc()
        ));
    }
    if !pools.iter().any(|p| p.contains(&subnet)) {
        let list: Vec<String> = pools.iter().map(ToString::to_string).collect();
        return Err(format!(
            "subnet {subnet} is outside every pool of this node ({})",
            if list.is_empty() {
                "none".into()
            } else {
                list.join(", ")
            }
        ));
    }
    if !blocks.iter().any(|b| overlaps(b, &subnet)) {
        return Err(format!("subnet {subnet} holds none of this node's blocks"));
    }
    Ok(PoolReply {
        pool_id: subnet.to_string(),
        pool: subnet.to_string(),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn pools() {
        let pools = nets(&["10.244.0.0/16", "fd00:244::/48"]);
        let blocks = nets(&["10.244.1.0/24"]);
        let r = request_pool(&RequestPool::default(), &pools, &blocks).unwrap();
        assert_eq!(r.pool_id, DEFAULT_V4);
        assert_eq!(r.pool, "0.0.0.0/0");
        assert_eq!(r.data["com.docker.network.gateway"], "0.0.0.0/0");
        let req = |p: &str| RequestPool {
            pool: p.into(),
            ..Default::default()
        };
        let r = request_pool(&req("10.244.0.0/16"), &pools, &blocks).unwrap();
        assert_eq!(r.pool_id, "10.244.0.0/16");
        let p = Pool::parse(&r.pool_id).unwrap();
        assert!(p.admits("10.244.1.9".parse().unwrap()));
        assert!(!p.admits("10.245.1.9".parse().unwrap()));
        let e = request_pool(&req("192.168.0.0/24"), &pools, &blocks).unwrap_err();
        assert!(e.contains("outside every pool"), "{e}");
        let e = request_pool(&req("10.244.2.0/24"), &pools, &blocks).unwrap_err();
        assert!(e.contains("none of this node's blocks"), "{e}");
        let e = request_pool(&req("10.244.1.1/24"), &pools, &blocks).unwrap_err();
        assert!(e.contains("host bits"), "{e}");
        let e = request_pool(&req("nope"), &pools, &blocks).unwrap_err();
        assert!(e.contains("not a CIDR"), "{e}");
        let mut sub = req("10.244.0.0/16");
        sub.sub_pool = "10.244.1.0/28".into();
        assert!(request_pool(&sub, &pools, &blocks).is_err());
        assert!(Pool::parse("bogus").is_err());
        let v6 = RequestPool {
            v6: true,
            ..Default::default()
        };
        let e = request_pool(&v6, &pools, &blocks).unwrap_err();
        assert!(e.contains("no IPv6 block"), "{e}");
        assert!(Pool::parse(DEFAULT_V6).unwrap().v6);
    }
}
