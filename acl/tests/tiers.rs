//! Tiers as Calico evaluates them, through `explain` (tier order, Pass to the next tier,
//! a tier's default action, the tier walk in the explanation), and the renders of both
//! backends: golden files, accepted by `nft -c` / `iptables-restore --test` in a
//! throwaway namespace.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use acl::explain::{explain, Outcome, Packet};
use acl::model::Action::{Allow, Deny};
use acl::model::Protocol;
use acl::{compile, load_paths, Bundle, CompileOptions, Ir};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn setup() -> (Bundle, Ir) {
    let b = load_paths(&[root().join("../examples/tiers")]).unwrap_or_else(|e| panic!("{e}"));
    let ir = compile(&b, &CompileOptions::default());
    (b, ir)
}

fn tcp(b: &Bundle, ir: &Ir, src: &str, dst: &str, port: u16) -> acl::explain::Explanation {
    explain(
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
    )
}

const WEB: &str = "10.65.0.10";
const CLIENT: &str = "10.65.0.30";
const BAD: &str = "10.65.0.31";
const MONITOR: &str = "10.65.0.200";

#[test]
fn pass_goes_to_the_next_tier_and_tiers_run_in_order() {
    let (b, ir) = setup();
    // security (100) passes, platform (200) has no match and passes by default, the
    // default tier (1,000,000) allows port 80.
    let e = tcp(&b, &ir, CLIENT, WEB, 80);
    let s = e.steps.last().unwrap();
    assert_eq!(
        s.outcome,
        Outcome::Rule {
            policy: "shop/web".into(),
            index: 0,
            action: Allow
        }
    );
    assert_eq!(
        s.tiers,
        [
            "tier security: Pass at policy security.quarantine ingress[1], to the next tier",
            "tier platform: no rule matched, default action Pass, to the next tier",
            "tier default: Allow by policy shop/web ingress[0]",
        ]
    );
    // A Deny in an earlier tier wins over an Allow in a later one.
    let e = tcp(&b, &ir, BAD, WEB, 80);
    assert_eq!(
        e.steps.last().unwrap().outcome,
        Outcome::Rule {
            policy: "security.quarantine".into(),
            index: 0,
            action: Deny
        }
    );
    // The platform tier allows monitoring before the default tier is asked.
    let e = tcp(&b, &ir, MONITOR, WEB, 9100);
    assert_eq!(
        e.steps.last().unwrap().outcome,
        Outcome::Rule {
            policy: "platform.monitoring".into(),
            index: 0,
            action: Allow
        }
    );
    // Nothing in the default tier allows 443: its default action (Deny).
    let e = tcp(&b, &ir, CLIENT, WEB, 443);
    assert_eq!(
        e.steps.last().unwrap().outcome,
        Outcome::EndOfTier {
            tier: "default".into()
        }
    );
    let text = e.to_string();
    assert!(text.contains("end of tier default"), "{text}");
    assert!(
        text.contains("  tier security: Pass at policy security.quarantine"),
        "{text}"
    );
}

#[test]
fn a_tier_that_denies_by_default_stops_there() {
    let (mut b, _) = setup();
    // security's default is Deny: a shop endpoint its policy selects, no rule matching.
    for p in &mut b.policies {
        if p.id.name == "security.quarantine" {
            if let Some(r) = std::sync::Arc::make_mut(p).ingress.as_mut() {
                r.truncate(1);
            }
        }
    }
    let ir = compile(&b, &CompileOptions::default());
    let e = tcp(&b, &ir, CLIENT, WEB, 80);
    assert_eq!(
        e.steps.last().unwrap().outcome,
        Outcome::EndOfTier {
            tier: "security".into()
        }
    );
}

#[test]
fn a_policy_in_an_undeclared_tier_is_an_error_at_its_tier() {
    let dir = std::env::temp_dir().join(format!("acl-tiers-undeclared-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let f = dir.join("p.yaml");
    fs::write(
        &f,
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: ops.a}\nspec:\n  tier: ops\n",
    )
    .unwrap();
    let e = load_paths(std::slice::from_ref(&f)).expect_err("must fail");
    let msgs: Vec<String> = e.located().iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        [format!(
            "{}:5:9: spec.tier: Tier ops is not defined (add a `kind: Tier` document for it)",
            f.display()
        )]
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn tier_renders_are_golden_and_accepted_by_the_tools() {
    let (_, ir) = setup();
    common::golden_and_accepted_by_the_tools("tiers", "acl-tiers", &ir);
}

#[test]
fn policies_of_undeclared_tiers_still_walk_tiers() {
    // What a datastore may hand over: a tiered policy without its Tier document.
    let (mut b, _) = setup();
    b.tiers.clear();
    let ir = compile(&b, &CompileOptions::default());
    assert!(!ir.policy_tiers.is_empty());
    // Undeclared tiers sort after the default tier and deny by default: the default
    // tier's shop/web decides first.
    let e = tcp(&b, &ir, CLIENT, WEB, 80);
    assert_eq!(
        e.steps.last().unwrap().outcome,
        Outcome::Rule {
            policy: "shop/web".into(),
            index: 0,
            action: Allow
        }
    );
    let e = tcp(&b, &ir, BAD, WEB, 443);
    assert_eq!(
        e.steps.last().unwrap().outcome,
        Outcome::EndOfTier {
            tier: "default".into()
        }
    );
}
