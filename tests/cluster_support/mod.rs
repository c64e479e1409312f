//! Helpers of the etcd-mode tests: a lab with etcd in its own namespace and hosts on
//! one bridge (10.1.0.0/24; etcd at 10.0.0.1 through 10.1.0.100), their node files
//! (name, address, datastore), `tern apply`, and what the hosts hold (blocks, learned
//! routes, Established mesh sessions, the datastore's health); TCP verdicts in `tcp`.
#![allow(dead_code)]

pub mod tcp;

use std::collections::{BTreeMap, BTreeSet};

use crate::cni_support::{address_of, netns_path, Cni};
use crate::common::{start_tern, status_json, Node, CONVERGE};
use serde_json::Value;
use testlab::etcd::EtcdLab;
use testlab::{wait_for, Netns};

pub struct Host {
    pub node: Node,
    pub cni: Cni,
    pub addr: String,
}

pub struct Cluster {
    pub etcd: EtcdLab,
    pub sw: Netns,
    pub hosts: Vec<Host>,
}

impl Cluster {
    pub fn new(name: &str) -> Cluster {
        Cluster::with_etcd(EtcdLab::new(name))
    }

    /// With etcd serving https and requiring client certificates: the node files and
    /// `tern apply` use the lab's CA and client certificate.
    pub fn new_tls(name: &str) -> Cluster {
        Cluster::with_etcd(EtcdLab::new_tls(name))
    }

    fn with_etcd(mut etcd: EtcdLab) -> Cluster {
        let sw = etcd.lab.netns("sw");
        sw.ok(&["ip", "link", "add", "br0", "type", "bridge"]);
        sw.ok(&["ip", "link", "set", "br0", "up"]);
        let db = etcd.db.clone();
        etcd.lab
            .veth(&db, "eth1", &["10.1.0.100/24"], &sw, "pdb", &[]);
        sw.ok(&["ip", "link", "set", "pdb", "master", "br0"]);
        Cluster {
            etcd,
            sw,
            hosts: Vec::new(),
        }
    }

    /// Adds host `hN` (10.1.0.N) on the bridge and writes its node file: only the
    /// name, the address, the datastore, and the lab's socket and state paths.
    pub fn host(&mut self, n: usize) -> usize {
        self.host_with(n, "")
    }

    /// [`Cluster::host`] with extra lines in the node file.
    pub fn host_with(&mut self, n: usize, extra: &str) -> usize {
        let name = format!("h{n}");
        let addr = format!("10.1.0.{n}");
        let lab = &mut self.etcd.lab;
        let ns = lab.netns(&name);
        let port = format!("p{n}");
        lab.veth(&ns, "eth0", &[&format!("{addr}/24")], &self.sw, &port, &[]);
        self.sw.ok(&["ip", "link", "set", &port, "master", "br0"]);
        ns.ok(&["ip", "route", "add", "10.0.0.1/32", "via", "10.1.0.100"]);
        let dir = lab.dir().join(&name);
        std::fs::create_dir_all(&dir).expect("node dir");
        let socket = dir.join("tern.sock");
        let config = dir.join("node.yaml");
        let yaml = format!(
            "nodeName: {name}\nrouterId: {addr}\ndatastore: {{ type: etcd, endpoints: [\"{}\"]{} }}\ncontrol: {{ socket: \"{}\" }}\nstateDir: \"{}\"\n{extra}",
            self.etcd.endpoint(),
            self.etcd.tls.as_ref().map_or(String::new(), |t| format!(
                ", caCertFile: \"{}\", certFile: \"{}\", keyFile: \"{}\"",
                t.ca.display(),
                t.cert.display(),
                t.key.display()
            )),
            socket.display(),
            dir.join("state").display()
        );
        std::fs::write(&config, yaml).expect("node file");
        self.hosts.push(Host {
            node: Node {
                ns,
                name: name.clone(),
                config,
                socket: socket.clone(),
                endpoints: dir.join("endpoints"),
            },
            cni: Cni {
                socket,
                version: "1.0.0",
            },
            addr,
        });
        self.hosts.len() - 1
    }

    pub fn apply(&self, file: &str, yaml: &str) {
        let p = self.etcd.lab.dir().join(file);
        std::fs::write(&p, yaml).expect("resource file");
        let out = self.tern_ds(&["apply", "-f", p.to_str().expect("path")]);
        assert!(
            out.status.success(),
            "tern apply: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `tern ARGS --datastore etcd --endpoints …` (with the lab's TLS files when
    /// it has them) in the clients' namespace.
    pub fn tern_ds(&self, args: &[&str]) -> std::process::Output {
        let tern = testlab::tern_bin();
        let mut argv: Vec<String> = vec![tern.to_string_lossy().into_owned()];
        argv.extend(args.iter().map(|a| a.to_string()));
        argv.extend(["--datastore".into(), "etcd".into(), "--endpoints".into()]);
        argv.push(self.etcd.endpoint().into());
        if let Some(t) = &self.etcd.tls {
            for (flag, p) in [
                ("--ca-cert-file", &t.ca),
                ("--cert-file", &t.cert),
                ("--key-file", &t.key),
            ] {
                argv.push(flag.into());
                argv.push(p.to_string_lossy().into_owned());
            }
        }
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.etcd.cl.run(&argv)
    }

    pub fn start(&mut self, i: usize) -> u32 {
        let node = self.hosts[i].node.clone();
        start_tern(&mut self.etcd.lab, &node)
    }

    /// Adds hosts up to `hN` after those already added ([`Cluster::host`]), starts
    /// every host's agent, and waits for the full mesh and every block learned
    /// everywhere ([`wait_mesh`], [`wait_blocks_learned`]). Returns the agents' PIDs in
    /// host order and the blocks by owner.
    pub fn up(&mut self, n: usize) -> (Vec<u32>, BTreeMap<String, Vec<String>>) {
        for k in self.hosts.len() + 1..=n {
            self.host(k);
        }
        let pids = (0..self.hosts.len()).map(|i| self.start(i)).collect();
        let hosts: Vec<&Host> = self.hosts.iter().collect();
        wait_mesh(&hosts);
        (pids, wait_blocks_learned(&hosts))
    }
}

pub fn pool(cidr: &str, block_size: u8) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{ name: pool-1 }}\nspec: {{ cidr: {cidr}, blockSize: {block_size} }}\n"
    )
}

/// The blackholes of tern's protocol in `ns`: the blocks this host owns.
pub fn own_blocks(ns: &Netns) -> Vec<String> {
    let out = ns.ok(&[
        "ip",
        "-4",
        "route",
        "show",
        "proto",
        "201",
        "type",
        "blackhole",
    ]);
    let mut v: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    v.sort();
    v
}

/// `via` of tern's route for `prefix` in `ns`, if there is one.
pub fn via(ns: &Netns, prefix: &str) -> Option<String> {
    let out = ns.ok(&["ip", "-4", "route", "show", "exact", prefix, "proto", "201"]);
    let mut w = out.split_whitespace();
    w.find(|t| *t == "via")
        .and_then(|_| w.next())
        .map(str::to_string)
}

/// Peer address → `since_unix` of the Established peers in `tern status`.
pub fn established(h: &Host) -> BTreeMap<String, u64> {
    let Some(s) = status_json(&h.node) else {
        return BTreeMap::new();
    };
    s["peers"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter(|p| p["state"] == "Established")
                .filter_map(|p| {
                    Some((
                        p["address"].as_str()?.to_string(),
                        p["since_unix"].as_u64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn wait_mesh(hosts: &[&Host]) {
    for h in hosts {
        let want: BTreeSet<String> = hosts
            .iter()
            .filter(|o| o.addr != h.addr)
            .map(|o| o.addr.clone())
            .collect();
        wait_for(
            CONVERGE,
            &format!("{}: mesh with {want:?}", h.node.name),
            || {
                let up: BTreeSet<String> = established(h).into_keys().collect();
                (up == want).then_some(())
            },
        );
    }
}

/// Every host has every other host's blocks via that host, with tern's protocol.
pub fn wait_blocks_learned(hosts: &[&Host]) -> BTreeMap<String, Vec<String>> {
    let blocks: BTreeMap<String, Vec<String>> = hosts
        .iter()
        .map(|h| {
            let b = wait_for(CONVERGE, &format!("{}: a block", h.node.name), || {
                let b = own_blocks(&h.node.ns);
                (!b.is_empty()).then_some(b)
            });
            (h.addr.clone(), b)
        })
        .collect();
    for h in hosts {
        for (owner, bs) in &blocks {
            if *owner == h.addr {
                continue;
            }
            for b in bs {
                wait_for(
                    CONVERGE,
                    &format!("{}: {b} via {owner}", h.node.name),
                    || (via(&h.node.ns, b).as_deref() == Some(owner.as_str())).then_some(()),
                );
            }
        }
    }
    blocks
}

pub fn add(h: &Host, id: &str, c: &Netns) -> String {
    let o = h.cni.call("ADD", id, &netns_path(c));
    assert_eq!(o.code, 0, "ADD {id} on {}: {}", h.node.name, o.stdout);
    let r = o.json.expect("result");
    address_of(&r, false).trim_end_matches("/32").to_string()
}

pub fn ping(from: &Netns, to: &str) -> bool {
    from.run(&["ping", "-4", "-c1", "-W1", to]).status.success()
}

pub fn inside(addr: &str, blocks: &[String]) -> bool {
    let a: std::net::Ipv4Addr = addr.parse().expect("address");
    blocks
        .iter()
        .any(|b| b.parse::<ipnet::Ipv4Net>().is_ok_and(|n| n.contains(&a)))
}

pub fn datastore(h: &Host) -> Value {
    status_json(&h.node).map_or(Value::Null, |s| s["datastore"].clone())
}

/// Drops (or lets through again) everything `ns` sends to etcd (10.0.0.1): the node is
/// cut off from the datastore while its links and BGP sessions stay up.
pub fn cut_off_etcd(ns: &Netns, on: bool) {
    if on {
        ns.ok(&[
            "nft",
            "add table inet cut; add chain inet cut out { type filter hook output priority 0; }; add rule inet cut out ip daddr 10.0.0.1 drop",
        ]);
    } else {
        ns.ok(&["nft", "delete table inet cut"]);
    }
}
