//! A real etcd (Debian's `etcd-server`) for datastore tests: a lab with two
//! namespaces joined by a veth — `db` (10.0.0.1, etcd) and `cl` (10.0.0.2, clients) —
//! a per-lab data dir, and stop / start that keep the data (an outage, not a wipe).
//! [`EtcdLab::new_tls`] serves https with client certificates required, from a CA the
//! lab makes with `openssl` ([`TlsFiles`]). Needs `etcd` (etcd-server), `curl` (the
//! health check) and `openssl` (TLS labs).

use std::fs::File;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{wait_for, Lab, Netns};

/// etcd's client URL in an [`EtcdLab`].
pub const ENDPOINT: &str = "http://10.0.0.1:2379";
/// etcd's client URL in an [`EtcdLab::new_tls`] lab.
pub const TLS_ENDPOINT: &str = "https://10.0.0.1:2379";

/// The PEM files of a TLS lab, made fresh for it: a CA, etcd's server certificate
/// (IP SANs 10.0.0.1 and 10.1.0.100), a client certificate, and a second CA that
/// signed none of them (a wrong CA for clients to fail with).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate.
    pub ca: PathBuf,
    /// Client certificate (signed by `ca`, extendedKeyUsage clientAuth).
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
    /// etcd's certificate.
    pub server_cert: PathBuf,
    /// etcd's key.
    pub server_key: PathBuf,
    /// A CA that did not sign etcd's certificate.
    pub other_ca: PathBuf,
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (install it: scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TlsFiles {
    /// Makes the files in `dir` (EC P-256 keys, valid for a day).
    pub fn create(dir: &std::path::Path) -> TlsFiles {
        std::fs::create_dir_all(dir).expect("tls dir");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            let (key, crt, subj) = (
                format!("{ca}-key.pem"),
                format!("{ca}.pem"),
                format!("/CN=tern test {ca}"),
            );
            let mut a = vec![
                "req", "-x509", "-days", "1", "-subj", &subj, "-keyout", &key, "-out", &crt,
            ];
            a.extend(ec);
            a.extend([
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
            openssl(dir, &a);
        }
        for (name, ext) in [
            ("server", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:10.0.0.1,IP:10.1.0.100\n"),
            ("client", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"),
        ] {
            let (key, csr, crt, extf) = (format!("{name}-key.pem"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
            std::fs::write(dir.join(&extf), ext).expect("ext file");
            let subj = format!("/CN=tern-{name}");
            let mut a = vec!["req", "-subj", &subj, "-keyout", &key, "-out", &csr];
            a.extend(ec);
            openssl(dir, &a);
            openssl(dir, &["x509", "-req", "-days", "1", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-extfile", &extf, "-out", &crt]);
        }
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("client.pem"),
            key: dir.join("client-key.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            other_ca: dir.join("other-ca.pem"),
        }
    }
}

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
    /// The certificates of a TLS lab.
    pub tls: Option<TlsFiles>,
    pid: Option<u32>,
    starts: usize,
}

impl EtcdLab {
    /// Creates the lab and starts etcd; returns when it answers.
    pub fn new(name: &str) -> EtcdLab {
        EtcdLab::create(name, false)
    }

    /// As [`EtcdLab::new`], with etcd serving https at [`TLS_ENDPOINT`] and requiring a
    /// client certificate signed by the lab's CA (`--client-cert-auth`).
    pub fn new_tls(name: &str) -> EtcdLab {
        EtcdLab::create(name, true)
    }

    fn create(name: &str, tls: bool) -> EtcdLab {
        let mut lab = Lab::new(name);
        let db = lab.netns("db");
        let cl = lab.netns("cl");
        lab.veth(&db, "eth0", &["10.0.0.1/24"], &cl, "eth0", &["10.0.0.2/24"]);
        let data_dir = lab.dir().join("etcd-data");
        let tls = tls.then(|| TlsFiles::create(&lab.dir().join("tls")));
        let mut e = EtcdLab {
            lab,
            db,
            cl,
            data_dir,
            tls,
            pid: None,
            starts: 0,
        };
        e.start();
        e
    }

    /// The client URL.
    pub fn endpoint(&self) -> &'static str {
        if self.tls.is_some() {
            TLS_ENDPOINT
        } else {
            ENDPOINT
        }
    }

    /// Starts etcd (again) on the same data dir; waits until it serves.
    pub fn start(&mut self) {
        assert!(self.pid.is_none(), "etcd is already running");
        let data = self.data_dir.to_string_lossy().into_owned();
        let endpoint = self.endpoint();
        let path = |p: &PathBuf| p.to_string_lossy().into_owned();
        let tls_args: Vec<String> = match &self.tls {
            Some(t) => vec![
                "--cert-file".into(),
                path(&t.server_cert),
                "--key-file".into(),
                path(&t.server_key),
                "--client-cert-auth".into(),
                "--trusted-ca-file".into(),
                path(&t.ca),
            ],
            None => Vec::new(),
        };
        let mut argv = vec![
            "etcd",
            "--name",
            "default",
            "--data-dir",
            &data,
            "--listen-client-urls",
            endpoint,
            "--advertise-client-urls",
            endpoint,
            "--listen-peer-urls",
            "http://10.0.0.1:2380",
            "--initial-advertise-peer-urls",
            "http://10.0.0.1:2380",
            "--initial-cluster",
            "default=http://10.0.0.1:2380",
            "--log-level",
            "warn",
        ];
        argv.extend(tls_args.iter().map(String::as_str));
        let mut curl: Vec<String> = ["curl", "-fsS", "--max-time", "1"]
            .map(String::from)
            .to_vec();
        if let Some(t) = &self.tls {
            for (flag, p) in [("--cacert", &t.ca), ("--cert", &t.cert), ("--key", &t.key)] {
                curl.push(flag.into());
                curl.push(path(p));
            }
        }
        curl.push(format!("{endpoint}/health"));
        self.starts += 1;
        let log = format!("etcd-{}", self.starts);
        let pid = self.lab.spawn(&self.db, &argv, &log);
        self.pid = Some(pid);
        let cl = self.cl.clone();
        wait_for(Duration::from_secs(30), "etcd to serve", || {
            let argv: Vec<&str> = curl.iter().map(String::as_str).collect();
            let out = cl.run(&argv);
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

    /// Runs `f(self)` to completion on a tokio runtime (two workers) on a thread inside
    /// the client namespace [`EtcdLab::cl`], where [`EtcdLab::endpoint`] is reachable;
    /// the lab (etcd, namespaces) goes when `f` is done with it. A failure inside `f`
    /// fails the test.
    pub fn run_client<F, Fut>(self, f: F)
    where
        F: FnOnce(EtcdLab) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let path = Path::new("/run/netns").join(self.cl.name());
        let ns = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        std::thread::Builder::new()
            .name("etcd-client".into())
            .spawn(move || {
                // SAFETY: setns(2) on an open namespace file moves only this new thread
                // (and the runtime threads it starts) into the client namespace.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(f(self));
            })
            .expect("spawn the client thread")
            .join()
            .expect("the test body failed inside the lab namespace");
    }
}
