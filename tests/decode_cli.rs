//! `tern bgp decode`: JSON lines for real captures and hand-built messages, `--hex`,
//! `--as2`, `--add-path`, and the error contract (what was decoded so far, then a final
//! `"type":"error"` line naming the byte offset and the NOTIFICATION or RFC 7606
//! action, exit 2).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn decode(input: &[u8], flags: &[&str]) -> (Output, Vec<Value>) {
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
        .write_all(input)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for tern");
    let lines = String::from_utf8(out.stdout.clone())
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    (out, lines)
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("bgp/tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = (withdrawn.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    msg(2, &b)
}

const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, 4,
];

fn types(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| l["type"].as_str().unwrap()).collect()
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[test]
fn decodes_a_captured_gobgp_session() {
    let (out, lines) = decode(&fixture("ipv4-as4.gobgp-to-bird.bin"), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines[0]["type"], "open");
    assert_eq!(lines[0]["as"], 65001);
    assert_eq!(lines[0]["bgp_id"], "10.100.0.2");
    let first_update = lines.iter().find(|l| l["type"] == "update").unwrap();
    assert_eq!(strs(&first_update["nlri"]), ["172.16.0.0/16"]);
    let a = &first_update["attributes"];
    assert_eq!(a["origin"], "egp");
    assert_eq!(a["med"], 20);
    assert_eq!(a["next_hop"], "10.100.0.2");
    assert_eq!(strs(&a["communities"]), ["65001:200", "no-export"]);
    assert_eq!(
        strs(&a["large_communities"]),
        ["65001:7:8", "4200000001:0:1"]
    );
    assert_eq!(a["as_path"][0]["type"], "sequence");
    assert_eq!(a["as_path"][0]["asns"], serde_json::json!([65001]));
    let withdrawn: Vec<&str> = lines
        .iter()
        .flat_map(|l| strs_or_empty(&l["withdrawn"]))
        .collect();
    assert_eq!(withdrawn, ["172.16.0.0/16"]);
    assert!(types(&lines).iter().all(|t| *t != "error"));
}

#[test]
fn ipv6_prefixes_come_from_mp_reach_and_mp_unreach() {
    let (out, lines) = decode(&fixture("ipv6-as4.gobgp-to-bird.bin"), &[]);
    assert!(out.status.success());
    let nlri: Vec<&str> = lines
        .iter()
        .flat_map(|l| strs_or_empty(&l["nlri"]))
        .collect();
    assert!(nlri.contains(&"2001:db8:f00::/48"), "{nlri:?}");
    let withdrawn: Vec<&str> = lines
        .iter()
        .flat_map(|l| strs_or_empty(&l["withdrawn"]))
        .collect();
    assert_eq!(withdrawn, ["2001:db8:f00::/48"]);
    let u = lines
        .iter()
        .find(|l| !l["attributes"]["mp_reach"].is_null())
        .unwrap();
    assert_eq!(u["attributes"]["mp_reach"]["afi"], "ipv6");
}

fn strs_or_empty(v: &Value) -> Vec<&str> {
    if v.is_null() {
        Vec::new()
    } else {
        strs(v)
    }
}

#[test]
fn as2_shows_the_wire_as_path_with_as4_path_beside_it() {
    let bin = fixture("ipv4-as2.gobgp-to-bird.bin");
    let (out, lines) = decode(&bin, &["--as2"]);
    assert!(out.status.success());
    let u = lines
        .iter()
        .find(|l| !l["attributes"]["as4_path"].is_null())
        .expect("an UPDATE with AS4_PATH");
    assert_eq!(
        u["attributes"]["as_path"][0]["asns"],
        serde_json::json!([65001, 23456, 65010, 23456])
    );
    assert_eq!(
        u["attributes"]["as4_path"][0]["asns"],
        serde_json::json!([65001, 4200000010u32, 65010, 4200000011u32])
    );
    assert_eq!(u["attributes"]["as4_aggregator"]["asn"], 4200000010u32);
    // Read as 4-octet AS (the wrong context) the same bytes are a malformed AS_PATH.
    let (out, lines) = decode(&bin, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(lines.last().unwrap()["type"], "error");
}

#[test]
fn hex_input_ignores_whitespace() {
    let body = update(
        &[],
        &[0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 10, 0, 0, 1],
        &[24, 192, 0, 2],
    );
    let text = format!("{}\n  {}\n", hex::encode(KEEPALIVE), hex::encode(&body))
        .chars()
        .enumerate()
        .flat_map(|(i, c)| if i % 7 == 6 { vec![c, ' '] } else { vec![c] })
        .collect::<String>();
    let (out, lines) = decode(text.as_bytes(), &["--hex"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(types(&lines), ["keepalive", "update"]);
    assert_eq!(strs(&lines[1]["nlri"]), ["192.0.2.0/24"]);
    assert_eq!(lines[1]["offset"], 19);
    let (out, _) = decode(b"ffff zz", &["--hex"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn add_path_prints_path_identifiers() {
    let body = update(
        &[0, 0, 0, 1, 24, 192, 0, 2],
        &[0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 10, 0, 0, 1],
        &[0, 0, 0, 2, 24, 198, 51, 100],
    );
    let (out, lines) = decode(&body, &["--add-path"]);
    assert!(out.status.success());
    assert_eq!(lines[0]["withdrawn"][0]["prefix"], "192.0.2.0/24");
    assert_eq!(lines[0]["withdrawn"][0]["path_id"], 1);
    assert_eq!(lines[0]["nlri"][0]["path_id"], 2);
}

#[test]
fn malformed_header_prints_what_came_before_then_the_notification() {
    let mut bad = KEEPALIVE.to_vec();
    bad[5] = 0;
    let input = [&KEEPALIVE[..], &bad].concat();
    let (out, lines) = decode(&input, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(types(&lines), ["keepalive", "error"]);
    let err = &lines[1];
    assert_eq!(err["offset"], 19);
    assert_eq!(err["action"], "session-reset");
    assert_eq!(err["notification"]["code_name"], "message-header-error");
    assert_eq!(
        err["notification"]["subcode_name"],
        "connection-not-synchronized"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("byte 19"), "{stderr}");
    assert!(stderr.contains("connection-not-synchronized"), "{stderr}");
}

#[test]
fn malformed_as_path_is_reported_as_treat_as_withdraw_with_its_offset() {
    // AS_PATH with segment type 9 at byte 23 + 4 (after ORIGIN).
    let attrs = [
        0x40, 1, 1, 0, 0x40, 2, 6, 9, 1, 0, 0, 0, 1, 0x40, 3, 4, 10, 0, 0, 1,
    ];
    let input = [&KEEPALIVE[..], &update(&[], &attrs, &[24, 192, 0, 2])].concat();
    let (out, lines) = decode(&input, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(types(&lines), ["keepalive", "update", "error"]);
    assert_eq!(strs(&lines[1]["withdrawn"]), ["192.0.2.0/24"]);
    assert_eq!(strs(&lines[1]["nlri"]), Vec::<&str>::new());
    let err = &lines[2];
    assert_eq!(err["action"], "treat-as-withdraw");
    assert_eq!(err["attribute"], 2);
    assert_eq!(err["offset"], 19 + 23 + 4);
    assert!(String::from_utf8_lossy(&out.stderr).contains("treat-as-withdraw"));
}

#[test]
fn bad_nlri_is_a_session_reset_with_invalid_network_field() {
    let attrs = [0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 10, 0, 0, 1];
    let (out, lines) = decode(&update(&[], &attrs, &[33, 1, 2, 3, 4, 5]), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = lines.last().unwrap();
    assert_eq!(err["notification"]["code"], 3);
    assert_eq!(err["notification"]["subcode"], 10);
    assert_eq!(err["notification"]["subcode_name"], "invalid-network-field");
    assert_eq!(err["offset"], 23 + attrs.len());
}

#[test]
fn truncated_stream_is_an_error_after_the_complete_messages() {
    let input = [&KEEPALIVE[..], &KEEPALIVE[..10]].concat();
    let (out, lines) = decode(&input, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(types(&lines), ["keepalive", "error"]);
    assert_eq!(lines[1]["offset"], 19);
    assert_eq!(lines[1]["needed"], 9);
}

#[test]
fn empty_input_prints_nothing_and_succeeds() {
    let (out, lines) = decode(b"", &[]);
    assert!(out.status.success());
    assert!(lines.is_empty());
}
