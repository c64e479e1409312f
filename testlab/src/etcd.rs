//! A real etcd (Debian's `etcd-server`) for datastore tests: a lab with two
//! namespaces joined by a veth — `db` (10.0.0.1, etcd) and `cl` (10.0.0.2, clients) —
//! a per-lab data dir, and stop / start that keep the data (an outage, not a wipe).
//! Needs `etcd` (etcd-server) and `curl` (the health check).

use std::path::PathBuf;
use std::time::Duration;

use crate::{wait_for, Lab, Netns};

/// etcd's client URL in an [`EtcdLab`].
pub const ENDPOINT: &str = "http://10.0.0.1:2379";

/// A lab running one etcd member.
pub struct EtcdLab {
    /// The lab (namespaces, processes, scratch dir).
    pub lab: Lab,
    /// Where etcd runs.
    pub db: Netns,
    /// Where clients run (`cl.run([tern, …])`, `controller::netns::run_in`).
    pub cl: Netns,
    /// etcd's data directory (kept across [`EtcdLab::stop`] / [`EtcdLab::start`]).
    pub data_dir: PathBuf,
    pid: Option<u32>,
    starts: usize,
}

impl EtcdLab {
    /// Creates the lab and starts etcd; returns when it answers.
    pub fn new(name: &str) -> EtcdLab {
        let mut lab = Lab::new(name);
        let db = lab.netns("db");
        let cl = lab.netns("cl");
        lab.veth(&db, "eth0", &["10.0.0.1/24"], &cl, "eth0", &["10.0.0.2/24"]);
        let data_dir = lab.dir().join("etcd-data");
        let mut e = EtcdLab {
            lab,
            db,
            cl,
            data_dir,
            pid: None,
            starts: 0,
        };
        e.start();
        e
    }

    /// The client URL.
    pub fn endpoint(&self) -> &'static str {
        ENDPOINT
    }

    /// Starts etcd (again) on the same data dir; waits until it serves.
    pub fn start(&mut self) {
        assert!(self.pid.is_none(), "etcd is already running");
        let data = self.data_dir.to_string_lossy().into_owned();
        let argv = [
            "etcd",
            "--name",
            "default",
            "--data-dir",
            &data,
            "--listen-client-urls",
            ENDPOINT,
            "--advertise-client-urls",
            ENDPOINT,
            "--listen-peer-urls",
            "http://10.0.0.1:2380",
            "--initial-advertise-peer-urls",
            "http://10.0.0.1:2380",
            "--initial-cluster",
            "default=http://10.0.0.1:2380",
            "--log-level",
            "warn",
        ];
        self.starts += 1;
        let log = format!("etcd-{}", self.starts);
        let pid = self.lab.spawn(&self.db, &argv, &log);
        self.pid = Some(pid);
        let cl = self.cl.clone();
        wait_for(Duration::from_secs(30), "etcd to serve", || {
            let out = cl.run(&[
                "curl",
                "-fsS",
                "--max-time",
                "1",
                &format!("{ENDPOINT}/health"),
            ]);
            let body = String::from_utf8_lossy(&out.stdout);
            (out.status.success() && body.contains("\"health\":\"true\"")).then_some(())
        });
    }

    /// Stops etcd (SIGTERM, then SIGKILL after 5 s).
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid.take() {
            self.lab.kill(pid);
        }
    }

    /// True while etcd runs.
    pub fn running(&self) -> bool {
        self.pid.is_some()
    }
}
