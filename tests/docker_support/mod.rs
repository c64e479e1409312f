//! A real dockerd per lab host for the Docker tests: Debian's docker.io started inside
//! the host's namespace with `nsenter --net=` (its own data root, exec root, API socket,
//! pidfile and config file under the lab's directory; no iptables, no bridge, cgroupfs),
//! an image imported from busybox-static (no registry is reachable), and the `docker` client
//! pointed at it. On drop: every container removed, dockerd (and the containerd it runs)
//! stopped by PID, mounts under its folders unmounted, the folders removed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use testlab::{wait_for, Netns};

/// The image every test container runs.
pub const IMAGE: &str = "tern-busybox:1";

/// The docker client: Debian's (same version as the daemon) when present.
fn client() -> &'static str {
    if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    }
}

/// Whether dockerd can be run here at all.
pub fn available() -> bool {
    Command::new("dockerd")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// One dockerd.
pub struct Dockerd {
    pub dir: PathBuf,
    pub sock: PathBuf,
    ns: String,
    child: Option<Child>,
    live_restore: bool,
}

impl Dockerd {
    /// Starts dockerd in `ns` with its state under `dir` and waits until it answers.
    pub fn start(ns: &Netns, dir: &Path, live_restore: bool) -> Dockerd {
        std::fs::create_dir_all(dir).expect("dockerd dir");
        let mut d = Dockerd {
            dir: dir.to_path_buf(),
            sock: dir.join("docker.sock"),
            ns: ns.name().to_string(),
            child: None,
            live_restore,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let dir = &self.dir;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("dockerd.log"))
            .expect("dockerd log");
        // Its own (empty) config file: a /etc/docker/daemon.json of the machine must not
        // change the test's dockerd.
        let config = dir.join("daemon.json");
        if !config.exists() {
            std::fs::write(&config, "{}\n").expect("daemon.json");
        }
        let mut args: Vec<String> = vec![
            format!("--net=/run/netns/{}", self.ns),
            "dockerd".into(),
            "--config-file".into(),
            config.display().to_string(),
            "--iptables=false".into(),
            "--ip6tables=false".into(),
            "--bridge=none".into(),
            "--exec-opt".into(),
            "native.cgroupdriver=cgroupfs".into(),
            "--default-ulimit".into(),
            "nofile=20000:20000".into(),
            "--default-ulimit".into(),
            "nproc=4096:4096".into(),
            "--data-root".into(),
            dir.join("data").display().to_string(),
            "--exec-root".into(),
            dir.join("exec").display().to_string(),
            "-H".into(),
            format!("unix://{}", self.sock.display()),
            "--pidfile".into(),
            dir.join("dockerd.pid").display().to_string(),
        ];
        if self.live_restore {
            args.push("--live-restore".into());
        }
        let child = Command::new("nsenter")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        self.child = Some(child);
        wait_for(Duration::from_secs(60), "dockerd answering", || {
            self.docker(&["version"]).status.success().then_some(())
        });
    }

    /// Runs the docker client against this dockerd.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(client())
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .args(args)
            .output()
            .expect("docker client")
    }

    /// Runs the client; panics with its output unless it succeeds. Returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Imports [`IMAGE`]: busybox-static and its applets as symlinks.
    pub fn import_busybox(&self) {
        let root = self.dir.join("rootfs");
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).expect("rootfs");
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static");
        for applet in ["sh", "ping", "nc", "sleep", "ip", "cat", "echo", "true"] {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
        let tar = self.dir.join("rootfs.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success());
        self.ok(&["import", &tar.display().to_string(), IMAGE]);
    }

    /// The container's address on its (one) network.
    pub fn ip_of(&self, name: &str) -> String {
        self.ok(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            name,
        ])
    }

    /// Stops dockerd (SIGTERM, SIGKILL after 30 s) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the nsenter child we spawned (nsenter execs dockerd).
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts dockerd again after [`Dockerd::stop`] (same folders and options).
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// The containerd that dockerd started, if it still runs (by its pidfile).
    fn containerd_pid(&self) -> Option<i32> {
        let p = self.dir.join("exec/containerd/containerd.pid");
        let pid: i32 = std::fs::read_to_string(p).ok()?.trim().parse().ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids.iter().map(String::as_str));
                let _ = self.docker(&args);
            }
        }
        self.stop();
        if let Some(pid) = self.containerd_pid() {
            // SAFETY: kill(2) on the containerd this test's dockerd started (its pidfile).
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        // Overlay and shm mounts under the data and exec roots, deepest first.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let prefix = self.dir.display().to_string();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|p| p.starts_with(&prefix))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = Command::new("umount").args(["-l", p]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
