//! The allocator's rules through its public API: addresses handed out, reserved ones,
//! round-robin reuse, exhaustion with rollback, specific requests, GC, restore.

use ipam::{
    Allocation, Allocator, Attachment, AttachmentKey, IpamError, ProblemKind, Record, Request,
};
use ipnet::IpNet;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}
fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}
fn key(i: usize) -> AttachmentKey {
    AttachmentKey::new(format!("ctr{i}"), "eth0").unwrap()
}
fn any() -> Request {
    Request::default()
}

#[test]
fn dual_stack_idempotent_distinct() {
    let mut a = Allocator::new([net("10.65.0.0/26"), net("fd00:65::/122")]);
    let req = Request::new(Attachment {
        name: "web-1".into(),
        ..Default::default()
    });
    let first = a.allocate(&key(1), &req).unwrap();
    assert_eq!(first.ipv4, Some(v4("10.65.0.1")));
    assert_eq!(first.ipv6, Some(v6("fd00:65::1")));
    assert_eq!(first.attachment.name, "web-1");
    // ADD twice: same answer, the second request's metadata is not applied.
    let again = a
        .allocate(
            &key(1),
            &Request::new(Attachment {
                name: "other".into(),
                ..Default::default()
            }),
        )
        .unwrap();
    assert_eq!(again, first);
    let second = a.allocate(&key(2), &any()).unwrap();
    assert_eq!(second.ipv4, Some(v4("10.65.0.2")));
    assert_eq!(second.ipv6, Some(v6("fd00:65::2")));
    // A second interface of the same container is another attachment.
    let eth1 = AttachmentKey::new("ctr1", "eth1").unwrap();
    assert_eq!(
        a.allocate(&eth1, &any()).unwrap().ipv4,
        Some(v4("10.65.0.3"))
    );
    assert_eq!(a.len(), 3);
    assert_eq!(a.owner(IpAddr::V4(v4("10.65.0.2"))), Some(&key(2)));
}

#[test]
fn single_family_nodes() {
    let mut a = Allocator::new([net("fd00:1::/64")]);
    let got = a.allocate(&key(1), &any()).unwrap();
    assert_eq!((got.ipv4, got.ipv6), (None, Some(v6("fd00:1::1"))));
    let mut a = Allocator::new([net("10.0.0.0/24")]);
    let got = a.allocate(&key(1), &any()).unwrap();
    assert_eq!((got.ipv4, got.ipv6), (Some(v4("10.0.0.1")), None));
    let mut none = Allocator::new([]);
    assert!(matches!(
        none.allocate(&key(1), &any()),
        Err(IpamError::NoBlock)
    ));
    assert!(none.is_empty());
}

#[test]
fn reserved_addresses_and_exhaustion_naming_the_block() {
    // /29: .0 (network) and .7 (broadcast) are never handed out.
    let mut a = Allocator::new([net("192.168.9.8/29")]);
    let got: Vec<_> = (0..6)
        .map(|i| a.allocate(&key(i), &any()).unwrap().ipv4.unwrap())
        .collect();
    let want: Vec<_> = (9..=14).map(|o| Ipv4Addr::new(192, 168, 9, o)).collect();
    assert_eq!(got, want);
    let err = a.allocate(&key(6), &any()).unwrap_err();
    assert!(
        matches!(&err, IpamError::Exhausted { block, also_full } if *block == net("192.168.9.8/29") && also_full.is_empty()),
        "{err}"
    );
    assert_eq!(err.to_string(), "no free address in block 192.168.9.8/29");
    assert!(a.get(&key(6)).is_none());

    let mut a = Allocator::new([net("10.0.0.2/31")]);
    assert_eq!(
        a.allocate(&key(0), &any()).unwrap().ipv4,
        Some(v4("10.0.0.3"))
    );
    assert!(matches!(
        a.allocate(&key(1), &any()),
        Err(IpamError::Exhausted { .. })
    ));
    let mut a = Allocator::new([net("10.0.0.9/32")]);
    assert!(matches!(
        a.allocate(&key(1), &any()),
        Err(IpamError::Exhausted { .. })
    ));

    // IPv6 has no broadcast: ::1 to ::3 of a /126.
    let mut a = Allocator::new([net("fd00::/126")]);
    let got: Vec<_> = (0..3)
        .map(|i| a.allocate(&key(i), &any()).unwrap().ipv6.unwrap())
        .collect();
    assert_eq!(got, vec![v6("fd00::1"), v6("fd00::2"), v6("fd00::3")]);
    assert!(matches!(
        a.allocate(&key(3), &any()),
        Err(IpamError::Exhausted { .. })
    ));
}

#[test]
fn released_address_is_reused_last() {
    let mut a = Allocator::new([net("10.0.0.0/29")]);
    for i in 0..3 {
        a.allocate(&key(i), &any()).unwrap(); // .1 .2 .3
    }
    assert_eq!(a.release(&key(1)).unwrap().ipv4, Some(v4("10.0.0.2")));
    // Not .2 again: the next after the last handed out.
    let next: Vec<_> = (3..6)
        .map(|i| a.allocate(&key(i), &any()).unwrap().ipv4.unwrap())
        .collect();
    assert_eq!(next, vec![v4("10.0.0.4"), v4("10.0.0.5"), v4("10.0.0.6")]);
    // Only after wrapping around.
    assert_eq!(
        a.allocate(&key(6), &any()).unwrap().ipv4,
        Some(v4("10.0.0.2"))
    );
    assert!(a.release(&key(99)).is_none());
}

#[test]
fn round_robin_crosses_blocks_of_a_family() {
    let mut a = Allocator::new([net("10.0.0.0/30"), net("10.0.1.0/30"), net("fd00::/120")]);
    let got: Vec<_> = (0..4)
        .map(|i| a.allocate(&key(i), &any()).unwrap().ipv4.unwrap())
        .collect();
    assert_eq!(
        got,
        vec![
            v4("10.0.0.1"),
            v4("10.0.0.2"),
            v4("10.0.1.1"),
            v4("10.0.1.2")
        ]
    );
    let err = a.allocate(&key(4), &any()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no free address in blocks 10.0.0.0/30, 10.0.1.0/30"
    );
    a.release(&key(0));
    assert_eq!(
        a.allocate(&key(5), &any()).unwrap().ipv4,
        Some(v4("10.0.0.1"))
    );
}

#[test]
fn exhausted_ipv6_rolls_back_ipv4() {
    // The /127 has one usable IPv6 address; the IPv4 block has plenty.
    let mut a = Allocator::new([net("10.0.0.0/24"), net("fd00::/127")]);
    a.allocate(&key(0), &any()).unwrap();
    let before = a.usage();
    let err = a.allocate(&key(1), &any()).unwrap_err();
    assert!(
        matches!(&err, IpamError::Exhausted { block, .. } if *block == net("fd00::/127")),
        "{err}"
    );
    assert_eq!(a.usage(), before, "the IPv4 address was given back");
    assert!(a.get(&key(1)).is_none());
    assert!(a.owner(IpAddr::V4(v4("10.0.0.2"))).is_none());
    // The cursor was rolled back too: once IPv6 has room, the next IPv4 is .2.
    a.release(&key(0));
    assert_eq!(
        a.allocate(&key(1), &any()).unwrap().ipv4,
        Some(v4("10.0.0.2"))
    );
}

#[test]
fn specific_addresses() {
    let mut a = Allocator::new([net("10.0.0.0/24"), net("fd00::/120")]);
    let req = Request {
        ipv4: Some(v4("10.0.0.50")),
        ..Request::default()
    };
    let got = a.allocate(&key(0), &req).unwrap();
    assert_eq!(got.ipv4, Some(v4("10.0.0.50")));
    assert_eq!(
        got.ipv6,
        Some(v6("fd00::1")),
        "the other family still gets the next free one"
    );
    // Same key, same request: idempotent. Same key, another address: conflict.
    assert_eq!(a.allocate(&key(0), &req).unwrap(), got);
    let other = Request {
        ipv4: Some(v4("10.0.0.51")),
        ..Request::default()
    };
    assert!(matches!(
        a.allocate(&key(0), &other),
        Err(IpamError::Conflict { .. })
    ));
    // Another key asking for a taken address.
    match a.allocate(&key(1), &req) {
        Err(IpamError::InUse { holder, .. }) => assert_eq!(holder, key(0)),
        other => panic!("{other:?}"),
    }
    let bad = |addr: &str| Request {
        ipv4: Some(v4(addr)),
        ..Request::default()
    };
    assert!(matches!(
        a.allocate(&key(1), &bad("10.0.0.0")),
        Err(IpamError::Reserved { .. })
    ));
    assert!(matches!(
        a.allocate(&key(1), &bad("10.0.0.255")),
        Err(IpamError::Reserved { .. })
    ));
    assert!(matches!(
        a.allocate(&key(1), &bad("10.0.1.1")),
        Err(IpamError::OutsideBlocks { .. })
    ));
    // A failed IPv6 request gives back the IPv4 address it took.
    let both = Request {
        ipv4: Some(v4("10.0.0.60")),
        ipv6: Some(v6("fd00::1")),
        ..Request::default()
    };
    assert!(matches!(
        a.allocate(&key(1), &both),
        Err(IpamError::InUse { .. })
    ));
    assert!(a.owner(IpAddr::V4(v4("10.0.0.60"))).is_none());
    assert_eq!(a.len(), 1);
    // A specific request does not move the cursor.
    assert_eq!(
        a.allocate(&key(2), &any()).unwrap().ipv4,
        Some(v4("10.0.0.1"))
    );
}

#[test]
fn invalid_keys_change_nothing() {
    let mut a = Allocator::new([net("10.0.0.0/24")]);
    for (c, i) in [
        ("", "eth0"),
        ("../x", "eth0"),
        ("a/b", "eth0"),
        ("a\0", "eth0"),
        ("ok", ""),
        ("ok", "a/b"),
    ] {
        let k = AttachmentKey {
            container_id: c.into(),
            ifname: i.into(),
        };
        let err = a.allocate(&k, &any()).unwrap_err();
        assert!(
            matches!(
                err,
                IpamError::InvalidContainerId { .. } | IpamError::InvalidIfname { .. }
            ),
            "{err}"
        );
    }
    assert!(a.is_empty());
    assert_eq!(a.usage()[0].allocated, 0);
}

#[test]
fn gc_frees_what_is_not_kept() {
    let mut a = Allocator::new([net("10.0.0.0/24")]);
    for i in 0..10 {
        a.allocate(&key(i), &any()).unwrap();
    }
    let valid: HashSet<AttachmentKey> = (0..10).filter(|i| i % 3 == 0).map(key).collect();
    let freed = a.gc(|k| valid.contains(k));
    assert_eq!(freed.len(), 6);
    assert!(freed.iter().all(|(k, _)| !valid.contains(k)));
    assert_eq!(a.len(), 4);
    assert!(valid.iter().all(|k| a.get(k).is_some()));
    assert_eq!(a.usage()[0].allocated, 4);
    for (_, alloc) in &freed {
        assert!(a.owner(IpAddr::V4(alloc.ipv4.unwrap())).is_none());
    }
}

#[test]
fn labels_and_attachment_change() {
    let mut a = Allocator::new([net("10.0.0.0/24")]);
    a.allocate(&key(0), &any()).unwrap();
    a.update_labels(&key(0), |l| {
        l.insert("app".into(), "web".into());
        l.insert("tier".into(), "fe".into());
    })
    .unwrap();
    let got = a.update_labels(&key(0), |l| {
        l.remove("tier");
    });
    assert_eq!(
        got.unwrap().attachment.labels.iter().collect::<Vec<_>>(),
        vec![(&"app".to_string(), &"web".to_string())]
    );
    let att = Attachment {
        netns: "/run/netns/x".into(),
        extra: serde_json::json!({"mac": "aa"}),
        ..Default::default()
    };
    assert_eq!(
        a.set_attachment(&key(0), att.clone()).unwrap().attachment,
        att
    );
    assert!(matches!(
        a.update_labels(&key(1), |_| {}),
        Err(IpamError::UnknownKey { .. })
    ));
    assert!(matches!(
        a.set_attachment(&key(1), att),
        Err(IpamError::UnknownKey { .. })
    ));
}

#[test]
fn a_whole_slash_16() {
    let mut a = Allocator::new([net("10.128.0.0/16")]);
    let mut seen = HashSet::new();
    for i in 0..65_534 {
        let got = a.allocate(&key(i), &any()).unwrap().ipv4.unwrap();
        assert!(seen.insert(got), "{got} twice");
    }
    assert!(!seen.contains(&v4("10.128.0.0")) && !seen.contains(&v4("10.128.255.255")));
    assert!(matches!(
        a.allocate(&key(70_000), &any()),
        Err(IpamError::Exhausted { .. })
    ));
    let u = a.usage()[0];
    assert_eq!((u.allocated, u.capacity), (65_534, 65_534));
    for i in (0..65_534).step_by(2) {
        a.release(&key(i));
    }
    assert_eq!(a.usage()[0].allocated, 32_767);
}

#[test]
fn nested_and_repeated_blocks_are_dropped() {
    let a = Allocator::new([
        net("10.0.0.0/26"),
        net("10.0.0.5/26"),
        net("10.0.0.0/28"),
        net("10.0.1.0/26"),
    ]);
    assert_eq!(a.blocks(), vec![net("10.0.0.0/26"), net("10.0.1.0/26")]);
}

fn rec(c: &str, ip4: Option<&str>, ip6: Option<&str>) -> Record {
    Record {
        key: AttachmentKey {
            container_id: c.into(),
            ifname: "eth0".into(),
        },
        allocation: Allocation {
            ipv4: ip4.map(v4),
            ipv6: ip6.map(v6),
            attachment: Attachment::default(),
        },
    }
}

#[test]
fn restore_reports_what_it_cannot_hold() {
    let records = vec![
        rec("a", Some("10.0.0.5"), Some("fd00::5")),
        rec("b", Some("10.0.0.9"), None),
        rec("dupaddr", Some("10.0.0.7"), Some("fd00::5")), // fd00::5 is a's
        rec("a", Some("10.0.0.20"), None),                 // key again
        rec("outside", Some("10.9.0.1"), None),
        rec("v6gone", Some("10.0.0.30"), Some("fd01::1")),
        rec("network", Some("10.0.0.0"), None),
        rec("nothing", None, None),
        rec("../evil", Some("10.0.0.40"), None),
    ];
    let (mut a, problems) = Allocator::restore([net("10.0.0.0/24"), net("fd00::/120")], records);
    let kinds: Vec<(String, ProblemKind)> = problems
        .iter()
        .map(|p| (p.record.key.container_id.clone(), p.kind.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                "dupaddr".into(),
                ProblemKind::AddressTaken {
                    addr: "fd00::5".parse().unwrap(),
                    holder: rec("a", None, None).key
                }
            ),
            ("a".into(), ProblemKind::DuplicateKey),
            (
                "outside".into(),
                ProblemKind::OutsideBlocks("10.9.0.1".parse().unwrap())
            ),
            (
                "v6gone".into(),
                ProblemKind::OutsideBlocks("fd01::1".parse().unwrap())
            ),
            (
                "network".into(),
                ProblemKind::Reserved("10.0.0.0".parse().unwrap())
            ),
            ("nothing".into(), ProblemKind::NoAddress),
            (
                "../evil".into(),
                ProblemKind::InvalidKey(
                    ipam::validate_container_id("../evil")
                        .unwrap_err()
                        .to_string()
                )
            ),
        ]
    );
    // Problems say what and where.
    assert_eq!(
        problems[0].to_string(),
        "dupaddr/eth0: fd00::5 is already held by a/eth0"
    );
    // A refused record is left out whole: dupaddr's IPv4 and v6gone's IPv4 are free.
    assert_eq!(a.len(), 2);
    assert!(a.owner("10.0.0.7".parse().unwrap()).is_none());
    assert!(a.owner("10.0.0.30".parse().unwrap()).is_none());
    // The cursor starts after the highest restored address: .10, not .1.
    let next = a.allocate(&key(0), &any()).unwrap();
    assert_eq!(
        (next.ipv4, next.ipv6),
        (Some(v4("10.0.0.10")), Some(v6("fd00::6")))
    );
}

#[test]
fn restore_round_trips() {
    let mut a = Allocator::new([net("10.0.0.0/26"), net("fd00::/122")]);
    for i in 0..20 {
        a.allocate(&key(i), &any()).unwrap();
    }
    for i in (0..20).step_by(4) {
        a.release(&key(i));
    }
    let (b, problems) = Allocator::restore(a.blocks(), a.records());
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        b.records().collect::<Vec<_>>(),
        a.records().collect::<Vec<_>>()
    );
    assert_eq!(b.usage(), a.usage());
}

#[test]
fn one_family_at_a_time() {
    let mut a = Allocator::new([
        "10.0.0.0/29".parse().unwrap(),
        "fd00::/125".parse().unwrap(),
    ]);
    let k4 = AttachmentKey::new("docker-v4", "eth0").unwrap();
    let k6 = AttachmentKey::new("docker-v6", "eth0").unwrap();
    let v4 = a
        .allocate_families(&k4, &any(), &[ipam::Family::V4])
        .unwrap();
    assert!(v4.ipv4.is_some());
    assert_eq!(v4.ipv6, None);
    let v6 = a
        .allocate_families(&k6, &any(), &[ipam::Family::V6])
        .unwrap();
    assert_eq!(v6.ipv4, None);
    assert!(v6.ipv6.is_some());
    // A named address is taken whatever the families; nothing else is.
    let k = AttachmentKey::new("docker-both", "eth0").unwrap();
    let req = Request {
        ipv4: Some("10.0.0.5".parse().unwrap()),
        ..Request::default()
    };
    let got = a.allocate_families(&k, &req, &[]).unwrap();
    assert_eq!((got.ipv4, got.ipv6), (req.ipv4, None));
}
