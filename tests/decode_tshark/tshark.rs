//! The tshark side: dissect a pcap with tshark's BGP dissector (`-T json
//! --no-duplicate-keys`) and reduce each BGP message to a [`Msg`].

use super::msg::{canonical_addr, prefix, Msg, Segment};
use super::{fixture, run_tshark, Capture};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Every value stored under `key` at any depth of `v`, arrays flattened (tshark's JSON
/// with `--no-duplicate-keys` turns repeated fields into arrays).
fn find<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == key {
                    flatten(child, out);
                } else {
                    find(child, key, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| find(item, key, out)),
        _ => {}
    }
}

fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        other => out.push(other),
    }
}

fn all<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    find(v, key, &mut out);
    out
}

fn one<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let found = all(v, key);
    assert!(found.len() <= 1, "tshark: more than one {key} in {v}");
    found.into_iter().next()
}

fn text(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("tshark: expected a string, got {v}"))
}

fn number(v: &Value) -> u64 {
    let s = text(v);
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("tshark: bad number {s:?}: {e}"))
}

/// The prefixes under `container`: objects holding `addr_key` and `bgp.prefix_length`.
fn prefixes(container: &Value, addr_key: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_prefixes(container, addr_key, &mut out);
    out
}

fn collect_prefixes(v: &Value, addr_key: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let (Some(addr), Some(len)) = (map.get(addr_key), map.get("bgp.prefix_length")) {
                let p = prefix(text(addr), number(len));
                // ADD-PATH: tshark finds the capability in the OPENs by itself.
                out.insert(match map.get("bgp.nlri_path_id") {
                    Some(id) => format!("{p} path-id {}", number(id)),
                    None => p,
                });
            } else {
                map.values()
                    .for_each(|c| collect_prefixes(c, addr_key, out));
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|c| collect_prefixes(c, addr_key, out)),
        _ => {}
    }
}

const PA: &str = "bgp.update.path_attribute";

fn tshark_segments(attr: &Value) -> Vec<Segment> {
    all(attr, &format!("{PA}.as_path_segment"))
        .into_iter()
        .map(|seg| {
            let kind = match one(seg, &format!("{PA}.as_path_segment.type")).map(number) {
                Some(1) => "set",
                Some(2) => "sequence",
                Some(3) => "confed_sequence",
                Some(4) => "confed_set",
                other => panic!("tshark: AS path segment type {other:?}"),
            };
            let mut asns: Vec<u64> = all(seg, &format!("{PA}.as_path_segment.as4"))
                .into_iter()
                .map(number)
                .collect();
            asns.extend(
                all(seg, &format!("{PA}.as_path_segment.as2"))
                    .into_iter()
                    .map(number),
            );
            (kind.to_string(), asns)
        })
        .collect()
}

fn tshark_update(bgp: &Value, m: &mut Msg) {
    if let Some(w) = one(bgp, "bgp.update.withdrawn_routes") {
        m.withdrawn.extend(prefixes(w, "bgp.withdrawn_prefix"));
    }
    if let Some(n) = one(bgp, "bgp.update.nlri") {
        m.nlri.extend(prefixes(n, "bgp.nlri_prefix"));
    }
    for attr in all(bgp, PA) {
        let code = one(attr, &format!("{PA}.type_code")).map(number);
        let field = |name: &str| one(attr, &format!("{PA}.{name}"));
        match code {
            Some(1) => {
                m.origin = Some(
                    match field("origin").map(number) {
                        Some(0) => "igp",
                        Some(1) => "egp",
                        Some(2) => "incomplete",
                        other => panic!("tshark: ORIGIN {other:?}"),
                    }
                    .to_string(),
                )
            }
            Some(2) => m.as_path = Some(tshark_segments(attr)),
            Some(17) => m.as4_path = Some(tshark_segments(attr)),
            Some(3) => m.next_hop = field("next_hop").map(|v| canonical_addr(text(v))),
            Some(4) => m.med = field("multi_exit_disc").map(number),
            Some(5) => m.local_pref = field("local_pref").map(number),
            Some(8) => {
                for c in all(attr, &format!("{PA}.community")) {
                    let asn = one(c, &format!("{PA}.community_as")).map(number);
                    let value = one(c, &format!("{PA}.community_value")).map(number);
                    let (Some(asn), Some(value)) = (asn, value) else {
                        panic!("tshark: community without AS/value: {c}")
                    };
                    m.communities.insert(format!("{asn}:{value}"));
                }
                for w in all(attr, &format!("{PA}.community_wellknown")) {
                    let v = number(w);
                    m.communities.insert(format!("{}:{}", v >> 16, v & 0xffff));
                }
            }
            Some(14) => {
                m.mp_next_hop = field("mp_reach_nlri.next_hop.ipv6")
                    .or_else(|| field("mp_reach_nlri.next_hop.ipv4"))
                    .map(|v| canonical_addr(text(v)));
                m.mp_link_local = field("mp_reach_nlri.next_hop.ipv6.link_local")
                    .map(|v| canonical_addr(text(v)));
                for key in [
                    "bgp.mp_reach_nlri_ipv6_prefix",
                    "bgp.mp_reach_nlri_ipv4_prefix",
                ] {
                    m.nlri.extend(prefixes(attr, key));
                }
            }
            Some(15) => {
                for key in [
                    "bgp.mp_unreach_nlri_ipv6_prefix",
                    "bgp.mp_unreach_nlri_ipv4_prefix",
                ] {
                    m.withdrawn.extend(prefixes(attr, key));
                }
            }
            Some(7) | Some(18) => {
                let asn = field("aggregator_as").map(number);
                let addr = field("aggregator_origin").map(|v| canonical_addr(text(v)));
                let (Some(asn), Some(addr)) = (asn, addr) else {
                    panic!("tshark: aggregator without AS/address: {attr}")
                };
                if code == Some(7) {
                    m.aggregator = Some((asn, addr));
                } else {
                    m.as4_aggregator = Some((asn, addr));
                }
            }
            Some(32) => {
                for lc in all(attr, "bgp.large_communities_tree") {
                    let part = |k: &str| {
                        one(lc, &format!("bgp.large_communities.{k}"))
                            .map(number)
                            .unwrap_or_else(|| panic!("tshark: large community without {k}: {lc}"))
                    };
                    m.large_communities.insert(format!(
                        "{}:{}:{}",
                        part("ga"),
                        part("ldp1"),
                        part("ldp2")
                    ));
                }
            }
            Some(_) => {}
            None => panic!("tshark: path attribute without type code: {attr}"),
        }
    }
}

fn tshark_open(bgp: &Value, m: &mut Msg) {
    let field = |k: &str| one(bgp, k).unwrap_or_else(|| panic!("tshark: OPEN without {k}"));
    m.open = Some((
        number(field("bgp.open.myas")),
        number(field("bgp.open.holdtime")),
        canonical_addr(text(field("bgp.open.identifier"))),
    ));
}

fn tshark_notification(bgp: &Value, m: &mut Msg) {
    let code = one(bgp, "bgp.notify.major_error").map(number);
    // The subcode's field name depends on the code (bgp.notify.minor_error_cease, …).
    let subcode = bgp.as_object().and_then(|o| {
        o.iter()
            .find(|(k, _)| k.starts_with("bgp.notify.minor_error"))
            .map(|(_, v)| number(v))
    });
    let (Some(code), Some(subcode)) = (code, subcode) else {
        panic!("tshark: NOTIFICATION without code/subcode: {bgp}")
    };
    let text = one(bgp, "bgp.notify.communication").map(|v| text(v).to_string());
    m.notification = Some((code, subcode, text));
}

/// The messages tshark dissects in `pcap`, per sending address, in stream order.
pub fn messages(c: &Capture) -> BTreeMap<String, Vec<Msg>> {
    let pcap = fixture(&format!("{}.pcap", c.name));
    let asn_len = format!("bgp.asn_len:{}", c.tshark_asn_len);
    let json = run_tshark(&[
        "-r",
        pcap.to_str().expect("UTF-8 path"),
        "-n",
        "-o",
        "tcp.desegment_tcp_streams:TRUE",
        "-o",
        "bgp.desegment:TRUE",
        "-o",
        &asn_len,
        "-d",
        "tcp.port==179,bgp",
        "-Y",
        "bgp",
        "-T",
        "json",
        "--no-duplicate-keys",
    ]);
    let frames: Value = serde_json::from_str(&json).expect("tshark JSON");
    let mut out: BTreeMap<String, Vec<Msg>> = BTreeMap::new();
    for frame in frames.as_array().expect("tshark: array of frames") {
        let layers = &frame["_source"]["layers"];
        assert!(
            all(layers, "_ws.malformed").is_empty(),
            "tshark reports a malformed packet in {}: {layers}",
            c.name
        );
        let src = one(layers, "ip.src")
            .or_else(|| one(layers, "ipv6.src"))
            .map(|v| canonical_addr(text(v)))
            .expect("frame without source address");
        let mut pdus = Vec::new();
        flatten(&layers["bgp"], &mut pdus);
        for bgp in pdus {
            let kind = match one(bgp, "bgp.type").map(number) {
                Some(1) => "open",
                Some(2) => "update",
                Some(3) => "notification",
                Some(4) => "keepalive",
                Some(5) => "route_refresh",
                other => panic!("tshark: BGP type {other:?}"),
            };
            let mut m = Msg {
                kind: kind.to_string(),
                ..Msg::default()
            };
            match kind {
                "update" => tshark_update(bgp, &mut m),
                "open" => tshark_open(bgp, &mut m),
                "notification" => tshark_notification(bgp, &mut m),
                _ => {}
            }
            out.entry(src.clone()).or_default().push(m);
        }
    }
    out
}
