//! Named ports, resolved per endpoint as Calico and Kubernetes resolve them: a rule's
//! `ports: [metrics]` matches each destination endpoint's own number for that name,
//! in ingress rules (the policy's endpoints) and egress rules (the destination
//! selector's endpoints), through `explain`; golden renders for both backends,
//! accepted by `nft -c` and `iptables-restore --test`.

mod common;

use std::path::{Path, PathBuf};

use acl::explain::{explain, Outcome, Packet};
use acl::model::Action::Allow;
use acl::model::Protocol;
use acl::{compile, load_paths, Bundle, CompileOptions, Ir};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn setup() -> (Bundle, Ir) {
    let b = load_paths(&[root().join("../examples/named-ports")]).unwrap_or_else(|e| panic!("{e}"));
    let ir = compile(&b, &CompileOptions::default());
    (b, ir)
}

fn step(b: &Bundle, ir: &Ir, src: &str, dst: &str, port: u16, n: usize) -> Outcome {
    let e = explain(
        b,
        ir,
        &Packet {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol: Protocol::Tcp,
            sport: 40000,
            dport: port,
            icmp_type: 8,
            icmp_code: 0,
        },
    );
    e.steps[n].outcome.clone()
}

fn allow(policy: &str, index: usize) -> Outcome {
    Outcome::Rule {
        policy: policy.into(),
        index,
        action: Allow,
    }
}

#[test]
fn a_named_port_is_each_endpoints_own_number() {
    let (b, ir) = setup();
    // Ingress (step 1: the destination's ingress).
    assert_eq!(
        step(&b, &ir, "10.65.0.30", "10.65.0.10", 9100, 1),
        allow("shop/web-metrics", 0)
    );
    assert_eq!(
        step(&b, &ir, "10.65.0.30", "10.65.0.11", 9200, 1),
        allow("shop/web-metrics", 0)
    );
    assert_eq!(
        step(&b, &ir, "10.65.0.30", "10.65.0.11", 9100, 1),
        Outcome::DefaultDeny
    );
    assert_eq!(
        step(&b, &ir, "10.65.0.30", "10.65.0.10", 9200, 1),
        Outcome::DefaultDeny
    );
    // Kubernetes `port: http`: only web-1 has it.
    assert_eq!(
        step(&b, &ir, "10.65.0.30", "10.65.0.10", 8080, 1),
        allow("knp.shop/web-http", 0)
    );
    assert_eq!(
        step(&b, &ir, "10.65.0.30", "10.65.0.11", 8080, 1),
        Outcome::DefaultDeny
    );
    // Egress (step 0: the client's egress): named and numeric ports of one rule.
    assert_eq!(
        step(&b, &ir, "10.65.0.30", "10.65.0.11", 9200, 0),
        allow("shop/client-out", 0)
    );
    assert_eq!(
        step(&b, &ir, "10.65.0.30", "10.65.0.11", 9100, 0),
        Outcome::DefaultDeny
    );
    assert_eq!(
        step(&b, &ir, "10.65.0.30", "10.65.0.11", 443, 0),
        allow("shop/client-out", 0)
    );
}

#[test]
fn named_ports_are_checked() {
    let err = |text: &str| {
        acl::loader::load_str(Path::new("t.yaml"), text)
            .expect_err("must fail")
            .located()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let e =
        err("kind: WorkloadEndpoint\nname: a\ninterface: wa\nports:\n- {name: HTTP_1, port: 80}\n");
    assert!(
        e[0].starts_with("t.yaml:5:10: ports[0].name: bad port name `HTTP_1`"),
        "{e:?}"
    );
    let e = err("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: a}\nspec:\n  ingress:\n  - action: Allow\n    protocol: TCP\n    source: {ports: [http]}\n");
    assert!(
        e[0].contains("source.ports[0]: named port `http` in source is not supported"),
        "{e:?}"
    );
}

#[test]
fn named_port_renders_are_golden_and_accepted_by_the_tools() {
    let (_, ir) = setup();
    common::golden_and_accepted_by_the_tools("named-ports", "acl-named", &ir);
}
