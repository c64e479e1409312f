//! Shared by the acl tests: the example policies compiled, a second, changed bundle to
//! move between, the nftables table as a comparable listing, and scratch folders.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use acl::{compile, load_paths, CompileOptions, Ir};
use tempfile::TempDir;
use testlab::Netns;

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

pub fn ir_of(paths: &[PathBuf]) -> Ir {
    compile(
        &load_paths(paths).unwrap_or_else(|e| panic!("{e}")),
        &CompileOptions::default(),
    )
}

/// IR A: the examples. IR B: the web policy changed (new ports), one more workload,
/// and the other policies dropped (their chains go away).
pub fn two_irs(dir: &Path) -> (Ir, Ir) {
    let a = ir_of(&[examples().join("policies"), examples().join("endpoints")]);
    let changed = dir.join("b");
    fs::create_dir_all(&changed).unwrap();
    let calico = fs::read_to_string(examples().join("policies/calico.yaml")).unwrap();
    let calico = calico.replace(
        "ports: [80, \"8000:8080\"]",
        "ports: [80, 443, \"8000:8080\"]",
    );
    fs::write(changed.join("calico.yaml"), calico).unwrap();
    let eps = fs::read_to_string(examples().join("endpoints/shop.yaml")).unwrap()
        + "---\nkind: WorkloadEndpoint\nname: web-2\nnamespace: shop\ninterface: tw-web2\nips: [10.65.0.11/32]\nlabels: { app: web }\n";
    fs::write(changed.join("endpoints.yaml"), eps).unwrap();
    let b = ir_of(&[changed]);
    assert_ne!(a, b);
    (a, b)
}

/// Compares a render with its golden file under `tests/golden` (`UPDATE_GOLDEN=1`
/// writes it instead).
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    assert!(
        expected == actual,
        "{} differs from the render:\n{actual}",
        path.display()
    );
}

/// Both backends' renders of `ir`: golden as `STEM.nft` and `STEM.iptables`, and
/// accepted by `nft -c` and by `ipset restore` + `ip(6)tables-restore --test` in a
/// throwaway namespace of a lab named `lab`.
pub fn golden_and_accepted_by_the_tools(stem: &str, lab: &str, ir: &Ir) {
    use acl::render::{iptables, nft};
    let rs = nft::render(ir);
    golden(&format!("{stem}.nft"), &nft::table_text(&rs));
    let ipt = iptables::render(ir);
    golden(&format!("{stem}.iptables"), &iptables::display_text(&ipt));
    let mut lab = testlab::Lab::new(lab);
    let ns = lab.netns("n");
    let dir = lab.dir().to_path_buf();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let f = write(&format!("{stem}.nft"), &nft::full_transaction(&rs));
    ns.ok(&["nft", "-c", "-f", &f]);
    let sets = write("sets", &iptables::ipset_text(&ipt));
    let v4 = write("v4", &iptables::restore_text(&ipt.v4));
    let v6 = write("v6", &iptables::restore_text(&ipt.v6));
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
}

/// The table listing with its top-level blocks sorted (the kernel lists sets and chains
/// in creation order, which differs between an incremental and a full apply).
pub fn nft_state(ns: &Netns) -> String {
    let text = ns.ok(&["nft", "list", "table", "inet", "tern"]);
    let body = text
        .trim()
        .trim_start_matches("table inet tern {")
        .trim_end_matches('}');
    let mut blocks: Vec<String> = body.split("\n\n").map(|b| b.trim().to_string()).collect();
    blocks.sort();
    blocks.join("\n\n")
}

/// A scratch folder (named `PREFIX-…` in the temp folder) and its path; the folder is
/// removed when the guard is dropped (also when an assertion fails), so runs leave
/// nothing behind.
pub fn scratch_dir(prefix: &str) -> (TempDir, PathBuf) {
    let g = tempfile::Builder::new()
        .prefix(&format!("{prefix}-"))
        .tempdir()
        .unwrap();
    let d = g.path().to_path_buf();
    (g, d)
}
