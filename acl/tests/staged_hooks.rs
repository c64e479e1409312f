//! Staged policies in the data plane, and the host endpoints' `preDNAT` / `doNotTrack`
//! policies. Golden renders of `examples/staged` (both backends) and
//! `examples/host-hooks` (nftables; iptables refuses it saying why), accepted by
//! `nft -c` and `iptables-restore --test`; Calico's constraints on `preDNAT` /
//! `doNotTrack` as located errors.

mod common;

use std::path::{Path, PathBuf};

use acl::ir::{Direction, EndpointKind};
use acl::{compile, load_paths, CompileOptions, Ir};
use common::nft_state;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn ir(dir: &str) -> Ir {
    let b = load_paths(&[root().join("../examples").join(dir)]).unwrap_or_else(|e| panic!("{e}"));
    compile(&b, &CompileOptions::default())
}

fn ids(l: &[acl::ir::PolicyKey]) -> Vec<String> {
    l.iter().map(|(p, _)| p.clone()).collect()
}

#[test]
fn staged_policies_are_listed_beside_the_enforced_ones_and_never_decide() {
    let ir = ir("staged");
    let web = ir
        .endpoints
        .iter()
        .find(|e| e.interface == "tw-web1")
        .expect("web");
    assert_eq!(
        ids(web.ingress.as_deref().unwrap_or_default()),
        ["knp.shop/web"]
    );
    assert_eq!(ids(&web.staged_ingress), ["shop/web-tighter"]);
    // db has only a staged policy: no enforced list, so its traffic stays allowed.
    let db = ir
        .endpoints
        .iter()
        .find(|e| e.interface == "tw-db1")
        .expect("db");
    assert_eq!((db.ingress.clone(), db.egress.clone()), (None, None));
    assert_eq!(ids(&db.staged_egress), ["db-lockdown"]);
    // Delete stages nothing to count.
    assert!(!ir.staged_chains.keys().any(|(p, _)| p == "gone"));
    assert!(ir
        .staged_chains
        .contains_key(&("db-lockdown".to_string(), Direction::Egress)));
    // No staged chain ends in a verdict that decides.
    let text = acl::render_text(&ir, acl::Backend::Nftables);
    for line in text.lines().filter(|l| l.contains("tern-staged")) {
        assert!(
            !line.contains(" accept") && !line.contains(" drop"),
            "{line}"
        );
    }
    assert!(text.contains("chain to-wl/"), "{text}");
}

#[test]
fn staged_renders_are_golden_and_accepted_by_the_tools() {
    common::golden_and_accepted_by_the_tools("staged", "acl-staged", &ir("staged"));
}

#[test]
fn host_hook_policies_leave_the_filter_hooks() {
    let ir = ir("host-hooks");
    let kinds = |k: EndpointKind| -> Vec<(Vec<String>, Vec<String>)> {
        ir.endpoints
            .iter()
            .filter(|e| e.kind == k)
            .map(|e| {
                (
                    ids(e.ingress.as_deref().unwrap_or_default()),
                    ids(e.egress.as_deref().unwrap_or_default()),
                )
            })
            .collect()
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(kinds(EndpointKind::Host), [(s(&["edge-host"]), s(&[]))]);
    assert_eq!(
        kinds(EndpointKind::HostPreDnat),
        [(s(&["block-nodeports"]), s(&[]))]
    );
    assert_eq!(
        kinds(EndpointKind::HostUntracked),
        [(s(&["untracked-dns"]), s(&["untracked-dns"]))]
    );
    assert_eq!(
        ir.untracked.iter().cloned().collect::<Vec<_>>(),
        ["untracked-dns"]
    );
}

#[test]
fn host_hook_renders_are_golden_and_accepted_by_nft() {
    use acl::render::nft;
    let ir = ir("host-hooks");
    let rs = nft::render(&ir);
    common::golden("host-hooks.nft", &nft::table_text(&rs));
    let mut lab = testlab::Lab::new("acl-hooks");
    let ns = lab.netns("n");
    let f = lab.dir().join("hooks.nft");
    std::fs::write(&f, nft::full_transaction(&rs)).expect("write");
    ns.ok(&["nft", "-c", "-f", f.to_str().expect("utf-8")]);
}

#[test]
fn iptables_refuses_host_hook_policies_saying_why() {
    let ir = ir("host-hooks");
    let why = acl::render::iptables::unsupported(&ir).expect("refused");
    assert_eq!(
        why,
        "the iptables backend does not support preDNAT / doNotTrack policies (block-nodeports, untracked-dns): they need the mangle and raw tables, and tern's iptables backend manages the filter table only; use the nftables backend"
    );
    let err = acl::Applier::new(acl::Backend::Iptables)
        .apply(&ir)
        .expect_err("refused before any tool runs");
    assert!(matches!(err, acl::ApplyError::Unsupported(_)), "{err}");
    assert!(acl::render::iptables::unsupported(&self::ir("staged")).is_none());
}

fn load_err(spec: &str) -> String {
    let text = format!(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: a}}\nspec:\n{spec}"
    );
    let e = acl::loader::load_str(Path::new("t.yaml"), &text).expect_err("must fail");
    e.located()[0].to_string()
}

#[test]
fn calico_constraints_on_pre_dnat_and_do_not_track_are_located_errors() {
    assert_eq!(
        load_err("  preDNAT: true\n"),
        "t.yaml:5:12: spec.preDNAT: `preDNAT: true` needs `applyOnForward: true` (as Calico)"
    );
    assert_eq!(
        load_err("  doNotTrack: true\n"),
        "t.yaml:5:15: spec.doNotTrack: `doNotTrack: true` needs `applyOnForward: true` (as Calico)"
    );
    assert_eq!(
        load_err("  preDNAT: true\n  doNotTrack: true\n  applyOnForward: true\n"),
        "t.yaml:6:15: spec.doNotTrack: preDNAT and doNotTrack cannot both be true"
    );
    assert_eq!(
        load_err("  preDNAT: true\n  applyOnForward: true\n  egress: [ { action: Allow } ]\n"),
        "t.yaml:7:11: spec.egress: a preDNAT policy has no egress rules (it runs on traffic arriving at host endpoints only)"
    );
    assert_eq!(
        load_err("  preDNAT: true\n  applyOnForward: true\n  types: [Ingress, Egress]\n"),
        "t.yaml:7:20: spec.types[1]: a preDNAT policy cannot have the Egress type"
    );
    let e =
        load_err("  doNotTrack: true\n  applyOnForward: true\n  ingress: [ { action: Pass } ]\n");
    assert!(
        e.starts_with(
            "t.yaml:7:24: spec.ingress[0].action: Pass is not supported in a doNotTrack policy"
        ),
        "{e}"
    );
    let e = acl::loader::load_str(
        Path::new("t.yaml"),
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: a, namespace: x}\nspec:\n  preDNAT: true\n",
    )
    .expect_err("must fail");
    assert_eq!(
        e.located()[0].to_string(),
        "t.yaml:5:12: spec.preDNAT: preDNAT is for host endpoints: only a GlobalNetworkPolicy has it"
    );
    // false is accepted, as before.
    acl::loader::load_str(
        Path::new("t.yaml"),
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: a}\nspec:\n  preDNAT: false\n  doNotTrack: false\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn incremental_applies_through_staged_and_hook_chains_equal_full_ones() {
    use acl::{Applier, Backend};
    let mut lab = testlab::Lab::new("acl-hooks-inc");
    let (x, y) = (lab.netns("x"), lab.netns("y"));
    let both = {
        let b = load_paths(&[
            root().join("../examples/staged"),
            root().join("../examples/host-hooks"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        compile(&b, &CompileOptions::default())
    };
    let steps = [ir("staged"), both, ir("host-hooks"), ir("staged")];
    let mut inc = Applier::new(Backend::Nftables).in_netns(x.name());
    for (i, step) in steps.iter().enumerate() {
        let mode = inc
            .apply(step)
            .unwrap_or_else(|e| panic!("step {i}: {e}"))
            .mode;
        // Never a fallback to replacing the table (a refused incremental transaction
        // would still end in the right state).
        let want = if i == 0 {
            acl::ApplyMode::Full
        } else {
            acl::ApplyMode::Incremental
        };
        assert_eq!(mode, want, "step {i}");
        let mut full = Applier::new(Backend::Nftables).in_netns(y.name());
        full.apply(step).unwrap_or_else(|e| panic!("step {i}: {e}"));
        // The removal of what a step left unused runs after its apply returns.
        inc.settle().unwrap_or_else(|e| panic!("step {i}: {e}"));
        assert_eq!(nft_state(&x), nft_state(&y), "step {i}");
    }
}
