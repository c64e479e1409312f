//! Traffic between the host itself and its workloads, on real packets (needs root; runs
//! in throwaway namespaces): a workload's ingress policy decides which of its ports the
//! host may open, its egress policy which of the host's ports it may open. nftables
//! polices workloads in the prerouting and postrouting base chains (every packet from
//! or to a workload, forwarded or not); iptables in its INPUT, OUTPUT and FORWARD jumps.

use std::fs;

mod common;

use acl::{Applier, Backend};
use testlab::{container, Lab, Netns};

const WORKLOAD: &str = "10.67.0.1";
const HOST: &str = "10.67.255.1";

fn opens(from: &Netns, to: &str, port: u16) -> bool {
    from.run(&["nc", "-z", "-w", "2", to, &port.to_string()])
        .status
        .success()
}

fn host_and_workload_are_policed(backend: Backend, lab_name: &str) {
    let mut lab = Lab::new(lab_name);
    let host = lab.netns("host");
    container::gateway(&host);
    // The host's own address, on its loopback (the source it uses towards workloads).
    host.ok(&["ip", "addr", "add", &format!("{HOST}/32"), "dev", "lo"]);
    let addr = format!("{WORKLOAD}/32");
    let wl = container::container(&mut lab, &host, "a", "tw-a", &[&addr]);
    container::host_side(&host, "tw-a", &[&addr]);
    for port in ["8000", "8001"] {
        lab.spawn(&wl, &["nc", "-lk", port], &format!("wl{port}"));
    }
    for port in ["9000", "9001"] {
        lab.spawn(&host, &["nc", "-lk", port], &format!("host{port}"));
    }
    testlab::wait_for(std::time::Duration::from_secs(10), "listeners", || {
        let (w, h) = (wl.ok(&["ss", "-ltn"]), host.ok(&["ss", "-ltn"]));
        (w.contains(":8000 ")
            && w.contains(":8001 ")
            && h.contains(":9000 ")
            && h.contains(":9001 "))
        .then_some(())
    });
    // Without policy every probe gets through (so a refusal below is the policy's).
    for (from, to, port) in [
        (&host, WORKLOAD, 8000),
        (&host, WORKLOAD, 8001),
        (&wl, HOST, 9000),
        (&wl, HOST, 9001),
    ] {
        assert!(
            opens(from, to, port),
            "{to}:{port} closed before any policy"
        );
    }

    let conf = lab.dir().join("conf");
    fs::create_dir_all(&conf).unwrap();
    fs::write(
        conf.join("endpoints.yaml"),
        format!(
            "kind: WorkloadEndpoint\nname: a\nnamespace: t\ninterface: tw-a\nips: [{addr}]\nlabels: {{ app: a }}\n"
        ),
    )
    .unwrap();
    fs::write(
        conf.join("policy.yaml"),
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: { name: a, namespace: t }\nspec:\n  \
         selector: app == 'a'\n  types: [Ingress, Egress]\n  \
         ingress:\n    - { action: Allow, protocol: TCP, destination: { ports: [8000] } }\n  \
         egress:\n    - { action: Allow, protocol: TCP, destination: { ports: [9000] } }\n",
    )
    .unwrap();
    let ir = common::ir_of(&[conf]);
    let mut applier = Applier::new(backend).in_netns(host.name());
    applier.apply(&ir).unwrap_or_else(|e| panic!("{e}"));

    assert!(opens(&host, WORKLOAD, 8000), "host → workload:8000 refused");
    assert!(
        !opens(&host, WORKLOAD, 8001),
        "host → workload:8001 allowed (ingress policy not applied to the host's traffic)"
    );
    assert!(opens(&wl, HOST, 9000), "workload → host:9000 refused");
    assert!(
        !opens(&wl, HOST, 9001),
        "workload → host:9001 allowed (egress policy not applied to traffic to the host)"
    );
    applier.flush().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn nftables_polices_host_to_workload_and_back() {
    host_and_workload_are_policed(Backend::Nftables, "acl-hostwl-nft");
}

#[test]
fn iptables_polices_host_to_workload_and_back() {
    host_and_workload_are_policed(Backend::Iptables, "acl-hostwl-ipt");
}
