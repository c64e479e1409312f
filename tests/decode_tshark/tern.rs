//! The tern side: run `tern bgp decode` on a payload stream and reduce each printed
//! JSON object to a [`Msg`].

use super::msg::{canonical_addr, canonical_prefix, Msg, Segment};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

/// RFC 1997 / IANA well-known communities, by the names a decoder may print.
fn well_known(name: &str) -> Option<u32> {
    let n = name.to_ascii_lowercase().replace('_', "-");
    Some(match n.as_str() {
        "graceful-shutdown" => 0xffff_0000,
        "accept-own" => 0xffff_0001,
        "llgr-stale" => 0xffff_0006,
        "no-llgr" => 0xffff_0007,
        "accept-own-nexthop" => 0xffff_0008,
        "blackhole" => 0xffff_029a,
        "no-export" => 0xffff_ff01,
        "no-advertise" => 0xffff_ff02,
        "no-export-subconfed" => 0xffff_ff03,
        "no-peer" => 0xffff_ff04,
        _ => return None,
    })
}

fn tern_community(s: &str) -> String {
    if let Some((hi, lo)) = s.split_once(':') {
        let hi: u16 = hi
            .parse()
            .unwrap_or_else(|e| panic!("tern: community {s:?}: {e}"));
        let lo: u16 = lo
            .parse()
            .unwrap_or_else(|e| panic!("tern: community {s:?}: {e}"));
        return format!("{hi}:{lo}");
    }
    let v = well_known(s).unwrap_or_else(|| panic!("tern: unknown community name {s:?}"));
    format!("{}:{}", v >> 16, v & 0xffff)
}

fn strings(v: Option<&Value>, what: &str) -> Vec<String> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .unwrap_or_else(|| panic!("tern: {what}: not a string: {i}"))
            })
            .map(str::to_string)
            .collect(),
        Some(other) => panic!("tern: {what}: expected a list, got {other}"),
    }
}

/// NLRI entries: `"PREFIX"`, or `{"prefix": …, "path_id": N}` with ADD-PATH.
fn nlri(v: Option<&Value>, what: &str) -> BTreeSet<String> {
    let items = match v {
        None | Some(Value::Null) => return BTreeSet::new(),
        Some(Value::Array(items)) => items,
        Some(other) => panic!("tern: {what}: expected a list, got {other}"),
    };
    items
        .iter()
        .map(|i| match i {
            Value::String(p) => canonical_prefix(p),
            Value::Object(o) => {
                let p = o.get("prefix").and_then(Value::as_str);
                let id = o.get("path_id").and_then(Value::as_u64);
                let (Some(p), Some(id)) = (p, id) else {
                    panic!("tern: {what}: bad entry {i}")
                };
                canonical_prefix(&format!("{p} path-id {id}"))
            }
            other => panic!("tern: {what}: bad entry {other}"),
        })
        .collect()
}

fn aggregator(v: &Value) -> (u64, String) {
    let asn = v.get("asn").and_then(Value::as_u64);
    let addr = v.get("address").and_then(Value::as_str);
    let (Some(asn), Some(addr)) = (asn, addr) else {
        panic!("tern: bad aggregator {v}")
    };
    (asn, canonical_addr(addr))
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn tern_segments(v: &Value) -> Vec<Segment> {
    v.as_array()
        .unwrap_or_else(|| panic!("tern: AS path is not a list: {v}"))
        .iter()
        .map(|seg| {
            let kind = seg["type"]
                .as_str()
                .unwrap_or_else(|| panic!("tern: segment without type: {seg}"));
            let asns = seg["asns"]
                .as_array()
                .unwrap_or_else(|| panic!("tern: segment without asns: {seg}"))
                .iter()
                .map(|a| a.as_u64().unwrap_or_else(|| panic!("tern: bad ASN {a}")))
                .collect();
            (kind.to_string(), asns)
        })
        .collect()
}

fn tern_msg(line: &str) -> Msg {
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("tern printed non-JSON {line:?}: {e}"));
    let kind = v["type"]
        .as_str()
        .unwrap_or_else(|| panic!("tern: no type in {line}"));
    let mut m = Msg {
        kind: kind.to_string(),
        ..Msg::default()
    };
    let field = |k: &str| present(v.get(k)).unwrap_or_else(|| panic!("tern: no {k} in {line}"));
    let num = |k: &str| {
        field(k)
            .as_u64()
            .unwrap_or_else(|| panic!("tern: {k} in {line}"))
    };
    match kind {
        "open" => {
            let id = field("bgp_id").as_str().expect("bgp_id string");
            m.open = Some((num("my_as"), num("hold_time"), canonical_addr(id)));
            return m;
        }
        "notification" => {
            let text = present(v.get("shutdown_communication")).map(|t| {
                t.as_str()
                    .expect("shutdown_communication string")
                    .to_string()
            });
            m.notification = Some((num("code"), num("subcode"), text));
            return m;
        }
        "update" => {}
        _ => return m,
    }
    m.withdrawn = nlri(v.get("withdrawn"), "withdrawn");
    m.nlri = nlri(v.get("nlri"), "nlri");
    let Some(a) = present(v.get("attributes")) else {
        return m;
    };
    let num = |key: &str| {
        present(a.get(key)).map(|x| x.as_u64().unwrap_or_else(|| panic!("tern: {key}: {x}")))
    };
    let addr = |x: Option<&Value>, key: &str| {
        present(x).map(|x| canonical_addr(x.as_str().unwrap_or_else(|| panic!("tern: {key}: {x}"))))
    };
    m.origin = present(a.get("origin")).map(|o| o.as_str().expect("origin string").to_string());
    m.as_path = present(a.get("as_path")).map(tern_segments);
    m.as4_path = present(a.get("as4_path")).map(tern_segments);
    m.next_hop = addr(a.get("next_hop"), "next_hop");
    m.med = num("med");
    m.local_pref = num("local_pref");
    if let Some(mp) = present(a.get("mp_reach")) {
        m.mp_next_hop = addr(mp.get("next_hop"), "mp_reach.next_hop");
        m.mp_link_local = addr(mp.get("link_local"), "mp_reach.link_local");
    }
    m.communities = strings(a.get("communities"), "communities")
        .iter()
        .map(|c| tern_community(c))
        .collect();
    m.aggregator = present(a.get("aggregator")).map(aggregator);
    m.as4_aggregator = present(a.get("as4_aggregator")).map(aggregator);
    m.large_communities = strings(a.get("large_communities"), "large_communities")
        .into_iter()
        .collect();
    m
}

/// `tern bgp decode FLAGS < bin`; it must succeed.
pub fn decode(bin: &[u8], flags: &[&str]) -> Vec<Msg> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["bgp", "decode"])
        .args(flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tern");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bin)
        .expect("write to tern");
    let out = child.wait_with_output().expect("wait for tern");
    assert!(
        out.status.success(),
        "tern bgp decode {flags:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("tern printed non-UTF-8")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(tern_msg)
        .collect()
}
