//! A running agent fed hostile policy files (issue 8, items 7 and 8): it reports them
//! like `tern policy check` does (a located error, the rules in force unchanged) and
//! stays up. Before, a selector of 3,000 nested parentheses overflowed the stack of the
//! agent's policy thread (rc 134) while `tern policy check` said ok.

mod common;

use common::*;
use testlab::{wait_for, Lab};

const GOOD: &str = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: web}
spec:
  selector: app == 'web'
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [8080]}}]
";

#[test]
fn hostile_policy_files_are_reported_and_the_agent_stays_up() {
    let mut lab = Lab::new("thostile");
    let h = lab.netns("host");
    let policies = lab.dir().join("policies");
    std::fs::create_dir_all(&policies).expect("policy dir");
    std::fs::write(policies.join("good.yaml"), GOOD).expect("write policy");
    let node = write_node(
        &lab,
        &h,
        &NodeSpec {
            extra: &format!(
                "policy: {{ backend: nftables, paths: [\"{}\"] }}\n",
                policies.display()
            ),
            ..NodeSpec::default()
        },
    );
    let pid = start_tern(&mut lab, &node);
    wait_for(CONVERGE, "policy applied", || {
        let s = status_json(&node)?;
        (s["policy"]["ok"] == true).then_some(())
    });
    let ruleset = h.ok(&["nft", "list", "table", "inet", "tern"]);

    let deep = format!(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: deep}}\nspec:\n  selector: {}a == 'b'{}\n",
        "(".repeat(3000),
        ")".repeat(3000)
    );
    let injected = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: \"x\\n-I INPUT 1 -s 203.0.113.66 -j ACCEPT\\n#\"}\nspec: {selector: all()}\n";
    for (text, want) in [
        (
            deep.as_str(),
            "bad.yaml:5:77: spec.selector: bad selector: nested more than 64 levels deep",
        ),
        (injected, "bad.yaml:3:18: metadata.name: invalid name"),
    ] {
        std::fs::write(policies.join("bad.yaml"), text).expect("write hostile policy");
        let err = wait_for(CONVERGE, "policy error in status", || {
            assert!(lab.alive(pid), "the agent died:\n{}", lab.log("tern-a"));
            let s = status_json(&node)?;
            let e = s["policy"]["last_error"].to_string();
            (s["policy"]["ok"] == false && e.contains(want)).then_some(e)
        });
        assert!(err.contains(want), "{err}");
        assert!(lab.alive(pid), "the agent died:\n{}", lab.log("tern-a"));
        assert_eq!(h.ok(&["nft", "list", "table", "inet", "tern"]), ruleset);
    }
    let input = h.ok(&["iptables", "-S", "INPUT"]);
    assert!(!input.contains("203.0.113.66"), "{input}");
}
