//! Tests of the located-YAML layer with exact lines and columns.

use std::path::Path;

use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Peer {
    #[serde(rename = "peerIP")]
    peer_ip: std::net::IpAddr,
    as_number: u32,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Conf {
    node_name: String,
    #[serde(default)]
    peers: Vec<Peer>,
    #[serde(default)]
    blocks: Vec<String>,
}

const FILE: &str = "node.yaml";

fn errors(text: &str) -> Vec<String> {
    match load_documents::<Conf>(Path::new(FILE), text) {
        Ok(d) => panic!("expected errors, got {d:?}"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn positions_of_block_and_flow_nodes() {
    let text = "\
nodeName: a
peers:
  - peerIP: 192.0.2.1
    asNumber: 65000
  - { peerIP: 192.0.2.2, asNumber: 65001 }
blocks: [10.0.0.0/24, 10.0.1.0/24]
";
    let docs = load_documents::<Conf>(Path::new(FILE), text).unwrap();
    assert_eq!(docs.len(), 1);
    let p = &docs[0].positions;
    assert_eq!(p.at(""), Location::new(1, 1));
    assert_eq!(p.at("nodeName"), Location::new(1, 11));
    assert_eq!(p.at("peers"), Location::new(3, 3));
    assert_eq!(p.at("peers[0]"), Location::new(3, 5));
    assert_eq!(p.key_at("nodeName"), Location::new(1, 1));
    assert_eq!(p.at("peers[0].peerIP"), Location::new(3, 13));
    assert_eq!(p.at("peers[0].asNumber"), Location::new(4, 15));
    assert_eq!(p.key_at("peers[0].asNumber"), Location::new(4, 5));
    assert_eq!(p.at("peers[1]"), Location::new(5, 5));
    assert_eq!(p.at("peers[1].asNumber"), Location::new(5, 36));
    assert_eq!(p.at("blocks[1]"), Location::new(6, 23));
    // Missing nodes fall back to the nearest parent.
    assert_eq!(p.at("peers[1].password.file"), Location::new(5, 5));
    assert_eq!(p.at("nope"), p.at(""));
    assert_eq!(p.get("nope"), None);
    let e = p.error("blocks[0]", "overlaps");
    assert_eq!(e.to_string(), "node.yaml:6:10: overlaps");
}

#[test]
fn unknown_field_names_path_and_suggests() {
    let text = "nodeName: a\npeers:\n  - peerIp: 192.0.2.1\n    asNumber: 1\n";
    assert_eq!(
        errors(text),
        ["node.yaml:3:5: peers[0]: unknown field `peerIp` (did you mean `peerIP`?)"]
    );
}

#[test]
fn bad_value_is_located_at_the_value() {
    let text = "nodeName: a\npeers:\n  - peerIP: 192.0.2.300\n    asNumber: 1\n";
    let e = errors(text);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("node.yaml:3:13: peers[0].peerIP: "),
        "{e:?}"
    );
}

#[test]
fn missing_field() {
    let text = "peers: []\n";
    let e = errors(text);
    assert_eq!(e.len(), 1);
    assert!(e[0].contains("missing field `nodeName`"), "{e:?}");
    assert!(e[0].starts_with("node.yaml:1:1: "), "{e:?}");
}

#[test]
fn syntax_error_is_located() {
    let text = "nodeName: a\npeers: [\n";
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("node.yaml:3:1: "), "{e:?}");
}

#[test]
fn several_documents_each_with_positions_and_errors() {
    let text = "\
nodeName: a
---
nodeName: b
blocks: [x]
---
nodeName: c
colour: red
---
nodeName: d
bogus: 1
---
";
    let e = errors(text);
    assert_eq!(
        e,
        [
            "node.yaml:7:1: unknown field `colour`, expected one of `nodeName`, `peers`, `blocks`",
            "node.yaml:10:1: unknown field `bogus`, expected one of `nodeName`, `peers`, `blocks`",
        ]
    );
    let good = "nodeName: a\n---\n---\nnodeName: b\nblocks: [x, y]\n---\n";
    let docs = load_documents::<Conf>(Path::new(FILE), good).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].index, 0);
    assert_eq!(docs[1].index, 2);
    assert_eq!(docs[1].value.node_name, "b");
    assert_eq!(docs[1].positions.at("blocks[1]"), Location::new(5, 13));
    assert_eq!(docs[1].positions.at("nodeName"), Location::new(4, 11));
}

#[test]
fn empty_text_has_no_documents() {
    let docs = load_documents::<Conf>(Path::new(FILE), "").unwrap();
    assert!(docs.is_empty());
    let e = load_document::<Conf>(Path::new(FILE), "# nothing\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "node.yaml:1:1: the file holds no YAML document"
    );
    let e = load_document::<Conf>(Path::new(FILE), "nodeName: a\n---\nnodeName: b\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "node.yaml:3:1: only one YAML document is allowed in this file"
    );
}

#[test]
fn errors_display_one_per_line_sorted() {
    let mut all = LocatedErrors::new();
    all.push(LocatedError::new(
        Path::new("b"),
        Location::new(2, 1),
        "two",
    ));
    all.push(LocatedError::new(
        Path::new("b"),
        Location::new(1, 5),
        "one",
    ));
    all.sort();
    assert_eq!(all.to_string(), "b:1:5: one\nb:2:1: two");
}

#[test]
fn complex_keys_and_aliases_do_not_confuse_the_index() {
    let text = "? [a, b]\n: x\nk: &v [1, 2]\nm: *v\nlast: {n: 3}\n";
    let docs = load_documents::<serde_yaml::Value>(Path::new(FILE), text).unwrap();
    let p = &docs[0].positions;
    assert_eq!(p.get("a"), None);
    assert_eq!(p.at("?"), Location::new(2, 3));
    assert_eq!(p.at("k[1]"), Location::new(3, 11));
    assert_eq!(p.at("m"), Location::new(4, 4));
    assert_eq!(p.at("last.n"), Location::new(5, 11));
}

#[test]
fn documents_of_several_kinds_in_one_pass() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct A {
        #[allow(dead_code)]
        kind: String,
        a: u32,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct B {
        kind: String,
        #[allow(dead_code)]
        metadata: std::collections::BTreeMap<String, String>,
    }
    let text = "kind: A\na: 1\n---\nkind: B\nmetadata: { name: x }\n---\n---\nkind: A\na: -1\n";
    let mut seen = Vec::new();
    for src in documents(Path::new(FILE), text) {
        let kind = src.positions().scalar("kind").map(str::to_string);
        let name = src.positions().scalar("metadata.name").map(str::to_string);
        let index = src.index();
        let result = match kind.as_deref() {
            Some("A") => src.deserialize::<A>().map(|d| format!("A{}", d.value.a)),
            Some("B") => src
                .deserialize::<B>()
                .map(|d| format!("B {}", d.value.kind)),
            _ => unreachable!(),
        };
        seen.push((index, name, result.map_err(|e| e.to_string())));
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0], (0, None, Ok("A1".to_string())));
    assert_eq!(seen[1], (1, Some("x".to_string()), Ok("B B".to_string())));
    assert_eq!(seen[2].0, 3);
    let err = seen[2].2.clone().unwrap_err();
    assert!(
        err.starts_with("node.yaml:9:4: a: invalid type: integer `-1`, expected a whole number from 0 to 4294967295"),
        "{err}"
    );
}

#[test]
fn syntax_error_in_a_later_document_keeps_the_earlier_ones() {
    let text = "nodeName: a\n---\nnodeName: b: c\n---\nnodeName: c\n";
    let results: Vec<_> = documents(Path::new(FILE), text)
        .map(|s| {
            s.deserialize::<Conf>()
                .map(|d| d.value.node_name)
                .map_err(|e| e.to_string())
        })
        .collect();
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[0], Ok("a".to_string()));
    assert!(
        results[1]
            .as_ref()
            .is_err_and(|e| e.starts_with("node.yaml:3:12: mapping values are not allowed")),
        "{results:?}"
    );
}
