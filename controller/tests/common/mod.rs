//! Helpers shared by the controller's integration tests: the kernel's routes as an
//! operator reads them with `ip -j route`.

use std::collections::BTreeMap;

use serde_json::Value;
use testlab::Netns;

/// Our routes in the namespace, IPv4 and IPv6, as prefix -> JSON object of `ip -j route`.
pub fn kernel_routes(h: &Netns, proto: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for fam in ["-4", "-6"] {
        let text = h.ok(&["ip", fam, "-j", "route", "show", "proto", proto]);
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("ip -j: {e}: {text}"));
        for r in v.as_array().cloned().unwrap_or_default() {
            let dst = r["dst"].as_str().unwrap_or_default().to_string();
            let dst = if dst.contains('/') {
                dst
            } else if dst.contains(':') {
                format!("{dst}/128")
            } else {
                format!("{dst}/32")
            };
            out.insert(dst, r);
        }
    }
    out
}

pub fn gateways(r: &Value) -> Vec<String> {
    match r["nexthops"].as_array() {
        Some(hops) => {
            let mut g: Vec<String> = hops
                .iter()
                .map(|h| h["gateway"].as_str().unwrap_or("?").to_string())
                .collect();
            g.sort();
            g
        }
        None => r["gateway"]
            .as_str()
            .map(|g| vec![g.to_string()])
            .unwrap_or_default(),
    }
}
