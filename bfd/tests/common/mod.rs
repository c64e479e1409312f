//! Shared pieces of the BFD lab tests: a driver running on a thread that lives in a lab
//! namespace, a lab of two hosts joined through a bridge in a third namespace (where
//! nftables silently drops BFD without taking a link down), BIRD and FRR bfdd peers.
#![allow(dead_code)]

use std::fs::File;
use std::net::IpAddr;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bfd::{BfdEvent, Driver, DriverConfig, DriverHandle};
use testlab::{wait_for, Lab, Netns};
use tokio::sync::oneshot;

/// Generous time-out for a state to be reached (never a timing assertion).
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A [`Driver`] whose task runs on a thread inside a lab namespace, so its sockets are
/// that namespace's. Events arrive with the instant they were received.
pub struct NsDriver {
    pub handle: DriverHandle,
    pub events: std_mpsc::Receiver<(Instant, BfdEvent)>,
    rt: tokio::runtime::Runtime,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl NsDriver {
    pub fn start(ns: &Netns, seed: u64) -> NsDriver {
        let path = format!("/run/netns/{}", ns.name());
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let (ev_tx, ev_rx) = std_mpsc::channel();
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let f = File::open(&path).expect("open netns");
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let cfg = DriverConfig {
                    seed,
                    ..DriverConfig::default()
                };
                let (handle, mut events) = Driver::spawn(cfg).expect("driver");
                ready_tx.send(handle).expect("ready");
                loop {
                    tokio::select! {
                        ev = events.recv() => match ev {
                            Some(ev) => { let _ = ev_tx.send((Instant::now(), ev)); }
                            None => break,
                        },
                        _ = &mut stop_rx => break,
                    }
                }
                // Let the driver see its handles go and send AdminDown.
                tokio::time::sleep(Duration::from_millis(50)).await;
            });
        });
        let handle = ready_rx.recv().expect("driver started");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        NsDriver {
            handle,
            events: ev_rx,
            rt,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Runs a handle call to completion from the test thread.
    pub fn call<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.rt.block_on(f)
    }

    /// The status of the only session.
    pub fn status(&self) -> bfd::SessionStatus {
        let all = self.call(self.handle.status()).expect("status");
        assert_eq!(all.len(), 1, "{all:?}");
        all[0].clone()
    }

    /// Waits for the next event matching `f` (others are skipped), up to [`TIMEOUT`].
    pub fn wait_event(&self, what: &str, f: impl Fn(&BfdEvent) -> bool) -> (Instant, BfdEvent) {
        let end = Instant::now() + TIMEOUT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok((t, ev)) if f(&ev) => return (t, ev),
                Ok(_) => continue,
                Err(_) => panic!("no {what} event within {TIMEOUT:?}"),
            }
        }
    }
}

impl Drop for NsDriver {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Two hosts, `t` (tern's driver) and `d` (the daemon), each with `eth0` on one bridge in
/// `sw`. IPv4 10.77.0.1/.2 and IPv6 fd77::1/::2.
pub struct Fabric {
    pub lab: Lab,
    pub t: Netns,
    pub d: Netns,
    pub sw: Netns,
}

pub const T4: &str = "10.77.0.1";
pub const D4: &str = "10.77.0.2";
pub const T6: &str = "fd77::1";
pub const D6: &str = "fd77::2";

impl Fabric {
    pub fn new(name: &str) -> Fabric {
        let mut lab = Lab::new(name);
        let t = lab.netns("t");
        let d = lab.netns("d");
        let sw = lab.netns("sw");
        sw.ok(&["ip", "link", "add", "br0", "type", "bridge"]);
        sw.ok(&["ip", "link", "set", "br0", "up"]);
        lab.veth(&t, "eth0", &["10.77.0.1/24", "fd77::1/64"], &sw, "pt", &[]);
        lab.veth(&d, "eth0", &["10.77.0.2/24", "fd77::2/64"], &sw, "pd", &[]);
        for p in ["pt", "pd"] {
            sw.ok(&["ip", "link", "set", p, "master", "br0"]);
        }
        Fabric { lab, t, d, sw }
    }

    /// Adds a host `short` with `eth0` on the bridge and the given addresses (CIDR).
    pub fn add_host(&mut self, short: &str, addrs: &[&str]) -> Netns {
        let h = self.lab.netns(short);
        let port = format!("p{short}");
        let sw = self.sw.clone();
        self.lab.veth(&h, "eth0", addrs, &sw, &port, &[]);
        self.sw.ok(&["ip", "link", "set", &port, "master", "br0"]);
        h
    }

    /// The bridge silently stops forwarding BFD to and from the IPv4 address `host` only.
    pub fn cut_bfd_of(&self, host: &str) {
        self.sw.ok(&["nft", "add", "table", "bridge", "bfdcut1"]);
        self.sw.ok(&[
            "nft",
            "add",
            "chain",
            "bridge",
            "bfdcut1",
            "drop3784",
            "{ type filter hook forward priority 0; }",
        ]);
        for dir in ["saddr", "daddr"] {
            self.sw.ok(&[
                "nft", "add", "rule", "bridge", "bfdcut1", "drop3784", "ip", dir, host, "udp",
                "dport", "3784", "drop",
            ]);
        }
    }

    /// The bridge silently stops forwarding BFD Control packets, both ways; the links
    /// stay up and everything else still passes.
    pub fn cut_bfd(&self) {
        self.sw.ok(&["nft", "add", "table", "bridge", "bfdcut"]);
        self.sw.ok(&[
            "nft",
            "add",
            "chain",
            "bridge",
            "bfdcut",
            "drop3784",
            "{ type filter hook forward priority 0; }",
        ]);
        self.sw.ok(&[
            "nft", "add", "rule", "bridge", "bfdcut", "drop3784", "udp", "dport", "3784", "drop",
        ]);
    }

    /// Forwarding of BFD resumes.
    pub fn heal_bfd(&self) {
        self.sw.ok(&["nft", "delete", "table", "bridge", "bfdcut"]);
    }

    /// Whether `t` can ping `to` (the cut takes only BFD, the link stays up).
    pub fn ping_ok(&self, to: &str) -> bool {
        self.t
            .run(&["ping", "-c", "1", "-W", "2", to])
            .status
            .success()
    }
}

/// `ip` parsed, for keys.
pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// FRR's bfdd in `ns`, standalone (no zebra): config, vty socket and pid file in a
/// directory of the lab that the `frr` user may write.
pub struct Bfdd {
    pub ns: Netns,
    pub dir: std::path::PathBuf,
    pub pid: u32,
}

impl Bfdd {
    pub fn start(lab: &mut Lab, ns: &Netns, config: &str) -> Bfdd {
        let dir = lab.dir().join("frr");
        std::fs::create_dir_all(&dir).expect("frr dir");
        // bfdd drops privileges to `frr`; it must create its sockets and pid file here.
        let _ = std::process::Command::new("chmod")
            .arg("777")
            .arg(lab.dir())
            .status();
        let _ = std::process::Command::new("chmod")
            .arg("777")
            .arg(&dir)
            .status();
        let conf = dir.join("bfdd.conf");
        std::fs::write(&conf, config).expect("write bfdd.conf");
        let d = dir.to_string_lossy().into_owned();
        let pid = lab.spawn(
            ns,
            &[
                "/usr/lib/frr/bfdd",
                "-f",
                &conf.to_string_lossy(),
                "--vty_socket",
                &d,
                "-i",
                &format!("{d}/bfdd.pid"),
                "--bfdctl",
                &format!("{d}/bfdd.sock"),
                "-z",
                &format!("{d}/zserv.api"),
                "-u",
                "frr",
                "-g",
                "frr",
                "--log",
                "stdout",
            ],
            "bfdd",
        );
        let b = Bfdd {
            ns: ns.clone(),
            dir,
            pid,
        };
        wait_for(TIMEOUT, "bfdd vty socket", || {
            b.dir.join("bfdd.vty").exists().then_some(())
        });
        b
    }

    /// `vtysh -d bfdd` with each of `cmds` as a `-c`.
    pub fn vtysh(&self, cmds: &[&str]) -> String {
        let d = self.dir.to_string_lossy().into_owned();
        let mut argv = vec!["vtysh", "--vty_socket", &d, "-d", "bfdd"];
        for c in cmds {
            argv.push("-c");
            argv.push(c);
        }
        let out = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .output()
            .expect("run vtysh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// bfdd's view of the session with `peer`: (status, diagnostic), e.g. ("up", "ok").
    pub fn peer_state(&self, peer: &str) -> Option<(String, String)> {
        let out = self.vtysh(&["show bfd peers json"]);
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        v.as_array()?.iter().find(|p| p["peer"] == peer).map(|p| {
            (
                p["status"].as_str().unwrap_or("").to_string(),
                p["diagnostic"].as_str().unwrap_or("").to_string(),
            )
        })
    }
}

/// BIRD's view of the BFD session with `peer` (`show bfd sessions`): "Up", "Down", ...
pub fn bird_bfd_state(bird: &testlab::bird::Bird, peer: &str) -> Option<String> {
    let out = bird.cli("show bfd sessions");
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(peer))
        .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
}
