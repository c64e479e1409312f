//! The metrics listener proven with real Prometheus (issue 12, "Health and metrics"): a
//! `tern agent` with a BIRD peer and a policy in a lab namespace is scraped with curl
//! from inside the namespace; `promtool check metrics` finds no problem in the scrape;
//! the shipped alert rules pass `promtool check rules` and `promtool test rules`; a
//! Prometheus server in the namespace scrapes the agent with those rules loaded, and
//! every expression of the shipped Grafana dashboard parses and returns series. And
//! `/healthz`, `/readyz` (503 with what is not ready, then 200) and `/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::Value;
use testlab::bird::{bird_config, start_bird};
use testlab::{wait_for, Lab, Netns};

const METRICS: &str = "127.0.0.1:9469";
const PROMETHEUS: &str = "127.0.0.1:9090";

const ALLOW_8080: &str = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: web-ingress
spec:
  selector: app == 'web'
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: TCP
      destination: { ports: [8080] }
";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `curl` inside `ns`: (HTTP status, body).
fn get(ns: &Netns, url: &str) -> (u16, String) {
    let out = ns.run(&[
        "curl",
        "-sS",
        "--max-time",
        "10",
        "-w",
        "\n%{http_code}",
        url,
    ]);
    let body = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = body.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// An instant query against the Prometheus server in `ns`: the JSON answer.
fn query(ns: &Netns, expr: &str) -> Value {
    let out = ns.run(&[
        "curl",
        "-sS",
        "--max-time",
        "10",
        "-G",
        &format!("http://{PROMETHEUS}/api/v1/query"),
        "--data-urlencode",
        &format!("query={expr}"),
    ]);
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// A tern node peered with BIRD, its policy folder, metrics on [`METRICS`]; started and
/// established. Returns (lab, tern namespace, node, policy folder).
fn agent_with_peer(name: &str) -> (Lab, Netns, Node, PathBuf) {
    let mut lab = Lab::new(name);
    let policies = lab.dir().join("policies");
    std::fs::create_dir_all(&policies).expect("policy dir");
    std::fs::write(policies.join("web.yaml"), ALLOW_8080).expect("write policy");
    let extra = format!(
        "policy: {{ backend: nftables, paths: [\"{}\"] }}\nmetrics: {{ listen: \"{METRICS}\" }}\n",
        policies.display()
    );
    let (t, b, node) = tern_and_bird_with(&mut lab, &extra);
    start_tern(&mut lab, &node);
    let bird = start_bird(
        &mut lab,
        &b,
        "bird",
        &bird_config("10.0.0.2", 65000, &["10.244.9.0/24"], &[BIRD_TERN4]),
    );
    bird.wait_established("tern4");
    wait_established(&node, 1);
    (lab, t, node, policies)
}

/// Every `expr` of a Grafana dashboard, depth first.
fn exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => exprs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| exprs(x, out)),
        _ => {}
    }
}

/// A dashboard expression with Grafana's variables as Grafana would fill them in for
/// "all agents" over a short range.
fn grafana_vars(e: &str) -> String {
    e.replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$instance", ".*")
}

fn promtool(args: &[&str], stdin: Option<&Path>, dir: &Path) -> Output {
    let mut c = Command::new("promtool");
    c.args(args).current_dir(dir);
    if let Some(f) = stdin {
        c.stdin(Stdio::from(std::fs::File::open(f).expect("open scrape")));
    }
    c.output()
        .expect("promtool (Debian package prometheus) runs")
}

#[test]
fn scrape_passes_promtool_and_rules_and_dashboard_work_in_prometheus() {
    let (mut lab, t, node, _) = agent_with_peer("prom");
    let base = format!("http://{METRICS}");

    // Health endpoints and the index.
    assert_eq!(get(&t, &format!("{base}/healthz")), (200, "ok\n".into()));
    let (code, body) = wait_for(CONVERGE, "/readyz says ready", || {
        let r = get(&t, &format!("{base}/readyz"));
        (r.0 == 200).then_some(r)
    });
    assert_eq!((code, body.as_str()), (200, "ready\n"));
    let (code, index) = get(&t, &format!("{base}/"));
    assert_eq!(code, 200);
    assert!(
        index.contains("/metrics") && index.contains("/readyz"),
        "{index}"
    );
    assert_eq!(get(&t, &format!("{base}/nothing-here")).0, 404);

    // The scrape, linted by promtool.
    let (code, scrape) = wait_for(CONVERGE, "a scrape with the policy applied", || {
        let r = get(&t, &format!("{base}/metrics"));
        (r.0 == 200 && !r.1.contains("tern_acl_rules_rendered 0")).then_some(r)
    });
    assert_eq!(code, 200);
    let file = lab.dir().join("scrape.txt");
    std::fs::write(&file, &scrape).expect("write scrape");
    let lint = promtool(&["check", "metrics"], Some(&file), lab.dir());
    assert!(
        lint.status.success() && text(&lint).trim().is_empty(),
        "promtool check metrics:\n{}\n--- scrape:\n{scrape}",
        text(&lint)
    );
    let peer = "peer=\"10.0.0.2\",peer_as=\"65000\",peer_type=\"global\"";
    for want in [
        format!("tern_bgp_peer_up{{{peer}}} 1"),
        format!("tern_bgp_session_state{{{peer}}} 6"),
        format!("tern_bgp_peer_afi_safi{{afi_safi=\"ipv4_unicast\",{peer}}} 1"),
        format!("tern_bgp_prefixes_accepted{{{peer}}} 1"),
        "tern_fib_routes{state=\"failed\"} 0".into(),
        "tern_fib_routes{state=\"installed\"} ".into(),
        "tern_fib_route_events_total ".into(),
        "tern_fib_direct_pushes_total ".into(),
        "tern_fib_deletes_held 0".into(),
        "# TYPE process_cpu_seconds_total counter".into(),
        "# TYPE tern_fib_reconciles_total counter".into(),
        format!("tern_build_info{{commit=\"{}\"", env!("TERN_GIT_COMMIT")),
    ] {
        assert!(scrape.contains(&want), "missing {want:?} in\n{scrape}");
    }
    assert!(
        !scrape.contains("tern_fib_reconciles_total 0"),
        "a reconcile was done (the agent is ready):\n{scrape}"
    );

    // The shipped rules: valid, and their unit tests pass.
    let dist = repo().join("dist/prometheus");
    let check = promtool(&["check", "rules", "tern-alerts.yml"], None, &dist);
    assert!(check.status.success(), "{}", text(&check));
    let unit = promtool(&["test", "rules", "tern-alerts.test.yml"], None, &dist);
    assert!(unit.status.success(), "{}", text(&unit));

    // A Prometheus server in the namespace scrapes the agent with the rules loaded.
    let data = lab.dir().join("tsdb");
    let config = lab.dir().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
             rule_files: [\"{}\"]\n\
             scrape_configs:\n  - job_name: tern\n    static_configs:\n      - targets: [\"{METRICS}\"]\n",
            dist.join("tern-alerts.yml").display()
        ),
    )
    .expect("write prometheus.yml");
    let pid = lab.spawn(
        &t,
        &[
            "prometheus",
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", data.display()),
            &format!("--web.listen-address={PROMETHEUS}"),
        ],
        "prometheus",
    );
    wait_for(CONVERGE, "Prometheus scrapes the agent", || {
        assert!(
            lab.alive(pid),
            "prometheus exited:\n{}",
            lab.log("prometheus")
        );
        let v = query(&t, "up{job=\"tern\"}");
        (v["data"]["result"][0]["value"][1] == "1").then_some(())
    });
    let rules = get(&t, &format!("http://{PROMETHEUS}/api/v1/rules"));
    assert!(rules.1.contains("TernBgpSessionDown"), "{}", rules.1);
    assert!(!rules.1.contains("\"health\":\"err\""), "{}", rules.1);

    // Every dashboard expression parses and returns series (rates need a few scrapes:
    // each is retried until it answers with data, a parse error fails at once).
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("dist/grafana/tern.json")).expect("dashboard"),
    )
    .expect("dashboard is JSON");
    let mut all = Vec::new();
    exprs(&dashboard, &mut all);
    assert!(all.len() >= 20, "{all:?}");
    for e in &all {
        let q = grafana_vars(e);
        let series = wait_for(CONVERGE, &format!("series for {q}"), || {
            let v = query(&t, &q);
            assert_ne!(v["status"], "error", "{q}: {v}");
            let n = v["data"]["result"].as_array().map_or(0, Vec::len);
            (v["status"] == "success" && n > 0).then_some(n)
        });
        assert!(series > 0);
    }
    // The BGP session is up: the session alert is not pending or firing.
    let alerts = query(&t, "ALERTS{alertname=\"TernBgpSessionDown\"}");
    assert_eq!(alerts["data"]["result"], Value::Array(vec![]), "{alerts}");
    assert!(status_json(&node).is_some());
}

/// `/readyz` lists what is not ready: a policy file that does not load keeps the node
/// not ready (503, the located error), a peer that does not answer does not (its
/// session is trying); fixed, the node is ready.
#[test]
fn readyz_names_what_is_not_ready() {
    let mut lab = Lab::new("ready");
    let policies = lab.dir().join("policies");
    std::fs::create_dir_all(&policies).expect("policy dir");
    std::fs::write(
        policies.join("broken.yaml"),
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: bad\nspec:\n  selektor: all()\n",
    )
    .expect("write policy");
    let extra = format!(
        "policy: {{ backend: nftables, paths: [\"{}\"] }}\nmetrics: {{ listen: \"{METRICS}\" }}\n",
        policies.display()
    );
    // BIRD is never started: the peer stays Active / Connect.
    let (t, _b, node) = tern_and_bird_with(&mut lab, &extra);
    start_tern(&mut lab, &node);
    let base = format!("http://{METRICS}");
    let (code, body) = wait_for(CONVERGE, "the policy error in /readyz", || {
        let r = get(&t, &format!("{base}/readyz"));
        r.1.contains("policy:").then_some(r)
    });
    assert_eq!(code, 503, "{body}");
    assert!(body.starts_with("not ready:\n"), "{body}");
    assert!(body.contains("broken.yaml:6:"), "{body}");
    assert!(
        !body.contains("BGP peer"),
        "a peer that is trying is ready: {body}"
    );
    assert_eq!(get(&t, &format!("{base}/healthz")).0, 200);

    std::fs::remove_file(policies.join("broken.yaml")).expect("remove");
    std::fs::write(policies.join("web.yaml"), ALLOW_8080).expect("write policy");
    let (code, body) = wait_for(CONVERGE, "ready once the policy applies", || {
        let r = get(&t, &format!("{base}/readyz"));
        (r.0 == 200).then_some(r)
    });
    assert_eq!((code, body.as_str()), (200, "ready\n"));
    let s = status_json(&node).expect("status");
    assert_ne!(s["peers"][0]["state"], "Established", "{s}");
}
