//! Applying rendered rules to the kernel: nftables through `nft` (one transaction;
//! incremental changes through a long-lived `nft -i` child; a separate `nft -c` dry run
//! only on an applier's first apply), iptables through `ipset restore` +
//! `iptables-restore --noflush` (each tested first with `--test`). The [`Applier`] remembers what
//! it last applied and writes only what changed; on any failure the rules in force stay
//! as they were and the error says which tool refused what. This is the only part of
//! `acl` that runs processes.

mod iptables;
mod nft;
mod session;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ir::Ir;
use crate::render::iptables::IptRuleset;
use crate::render::nft::NftRuleset;
use crate::render::Backend;

/// Why an apply or flush failed. The rules in force are unchanged unless noted.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A tool could not be started.
    #[error("cannot run {cmd}: {source}")]
    Spawn {
        /// The command.
        cmd: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A tool rejected its input.
    #[error("{cmd} failed: {stderr}")]
    Rejected {
        /// The command.
        cmd: String,
        /// What it printed.
        stderr: String,
    },
    /// The backend cannot express the policy (nothing was run).
    #[error("{0}")]
    Unsupported(String),
}

/// How an apply went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Nothing changed since the last apply; no tool ran.
    Unchanged,
    /// Only changed chains and sets were rewritten.
    Incremental,
    /// tern's whole table/chains were replaced.
    Full,
}

/// The result of a successful apply, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyReport {
    /// Full, incremental or nothing to do.
    pub mode: ApplyMode,
    /// Rules in the ruleset now in force.
    pub rules: usize,
    /// Named sets (and maps) in force.
    pub sets: usize,
    /// Wall time spent.
    pub duration: Duration,
    /// The part of `duration` spent waiting for the tools (`nft`, `iptables-restore`,
    /// `ipset`); the rest is rendering and diffing in this process.
    pub tools: Duration,
}

/// What was last applied.
#[derive(Debug, Clone)]
enum Applied {
    Nft(Box<Ir>, NftRuleset),
    Ipt(IptRuleset),
}

/// Applies successive IRs, incrementally after the first.
#[derive(Debug)]
pub struct Applier {
    backend: Backend,
    exec: Exec,
    last: Option<Applied>,
    /// Set by [`Applier::check_first`]; None = the backend's default (see there).
    check: Option<bool>,
    /// Whether an apply has succeeded yet (the default dry-runs only before that).
    applied_once: bool,
    nft: nft::Sessions,
}

impl Applier {
    /// An applier that has applied nothing yet (its first apply is a full replacement).
    pub fn new(backend: Backend) -> Applier {
        Applier {
            backend,
            exec: Exec::default(),
            last: None,
            check: None,
            applied_once: false,
            nft: nft::Sessions::default(),
        }
    }

    /// Whether every transaction is first dry-run (`nft -c`, `iptables-restore --test`)
    /// (`true`) or none is (`false`). Either way the commit is all-or-nothing (the kernel
    /// applies a batch atomically) and a refused one leaves the rules in force; only the
    /// separate validation pass changes.
    ///
    /// Without this call: nftables dry-runs only until the first apply succeeds (once, at
    /// start-up, where its cost does not matter, so that a ruleset this kernel cannot take
    /// at all is reported by `nft -c` before anything is sent); after that every change is
    /// a single commit, because a refused `nft` transaction changes nothing and a dry run
    /// would only double the kernel's work (two table validations, plus an RCU grace
    /// period on the dry run's abort path). iptables keeps `--test` on every transaction:
    /// there the two families commit separately, and testing both first avoids undoing an
    /// IPv4 commit when the IPv6 one is refused.
    pub fn check_first(mut self, on: bool) -> Applier {
        self.check = Some(on);
        self
    }

    /// Whether the next transaction is dry-run first.
    fn checking(&self) -> bool {
        self.check.unwrap_or(match self.backend {
            Backend::Nftables => !self.applied_once,
            Backend::Iptables => true,
        })
    }

    /// Runs every tool inside the named network namespace (`ip netns exec NS …`), for
    /// tests and tools that manage a namespace other than their own.
    pub fn in_netns(mut self, netns: &str) -> Applier {
        self.exec = Exec {
            netns: Some(netns.to_string()),
        };
        self.nft = nft::Sessions::default();
        self
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Makes the kernel match `ir`. On error nothing changed and the next apply retries
    /// against the last good state.
    pub fn apply(&mut self, ir: &Ir) -> Result<ApplyReport, ApplyError> {
        match self.backend {
            Backend::Nftables => self.apply_owned(ir.clone()),
            Backend::Iptables => self.apply_iptables(ir),
        }
    }

    /// Like [`Applier::apply`], keeping `ir` (without a copy) for the next incremental
    /// render.
    pub fn apply_owned(&mut self, ir: Ir) -> Result<ApplyReport, ApplyError> {
        if self.backend == Backend::Iptables {
            return self.apply_iptables(&ir);
        }
        let start = Instant::now();
        let (next, prev) = match &self.last {
            Some(Applied::Nft(pir, p)) => (
                crate::render::nft::render_with(&ir, Some((pir, p))),
                Some(p),
            ),
            _ => (crate::render::nft::render(&ir), None),
        };
        let check = self.checking();
        let mut tools = Duration::ZERO;
        let mode = nft::apply(&self.exec, &mut self.nft, prev, &next, check, &mut tools)?;
        let (rules, sets) = crate::render::nft::counts(&next);
        let old = self.last.replace(Applied::Nft(Box::new(ir), next));
        drop_later(old);
        self.applied_once = true;
        Ok(ApplyReport {
            mode,
            rules,
            sets,
            duration: start.elapsed(),
            tools,
        })
    }

    fn apply_iptables(&mut self, ir: &Ir) -> Result<ApplyReport, ApplyError> {
        if let Some(why) = crate::render::iptables::unsupported(ir) {
            return Err(ApplyError::Unsupported(why));
        }
        let start = Instant::now();
        let next = crate::render::iptables::render(ir);
        let prev = match &self.last {
            Some(Applied::Ipt(p)) => Some(p),
            _ => None,
        };
        let tools_start = Instant::now();
        let mode = iptables::apply(&self.exec, prev, &next, self.checking())?;
        let tools = tools_start.elapsed();
        let (rules, sets) = crate::render::iptables::counts(&next);
        self.last = Some(Applied::Ipt(next));
        self.applied_once = true;
        Ok(ApplyReport {
            mode,
            rules,
            sets,
            duration: start.elapsed(),
            tools,
        })
    }

    /// Forgets what was applied: the next apply replaces tern's rules entirely. Call it
    /// now and then to repair drift (someone edited tern's chains by hand).
    pub fn resync(&mut self) {
        self.last = None;
    }

    /// Waits until the last apply's work is entirely done in the kernel. An nftables
    /// change is in force when [`Applier::apply`] returns, but the chains and sets it left
    /// unused are removed by a second transaction after it (see the nftables backend);
    /// this waits for that one. A failure is returned and also makes the next apply a full
    /// replacement.
    pub fn settle(&mut self) -> Result<(), ApplyError> {
        match self.nft.settle() {
            Some(Err(e)) => {
                self.last = None;
                Err(e)
            }
            _ => Ok(()),
        }
    }

    /// Removes every rule, chain and set tern owns (other tables and chains untouched).
    pub fn flush(&mut self) -> Result<(), ApplyError> {
        let _ = self.nft.settle();
        match self.backend {
            Backend::Nftables => nft::flush(&self.exec)?,
            Backend::Iptables => iptables::flush(&self.exec)?,
        }
        self.last = None;
        Ok(())
    }
}

/// Frees the previous state off the caller's path: the previous IR of a large cluster
/// takes ~4–9 ms to free here, a third of a one-policy change, and nobody waits for it.
/// (If no thread can be started, it is freed here.)
fn drop_later(old: Option<Applied>) {
    if let Some(old) = old {
        let _ = std::thread::Builder::new()
            .name("acl-free".into())
            .spawn(move || drop(old));
    }
}

/// Removes tern's rules for a backend: `table inet tern`, or the `tern-` chains, their
/// jumps and the `tern-` ipsets.
pub fn flush(backend: Backend) -> Result<(), ApplyError> {
    match backend {
        Backend::Nftables => nft::flush(&Exec::default()),
        Backend::Iptables => iptables::flush(&Exec::default()),
    }
}

/// The staged policies' counters in force for a backend (`nft list table inet tern`, or
/// `iptables-save -c` + `ip6tables-save -c`). Empty when tern's rules are not there.
pub fn staged_counters(backend: Backend) -> Result<Vec<crate::staged::StagedCount>, ApplyError> {
    let exec = Exec::default();
    match backend {
        Backend::Nftables => {
            let text = exec
                .run("nft", &["list", "table", "inet", "tern"], None)
                .unwrap_or_default();
            Ok(crate::staged::parse_nft(&text))
        }
        Backend::Iptables => {
            let mut text = exec.run("iptables-save", &["-c", "-t", "filter"], None)?;
            text.push_str(&exec.run("ip6tables-save", &["-c", "-t", "filter"], None)?);
            Ok(crate::staged::parse_iptables_save(&text))
        }
    }
}

/// Where tools run: this process's network namespace, or a named one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Exec {
    netns: Option<String>,
}

impl Exec {
    /// `cmd args`, prefixed with `ip netns exec NS` when running in another namespace.
    pub(crate) fn command(&self, cmd: &str, args: &[&str]) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns.as_str(), cmd]).args(args);
                c
            }
            None => {
                let mut c = Command::new(cmd);
                c.args(args);
                c
            }
        }
    }

    /// Runs `cmd args` with `input` on stdin; stdout on success.
    pub(crate) fn run(
        &self,
        cmd: &str,
        args: &[&str],
        input: Option<&str>,
    ) -> Result<String, ApplyError> {
        let name = format!("{cmd} {}", args.join(" "));
        let mut child = self
            .command(cmd, args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| ApplyError::Spawn {
                cmd: name.clone(),
                source,
            })?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(text.as_bytes())
                .map_err(|source| ApplyError::Spawn {
                    cmd: name.clone(),
                    source,
                })?;
        }
        let out = child
            .wait_with_output()
            .map_err(|source| ApplyError::Spawn {
                cmd: name.clone(),
                source,
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            Err(ApplyError::Rejected {
                cmd: name,
                stderr: truncate(stderr),
            })
        }
    }
}

/// Error text cut to a readable length.
pub(crate) fn truncate(mut text: String) -> String {
    if text.len() > 4000 {
        let mut cut = 4000;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(" …");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_only_where_it_adds_something() {
        // nftables: the first apply only (by default).
        let mut nft = Applier::new(Backend::Nftables);
        assert!(nft.checking());
        nft.applied_once = true;
        assert!(!nft.checking());
        nft.resync();
        assert!(
            !nft.checking(),
            "a resync is a full replacement, not a first apply"
        );
        // iptables: every transaction (both families are tested before either commits).
        let mut ipt = Applier::new(Backend::Iptables);
        ipt.applied_once = true;
        assert!(ipt.checking());
        // Forced either way.
        for backend in [Backend::Nftables, Backend::Iptables] {
            let mut on = Applier::new(backend).check_first(true);
            on.applied_once = true;
            assert!(on.checking());
            assert!(!Applier::new(backend).check_first(false).checking());
        }
    }
}
