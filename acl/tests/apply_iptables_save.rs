//! An incremental iptables apply reads a copy of the kernel's rules (`iptables-save`)
//! only for a family it may have to put back: one that commits while another is still to
//! come. A change to one family reads none (the save of the whole filter table was most
//! of the time of such a change); a change to both still saves the first. Checked by
//! putting `iptables-save` / `ip6tables-save` that always fail first in PATH for the
//! incremental applies. Runs in throwaway namespaces; one test in this binary, as it
//! changes the process's PATH.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

mod common;

use acl::{Applier, ApplyMode, Backend};
use common::{examples, ir_of, two_irs};
use testlab::Lab;

/// The examples copied into one folder, with `calico.yaml`'s `from` replaced by `to`.
fn examples_with(dir: &Path, name: &str, from: &str, to: &str) -> acl::Ir {
    let out = dir.join(name);
    fs::create_dir_all(&out).unwrap();
    let calico = fs::read_to_string(examples().join("policies/calico.yaml")).unwrap();
    assert!(
        calico.contains(from),
        "the example changed: update this test"
    );
    fs::write(out.join("calico.yaml"), calico.replace(from, to)).unwrap();
    for f in [
        "policies/kubernetes.yaml",
        "endpoints/shop.yaml",
        "endpoints/host.yaml",
    ] {
        fs::copy(examples().join(f), out.join(f.replace('/', "-"))).unwrap();
    }
    ir_of(&[out])
}

/// One family's filter table as `*-save` prints it, without its comment lines (they
/// carry the time of the save).
fn iptables_save(ns: &testlab::Netns, tool: &str) -> String {
    ns.ok(&[tool, "-t", "filter"])
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_change_to_one_family_reads_no_copy_of_the_rules() {
    let mut lab = Lab::new("acl-ipt-save");
    let (x, y) = (lab.netns("x"), lab.netns("y"));
    // One IPv4 destination changed: IPv6 renders the same.
    let dest = "destination: { nets: [10.65.0.40/32] }";
    let a = examples_with(lab.dir(), "a", dest, dest);
    let v4 = examples_with(
        lab.dir(),
        "v4",
        dest,
        "destination: { nets: [10.65.0.41/32] }",
    );
    let (_, both) = two_irs(lab.dir());
    let mut ap = Applier::new(Backend::Iptables).in_netns(x.name());
    assert_eq!(ap.apply(&a).unwrap().mode, ApplyMode::Full);
    let v6_before = iptables_save(&x, "ip6tables-save");
    let v4_before = iptables_save(&x, "iptables-save");

    // From here on the save tools fail.
    let fake = lab.dir().join("fake-bin");
    fs::create_dir_all(&fake).unwrap();
    for tool in ["iptables-save", "ip6tables-save"] {
        let p = fake.join(tool);
        fs::write(&p, "#!/bin/sh\necho \"$0: not here\" >&2\nexit 1\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![fake.clone()];
    dirs.extend(std::env::split_paths(&path));
    std::env::set_var("PATH", std::env::join_paths(dirs).unwrap());
    let one = ap.apply(&v4);
    // A change to both families has to save IPv4 before committing it: refused here.
    let two = ap.apply(&both);
    std::env::set_var("PATH", &path);

    assert_eq!(
        one.expect("IPv4 only: no save needed").mode,
        ApplyMode::Incremental
    );
    let err = two.expect_err("both families: IPv4 is saved first, and the save fails");
    assert!(err.to_string().contains("iptables-save"), "{err}");
    // The IPv4-only change is in force, exactly as a fresh apply of it; IPv6 untouched;
    // the refused change left everything as it was.
    Applier::new(Backend::Iptables)
        .in_netns(y.name())
        .apply(&v4)
        .unwrap();
    assert_eq!(
        iptables_save(&x, "iptables-save"),
        iptables_save(&y, "iptables-save")
    );
    assert_ne!(iptables_save(&x, "iptables-save"), v4_before);
    assert_eq!(iptables_save(&x, "ip6tables-save"), v6_before);
}
