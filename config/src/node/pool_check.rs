//! The located checks of the pools' overlay modes and of `overlay`: at most one of
//! `ipipMode` / `vxlanMode` not `Never` per pool, IPv4 pools only (refused rather than
//! ignored for IPv6), MTUs and the VNI in range.

use ipnet::IpNet;

use super::pool::{EncapMode, Overlay, PoolOverlay, DEFAULT_VNI};
use super::raw::RawNode;
use super::resolve::Checker;

/// The smallest and largest tunnel MTU accepted (IPv4's minimum; 65535 less the outer
/// header).
const MTU_RANGE: std::ops::RangeInclusive<u32> = 68..=65515;

/// Checks the modes of the pools that parsed (`pools`: index into `raw.pools`, CIDR).
pub(super) fn overlay(cx: &mut Checker<'_>, raw: &RawNode, pools: &[(usize, IpNet)]) -> Overlay {
    let mut out = Overlay {
        vxlan_vni: DEFAULT_VNI,
        ..Overlay::default()
    };
    for (i, cidr) in pools {
        let Some(entry) = raw.pools.get(*i) else {
            continue;
        };
        let (ipip, vxlan) = entry.modes();
        if ipip != EncapMode::Never && vxlan != EncapMode::Never {
            cx.error(
                &format!("pools[{i}].vxlanMode"),
                format!(
                    "{cidr} has ipipMode {ipip} and vxlanMode {vxlan}: at most one of the two may be other than Never"
                ),
            );
            continue;
        }
        if vxlan != EncapMode::Never && cidr.addr().is_ipv6() {
            cx.error(
                &format!("pools[{i}].vxlanMode"),
                format!("{cidr} is an IPv6 pool: tern's VXLAN carries IPv4 pools only (set vxlanMode: Never)"),
            );
            continue;
        }
        if ipip != EncapMode::Never && cidr.addr().is_ipv6() {
            cx.error(
                &format!("pools[{i}].ipipMode"),
                format!("{cidr} is an IPv6 pool: IPIP carries IPv4 only (set ipipMode: Never)"),
            );
            continue;
        }
        if ipip != EncapMode::Never || vxlan != EncapMode::Never {
            out.pools.push(PoolOverlay {
                cidr: *cidr,
                ipip,
                vxlan,
            });
        }
    }
    if let Some(o) = &raw.overlay {
        out.ipip_mtu = mtu(cx, "overlay.ipipMtu", o.ipip_mtu);
        out.vxlan_mtu = mtu(cx, "overlay.vxlanMtu", o.vxlan_mtu);
        if let Some(vni) = o.vxlan_vni {
            if (1..=0xff_ffff).contains(&vni) {
                out.vxlan_vni = vni;
            } else {
                cx.error(
                    "overlay.vxlanVni",
                    format!("{vni} is not a VXLAN network identifier (1 to 16777215)"),
                );
            }
        }
    }
    out
}

fn mtu(cx: &mut Checker<'_>, path: &str, value: Option<u32>) -> Option<u32> {
    let v = value?;
    if MTU_RANGE.contains(&v) {
        return Some(v);
    }
    cx.error(
        path,
        format!(
            "{v} is not an MTU between {} and {}",
            MTU_RANGE.start(),
            MTU_RANGE.end()
        ),
    );
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::node::{EncapMode, NodeConfig, PoolOverlay};

    const HEAD: &str = "nodeName: a\nasNumber: 64512\nrouterId: 192.0.2.1\n";

    fn load(rest: &str) -> Result<NodeConfig, Vec<String>> {
        NodeConfig::from_str(Path::new("n.yaml"), &format!("{HEAD}{rest}"))
            .map_err(|e| e.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn both_forms_of_a_pool_entry() {
        let c = load(
            "pools:\n  - 10.1.0.0/16\n  - { cidr: 10.244.0.0/16, ipipMode: CrossSubnet }\n  - { cidr: 10.9.0.0/16, ipipMode: Never }\n  - cidr: 10.8.0.0/16\n    ipipMode: Always\noverlay: { ipipMtu: 1400 }\n",
        )
        .unwrap();
        assert_eq!(c.pools.len(), 4);
        let p = |s: &str, m| PoolOverlay {
            cidr: s.parse().unwrap(),
            ipip: m,
            vxlan: EncapMode::Never,
        };
        assert_eq!(
            c.overlay.pools,
            vec![
                p("10.244.0.0/16", EncapMode::CrossSubnet),
                p("10.8.0.0/16", EncapMode::Always)
            ]
        );
        assert_eq!(c.overlay.ipip_mtu, Some(1400));
        assert_eq!(c.overlay.vxlan_vni, 4096);
        let v = load("pools: [{ cidr: 10.244.0.0/16, vxlanMode: Always }]\noverlay: { vxlanVni: 7, vxlanMtu: 1400 }\n").unwrap();
        assert!(v.overlay.vxlan() && !v.overlay.ipip());
        assert_eq!((v.overlay.vxlan_vni, v.overlay.vxlan_mtu), (7, Some(1400)));
        assert!(c.overlay.ipip());
        let plain = load("pools: [10.1.0.0/16]\n").unwrap();
        assert!(plain.overlay.pools.is_empty() && !plain.overlay.ipip());
    }

    #[test]
    fn bad_modes_are_located() {
        assert_eq!(
            load("pools:\n  - { cidr: 10.244.0.0/16, ipipMode: Always, vxlanMode: Always }\n")
                .unwrap_err(),
            ["n.yaml:5:57: pools[0].vxlanMode: 10.244.0.0/16 has ipipMode Always and vxlanMode Always: at most one of the two may be other than Never"]
        );
        assert_eq!(
            load("pools:\n  - { cidr: \"fd00::/48\", ipipMode: Always }\n").unwrap_err(),
            ["n.yaml:5:36: pools[0].ipipMode: fd00::/48 is an IPv6 pool: IPIP carries IPv4 only (set ipipMode: Never)"]
        );
        let e = load("pools:\n  - { cidr: 10.244.0.0/16, ipipMode: Sometimes }\n").unwrap_err();
        assert!(e[0].starts_with("n.yaml:5:"), "{e:?}");
        assert!(e[0].contains("Sometimes"), "{e:?}");
        assert_eq!(
            load("pools:\n  - { cidr: 10.244.0.1/16 }\n").unwrap_err(),
            ["n.yaml:5:13: pools[0].cidr: 10.244.0.1/16 has host bits set; did you mean 10.244.0.0/16?"]
        );
        let e = load("pools:\n  - { cidr: 10.244.0.0/16, ipipmode: Always }\n").unwrap_err();
        assert!(e[0].contains("unknown field `ipipmode`"), "{e:?}");
        assert_eq!(
            load("pools:\n  - { cidr: \"fd00::/48\", vxlanMode: CrossSubnet }\n").unwrap_err(),
            ["n.yaml:5:37: pools[0].vxlanMode: fd00::/48 is an IPv6 pool: tern's VXLAN carries IPv4 pools only (set vxlanMode: Never)"]
        );
        assert_eq!(
            load("overlay: { vxlanVni: 0, vxlanMtu: 9999999 }\n").unwrap_err(),
            [
                "n.yaml:4:22: overlay.vxlanVni: 0 is not a VXLAN network identifier (1 to 16777215)",
                "n.yaml:4:35: overlay.vxlanMtu: 9999999 is not an MTU between 68 and 65515"
            ]
        );
        assert_eq!(
            load("overlay: { ipipMtu: 20 }\n").unwrap_err(),
            ["n.yaml:4:21: overlay.ipipMtu: 20 is not an MTU between 68 and 65515"]
        );
    }
}
