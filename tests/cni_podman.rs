//! A real container runtime: podman 4 (CNI backend, runc) on two hosts running
//! `tern agent` in a mesh, with tern installed as its CNI plugin. Containers started with
//! `podman run --network NET` get their addresses from tern, ping each other across the
//! hosts and hold a TCP exchange; `podman rm` (CNI DEL) leaves nothing behind.
//!
//! Podman runs "on" a host with `nsenter --net=/run/netns/HOST` (not `ip netns exec`,
//! which remounts /sys and loses the cgroup mounts) and is pointed at the lab's own
//! storage, network configs and plugin folder (CONTAINERS_CONF /
//! CONTAINERS_STORAGE_CONF), so nothing under /etc/cni or /var/lib/containers is touched.

mod cni_support;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cni_support::*;
use common::{start_tern, write_node, Node, NodeSpec, CONVERGE};
use serde_json::Value;
use testlab::{wait_for, Lab, Netns};

/// Podman for one host of the lab.
struct Podman {
    host: Netns,
    conf: PathBuf,
    storage: PathBuf,
}

impl Podman {
    fn new(lab_dir: &Path, host: &Netns, name: &str, socket: &Path) -> Podman {
        let bin = lab_dir.join("cni-bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        let plugin = bin.join("tern");
        if !plugin.exists() {
            std::os::unix::fs::symlink(testlab::tern_bin(), &plugin).expect("plugin link");
        }
        let net_d = lab_dir.join(format!("net.d-{name}"));
        std::fs::create_dir_all(&net_d).expect("net.d");
        let conflist = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": format!("tern{name}"),
            "plugins": [{"type": "tern", "socket": socket}],
        });
        std::fs::write(
            net_d.join(format!("tern{name}.conflist")),
            conflist.to_string(),
        )
        .expect("conflist");
        let conf = lab_dir.join(format!("containers-{name}.conf"));
        std::fs::write(
            &conf,
            format!(
                "[network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{}\", \"/usr/lib/cni\"]\nnetwork_config_dir = \"{}\"\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\ntmp_dir = \"{}\"\n",
                bin.display(),
                net_d.display(),
                lab_dir.join("libpod-tmp").display()
            ),
        )
        .expect("containers.conf");
        let storage = lab_dir.join("storage.conf");
        std::fs::write(
            &storage,
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/graph\"\nrunroot = \"{0}/run\"\n",
                lab_dir.display()
            ),
        )
        .expect("storage.conf");
        Podman {
            host: host.clone(),
            conf,
            storage,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.host.name()))
            .arg("podman")
            .args(args)
            .env("CONTAINERS_CONF", &self.conf)
            .env("CONTAINERS_STORAGE_CONF", &self.storage)
            .output()
            .expect("run podman")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "podman {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn start(&self, name: &str, network: &str) {
        self.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            network,
            "--cap-add",
            "NET_RAW",
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=4096:4096",
            "localhost/bb:1",
            "sleep",
            "600",
        ]);
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Containers of this host go (CNI DEL) before the lab's namespaces.
        let _ = self.run(&["rm", "-af", "-t", "0"]);
    }
}

/// A busybox image made from busybox-static.
fn import_image(lab_dir: &Path, p: &Podman) {
    let root = lab_dir.join("rootfs/bin");
    std::fs::create_dir_all(&root).expect("rootfs");
    std::fs::create_dir_all(lab_dir.join("rootfs/tmp")).expect("rootfs /tmp");
    std::fs::copy("/bin/busybox", root.join("busybox")).expect("busybox-static");
    for tool in ["sh", "ping", "nc", "sleep", "ip", "cat", "echo"] {
        std::os::unix::fs::symlink("busybox", root.join(tool)).expect("symlink");
    }
    let tar = lab_dir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(lab_dir.join("rootfs"))
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    p.ok(&["import", tar.to_str().expect("path"), "localhost/bb:1"]);
}

/// The address of the one workload on `node` (a podman container has no other).
fn address(node: &Node) -> String {
    wait_for(CONVERGE, "endpoint listed", || {
        let o = common::tern_cli(node, &["endpoints", "--json"]);
        let v: Value = serde_json::from_slice(&o.stdout).ok()?;
        let rows = v["endpoints"].as_array()?;
        let a = rows.first()?["addresses"][0].as_str()?;
        (rows.len() == 1).then(|| a.trim_end_matches("/32").to_string())
    })
}

#[test]
fn podman_containers_on_two_hosts_reach_each_other_through_tern() {
    let mut lab = Lab::new("cni-podman");
    let a = lab.netns("a");
    let b = lab.netns("b");
    lab.veth(&a, "eth0", &["10.0.0.1/24"], &b, "eth0", &["10.0.0.2/24"]);
    let mut nodes = Vec::new();
    for (ns, name, rid, block, peer) in [
        (&a, "a", "10.0.0.1", "10.244.1.0/24", "10.0.0.2"),
        (&b, "b", "10.0.0.2", "10.244.2.0/24", "10.0.0.1"),
    ] {
        let extra = format!(
            "stateDir: \"{}\"\n",
            lab.dir().join(format!("state-{name}")).display()
        );
        let node = write_node(
            &lab,
            ns,
            &NodeSpec {
                name,
                router_id: rid,
                blocks: &[block],
                mesh: &[peer],
                extra: &extra,
                ..NodeSpec::default()
            },
        );
        start_tern(&mut lab, &node);
        nodes.push(node);
    }
    let dir = lab.dir().to_path_buf();
    let pa = Podman::new(&dir, &a, "a", &nodes[0].socket);
    let pb = Podman::new(&dir, &b, "b", &nodes[1].socket);
    import_image(&dir, &pa);
    pa.start("web-a", "terna");
    pb.start("web-b", "ternb");
    let ip_a = address(&nodes[0]);
    let ip_b = address(&nodes[1]);
    assert!(ip_a.starts_with("10.244.1.") && ip_b.starts_with("10.244.2."));
    // The container's own view: its address on eth0, default route via the gateway.
    let inside = pa.ok(&["exec", "web-a", "ip", "addr", "show", "eth0"]);
    assert!(inside.contains(&ip_a), "{inside}");
    let routes = pa.ok(&["exec", "web-a", "ip", "route"]);
    assert!(routes.contains("default via 169.254.1.1"), "{routes}");

    wait_for(CONVERGE, "podman a -> b ping", || {
        pa.run(&["exec", "web-a", "ping", "-c1", "-W1", &ip_b])
            .status
            .success()
            .then_some(())
    });
    assert!(pb
        .run(&["exec", "web-b", "ping", "-c1", "-W2", &ip_a])
        .status
        .success());
    let r = a.ok(&["ip", "route", "show", "10.244.2.0/24"]);
    assert!(r.contains("via 10.0.0.2") && r.contains("proto 201"), "{r}");

    // TCP: a line each way.
    pb.ok(&[
        "exec",
        "-d",
        "web-b",
        "sh",
        "-c",
        "(echo pong; sleep 3) | nc -l -p 7000 > /tmp/got",
    ]);
    wait_for(CONVERGE, "TCP a -> b", || {
        let o = pa.run(&[
            "exec",
            "web-a",
            "sh",
            "-c",
            &format!("(echo ping; sleep 1) | nc -w 3 {ip_b} 7000"),
        ]);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.contains("pong").then_some(())
    });
    wait_for(CONVERGE, "server got the line", || {
        pb.ok(&["exec", "web-b", "cat", "/tmp/got"])
            .contains("ping")
            .then_some(())
    });

    // podman rm runs CNI DEL: nothing of the containers stays on the hosts.
    pa.ok(&["rm", "-f", "-t", "0", "web-a"]);
    pb.ok(&["rm", "-f", "-t", "0", "web-b"]);
    for (ns, node) in [(&a, &nodes[0]), (&b, &nodes[1])] {
        assert!(tern_links(ns).is_empty(), "{:?}", tern_links(ns));
        assert!(tern_device_routes(ns).is_empty());
        let o = common::tern_cli(node, &["endpoints", "--json"]);
        let v: Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["endpoints"].as_array().map(Vec::len), Some(0));
    }
}
