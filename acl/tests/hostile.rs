//! Hostile and careless policy files: whatever is in them, loading returns located
//! errors (never a crash, never a hang), and nothing a file names can reach the
//! rendered firewall input as syntax.

mod common;

use std::fs;
use std::path::PathBuf;

use tempfile::TempDir;

use acl::{load_paths, LoadError};

fn dir(name: &str) -> (TempDir, PathBuf) {
    common::scratch_dir(&format!("acl-hostile-{name}"))
}

fn errors(e: LoadError) -> Vec<String> {
    match e {
        LoadError::Invalid(_) => e.located().iter().map(ToString::to_string).collect(),
        other => vec![format!("not a located error: {other}")],
    }
}

/// Loads `text` as one file on a thread with a small stack (the agent loads policy on
/// tokio's blocking threads, 2 MiB; this is an eighth of that), so a parser that
/// recurses per nesting level fails here instead of in the agent.
fn load_small_stack(name: &str, text: String) -> (PathBuf, Result<acl::Bundle, LoadError>) {
    let (_tmp, d) = dir(name);
    let f = d.join("p.yaml");
    fs::write(&f, text).unwrap();
    let g = f.clone();
    let r = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || load_paths(std::slice::from_ref(&g)))
        .unwrap()
        .join()
        .expect("loader thread crashed");
    (f, r)
}

const POLICY: &str = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deep}
spec:
  selector: SELECTOR
  ingress: [{action: Allow}]
";

#[test]
fn deep_selector_is_a_located_error_not_a_stack_overflow() {
    let sel = format!("{}a == 'b'{}", "(".repeat(3000), ")".repeat(3000));
    let (f, r) = load_small_stack("deep-sel", POLICY.replace("SELECTOR", &sel));
    let errs = errors(r.unwrap_err());
    let col = 13 + acl::selector::MAX_DEPTH;
    assert_eq!(
        errs,
        vec![format!(
            "{}:5:{col}: spec.selector: bad selector: nested more than 64 levels deep (parentheses and `!`)",
            f.display()
        )]
    );
    let sel = format!("\"{}has(a)\"", "!".repeat(20_000));
    let (_, r) = load_small_stack("deep-not", POLICY.replace("SELECTOR", &sel));
    assert!(errors(r.unwrap_err())[0].contains("levels deep"));
}

const NAMED: &str = "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: NAME, namespace: NS}
spec:
  selector: app == 'web'
  ingress: [{action: Allow}]
";

#[test]
fn names_are_checked_like_kubernetes_at_load() {
    let cases = [
        (
            NAMED.replace("NAME", "\"x\\n-I INPUT 1 -s 203.0.113.66 -j ACCEPT\\n#\"").replace("NS", "shop"),
            "3:18: metadata.name: invalid name `x\\n-I INPUT 1 -s 203.0.113.66 -j ACCEPT\\n#`: a DNS-1123 subdomain is required",
        ),
        (
            NAMED.replace("NAME", "'a b'").replace("NS", "shop"),
            "3:18: metadata.name: invalid name `a b`",
        ),
        (
            NAMED.replace("NAME", "web").replace("NS", "Shop_1"),
            "3:34: metadata.namespace: invalid namespace `Shop_1`: a DNS-1123 label is required",
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: 'x;y', namespace: a}\nspec: {podSelector: {}}\n".to_string(),
            "3:18: metadata.name: invalid name `x;y`",
        ),
        (
            "kind: WorkloadEndpoint\nname: web 1\nnamespace: shop\ninterface: tw-a\nips: [10.1.2.3/32]\n".to_string(),
            "2:7: name: invalid name `web 1`",
        ),
        (
            "kind: WorkloadEndpoint\nname: web\nnamespace: shop.eu\ninterface: tw-a\nips: [10.1.2.3/32]\n".to_string(),
            "3:12: namespace: invalid namespace `shop.eu`",
        ),
        (
            "kind: Namespace\nname: \"a\\tb\"\n".to_string(),
            "2:7: name: invalid namespace `a\\tb`",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let (_tmp, d) = dir(&format!("names-{i}"));
        let f = d.join("p.yaml");
        fs::write(&f, text).unwrap();
        let errs = errors(load_paths(std::slice::from_ref(&f)).unwrap_err());
        assert_eq!(errs.len(), 1, "{errs:?}");
        let want = format!("{}:{want}", f.display());
        assert!(errs[0].starts_with(&want), "{}\nwanted {want}", errs[0]);
    }
}

/// A policy and a workload whose every name is `hostile` (the loader refuses such
/// names; the agent's CNI path builds endpoints without it), with a Log rule so the
/// policy's name also reaches log prefixes.
fn hostile_bundle(name: &str, ns: &str, iface: &str, value: &str) -> acl::Bundle {
    use acl::model::{Action, Entity, Policy, PolicyId, PolicyKind, Rule};
    use acl::selector::Selector;
    let sel = Selector::Eq("app".into(), value.into());
    let mut log = Rule::any(Action::Log);
    log.source = Entity {
        selector: Some(sel.clone()),
        ..Entity::default()
    };
    let policy = |kind, namespace: Option<&str>| Policy {
        id: PolicyId {
            kind,
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        },
        tier: None,
        apply_on_forward: false,
        pre_dnat: false,
        do_not_track: false,
        order: Some(1.0),
        selector: sel.clone(),
        namespace_selector: None,
        ingress: Some(vec![log.clone(), Rule::any(Action::Allow)]),
        egress: Some(vec![Rule::any(Action::Deny)]),
    };
    acl::Bundle {
        policies: vec![
            policy(PolicyKind::Calico, Some(ns)).into(),
            policy(PolicyKind::CalicoGlobal, None).into(),
        ],
        workloads: vec![acl::WorkloadEndpoint {
            name: name.to_string(),
            namespace: ns.to_string(),
            interface: iface.to_string(),
            ips: vec!["10.65.0.10/32".parse().unwrap()],
            labels: [("app".to_string(), value.to_string())].into(),
        }],
        ..acl::Bundle::default()
    }
}

const INJECT: &str = "x\n-I INPUT 1 -s 203.0.113.66 -j ACCEPT\n#";

fn rendered(b: &acl::Bundle) -> (String, String) {
    let ir = acl::compile(b, &acl::CompileOptions::default());
    (
        acl::render_text(&ir, acl::Backend::Nftables),
        acl::render_text(&ir, acl::Backend::Iptables),
    )
}

/// What must hold for any rendering: the same lines as with harmless names, quotes
/// balanced on every line, no control characters, and iptables lines that are only
/// chain declarations and appends.
fn assert_structure(hostile: &acl::Bundle, benign: &acl::Bundle) {
    let (hn, hi) = rendered(hostile);
    let (bn, bi) = rendered(benign);
    for (h, b) in [(&hn, &bn), (&hi, &bi)] {
        assert_eq!(h.lines().count(), b.lines().count(), "{h}");
        for l in h.lines() {
            assert_eq!(l.matches('"').count() % 2, 0, "unbalanced quotes: {l:?}");
            assert!(!l.chars().any(|c| c.is_control() && c != '\t'), "{l:?}");
        }
    }
    let mut section = "";
    for l in hi.lines() {
        if l.starts_with('#') {
            section = l;
            continue;
        }
        if section.contains("tables-restore") {
            assert!(
                l == "*filter" || l == "COMMIT" || l.starts_with(':') || l.starts_with("-A "),
                "{l:?}"
            );
        } else {
            assert!(
                ["create ", "flush ", "add "]
                    .iter()
                    .any(|p| l.starts_with(p)),
                "{l:?}"
            );
        }
    }
}

#[test]
fn renderers_escape_names_they_did_not_check() {
    let benign = hostile_bundle("web", "shop", "tw-web", "w");
    let hostile = hostile_bundle(INJECT, "a b\"; flush ruleset", "tw\n-j ACCEPT", "v\"\n}\n");
    assert_structure(&hostile, &benign);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    #[test]
    fn any_names_render_to_the_same_structure(
        name in "\\PC{0,40}|[\\x00-\\x7f]{0,40}",
        ns in "\\PC{0,20}|[\\x00-\\x7f]{0,20}",
        iface in "[\\x00-\\x7f]{0,20}",
        value in "\\PC{0,20}|[\\x00-\\x7f]{0,20}",
    ) {
        let benign = hostile_bundle("web", "shop", "tw-web", "w");
        // Interfaces must differ from nothing else here; an empty name is the loader's
        // business, not the renderer's.
        let iface = if iface.is_empty() { "x".to_string() } else { iface };
        assert_structure(&hostile_bundle(&name, &ns, &iface, &value), &benign);
    }
}

/// The hostile bundle applied for real: accepted by nft and iptables-restore, and
/// nothing lands outside tern's own chains.
#[test]
fn hostile_names_cannot_inject_rules_into_the_kernel() {
    let mut lab = testlab::Lab::new("acl-inject");
    let ns = lab.netns("h");
    let b = hostile_bundle(INJECT, "a b\"; flush ruleset", "tw-h", "v\"; }\n");
    let ir = acl::compile(&b, &acl::CompileOptions::default());
    for backend in [acl::Backend::Nftables, acl::Backend::Iptables] {
        let mut ap = acl::Applier::new(backend).in_netns(ns.name());
        ap.apply(&ir)
            .unwrap_or_else(|e| panic!("{backend:?} refused the escaped text: {e}"));
    }
    let input = ns.ok(&["iptables", "-S", "INPUT"]);
    assert!(!input.contains("203.0.113.66"), "{input}");
    let nft = ns.ok(&["nft", "list", "ruleset"]);
    assert!(!nft.contains("203.0.113.66"), "{nft}");
    assert!(nft.contains("table inet tern"), "{nft}");
}

#[test]
fn file_limits_are_located_errors() {
    // Invalid UTF-8: bad input at the byte (was an I/O error without a position).
    let (_tmp, d) = dir("utf8");
    let f = d.join("p.yaml");
    fs::write(&f, b"kind: Namespace\nname: caf\xe9\n").unwrap();
    assert_eq!(
        errors(load_paths(std::slice::from_ref(&f)).unwrap_err()),
        vec![format!(
            "{}:2:10: byte 0xe9 is not UTF-8 (input files must be UTF-8 text)",
            f.display()
        )]
    );
    // Too large.
    let f = d.join("big.yaml");
    let doc = "kind: Namespace\nname: n\n---\n";
    fs::write(
        &f,
        doc.repeat(acl::loader::MAX_FILE_BYTES as usize / doc.len() + 1),
    )
    .unwrap();
    let errs = errors(load_paths(std::slice::from_ref(&f)).unwrap_err());
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with(&format!("{}:1:1: the file is ", f.display())),
        "{errs:?}"
    );
    // Deeply nested flow sequences (quadratic in the YAML scanner).
    let f = d.join("deep.yaml");
    fs::write(
        &f,
        format!("kind: Namespace\nname: {}", "[".repeat(200_000)),
    )
    .unwrap();
    assert_eq!(
        errors(load_paths(std::slice::from_ref(&f)).unwrap_err()),
        vec![format!(
            "{}:2:38: collections nest more than 32 levels deep here",
            f.display()
        )]
    );
    // Too many rules in one direction.
    let f = d.join("rules.yaml");
    let rules = "    - action: Allow\n".repeat(acl::loader::MAX_RULES + 1);
    fs::write(
        &f,
        format!("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: many}}\nspec:\n  ingress:\n{rules}"),
    )
    .unwrap();
    assert_eq!(
        errors(load_paths(std::slice::from_ref(&f)).unwrap_err()),
        vec![format!(
            "{}:1006:7: spec.ingress: more than 1000 rules in one direction of a policy",
            f.display()
        )]
    );
}

#[test]
fn too_many_files_is_an_error_naming_the_first_unread() {
    let (_tmp, d) = dir("files");
    let n = acl::loader::MAX_FILES + 1;
    for i in 0..n {
        fs::write(d.join(format!("{i:05}.yaml")), "# nothing\n").unwrap();
    }
    let errs = errors(load_paths(std::slice::from_ref(&d)).unwrap_err());
    assert_eq!(
        errs,
        vec![format!(
            "{}:1:1: more than 10000 policy and endpoint files; this one and later ones are not read",
            d.join("10000.yaml").display()
        )]
    );
}

#[test]
fn fifos_and_symlink_loops_in_a_folder_cannot_stall_the_loader() {
    let (_tmp, d) = dir("fifo");
    fs::write(d.join("ns.yaml"), "kind: Namespace\nname: shop\n").unwrap();
    let ok = std::process::Command::new("mkfifo")
        .arg(d.join("pipe.yaml"))
        .status()
        .unwrap();
    assert!(ok.success());
    // Two links back to the folder itself: 2^16 paths to walk without a budget.
    std::os::unix::fs::symlink(&d, d.join("loop-a")).unwrap();
    std::os::unix::fs::symlink(&d, d.join("loop-b")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let g = d.clone();
    std::thread::spawn(move || {
        let _ = tx.send(load_paths(std::slice::from_ref(&g)).map(|b| b.namespaces.len()));
    });
    // Generous: the load takes milliseconds; without the fixes it never ends.
    let r = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the loader is stuck");
    // The namespace is read once directly and again through the links, which the
    // duplicate check reports; what matters is that the load returned.
    match r {
        Ok(n) => assert!(n >= 1),
        Err(e) => assert!(errors(e)[0].contains("is already defined"), "unexpected"),
    }
}
