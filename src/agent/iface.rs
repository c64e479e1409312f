//! Host-side settings of a workload's veth, the Calico way: the container's default
//! route points at a link-local gateway (169.254.1.1, fe80::1) that does not exist, and
//! the host answers for it — proxy ARP for IPv4, a proxy NDP entry for IPv6 — and
//! forwards what arrives.
//!
//! Per interface: `net.ipv4.conf.IF.{proxy_arp,forwarding}=1`, `net.ipv4.neigh.IF.proxy_delay=0`
//! (answer at once), `net.ipv6.conf.IF.{forwarding,proxy_ndp}=1` and the proxy neighbour
//! `fe80::1`. Written through `/proc/sys` of the agent's network namespace; the proxy
//! neighbour is added with iproute2 (`ip -6 neigh replace proxy`), the only netlink call
//! the agent makes outside the controller.
//!
//! The kernel answers a proxy ARP request only for an address it has a route to through
//! another interface; 169.254.1.1 is covered by the host's default route, as on any
//! Calico host. A host without a default route needs one (or a route to 169.254.1.1).

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

/// IPv6 link-local gateway containers use as their default route.
pub const GATEWAY_V6: &str = "fe80::1";

/// Whether the interface exists in the agent's namespace.
pub fn exists(ifname: &str) -> bool {
    Path::new("/sys/class/net").join(ifname).exists()
        || Path::new("/proc/sys/net/ipv4/conf").join(ifname).exists()
}

fn write_sysctl(path: &str, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("{path}: {e}"))
}

/// Applies the settings for a veth carrying `ips`. Returns what failed (the caller logs
/// it and tries again later; a missing interface is normal while a container starts).
pub fn prepare(ifname: &str, ips: &[IpAddr]) -> Result<(), String> {
    if !exists(ifname) {
        return Err(format!("interface {ifname} does not exist (yet)"));
    }
    let v4 = ips.iter().any(IpAddr::is_ipv4);
    let v6 = ips.iter().any(IpAddr::is_ipv6);
    if v4 {
        write_sysctl(&format!("/proc/sys/net/ipv4/conf/{ifname}/forwarding"), "1")?;
        write_sysctl(&format!("/proc/sys/net/ipv4/conf/{ifname}/proxy_arp"), "1")?;
        // Best effort: older kernels lack the per-device knob.
        let _ = write_sysctl(
            &format!("/proc/sys/net/ipv4/neigh/{ifname}/proxy_delay"),
            "0",
        );
    }
    if v6 {
        write_sysctl(&format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"), "1")?;
        write_sysctl(&format!("/proc/sys/net/ipv6/conf/{ifname}/proxy_ndp"), "1")?;
        let _ = write_sysctl(
            &format!("/proc/sys/net/ipv6/neigh/{ifname}/proxy_delay"),
            "0",
        );
        let out = Command::new("ip")
            .args(["-6", "neigh", "replace", "proxy", GATEWAY_V6, "dev", ifname])
            .output()
            .map_err(|e| format!("ip -6 neigh replace proxy {GATEWAY_V6} dev {ifname}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ip -6 neigh replace proxy {GATEWAY_V6} dev {ifname}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}
