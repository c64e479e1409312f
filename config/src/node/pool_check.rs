//! The located checks of the pools' overlay modes and of `overlay`: at most one of
//! `ipipMode` / `vxlanMode` not `Never` per pool, IPIP only for IPv4 pools, VXLAN not
//! yet carried by tern (refused rather than ignored), an MTU in range.

use ipnet::IpNet;

use super::pool::{EncapMode, Overlay, PoolOverlay};
use super::raw::RawNode;
use super::resolve::Checker;

/// The smallest and largest tunnel MTU accepted (IPv4's minimum; 65535 less the outer
/// header).
const MTU_RANGE: std::ops::RangeInclusive<u32> = 68..=65515;

/// Checks the modes of the pools that parsed (`pools`: index into `raw.pools`, CIDR).
pub(super) fn overlay(cx: &mut Checker<'_>, raw: &RawNode, pools: &[(usize, IpNet)]) -> Overlay {
    let mut out = Overlay::default();
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
        if vxlan != EncapMode::Never {
            cx.error(
                &format!("pools[{i}].vxlanMode"),
                "VXLAN is not supported by this version of tern yet; use ipipMode (IPv4 pools)",
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
        if let Some(mtu) = o.ipip_mtu {
            if MTU_RANGE.contains(&mtu) {
                out.ipip_mtu = Some(mtu);
            } else {
                cx.error(
                    "overlay.ipipMtu",
                    format!(
                        "{mtu} is not an MTU between {} and {}",
                        MTU_RANGE.start(),
                        MTU_RANGE.end()
                    ),
                );
            }
        }
    }
    out
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
            load("overlay: { ipipMtu: 20 }\n").unwrap_err(),
            ["n.yaml:4:21: overlay.ipipMtu: 20 is not an MTU between 68 and 65515"]
        );
    }
}
