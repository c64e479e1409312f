//! Docker's IPAM calls on the workload task's state (a child of `docker_ops`):
//! `RequestAddress` takes one address of the pool's family under the address's own key
//! (`docker-ip-ADDR`), `ReleaseAddress` frees it (an unknown address is no error; one
//! that an endpoint still holds is).

use super::*;

impl Workloads {
    pub(super) fn request_address(
        &mut self,
        pool_id: &str,
        address: &str,
        kind: &str,
    ) -> DockerAnswer {
        let pool = Pool::parse(pool_id)?;
        if kind == GATEWAY_REQUEST {
            return Err("tern IPAM hands out no gateway address (containers route through 169.254.1.1 / fe80::1)".into());
        }
        if !kind.is_empty() {
            return Err(format!("unknown {REQUEST_ADDRESS_TYPE} {kind:?}"));
        }
        let family = if pool.v6 { Family::V6 } else { Family::V4 };
        let wanted = if address.is_empty() {
            None
        } else {
            let a = parse_addr(address)?;
            if !pool.admits(a) {
                return Err(format!("address {a} is not in pool {pool_id}"));
            }
            Some(a)
        };
        let addr = match wanted {
            Some(a) => a,
            None => self.free_address(&pool, family)?,
        };
        let key = address_key(addr);
        let req = IpamRequest {
            attachment: Attachment {
                namespace: DOCKER_NAMESPACE.into(),
                extra: json!({ "docker": { "pool": pool_id } }),
                ..Attachment::default()
            },
            ipv4: match addr {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            },
            ipv6: match addr {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            },
        };
        if let Some(holder) = self.alloc.owner(addr) {
            return Err(format!("address {addr} is already in use ({holder})"));
        }
        self.alloc
            .allocate_families(&key, &req, &[])
            .map_err(|e| e.to_string())?;
        if let Err(e) = self.persist(&key) {
            self.alloc.release(&key);
            return Err(e);
        }
        tracing::debug!(%addr, pool = pool_id, "docker address allocated");
        ok(json!({ "Address": host_prefix(addr) }))
    }

    /// A free address of `family` in `pool`, found without keeping anything.
    fn free_address(&mut self, pool: &Pool, family: Family) -> Result<IpAddr, String> {
        let probe = AttachmentKey {
            container_id: "docker-probe".into(),
            ifname: "eth0".into(),
        };
        let mut held = Vec::new();
        let mut found = None;
        for i in 0..256 {
            let k = AttachmentKey {
                container_id: format!("{}-{i}", probe.container_id),
                ..probe.clone()
            };
            match self
                .alloc
                .allocate_families(&k, &IpamRequest::default(), &[family])
            {
                Ok(a) => {
                    let addr = a.addrs().next();
                    held.push(k);
                    if let Some(addr) = addr.filter(|a| pool.admits(*a)) {
                        found = Some(addr);
                        break;
                    }
                    if addr.is_none() {
                        break;
                    }
                }
                Err(e) => {
                    for k in &held {
                        self.alloc.release(k);
                    }
                    return Err(e.to_string());
                }
            }
        }
        for k in &held {
            self.alloc.release(k);
        }
        found.ok_or_else(|| {
            format!(
                "no free {family} address of this node's blocks in pool {}",
                pool.subnet.map_or("(any)".to_string(), |s| s.to_string())
            )
        })
    }

    pub(super) fn release_address(&mut self, address: &str) -> DockerAnswer {
        let addr = parse_addr(address)?;
        let Some(owner) = self.alloc.owner(addr).cloned() else {
            return ok(json!({}));
        };
        if owner != address_key(addr) {
            return Err(format!(
                "address {addr} is held by {owner}; delete the endpoint first"
            ));
        }
        self.alloc.release(&owner);
        self.unpersist(&owner);
        tracing::debug!(%addr, "docker address released");
        ok(json!({}))
    }
}
