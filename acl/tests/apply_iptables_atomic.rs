//! iptables apply is all or nothing across IPv4 and IPv6: when the IPv6 commit fails after
//! `--test` passed (here: a foreign ip6tables chain still jumps to a tern chain that the
//! new ruleset deletes, which only the kernel refuses), the IPv4 commit that already went
//! through is undone and the ipsets stay as they were. Runs in a throwaway namespace.

use std::collections::{BTreeMap, BTreeSet};

mod common;

use acl::{Applier, ApplyMode, Backend};
use common::two_irs;
use testlab::{Lab, Netns};

/// One family's filter table by chain (rule order kept).
fn family(ns: &Netns, save: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in ns.ok(&[save, "-t", "filter"]).lines() {
        if let Some(rest) = l.strip_prefix("-A ") {
            let chain = rest.split_whitespace().next().unwrap_or("").to_string();
            out.entry(chain).or_default().push(l.to_string());
        } else if let Some(c) = l.strip_prefix(':') {
            out.entry(c.split_whitespace().next().unwrap_or("").to_string())
                .or_default();
        }
    }
    out
}

/// Sets with their members (`initval` is random per set).
fn sets(ns: &Netns) -> Vec<String> {
    let mut s: Vec<String> = ns
        .ok(&["ipset", "save"])
        .lines()
        .map(|l| l.split(" initval ").next().unwrap_or(l).to_string())
        .collect();
    s.sort();
    s
}

#[test]
fn failed_ipv6_commit_rolls_ipv4_back() {
    let mut lab = Lab::new("acl-ipt-atomic");
    let (x, y) = (lab.netns("x"), lab.netns("y"));
    let (a, b) = two_irs(lab.dir());
    // Which IPv6 tern chains exist under A and not under B.
    let mut ap = Applier::new(Backend::Iptables).in_netns(x.name());
    assert_eq!(ap.apply(&a).unwrap().mode, ApplyMode::Full);
    Applier::new(Backend::Iptables)
        .in_netns(y.name())
        .apply(&b)
        .unwrap();
    let b6: BTreeSet<String> = family(&y, "ip6tables-save").into_keys().collect();
    let a6 = family(&x, "ip6tables-save");
    let doomed = a6
        .keys()
        .find(|c| c.starts_with("tern-") && !b6.contains(*c))
        .expect("B drops an IPv6 chain of A")
        .clone();
    // Somebody else's IPv6 chain jumps into it: the kernel will refuse to delete it.
    x.ok(&["ip6tables", "-N", "other-fw"]);
    x.ok(&["ip6tables", "-A", "other-fw", "-j", &doomed]);

    let v4_before = family(&x, "iptables-save");
    let v6_before = family(&x, "ip6tables-save");
    let sets_before = sets(&x);
    let err = ap.apply(&b).expect_err("the IPv6 commit must fail");
    assert!(err.to_string().contains("ip6tables-restore"), "{err}");
    assert_eq!(
        family(&x, "iptables-save"),
        v4_before,
        "IPv4 rules must be back to A after the IPv6 commit failed"
    );
    assert_eq!(family(&x, "ip6tables-save"), v6_before);
    assert_eq!(
        sets(&x),
        sets_before,
        "ipsets must be A's, no temporaries left"
    );

    // Once the obstacle is gone the same change goes through, and equals a fresh apply.
    x.ok(&["ip6tables", "-F", "other-fw"]);
    x.ok(&["ip6tables", "-X", "other-fw"]);
    ap.apply(&b).unwrap();
    assert_eq!(family(&x, "iptables-save"), family(&y, "iptables-save"));
    assert_eq!(family(&x, "ip6tables-save"), family(&y, "ip6tables-save"));
    assert_eq!(sets(&x), sets(&y));
}
