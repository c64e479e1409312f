//! BIRD 2 in a lab: config files, starting `bird -f -c CONF -s SOCK` in a namespace,
//! and reading its state back through `birdc` (protocol state, `show route`).
//!
//! BIRD is a child of the [`Lab`] (started with [`Lab::spawn`]), so it is stopped when
//! the lab is dropped; its log is `lab.dir()/NAME.log`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{wait_for, Lab, Netns};

/// Generous time-out for BIRD's control socket, a session or a route to appear.
pub const TIMEOUT: Duration = Duration::from_secs(45);

/// Output of `birdc -s SOCKET CMD...` (the command split on white space).
/// Panics when `birdc` cannot be run at all.
pub fn birdc(socket: &Path, cmd: &str) -> String {
    let out = Command::new("birdc")
        .arg("-s")
        .arg(socket)
        .args(cmd.split_whitespace())
        .output()
        .expect("run birdc");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when `birdc show protocols` output has a line for `proto` in state Established.
pub fn is_established(show_protocols: &str, proto: &str) -> bool {
    show_protocols
        .lines()
        .any(|l| l.starts_with(proto) && l.contains("Established"))
}

/// A BGP session in a BIRD config made by [`bird_config`].
pub struct BirdPeer<'a> {
    /// The protocol's name (`protocol bgp NAME`).
    pub name: &'a str,
    /// BIRD's own address for the session.
    pub local: &'a str,
    /// The neighbour's address.
    pub neighbor: &'a str,
    /// The neighbour's AS number.
    pub asn: u32,
    /// `ipv4` or `ipv6`.
    pub family: &'a str,
}

/// A BIRD config: static blackhole routes (exported), BGP sessions with short timers,
/// everything imported, the kernel table not touched (BIRD keeps routes to itself).
pub fn bird_config(router_id: &str, asn: u32, statics: &[&str], peers: &[BirdPeer]) -> String {
    let mut c =
        format!("router id {router_id};\nlog stderr all;\nprotocol device {{ scan time 2; }}\n");
    let v4: Vec<&&str> = statics.iter().filter(|s| !s.contains(':')).collect();
    let v6: Vec<&&str> = statics.iter().filter(|s| s.contains(':')).collect();
    c.push_str("protocol static static4 {\n  ipv4;\n");
    for s in v4 {
        c.push_str(&format!("  route {s} blackhole;\n"));
    }
    c.push_str("}\nprotocol static static6 {\n  ipv6;\n");
    for s in v6 {
        c.push_str(&format!("  route {s} blackhole;\n"));
    }
    c.push_str("}\n");
    for p in peers {
        c.push_str(&format!(
            "protocol bgp {name} {{\n  local {local} as {asn};\n  neighbor {nb} as {peer_as};\n  \
             hold time 9;\n  keepalive time 3;\n  connect retry time 1;\n  error wait time 1, 5;\n  \
             {fam} {{ import all; export where source = RTS_STATIC || source = RTS_BGP; }};\n}}\n",
            name = p.name,
            local = p.local,
            nb = p.neighbor,
            peer_as = p.asn,
            fam = p.family,
        ));
    }
    c
}

/// A BIRD instance of a lab.
pub struct Bird {
    /// The namespace it runs in.
    pub ns: Netns,
    /// Its name: log `NAME.log`, config `NAME.conf`, socket `NAME.ctl` in the lab's dir.
    pub name: String,
    /// Path of its config file.
    pub config: PathBuf,
    /// Path of its control socket.
    pub socket: PathBuf,
    /// PID of the running process (as started by the lab).
    pub pid: u32,
}

/// Writes `config` to `lab.dir()/NAME.conf`, starts BIRD in `ns` with the control socket
/// `lab.dir()/NAME.ctl` and waits for the socket to appear.
pub fn start_bird(lab: &mut Lab, ns: &Netns, name: &str, config: &str) -> Bird {
    let path = lab.dir().join(format!("{name}.conf"));
    std::fs::write(&path, config).expect("write bird config");
    let socket = lab.dir().join(format!("{name}.ctl"));
    let pid = spawn(lab, ns, name, &path, &socket, &[]);
    wait_socket(&socket);
    Bird {
        ns: ns.clone(),
        name: name.to_string(),
        config: path,
        socket,
        pid,
    }
}

/// Starts `bird [EXTRA...] -f -c CONFIG -s SOCKET -P SOCKET.pid` in `ns` (a stale socket
/// file is removed first), logging to `LOGNAME.log`. Does not wait.
fn spawn(
    lab: &mut Lab,
    ns: &Netns,
    logname: &str,
    config: &Path,
    socket: &Path,
    extra: &[&str],
) -> u32 {
    let _ = std::fs::remove_file(socket);
    let config = config.to_string_lossy();
    let socket = socket.to_string_lossy();
    let pidfile = format!("{socket}.pid");
    let mut argv = vec!["bird"];
    argv.extend_from_slice(extra);
    argv.extend_from_slice(&["-f", "-c", &config, "-s", &socket, "-P", &pidfile]);
    lab.spawn(ns, &argv, logname)
}

fn wait_socket(socket: &Path) {
    wait_for(TIMEOUT, "bird control socket", || {
        socket.exists().then_some(())
    });
}

impl Bird {
    /// `birdc -s SOCK CMD...` output.
    pub fn cli(&self, cmd: &str) -> String {
        birdc(&self.socket, cmd)
    }

    /// Waits until the BGP protocol `proto` is Established.
    pub fn wait_established(&self, proto: &str) {
        wait_for(TIMEOUT, &format!("BIRD {proto} Established"), || {
            is_established(&self.cli(&format!("show protocols {proto}")), proto).then_some(())
        });
    }

    /// The `show protocols` line of `proto` (empty when there is none).
    pub fn protocol_line(&self, proto: &str) -> String {
        self.cli(&format!("show protocols {proto}"))
            .lines()
            .find(|l| l.starts_with(proto))
            .unwrap_or_default()
            .to_string()
    }

    /// `protocol_line` once the session is up and stays up: two equal reads 300 ms
    /// apart, Established. Compare later reads with it through
    /// [`Bird::assert_same_session`] (the printed "since" may move by a millisecond).
    pub fn settled_protocol_line(&self, proto: &str) -> String {
        let mut last = self.protocol_line(proto);
        wait_for(TIMEOUT, &format!("BIRD's {proto} line settled"), || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let now = self.protocol_line(proto);
            let settled = now == last && now.contains("Established");
            last = now.clone();
            settled.then_some(now)
        })
    }

    /// Whether two [`Bird::protocol_line`]s show one session that did not flap between
    /// the reads: every column equal but the "since" time, which may differ by a few
    /// milliseconds (BIRD keeps monotonic time and converts it to wall-clock time at
    /// each read: two reads of an unchanged session were seen 1 ms apart). A flap
    /// moves it by the seconds a new session takes to come up.
    pub fn same_session(a: &str, b: &str) -> bool {
        // `NAME PROTO TABLE STATE SINCE INFO...`, SINCE as HH:MM:SS.mmm.
        fn ms(t: &str) -> Option<i64> {
            let (hms, frac) = t.split_once('.')?;
            let mut n = 0i64;
            for part in hms.split(':') {
                n = n * 60 + part.parse::<i64>().ok()?;
            }
            Some(n * 1000 + frac.parse::<i64>().ok()?)
        }
        let (ca, cb): (Vec<&str>, Vec<&str>) = (
            a.split_whitespace().collect(),
            b.split_whitespace().collect(),
        );
        if ca.len() != cb.len() || ca.len() < 6 {
            return false;
        }
        let others_equal = ca
            .iter()
            .zip(&cb)
            .enumerate()
            .all(|(i, (x, y))| i == 4 || x == y);
        let since_close = match (ms(ca[4]), ms(cb[4])) {
            (Some(x), Some(y)) => (x - y).abs() <= 100,
            _ => ca[4] == cb[4],
        };
        others_equal && since_close
    }

    /// Panics unless `proto`'s line now shows the session of `before` (see
    /// [`Bird::same_session`]): it did not flap since `before` was read. `what` names
    /// the session in the message.
    pub fn assert_same_session(&self, proto: &str, before: &str, what: &str) {
        let now = self.protocol_line(proto);
        assert!(
            Self::same_session(&now, before),
            "{what} saw no flap: {now:?} vs {before:?}"
        );
    }

    /// Whether BIRD has a route for `prefix` (exact) via `via`.
    pub fn has_route_via(&self, prefix: &str, via: &str) -> bool {
        let out = self.cli(&format!("show route {prefix}"));
        out.contains(prefix) && out.contains(&format!("via {via}"))
    }

    /// Whether BIRD has any route for `prefix`.
    pub fn has_route(&self, prefix: &str) -> bool {
        let out = self.cli(&format!("show route {prefix}"));
        out.lines().any(|l| l.starts_with(prefix))
    }

    /// Replaces the config and reloads it (`birdc configure`).
    pub fn reconfigure(&self, config: &str) {
        std::fs::write(&self.config, config).expect("write bird config");
        let out = self.cli("configure");
        assert!(
            out.contains("Reconfigured") || out.contains("Reconfiguration"),
            "{out}"
        );
    }

    /// Stops BIRD (SIGTERM) and starts it again with the same config; waits for its socket.
    pub fn restart(&mut self, lab: &mut Lab) {
        lab.kill(self.pid);
        self.pid = spawn(lab, &self.ns, &self.name, &self.config, &self.socket, &[]);
        wait_socket(&self.socket);
    }

    /// Starts BIRD again after it died, in graceful-restart recovery (`bird -R`), with
    /// `config` written over its config file; logs to `LOGNAME.log`. Does not wait for
    /// anything, so the caller can watch the restart from its first moment. The old
    /// process must be gone (e.g. killed with SIGKILL by the test).
    pub fn recover(&mut self, lab: &mut Lab, config: &str, logname: &str) {
        std::fs::write(&self.config, config).expect("write bird config");
        self.pid = spawn(lab, &self.ns, logname, &self.config, &self.socket, &["-R"]);
    }
}

#[cfg(test)]
mod tests {
    use super::Bird;

    #[test]
    fn same_session_allows_a_re_read_since_but_not_a_flap_or_a_state_change() {
        let up = "tern4      BGP        ---        up     01:21:44.667  Established   ";
        let reread = "tern4      BGP        ---        up     01:21:44.668  Established   ";
        let flapped = "tern4      BGP        ---        up     01:21:47.912  Established   ";
        let down = "tern4      BGP        ---        start  01:21:44.667  Active        ";
        assert!(Bird::same_session(up, reread));
        assert!(!Bird::same_session(up, flapped));
        assert!(!Bird::same_session(up, down));
        assert!(!Bird::same_session(up, ""));
    }
}
