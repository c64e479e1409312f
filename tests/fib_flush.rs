//! `tern fib flush`: removes the routes with tern's protocol in tern's table and nothing
//! else (the uninstall step of the operations guide). Runs inside a lab namespace.

use testlab::{tern_bin, Lab};

#[test]
fn flush_removes_only_terns_routes() {
    let mut lab = Lab::new("fibflush");
    let ns = lab.netns("h");
    let peer = lab.netns("p");
    lab.veth(
        &ns,
        "d0",
        &["198.51.100.1/24"],
        &peer,
        "e0",
        &["198.51.100.2/24"],
    );
    // Ours: protocol 201 in main, and protocol 201 in table 100 (another table: kept
    // unless asked for).
    for p in ["10.244.2.0/24", "10.244.3.0/24"] {
        ns.ok(&[
            "ip",
            "route",
            "add",
            p,
            "via",
            "198.51.100.2",
            "proto",
            "201",
        ]);
    }
    ns.ok(&[
        "ip",
        "route",
        "add",
        "10.244.4.0/24",
        "via",
        "198.51.100.2",
        "proto",
        "201",
        "table",
        "100",
    ]);
    // Somebody else's: static and BIRD's protocol.
    ns.ok(&[
        "ip",
        "route",
        "add",
        "10.9.0.0/16",
        "via",
        "198.51.100.2",
        "proto",
        "static",
    ]);
    ns.ok(&[
        "ip",
        "route",
        "add",
        "10.8.0.0/16",
        "via",
        "198.51.100.2",
        "proto",
        "bird",
    ]);

    // Through nexthop objects (as the agent installs them): ours, and another owner's.
    for (id, proto, p) in [
        ("77", "201", "10.244.5.0/24"),
        ("78", "bird", "10.7.0.0/16"),
    ] {
        ns.ok(&[
            "ip",
            "nexthop",
            "add",
            "id",
            id,
            "via",
            "198.51.100.2",
            "dev",
            "d0",
            "proto",
            proto,
        ]);
        ns.ok(&["ip", "route", "add", p, "nhid", id, "proto", proto]);
    }

    let tern = tern_bin();
    let tern = tern.to_str().expect("utf-8 path");
    let out = ns.ok(&[tern, "fib", "flush"]);
    assert!(out.contains("removed 3 routes"), "{out}");
    let objects = ns.ok(&["ip", "nexthop", "show"]);
    assert!(
        !objects.contains("id 77 ") && objects.contains("id 78 "),
        "ours gone with its routes, BIRD's kept:\n{objects}"
    );

    let main = ns.ok(&["ip", "route", "show", "table", "main"]);
    assert!(
        !main.contains("10.244."),
        "tern's routes left in main:\n{main}"
    );
    assert!(
        main.contains("10.9.0.0/16")
            && main.contains("10.8.0.0/16")
            && main.contains("10.7.0.0/16"),
        "{main}"
    );
    assert!(
        main.contains("198.51.100.0/24"),
        "connected route touched:\n{main}"
    );
    let t100 = ns.ok(&["ip", "route", "show", "table", "100"]);
    assert!(t100.contains("10.244.4.0/24"), "{t100}");

    let out = ns.ok(&[tern, "fib", "flush", "--table", "100"]);
    assert!(out.contains("removed 1 routes"), "{out}");
    let t100 = ns.ok(&["ip", "route", "show", "table", "100"]);
    assert!(t100.trim().is_empty(), "{t100}");
}
