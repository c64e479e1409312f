//! Container namespaces wired the way Calico wires a workload.
//!
//! A container is a namespace whose `eth0` is one end of a veth pair; the other end
//! (`host_if`, in the host namespace) has no address. `eth0` holds the workload's /32
//! (and /128) and the default routes point at the link-local gateways 169.254.1.1 and
//! fe80::1, `onlink`: the host answers for them by proxy ARP / proxy NDP.
//!
//! [`container`] builds the container side only (the part under test may set up the
//! host side itself); [`host_side`] and [`gateway`] do the host's part by hand for tests
//! that have no agent to do it.

use crate::{Lab, Netns};

/// The link-local IPv4 gateway every container routes through.
pub const GATEWAY4: &str = "169.254.1.1";
/// The link-local IPv6 gateway every container routes through.
pub const GATEWAY6: &str = "fe80::1";

/// Creates the namespace `name` joined to `host` by a veth pair (`eth0` inside,
/// `host_if` in `host`, no address on the host end), adds `ips` (CIDR, /32 or /128) to
/// `eth0` and the default routes: via [`GATEWAY4`] (with a link-scope route to it) and,
/// when an IPv6 address is among `ips`, via [`GATEWAY6`] — both `onlink`.
pub fn container(lab: &mut Lab, host: &Netns, name: &str, host_if: &str, ips: &[&str]) -> Netns {
    let c = lab.netns(name);
    lab.veth(host, host_if, &[], &c, "eth0", ips);
    c.ok(&[
        "ip", "route", "add", GATEWAY4, "dev", "eth0", "scope", "link",
    ]);
    c.ok(&[
        "ip", "route", "add", "default", "via", GATEWAY4, "dev", "eth0", "onlink",
    ]);
    if ips.iter().any(|ip| ip.contains(':')) {
        c.ok(&[
            "ip", "-6", "route", "add", "default", "via", GATEWAY6, "dev", "eth0", "onlink",
        ]);
    }
    c
}

/// The host's part for a container on `host_if` holding `ips`, as an agent would do it:
/// forwarding on; proxy ARP (answering at once, `proxy_delay=0`) and a link-scope route
/// for each IPv4 address; for IPv6 addresses proxy NDP, a proxy entry for [`GATEWAY6`]
/// and a route for each.
pub fn host_side(host: &Netns, host_if: &str, ips: &[&str]) {
    host.sysctl(&format!("net.ipv4.conf.{host_if}.forwarding"), "1");
    host.sysctl(&format!("net.ipv4.conf.{host_if}.proxy_arp"), "1");
    host.sysctl(&format!("net.ipv4.neigh.{host_if}.proxy_delay"), "0");
    let v6 = ips.iter().any(|ip| ip.contains(':'));
    if v6 {
        host.sysctl(&format!("net.ipv6.conf.{host_if}.forwarding"), "1");
        host.sysctl(&format!("net.ipv6.conf.{host_if}.proxy_ndp"), "1");
        host.ok(&[
            "ip", "-6", "neigh", "add", "proxy", GATEWAY6, "dev", host_if,
        ]);
    }
    for ip in ips {
        let fam = if ip.contains(':') { "-6" } else { "-4" };
        host.ok(&[
            "ip", fam, "route", "add", ip, "dev", host_if, "scope", "link",
        ]);
    }
}

/// Makes [`GATEWAY4`] routable in `host`, which proxy ARP needs before it answers for
/// it: a veth pair `gw0`/`gw1` kept inside `host` (the dummy driver may be missing),
/// both up, and `169.254.1.1/32 dev gw0`.
pub fn gateway(host: &Netns) {
    host.ok(&[
        "ip", "link", "add", "gw0", "type", "veth", "peer", "name", "gw1",
    ]);
    host.ok(&["ip", "link", "set", "gw0", "up"]);
    host.ok(&["ip", "link", "set", "gw1", "up"]);
    host.ok(&["ip", "route", "add", "169.254.1.1/32", "dev", "gw0"]);
}
