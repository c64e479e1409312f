//! Golden renders of the example policies for both backends, each also accepted by the
//! real tools (`nft -c -f`, `ipset restore` + `iptables-restore --test`) inside a
//! throwaway network namespace. `UPDATE_GOLDEN=1 cargo test -p acl --test golden`
//! rewrites the golden files on purpose.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use acl::render::{iptables, nft};
use acl::{compile, load_paths, CompileOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn example_ir() -> acl::Ir {
    let ex = root().join("../examples");
    let bundle =
        load_paths(&[ex.join("policies"), ex.join("endpoints")]).unwrap_or_else(|e| panic!("{e}"));
    compile(&bundle, &CompileOptions::default())
}

#[test]
fn nftables_golden_and_accepted_by_nft() {
    let ir = example_ir();
    let text = nft::table_text(&nft::render(&ir));
    common::golden("example.nft", &text);
    let mut lab = testlab::Lab::new("acl-gold-nft");
    let ns = lab.netns("n");
    let file = lab.dir().join("example.nft");
    fs::write(&file, nft::full_transaction(&nft::render(&ir))).unwrap();
    ns.ok(&["nft", "-c", "-f", file.to_str().unwrap()]);
    // And really load it, then list it back.
    ns.ok(&["nft", "-f", file.to_str().unwrap()]);
    let listed = ns.ok(&["nft", "list", "table", "inet", "tern"]);
    assert!(listed.contains("chain ingress/shop/web"), "{listed}");
    assert!(listed.contains("iifname vmap @from-wl"), "{listed}");
}

#[test]
fn iptables_golden_and_accepted_by_iptables_restore() {
    let ir = example_ir();
    let rs = iptables::render(&ir);
    common::golden("example.iptables", &iptables::display_text(&rs));
    for chains in [&rs.v4, &rs.v6] {
        for name in chains.keys() {
            assert!(name.len() <= 28 && name.starts_with("tern-"), "{name}");
        }
    }
    let mut lab = testlab::Lab::new("acl-gold-ipt");
    let ns = lab.netns("n");
    let dir = lab.dir().to_path_buf();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let sets = write("sets", &iptables::ipset_text(&rs));
    let v4 = write("v4", &iptables::restore_text(&rs.v4));
    let v6 = write("v6", &iptables::restore_text(&rs.v6));
    ns.ok(&["sh", "-c", &format!("ipset restore < {sets}")]);
    ns.ok(&[
        "sh",
        "-c",
        &format!("iptables-restore --noflush --test < {v4}"),
    ]);
    ns.ok(&[
        "sh",
        "-c",
        &format!("ip6tables-restore --noflush --test < {v6}"),
    ]);
    ns.ok(&["sh", "-c", &format!("iptables-restore --noflush < {v4}")]);
    let saved = ns.ok(&["iptables-save", "-t", "filter"]);
    assert!(saved.contains(":tern-forward"), "{saved}");
}

#[test]
fn reusing_unchanged_parts_renders_the_same_text() {
    let a = example_ir();
    let mut bundle = load_paths(&[
        root().join("../examples/policies"),
        root().join("../examples/endpoints"),
    ])
    .unwrap();
    // Change one policy's rule, drop a workload, add another.
    if let Some(p) = bundle.policies.iter_mut().find(|p| p.id.name == "web") {
        if let Some(rules) = std::sync::Arc::make_mut(p).ingress.as_mut() {
            rules.truncate(3);
        }
    }
    bundle.workloads.retain(|w| w.name != "db-1");
    let mut extra = bundle.workloads[0].clone();
    extra.name = "web-9".into();
    extra.interface = "tw-web9".into();
    extra.ips = vec!["10.65.0.99/32".parse().unwrap()];
    bundle.workloads.push(extra);
    let b = compile(&bundle, &CompileOptions::default());
    assert_ne!(a, b);
    let ra = nft::render(&a);
    assert_eq!(nft::render_with(&b, Some((&a, &ra))), nft::render(&b));
    assert_eq!(nft::render_with(&a, Some((&a, &ra))), ra);
}
