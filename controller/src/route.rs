//! tern's own route types: the desired state the controller programs into the kernel FIB,
//! and the table settings (table id, protocol number, ECMP) that say which routes are ours.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// The routing protocol number (`rtm_protocol`) tern marks its routes with by default.
///
/// 201 is not assigned in `/etc/iproute2/rt_protos` (BIRD uses 12, Calico's BIRD setup 80,
/// Zebra 11, Kubernetes/kube-router 17, Cilium 186 ... ), so `ip route show proto 201` lists
/// exactly tern's routes. The `config` crate uses the same default (`fib.protocol`).
pub const DEFAULT_PROTOCOL: u8 = 201;

/// The kernel's main routing table (`RT_TABLE_MAIN`).
pub const MAIN_TABLE: u32 = 254;

/// Which kernel routes belong to tern, and how ECMP routes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableConfig {
    /// Routing table id (default [`MAIN_TABLE`]); ids above 255 are supported (RTA_TABLE).
    pub table: u32,
    /// Protocol number on every route tern installs; only routes with this number in
    /// `table` are ever replaced or deleted. Default [`DEFAULT_PROTOCOL`].
    pub protocol: u8,
    /// `true`: a route via several next hops is installed as one multipath route
    /// (RTA_MULTIPATH). `false`: only the first next hop given is installed.
    pub ecmp: bool,
    /// Route metric (priority, RTA_PRIORITY) of every route tern installs; 0 is the
    /// kernel's default (0 for IPv4, 1024 for IPv6). Part of a route's identity in the
    /// kernel: routes of ours found at another metric (an earlier setting) are deleted
    /// when the table is dumped.
    pub metric: u32,
    /// Routes via one gateway reference a shared kernel nexthop object (RTA_NH_ID)
    /// instead of carrying the gateway (see `netlink::table::nexthop`). Routes through
    /// several gateways stay multipath routes.
    pub nexthop_objects: bool,
}

impl TableConfig {
    /// The priority the kernel gives our routes of this family.
    pub fn priority(&self, v6: bool) -> u32 {
        match (self.metric, v6) {
            (0, true) => 1024,
            (m, _) => m,
        }
    }
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            table: MAIN_TABLE,
            protocol: DEFAULT_PROTOCOL,
            ecmp: true,
            metric: 0,
            nexthop_objects: false,
        }
    }
}

/// One next hop of a `Via` route.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NextHop {
    /// Gateway address; must be on a directly connected network (or link-local with `dev`).
    pub address: IpAddr,
    /// Outgoing interface name. Required for IPv6 link-local gateways; otherwise optional
    /// (the kernel picks the interface of the connected network).
    pub dev: Option<String>,
    /// `onlink`: the gateway is reachable on `dev` even though no subnet of `dev` holds it
    /// (a route through a tunnel device to the remote host's address). Not compared when
    /// the kernel's route is checked: the device is.
    pub onlink: bool,
}

impl NextHop {
    /// A next hop that the kernel resolves to its connected interface.
    pub fn new(address: IpAddr) -> Self {
        NextHop {
            address,
            dev: None,
            onlink: false,
        }
    }

    /// `via address dev dev onlink`: a gateway reached through a tunnel device.
    pub fn onlink(address: IpAddr, dev: impl Into<String>) -> Self {
        NextHop {
            address,
            dev: Some(dev.into()),
            onlink: true,
        }
    }

    /// A next hop through a named interface (needed for IPv6 link-local gateways).
    pub fn with_dev(address: IpAddr, dev: impl Into<String>) -> Self {
        NextHop {
            address,
            dev: Some(dev.into()),
            onlink: false,
        }
    }

    /// Whether a kernel next hop `kernel` satisfies this desired next hop: same address,
    /// and the same device when one is asked for.
    pub(crate) fn satisfied_by(&self, kernel: &NextHop) -> bool {
        self.address == kernel.address
            && match &self.dev {
                None => true,
                Some(d) => kernel.dev.as_deref() == Some(d.as_str()),
            }
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dev {
            Some(d) => write!(f, "{} dev {}", self.address, d)?,
            None => write!(f, "{}", self.address)?,
        }
        if self.onlink {
            f.write_str(" onlink")?;
        }
        Ok(())
    }
}

/// What a route does with matching packets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// Forward through one or more gateways (several = ECMP). Order does not matter.
    Via(Vec<NextHop>),
    /// Deliver on a directly attached interface (a workload's /32 or /128 on its veth),
    /// `scope link`.
    Device(String),
    /// Drop silently (this node's own blocks, as Calico does).
    Blackhole,
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteKind::Via(hops) => {
                f.write_str("via")?;
                for (i, h) in hops.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, " {h}")?;
                }
                Ok(())
            }
            RouteKind::Device(d) => write!(f, "dev {d} scope link"),
            RouteKind::Blackhole => f.write_str("blackhole"),
        }
    }
}

/// One desired (or observed) route in tern's table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// Destination prefix; host bits are cleared when the controller accepts it.
    pub prefix: IpNet,
    /// Where matching packets go.
    pub kind: RouteKind,
}

impl Route {
    /// A route via one or more next hops.
    pub fn via(prefix: IpNet, hops: impl IntoIterator<Item = NextHop>) -> Self {
        Route {
            prefix,
            kind: RouteKind::Via(hops.into_iter().collect()),
        }
    }

    /// A `scope link` route to a device.
    pub fn device(prefix: IpNet, dev: impl Into<String>) -> Self {
        Route {
            prefix,
            kind: RouteKind::Device(dev.into()),
        }
    }

    /// A blackhole route.
    pub fn blackhole(prefix: IpNet) -> Self {
        Route {
            prefix,
            kind: RouteKind::Blackhole,
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.prefix, self.kind)
    }
}

/// Bring a desired route into the canonical form the controller stores: host bits cleared,
/// next hops sorted and de-duplicated, only the first next hop kept when ECMP is off.
/// [`check`] says whether it can be installed.
pub(crate) fn canonicalize(route: &mut Route, ecmp: bool) {
    route.prefix = route.prefix.trunc();
    if let RouteKind::Via(hops) = &mut route.kind {
        if !ecmp {
            hops.truncate(1);
        }
        hops.sort();
        hops.dedup();
    }
}

/// Whether `route` is in canonical form already (nearly always: one next hop, a prefix
/// without host bits), so that it can be used without a copy.
pub(crate) fn is_canonical(route: &Route, ecmp: bool) -> bool {
    route.prefix == route.prefix.trunc()
        && match &route.kind {
            RouteKind::Via(hops) => {
                (ecmp || hops.len() <= 1) && hops.windows(2).all(|w| w[0] < w[1])
            }
            RouteKind::Device(_) | RouteKind::Blackhole => true,
        }
}

/// Why a canonical route can never be installed, if it cannot.
pub(crate) fn check(route: &Route) -> Result<(), String> {
    if let RouteKind::Via(hops) = &route.kind {
        if hops.is_empty() {
            return Err("route via no next hop".into());
        }
        for h in hops.iter() {
            if h.address.is_ipv4() != route.prefix.addr().is_ipv4() {
                return Err(format!(
                    "next hop {} is not of the prefix's address family",
                    h.address
                ));
            }
            if let IpAddr::V6(a) = h.address {
                if a.segments()[0] & 0xffc0 == 0xfe80 && h.dev.is_none() {
                    return Err(format!("link-local next hop {a} needs a device"));
                }
            }
        }
    }
    if let RouteKind::Device(d) = &route.kind {
        if d.is_empty() {
            return Err("device route without an interface name".into());
        }
    }
    Ok(())
}

/// Whether the kernel's route `kernel` (as read back) satisfies the desired kind.
pub(crate) fn kind_satisfied(desired: &RouteKind, kernel: &RouteKind) -> bool {
    match (desired, kernel) {
        (RouteKind::Via(want), RouteKind::Via(have)) => {
            want.len() == have.len() && want.iter().all(|w| have.iter().any(|h| w.satisfied_by(h)))
        }
        (RouteKind::Device(a), RouteKind::Device(b)) => a == b,
        (RouteKind::Blackhole, RouteKind::Blackhole) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the controller does with a desired route before storing it.
    fn normalize(route: &mut Route, ecmp: bool) -> Result<(), String> {
        canonicalize(route, ecmp);
        check(route)
    }

    fn nh(s: &str) -> NextHop {
        NextHop::new(s.parse().unwrap())
    }

    #[test]
    fn normalize_sorts_dedups_and_truncates_host_bits() {
        let r = Route::via(
            "10.1.2.3/24".parse().unwrap(),
            [nh("10.0.0.3"), nh("10.0.0.2"), nh("10.0.0.3")],
        );
        let mut n = r;
        normalize(&mut n, true).unwrap();
        assert_eq!(n.prefix.to_string(), "10.1.2.0/24");
        assert_eq!(n.kind, RouteKind::Via(vec![nh("10.0.0.2"), nh("10.0.0.3")]));
    }

    #[test]
    fn normalize_without_ecmp_keeps_first_given_hop() {
        let r = Route::via(
            "10.1.0.0/24".parse().unwrap(),
            [nh("10.0.0.3"), nh("10.0.0.2")],
        );
        let mut n = r;
        normalize(&mut n, false).unwrap();
        assert_eq!(n.kind, RouteKind::Via(vec![nh("10.0.0.3")]));
    }

    #[test]
    fn normalize_rejects_bad_routes() {
        let p: IpNet = "fd00::/64".parse().unwrap();
        let norm = |mut r: Route| normalize(&mut r, true);
        assert!(norm(Route::via(p, [])).is_err());
        assert!(norm(Route::via(p, [nh("10.0.0.1")])).is_err());
        let e = norm(Route::via(p, [nh("fe80::1")])).unwrap_err();
        assert!(e.contains("needs a device"), "{e}");
        let ll = NextHop::with_dev("fe80::1".parse().unwrap(), "eth0");
        assert!(norm(Route::via(p, [ll])).is_ok());
    }

    /// A route counts as canonical exactly when canonicalizing it changes nothing.
    #[test]
    fn canonical_means_canonicalize_changes_nothing() {
        let p: IpNet = "10.1.0.0/24".parse().unwrap();
        let routes = [
            Route::via(p, [nh("10.0.0.2")]),
            Route::via(p, [nh("10.0.0.2"), nh("10.0.0.3")]),
            Route::via(p, [nh("10.0.0.3"), nh("10.0.0.2")]),
            Route::via(p, [nh("10.0.0.2"), nh("10.0.0.2")]),
            Route::via("10.1.0.9/24".parse().unwrap(), [nh("10.0.0.2")]),
            Route::via(p, []),
            Route::blackhole(p),
            Route::blackhole("10.1.0.9/24".parse().unwrap()),
            Route::device("10.1.0.9/32".parse().unwrap(), "eth0"),
        ];
        for r in routes {
            for ecmp in [true, false] {
                let mut c = r.clone();
                canonicalize(&mut c, ecmp);
                assert_eq!(is_canonical(&r, ecmp), c == r, "{r} ecmp {ecmp}");
                assert!(is_canonical(&c, ecmp), "{c} ecmp {ecmp}");
            }
        }
    }

    #[test]
    fn kernel_hop_with_device_satisfies_hop_without() {
        let want = RouteKind::Via(vec![nh("10.0.0.2")]);
        let have = RouteKind::Via(vec![NextHop::with_dev("10.0.0.2".parse().unwrap(), "eth0")]);
        assert!(kind_satisfied(&want, &have));
        let want_dev = RouteKind::Via(vec![NextHop::with_dev("10.0.0.2".parse().unwrap(), "eth1")]);
        assert!(!kind_satisfied(&want_dev, &have));
        assert!(!kind_satisfied(&RouteKind::Blackhole, &have));
    }
}
