//! The lab itself: two namespaces, a veth pair, a ping, and cleanup on drop.
use std::process::Command;
use std::time::Duration;

fn netns_list() -> String {
    String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

#[test]
fn two_namespaces_ping_and_clean_up() {
    let name;
    {
        let mut lab = testlab::Lab::new("labself");
        let a = lab.netns("a");
        let b = lab.netns("b");
        name = a.name().to_string();
        lab.veth(
            &a,
            "eth0",
            &["10.99.0.1/24", "fd99::1/64"],
            &b,
            "eth0",
            &["10.99.0.2/24", "fd99::2/64"],
        );
        assert!(a.run(&["ping", "-c1", "-W2", "10.99.0.2"]).status.success());
        assert!(a
            .run(&["ping", "-6", "-c1", "-W2", "fd99::2"])
            .status
            .success());
        let pid = lab.spawn(&b, &["sleep", "30"], "sleeper");
        assert!(lab.alive(pid));
        let n = testlab::wait_for(Duration::from_secs(5), "namespace listed", || {
            netns_list().contains(&name).then_some(1)
        });
        assert_eq!(n, 1);
        lab.kill(pid);
        assert!(netns_list().contains(&name));
    }
    assert!(
        !netns_list().contains(&name),
        "namespace {name} left behind"
    );
}
