//! `applyOnForward`: a host endpoint's policies with it also police traffic forwarded
//! through the interface (their own dispatch: `host-fwd-in` / `host-fwd-out` base chains
//! after the workloads' in nftables, after the workloads' jumps in `tern-forward` in
//! iptables); the others police host-bound traffic only. Golden renders for both
//! backends, accepted by `nft -c` and `iptables-restore --test`. (`preDNAT` and
//! `doNotTrack`: tests/staged_hooks.rs.)

mod common;

use std::path::{Path, PathBuf};

use acl::ir::EndpointKind;
use acl::{compile, load_paths, CompileOptions, Ir};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn ir() -> Ir {
    let b =
        load_paths(&[root().join("../examples/host-forward")]).unwrap_or_else(|e| panic!("{e}"));
    compile(&b, &CompileOptions::default())
}

#[test]
fn only_apply_on_forward_policies_police_forwarded_traffic() {
    let ir = ir();
    let host = ir
        .endpoints
        .iter()
        .find(|e| e.kind == EndpointKind::Host)
        .expect("host entry");
    let fwd = ir
        .endpoints
        .iter()
        .find(|e| e.kind == EndpointKind::HostForward)
        .expect("forward entry");
    let ids = |l: &Option<Vec<acl::ir::PolicyKey>>| -> Vec<String> {
        l.iter().flatten().map(|(p, _)| p.clone()).collect()
    };
    assert_eq!(ids(&host.ingress), ["uplink-host-only", "uplink-in"]);
    assert_eq!(ids(&fwd.ingress), ["uplink-in"]);
    assert_eq!(ids(&fwd.egress), ["uplink-in"]);
    assert_eq!(fwd.interface, "eth1");
}

#[test]
fn host_forward_renders_are_golden_and_accepted_by_the_tools() {
    let ir = ir();
    common::golden_and_accepted_by_the_tools("host-forward", "acl-hostfwd", &ir);
}

#[test]
fn apply_on_forward_is_for_global_policies() {
    let e = acl::loader::load_str(
        Path::new("t.yaml"),
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: a, namespace: x}\nspec:\n  applyOnForward: true\n",
    )
    .expect_err("must fail");
    assert!(
        e.to_string().contains("only a GlobalNetworkPolicy has it"),
        "{e}"
    );
}
