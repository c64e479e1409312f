//! The container helpers against the kernel: two Calico-wired containers on one host
//! reach each other over IPv4 (proxy ARP for 169.254.1.1) and IPv6 (proxy NDP for
//! fe80::1), routed by the host's /32 and /128 routes.

use testlab::container::{container, gateway, host_side};
use testlab::Lab;

#[test]
fn two_containers_on_one_host_reach_each_other_over_ipv4_and_ipv6() {
    let mut lab = Lab::new("tl-ctr");
    let host = lab.netns("host");
    gateway(&host);
    let a_ips = ["10.70.0.1/32", "fd00:70::1/128"];
    let b_ips = ["10.70.0.2/32", "fd00:70::2/128"];
    let a = container(&mut lab, &host, "a", "tw-a", &a_ips);
    let b = container(&mut lab, &host, "b", "tw-b", &b_ips);
    host_side(&host, "tw-a", &a_ips);
    host_side(&host, "tw-b", &b_ips);
    for (key, want) in [
        ("/proc/sys/net/ipv4/conf/tw-a/proxy_arp", "1"),
        ("/proc/sys/net/ipv6/conf/tw-a/proxy_ndp", "1"),
        ("/proc/sys/net/ipv6/conf/tw-b/forwarding", "1"),
    ] {
        assert_eq!(host.ok(&["cat", key]).trim(), want, "{key}");
    }
    let routes = a.ok(&["ip", "route", "show", "default"]);
    assert!(
        routes.contains("via 169.254.1.1 dev eth0 onlink"),
        "{routes}"
    );
    let routes = b.ok(&["ip", "-6", "route", "show", "default"]);
    assert!(routes.contains("via fe80::1 dev eth0"), "{routes}");
    for (from, to) in [(&a, "10.70.0.2"), (&b, "10.70.0.1"), (&a, "fd00:70::2")] {
        let out = from.run(&["ping", "-c", "1", "-W", "5", to]);
        assert!(
            out.status.success(),
            "ping {to} from {}: {}",
            from.name(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
