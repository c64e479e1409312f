//! `tern bgp decode` against tshark's BGP dissector, on real BIRD ↔ GoBGP sessions that
//! `scripts/capture-fixtures.sh` captured into `bgp/tests/fixtures/` (see its README.md).
//!
//! For every capture and each direction, tshark dissects the pcap and `tern bgp decode`
//! reads that direction's payload stream (`.bin`); both must give the same messages, in
//! order, with the same prefixes, withdrawals, AS paths, next hops, ORIGIN, MED, LOCAL_PREF,
//! communities and large communities. Other tests here check that each `.bin` is exactly
//! the stream tshark reassembles from its pcap, and that the captures hold what the README
//! says, so that a broken capture cannot pass.
//!
//! Reads files only (no namespaces). Needs `tshark` (`scripts/install-deps.sh` installs it).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

#[path = "decode_tshark/msg.rs"]
mod msg;
#[path = "decode_tshark/tern.rs"]
mod tern;
#[path = "decode_tshark/tshark.rs"]
mod tshark;

use msg::{canonical_addr, without_path_id, Msg};

/// One captured session.
struct Capture {
    name: &'static str,
    /// Extra `tern bgp decode` flags: what the session negotiated.
    decode_flags: &'static [&'static str],
    /// tshark's `bgp.asn_len` for the same: it must not guess.
    tshark_asn_len: &'static str,
    bird: &'static str,
    gobgp: &'static str,
}

const CAPTURES: [Capture; 4] = [
    Capture {
        name: "ipv4-as4",
        decode_flags: &[],
        tshark_asn_len: "4 octet",
        bird: "10.100.0.1",
        gobgp: "10.100.0.2",
    },
    Capture {
        name: "ipv6-as4",
        decode_flags: &[],
        tshark_asn_len: "4 octet",
        bird: "fd00:100::1",
        gobgp: "fd00:100::2",
    },
    Capture {
        name: "ipv4-addpath",
        decode_flags: &["--add-path"],
        tshark_asn_len: "4 octet",
        bird: "10.100.0.1",
        gobgp: "10.100.0.2",
    },
    Capture {
        name: "ipv4-as2",
        decode_flags: &["--as2"],
        tshark_asn_len: "2 octet",
        bird: "10.100.0.1",
        gobgp: "10.100.0.2",
    },
];

/// The two directions of a session, named by sender.
const DIRECTIONS: [&str; 2] = ["bird-to-gobgp", "gobgp-to-bird"];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bgp/tests/fixtures")
}

fn fixture(name: &str) -> PathBuf {
    let path = fixtures().join(name);
    assert!(path.is_file(), "missing fixture {}", path.display());
    path
}

/// Runs tshark; a missing tshark is a failure with the fix in the message.
fn run_tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run tshark ({e}): this test compares against tshark's BGP dissector; \
                 install it with `scripts/install-deps.sh` (part of `make test`)"
            )
        });
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tshark printed non-UTF-8")
}

fn compare(c: &Capture, dir: &str, tshark: &[Msg], tern: &[Msg]) -> Vec<String> {
    let mut diffs = Vec::new();
    for (i, (want, got)) in tshark.iter().zip(tern).enumerate() {
        if want != got {
            diffs.push(format!(
                "{} {dir} message #{i}:\n  tshark: {want:?}\n  tern:   {got:?}",
                c.name
            ));
        }
    }
    if tshark.len() != tern.len() {
        diffs.push(format!(
            "{} {dir}: tshark dissects {} messages, tern decodes {}",
            c.name,
            tshark.len(),
            tern.len()
        ));
    }
    diffs
}

fn sender(c: &Capture, dir: &str) -> String {
    canonical_addr(if dir == "bird-to-gobgp" {
        c.bird
    } else {
        c.gobgp
    })
}

#[test]
fn tern_decode_matches_tshark_on_captured_sessions() {
    let mut diffs = Vec::new();
    for c in &CAPTURES {
        let by_sender = tshark::messages(c);
        for dir in DIRECTIONS {
            let bin = std::fs::read(fixture(&format!("{}.{dir}.bin", c.name))).expect("read .bin");
            let want = by_sender.get(&sender(c, dir)).cloned().unwrap_or_default();
            let got = tern::decode(&bin, c.decode_flags);
            diffs.extend(compare(c, dir, &want, &got));
        }
    }
    assert!(
        diffs.is_empty(),
        "tern bgp decode differs from tshark:\n{}",
        diffs.join("\n")
    );
}

/// Each `.bin` is exactly the payload stream tshark reassembles for that direction.
#[test]
fn bin_files_are_the_captured_tcp_streams() {
    for c in &CAPTURES {
        let pcap = fixture(&format!("{}.pcap", c.name));
        let streams = run_tshark(&[
            "-r",
            pcap.to_str().expect("UTF-8 path"),
            "-T",
            "fields",
            "-e",
            "tcp.stream",
        ]);
        let ids: BTreeSet<&str> = streams.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(
            ids.len(),
            1,
            "{}: expected one TCP session, found {ids:?}",
            c.name
        );
        let follow = run_tshark(&[
            "-r",
            pcap.to_str().expect("UTF-8 path"),
            "-q",
            "-z",
            "follow,tcp,raw,0",
        ]);
        let node0 = follow
            .lines()
            .find_map(|l| l.strip_prefix("Node 0: "))
            .expect("tshark follow: no Node 0");
        let node0 = node0.rsplit_once(':').map(|(a, _)| a).unwrap_or(node0);
        let node0 = canonical_addr(node0.trim_start_matches('[').trim_end_matches(']'));
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for line in follow.lines() {
            let (target, hex_text) = match line.strip_prefix('\t') {
                Some(rest) => (&mut second, rest),
                None => (&mut first, line),
            };
            if !hex_text.is_empty() && hex_text.bytes().all(|b| b.is_ascii_hexdigit()) {
                target.extend(hex::decode(hex_text).expect("tshark follow: hex"));
            }
        }
        for dir in DIRECTIONS {
            let bin = std::fs::read(fixture(&format!("{}.{dir}.bin", c.name))).expect("read .bin");
            let want = if sender(c, dir) == node0 {
                &first
            } else {
                &second
            };
            assert!(
                bin == *want,
                "{}.{dir}.bin differs from the stream in {}.pcap",
                c.name,
                c.name
            );
        }
    }
}

fn count(msgs: &[Msg], kind: &str) -> usize {
    msgs.iter().filter(|m| m.kind == kind).count()
}

/// The prefixes (path identifiers dropped) in all `msgs`' `f` sets.
fn union<'a>(msgs: &'a [Msg], f: impl Fn(&'a Msg) -> &'a BTreeSet<String>) -> BTreeSet<&'a str> {
    msgs.iter()
        .flat_map(f)
        .map(|p| without_path_id(p))
        .collect()
}

fn set<'a>(items: &[&'a str]) -> BTreeSet<&'a str> {
    items.iter().copied().collect()
}

/// What fixtures/README.md says the captures hold, checked with tshark alone.
#[test]
fn captures_hold_what_the_readme_says() {
    for c in &CAPTURES {
        let by_sender = tshark::messages(c);
        let bird = &by_sender[&sender(c, "bird-to-gobgp")];
        let gobgp = &by_sender[&sender(c, "gobgp-to-bird")];
        let v6 = c.name.starts_with("ipv6");
        let addpath = c.name == "ipv4-addpath";
        for (who, msgs) in [("BIRD", bird), ("GoBGP", gobgp)] {
            assert_eq!(count(msgs, "open"), 1, "{} {who}: OPENs", c.name);
            assert!(
                count(msgs, "keepalive") >= 3,
                "{} {who}: KEEPALIVEs",
                c.name
            );
            assert_eq!(
                msgs.first().map(|m| m.kind.as_str()),
                Some("open"),
                "{} {who}",
                c.name
            );
        }
        assert_eq!(
            count(bird, "route_refresh"),
            1,
            "{}: BIRD's ROUTE-REFRESH",
            c.name
        );
        assert_eq!(count(bird, "notification"), 1, "{}: BIRD's Cease", c.name);
        assert_eq!(
            bird.last().map(|m| m.kind.as_str()),
            Some("notification"),
            "{}",
            c.name
        );
        // 4 + End-of-RIB + withdrawal; with ADD-PATH 2 more paths and their withdrawal.
        let bird_updates = if addpath { 9 } else { 6 };
        assert_eq!(
            count(bird, "update"),
            bird_updates,
            "{}: BIRD's UPDATEs",
            c.name
        );

        let (bird_nlri, bird_gone) = if v6 {
            (
                set(&[
                    "2001:db8:100::/48",
                    "2001:db8:200::/56",
                    "2001:db8:300::/64",
                    "2001:db8:ffff::/48",
                    "2001:db8:dead::/48",
                    "2001:db8:beef:1::/64",
                ]),
                set(&["2001:db8:dead::/48", "2001:db8:beef:1::/64"]),
            )
        } else {
            (
                set(&[
                    "198.51.100.0/24",
                    "203.0.113.0/25",
                    "192.0.2.128/26",
                    "100.64.0.0/10",
                    "10.99.0.0/16",
                    "10.98.1.0/24",
                ]),
                if addpath {
                    set(&[
                        "10.99.0.0/16",
                        "10.98.1.0/24",
                        "198.51.100.0/24",
                        "203.0.113.0/25",
                    ])
                } else {
                    set(&["10.99.0.0/16", "10.98.1.0/24"])
                },
            )
        };
        assert_eq!(
            union(bird, |m| &m.nlri),
            bird_nlri,
            "{}: BIRD's prefixes",
            c.name
        );
        assert_eq!(
            union(bird, |m| &m.withdrawn),
            bird_gone,
            "{}: BIRD's withdrawals",
            c.name
        );
        let (gobgp_nlri, gobgp_gone) = match c.name {
            "ipv4-addpath" => (
                set(&["172.16.0.0/16", "172.18.0.0/15", "172.20.0.0/22"]),
                set(&["172.16.0.0/16"]),
            ),
            "ipv6-as4" => (
                set(&[
                    "2001:db8:f00::/48",
                    "2001:db8:f01::/48",
                    "2001:db8:f02::/48",
                ]),
                set(&["2001:db8:f00::/48"]),
            ),
            _ => (
                set(&[
                    "172.16.0.0/16",
                    "172.17.1.0/24",
                    "172.18.0.0/15",
                    "172.20.0.0/22",
                ]),
                set(&["172.16.0.0/16"]),
            ),
        };
        assert_eq!(
            union(gobgp, |m| &m.nlri),
            gobgp_nlri,
            "{}: GoBGP's prefixes",
            c.name
        );
        assert_eq!(
            union(gobgp, |m| &m.withdrawn),
            gobgp_gone,
            "{}: GoBGP's withdrawals",
            c.name
        );

        let all_nlri = bird
            .iter()
            .chain(gobgp)
            .flat_map(|m| m.nlri.iter().chain(&m.withdrawn));
        let with_id = all_nlri.clone().filter(|p| p.contains(" path-id ")).count();
        if addpath {
            assert_eq!(
                with_id,
                all_nlri.count(),
                "ADD-PATH: every NLRI has a path ID"
            );
            let ids: BTreeSet<&str> = bird
                .iter()
                .flat_map(|m| &m.nlri)
                .filter(|p| without_path_id(p) == "198.51.100.0/24")
                .map(String::as_str)
                .collect();
            assert_eq!(
                ids.len(),
                2,
                "BIRD sends two paths for 198.51.100.0/24: {ids:?}"
            );
        } else {
            assert_eq!(with_id, 0, "{}: path IDs without ADD-PATH", c.name);
        }

        let own = if c.name == "ipv4-as2" {
            65002
        } else {
            4_200_000_001
        };
        let prepended_prefix = if v6 {
            "2001:db8:200::/56"
        } else {
            "203.0.113.0/25"
        };
        let prepended = bird.iter().find(|m| {
            m.nlri
                .iter()
                .any(|p| without_path_id(p) == prepended_prefix)
        });
        let prepended = prepended.expect("the prepended route");
        let full = vec![("sequence".to_string(), vec![own, own, 4_200_000_099, 64496])];
        if c.name == "ipv4-as2" {
            let wire = vec![("sequence".to_string(), vec![own, own, 23456, 64496])];
            assert_eq!(
                prepended.as_path.as_ref(),
                Some(&wire),
                "{}: 2-octet AS_PATH",
                c.name
            );
            assert_eq!(
                prepended.as4_path.as_ref(),
                Some(&full),
                "{}: AS4_PATH",
                c.name
            );
            assert!(
                gobgp.iter().any(|m| m.as4_path.is_some()),
                "GoBGP sends AS4_PATH too"
            );
        } else {
            assert_eq!(
                prepended.as_path.as_ref(),
                Some(&full),
                "{}: prepended AS_PATH",
                c.name
            );
            assert!(
                bird.iter().chain(gobgp).all(|m| m.as4_path.is_none()),
                "{}: no AS4_PATH",
                c.name
            );
        }
        let big = bird
            .iter()
            .find(|m| m.med == Some(50))
            .expect("the MED 50 route");
        assert_eq!(
            big.communities,
            ["65001:100", "65535:666", "65535:0"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            "{}: communities incl. well-known",
            c.name
        );
        assert_eq!(
            big.large_communities,
            [format!("{own}:1:2")].into_iter().collect(),
            "{}",
            c.name
        );
        if v6 {
            assert!(
                bird.iter()
                    .filter(|m| !m.nlri.is_empty())
                    .all(|m| m.mp_link_local.is_some()),
                "BIRD's IPv6 next hops carry a link-local address"
            );
            assert!(
                bird.iter().chain(gobgp).all(|m| m.next_hop.is_none()),
                "IPv6 only in MP_REACH"
            );
        }
    }
}
