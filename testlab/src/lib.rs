//! Test-only helpers: labs of network namespaces joined by veth pairs.
//!
//! A [`Lab`] owns every namespace and child process it creates and removes them on
//! drop — also when the test panics. Namespace names carry a per-test prefix made of
//! the test's name and the process id, so tests run in parallel without meeting, and a
//! stale lab left by a killed run with the same prefix is removed first.
//!
//! Nothing here touches the root namespace's routes, rules or addresses: every command
//! runs under `ip netns exec NS`, and veth ends are moved into lab namespaces at creation.
#![warn(missing_docs)]

pub mod bird;
pub mod container;
pub mod etcd;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static LAB_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A network namespace of a lab.
#[derive(Clone, Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// The namespace's full name (as `ip netns` knows it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `argv` inside the namespace and returns its output.
    pub fn run(&self, argv: &[&str]) -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(argv);
        cmd.stdin(Stdio::null());
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {argv:?} in {}: {e}", self.name))
    }

    /// Runs `argv` inside the namespace; panics with its stderr when it fails.
    /// Returns its stdout. For setup steps that must succeed.
    pub fn ok(&self, argv: &[&str]) -> String {
        let out = self.run(argv);
        if !out.status.success() {
            panic!(
                "in netns {}: {:?} failed ({}): {}{}",
                self.name,
                argv,
                out.status,
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a shell script (`sh -c`) inside the namespace.
    pub fn sh(&self, script: &str) -> Output {
        self.run(&["sh", "-c", script])
    }

    /// Writes a sysctl inside the namespace (`sysctl -qw KEY=VALUE`); panics on failure.
    pub fn sysctl(&self, key: &str, value: &str) {
        self.ok(&["sysctl", "-qw", &format!("{key}={value}")]);
    }
}

/// A set of namespaces and processes that is torn down on drop.
pub struct Lab {
    name: String,
    prefix: String,
    namespaces: Vec<Netns>,
    children: Vec<(Child, String)>,
    dir: PathBuf,
}

impl Lab {
    /// Creates an empty lab for the test `name` (a short word; namespace names are
    /// `t<seq>-<name>-<pid>-<ns>`). Removes leftovers of an earlier lab with the same prefix,
    /// and those of labs of the same name whose test process is gone (a run that was
    /// killed before its labs could drop): their namespaces, and their scratch
    /// directories unless `TESTLAB_KEEP=1`.
    pub fn new(name: &str) -> Lab {
        let seq = LAB_SEQ.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("t{seq}-{name}-{}-", std::process::id());
        let dir = std::env::temp_dir().join(format!("testlab-{}", prefix.trim_end_matches('-')));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let lab = Lab {
            name: name.to_string(),
            prefix,
            namespaces: Vec::new(),
            children: Vec::new(),
            dir,
        };
        lab.remove_stale();
        if std::env::var("TESTLAB_KEEP").as_deref() != Ok("1") {
            lab.remove_stale_dirs();
        }
        lab
    }

    /// Removes the scratch directories `testlab-t<seq>-<name>-<pid>` of labs of this
    /// name whose process is gone.
    fn remove_stale_dirs(&self) {
        let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix("testlab-")) else {
                continue;
            };
            if orphaned(&format!("{rest}-"), &self.name) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    fn remove_stale(&self) {
        if let Ok(out) = Command::new("ip").args(["netns", "list"]).output() {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some(ns) = line.split_whitespace().next() {
                    if ns.starts_with(&self.prefix) || orphaned(ns, &self.name) {
                        let _ = Command::new("ip").args(["netns", "del", ns]).status();
                    }
                }
            }
        }
    }

    /// The lab's scratch directory (configs, sockets, logs). Kept when `TESTLAB_KEEP=1`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a namespace `PREFIX+short`, brings `lo` up and turns on IPv4/IPv6 forwarding.
    pub fn netns(&mut self, short: &str) -> Netns {
        let name = format!("{}{short}", self.prefix);
        let st = Command::new("ip").args(["netns", "add", &name]).status();
        assert!(
            matches!(st, Ok(s) if s.success()),
            "ip netns add {name} failed"
        );
        let ns = Netns { name };
        self.namespaces.push(ns.clone());
        ns.ok(&["ip", "link", "set", "lo", "up"]);
        ns.sysctl("net.ipv4.ip_forward", "1");
        ns.sysctl("net.ipv6.conf.all.forwarding", "1");
        ns
    }

    /// Joins `a` and `b` with a veth pair (`a_if` in `a`, `b_if` in `b`), adds the given
    /// addresses (CIDR notation) and brings both ends up. IPv6 DAD is turned off on both
    /// ends so addresses are usable at once.
    pub fn veth(
        &mut self,
        a: &Netns,
        a_if: &str,
        a_addrs: &[&str],
        b: &Netns,
        b_if: &str,
        b_addrs: &[&str],
    ) {
        // Create the pair inside `a` so no interface ever appears in the root namespace.
        let tmp = format!("tlv{}", LAB_SEQ.fetch_add(1, Ordering::SeqCst));
        a.ok(&[
            "ip", "link", "add", a_if, "type", "veth", "peer", "name", &tmp,
        ]);
        a.ok(&["ip", "link", "set", &tmp, "netns", b.name()]);
        b.ok(&["ip", "link", "set", &tmp, "name", b_if]);
        for (ns, ifname, addrs) in [(a, a_if, a_addrs), (b, b_if, b_addrs)] {
            let _ = ns.run(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{ifname}.accept_dad=0"),
            ]);
            for addr in addrs {
                if addr.contains(':') {
                    ns.ok(&["ip", "-6", "addr", "add", addr, "dev", ifname, "nodad"]);
                } else {
                    ns.ok(&["ip", "-4", "addr", "add", addr, "dev", ifname]);
                }
            }
            ns.ok(&["ip", "link", "set", ifname, "up"]);
        }
    }

    /// Starts `argv` inside `ns` (via `ip netns exec`), stdout and stderr to
    /// `dir()/LOGNAME.log`. Returns its PID; the process is stopped on drop.
    pub fn spawn(&mut self, ns: &Netns, argv: &[&str], logname: &str) -> u32 {
        let log_path = self.dir.join(format!("{logname}.log"));
        let log = fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("dup log: {e}"));
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
        let pid = child.id();
        self.children.push((child, logname.to_string()));
        pid
    }

    /// Contents of the log of a process started with [`Lab::spawn`].
    pub fn log(&self, logname: &str) -> String {
        fs::read_to_string(self.dir.join(format!("{logname}.log"))).unwrap_or_default()
    }

    /// Sends `signal` to a child started by this lab (by PID). Returns false if unknown.
    pub fn signal(&mut self, pid: u32, signal: i32) -> bool {
        if !self.children.iter().any(|(c, _)| c.id() == pid) {
            return false;
        }
        // SAFETY: kill(2) on a PID we spawned and have not yet reaped.
        unsafe { libc::kill(pid as i32, signal) == 0 }
    }

    /// Stops one child: SIGTERM, then SIGKILL after 5 s; reaps it.
    pub fn kill(&mut self, pid: u32) {
        if let Some(i) = self.children.iter().position(|(c, _)| c.id() == pid) {
            let (mut child, _) = self.children.remove(i);
            stop_child(&mut child);
        }
    }

    /// Kills one child with SIGKILL at once (a crash) and reaps it.
    pub fn kill9(&mut self, pid: u32) {
        if let Some(i) = self.children.iter().position(|(c, _)| c.id() == pid) {
            let (mut child, _) = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// True while the child is still running.
    pub fn alive(&mut self, pid: u32) -> bool {
        self.children
            .iter_mut()
            .find(|(c, _)| c.id() == pid)
            .map(|(c, _)| matches!(c.try_wait(), Ok(None)))
            .unwrap_or(false)
    }
}

/// True when `ns` is a namespace `t<seq>-<name>-<pid>-…` of a lab called `name` whose
/// process `pid` no longer runs.
fn orphaned(ns: &str, name: &str) -> bool {
    let Some(rest) = ns.strip_prefix('t') else {
        return false;
    };
    let Some((seq, rest)) = rest.split_once('-') else {
        return false;
    };
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Some(rest) = rest.strip_prefix(name).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let Some((pid, _)) = rest.split_once('-') else {
        return false;
    };
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    !Path::new("/proc").join(pid).exists()
}

fn stop_child(child: &mut Child) {
    // SAFETY: kill(2) on a PID we spawned and have not yet reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (child, name) in self.children.iter_mut() {
            stop_child(child);
            if std::thread::panicking() {
                let log =
                    fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("---- last lines of {name}.log ----");
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
        // Killing the processes first lets the namespaces go away.
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", ns.name()])
                .status();
        }
        self.remove_stale();
        if std::env::var("TESTLAB_KEEP").as_deref() != Ok("1") {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout`
/// naming `what`. For waiting on a state (a session, a route), never for timing.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Path of the `tern` binary: `CARGO_BIN_EXE_tern` at run time when set, else
/// `target/debug/tern` beside the workspace.
pub fn tern_bin() -> PathBuf {
    if let Ok(p) = std::env::var("CARGO_BIN_EXE_tern") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug/tern")
}

#[cfg(test)]
mod tests {
    use super::orphaned;

    #[test]
    fn orphaned_labs_are_recognised_by_name_and_dead_pid() {
        // PID 0 never has a /proc entry; our own PID always has one.
        assert!(orphaned("t3-spk-ingest-0-s", "spk-ingest"));
        let me = std::process::id();
        assert!(!orphaned(&format!("t3-spk-ingest-{me}-s"), "spk-ingest"));
        assert!(!orphaned("t3-other-0-s", "spk-ingest"));
        assert!(!orphaned("t3-spk-ingest-x-s", "spk-ingest"));
        assert!(!orphaned("ternlab-a", "spk-ingest"));
        // Scratch directories `testlab-t<seq>-<name>-<pid>`, checked with a `-` appended.
        assert!(orphaned("t0-agent-reload-0-", "agent-reload"));
        assert!(!orphaned("t0-agent-reload-bad-0-", "agent-reload"));
    }
}
