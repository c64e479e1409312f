//! A long-lived `nft -i` child (one in check mode, one committing) that runs one
//! transaction per input line.
//!
//! Why: every `nft` process pays its start-up, and when it closes its netlink socket
//! after a commit the kernel waits for the previous ruleset to be freed (an RCU grace
//! period, ~10 ms here) — a large share of a small incremental change. A child that stays
//! up pays neither.
//!
//! Each line given to `nft -i` is parsed, evaluated and sent as one batch, exactly like
//! `nft -f` with that text: the kernel applies it all or nothing. The child's stdout and
//! stderr share one pipe; after the transaction line the session writes a marker command
//! (`describe meta mark`, which prints one fixed line and touches no ruleset), so
//! everything read before the marker's line is the transaction's own output: nothing
//! means success, anything else is nft's error text. A session whose child died, timed
//! out or misbehaved is dropped and the caller falls back to `nft -f -`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{truncate, ApplyError, Exec};

/// Prints one fixed line, needs no cache and changes nothing.
const MARKER: &str = "describe meta mark";
/// Generous bounds: a healthy child answers in milliseconds.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// One `nft -i` child.
#[derive(Debug)]
pub(crate) struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<String>,
    marker: String,
    name: String,
    broken: bool,
    /// A transaction was sent ([`Session::begin`]) and its verdict not read yet.
    in_flight: bool,
}

impl Session {
    /// Starts `nft -i` (with `-c` for a check session) and learns the marker's output.
    pub(crate) fn start(ex: &Exec, check: bool) -> Result<Session, ApplyError> {
        let args: &[&str] = if check { &["-c", "-i"] } else { &["-i"] };
        let mut cmd = ex.command("nft", args);
        let name = format!("{cmd:?}");
        let spawn_err = |source| ApplyError::Spawn {
            cmd: name.clone(),
            source,
        };
        let (reader, writer) = std::io::pipe().map_err(spawn_err)?;
        let writer2 = writer.try_clone().map_err(spawn_err)?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(writer)
            .stderr(writer2)
            .spawn()
            .map_err(spawn_err)?;
        // The pipe's write ends now live only in the child: EOF when it exits.
        drop(cmd);
        let stdin = child.stdin.take();
        let (tx, out) = mpsc::channel();
        let reader_thread = std::thread::Builder::new()
            .name("nft-session".into())
            .spawn(move || {
                let mut r = BufReader::new(reader);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match r.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buf);
                            if tx.send(line.trim_end().to_string()).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        let mut s = Session {
            child,
            stdin,
            out,
            marker: String::new(),
            name: name.clone(),
            broken: false,
            in_flight: false,
        };
        reader_thread.map_err(spawn_err)?;
        // The marker must print the same single line twice.
        s.send(&format!("{MARKER}\n{MARKER}\n"))?;
        let deadline = Instant::now() + START_TIMEOUT;
        let first = s.line(deadline)?;
        let second = s.line(deadline)?;
        if first.is_empty() || first != second || first.contains("Error") {
            s.broken = true;
            return Err(ApplyError::Rejected {
                cmd: s.name.clone(),
                stderr: format!("unexpected answer to `{MARKER}`: {first:?}, {second:?}"),
            });
        }
        s.marker = first;
        Ok(s)
    }

    /// Whether the child can no longer be trusted (drop it and start another).
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Whether a transaction's verdict is still to be read ([`Session::finish`]).
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    fn send(&mut self, text: &str) -> Result<(), ApplyError> {
        let res = match self.stdin.as_mut() {
            Some(w) => w.write_all(text.as_bytes()).and_then(|()| w.flush()),
            None => Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
        };
        res.map_err(|source| {
            self.broken = true;
            ApplyError::Spawn {
                cmd: self.name.clone(),
                source,
            }
        })
    }

    fn line(&mut self, deadline: Instant) -> Result<String, ApplyError> {
        let wait = deadline.saturating_duration_since(Instant::now());
        self.out.recv_timeout(wait).map_err(|e| {
            self.broken = true;
            let why = match e {
                RecvTimeoutError::Timeout => "no answer in time",
                RecvTimeoutError::Disconnected => "exited",
            };
            ApplyError::Rejected {
                cmd: self.name.clone(),
                stderr: why.to_string(),
            }
        })
    }

    /// Runs `script` as one transaction (its lines are joined into one input line).
    pub(crate) fn run(&mut self, script: &str) -> Result<(), ApplyError> {
        self.begin(script)?;
        self.finish()
    }

    /// Sends `script` as one transaction without waiting for its verdict, which
    /// [`Session::finish`] reads (one transaction in flight at a time).
    pub(crate) fn begin(&mut self, script: &str) -> Result<(), ApplyError> {
        let mut input = script.trim_end().replace('\n', "; ");
        input.push('\n');
        input.push_str(MARKER);
        input.push('\n');
        self.send(&input)?;
        self.in_flight = true;
        Ok(())
    }

    /// The verdict of the transaction [`Session::begin`] sent: waits for it.
    pub(crate) fn finish(&mut self) -> Result<(), ApplyError> {
        self.in_flight = false;
        let deadline = Instant::now() + RUN_TIMEOUT;
        let mut said = Vec::new();
        loop {
            let l = self.line(deadline)?;
            if l == self.marker {
                break;
            }
            said.push(l);
        }
        if said.is_empty() {
            Ok(())
        } else {
            Err(ApplyError::Rejected {
                cmd: self.name.clone(),
                stderr: truncate(said.join("\n")),
            })
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing stdin ends `nft -i`; kill in case it does not, then reap it.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs root: runs in a throwaway namespace.
    #[test]
    fn one_line_is_one_transaction_with_a_reliable_verdict() {
        let mut lab = testlab::Lab::new("acl-nft-session");
        let ns = lab.netns("s");
        let ex = Exec {
            netns: Some(ns.name().to_string()),
        };
        let listed = || ns.ok(&["nft", "list", "ruleset"]);
        let mut commit = Session::start(&ex, false).unwrap();
        let mut check = Session::start(&ex, true).unwrap();
        // A good transaction, in blocks and several commands.
        let good = "add table inet t\nadd chain inet t c {\n\tdrop\n}\nadd set inet t s { type inet_service; elements = { 1, 2 }; }\n";
        check.run(good).unwrap();
        assert!(
            !listed().contains("table inet t"),
            "check changed the ruleset"
        );
        commit.run(good).unwrap();
        let before = listed();
        assert!(
            before.contains("chain c") && before.contains("set s"),
            "{before}"
        );
        // A transaction whose last command the kernel refuses changes nothing.
        let bad =
            "add chain inet t d\nflush chain inet t c\nadd chain inet t c { jump nowhere; }\n";
        for s in [&mut check, &mut commit] {
            let err = s.run(bad).unwrap_err().to_string();
            assert!(err.contains("nowhere"), "{err}");
            assert!(!s.is_broken());
        }
        assert_eq!(listed(), before);
        // A syntax error likewise; and the session stays usable afterwards.
        let err = commit
            .run("add chain inet t e\nthis is not nft\n")
            .unwrap_err();
        assert!(err.to_string().contains("Error"), "{err}");
        assert_eq!(listed(), before);
        commit.run("add chain inet t e\n").unwrap();
        assert!(listed().contains("chain e"));
        // A child that is gone is reported as broken, not as success.
        let _ = commit.child.kill();
        let _ = commit.child.wait();
        assert!(commit.run("add chain inet t f\n").is_err());
        assert!(commit.is_broken());
    }
}
