//! TCP verdicts between CNI containers of the etcd-mode tests: a container added with
//! labels, one nc exchange on port 8080, and waiting until policy gives the verdict a
//! test expects.

use std::time::{Duration, Instant};

use crate::cni_support::{address_of, netns_path, Cni};
use testlab::{wait_for, Lab, Netns};

/// How long a policy change may take to reach every host before a test calls it lost
/// (the goal is about a second; this only bounds a broken run).
pub const ENFORCED: Duration = Duration::from_secs(45);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// ADD of container `id` in namespace `shop` with `labels`; returns its IPv4 address.
pub fn add_labelled(cni: &Cni, id: &str, c: &Netns, labels: &str) -> String {
    let args = format!("K8S_POD_NAMESPACE=shop;K8S_POD_NAME={id};TERN_LABELS={labels}");
    let o = cni.call_args("ADD", id, &netns_path(c), &args);
    assert_eq!(o.code, 0, "ADD {id}: {}", o.stdout);
    let r = o.json.expect("result");
    address_of(&r, false).trim_end_matches("/32").to_string()
}

/// One TCP exchange from `client` to `ip`:8080 served by nc in `server`: true if the
/// server's line came back.
pub fn connects(lab: &mut Lab, server: &Netns, client: &Netns, ip: &str) -> bool {
    let pid = lab.spawn(
        server,
        &["sh", "-c", "echo hi | nc -4 -l -N 8080"],
        "nc-8080",
    );
    wait_for(Duration::from_secs(10), "listener", || {
        let ss = server.run(&["ss", "-ltn"]);
        text(&ss.stdout).contains(":8080").then_some(())
    });
    let out = client.sh(&format!("(echo x; sleep 1) | nc -N -w 2 {ip} 8080"));
    lab.kill(pid);
    text(&out.stdout).contains("hi")
}

/// Waits until `client` → `ip` connects (`want`) or not, trying again after each
/// verdict that differs.
pub fn wait_verdict(
    lab: &mut Lab,
    server: &Netns,
    client: &Netns,
    ip: &str,
    want: bool,
    what: &str,
) {
    let deadline = Instant::now() + ENFORCED;
    while connects(lab, server, client, ip) != want {
        assert!(
            Instant::now() < deadline,
            "{what}: still {} after {ENFORCED:?}",
            if want { "denied" } else { "allowed" }
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// [`wait_verdict`] for each (client, want, what) in turn, all to `ip` served in `server`.
pub fn wait_verdicts(lab: &mut Lab, server: &Netns, ip: &str, verdicts: &[(&Netns, bool, &str)]) {
    for (client, want, what) in verdicts {
        wait_verdict(lab, server, client, ip, *want, what);
    }
}
