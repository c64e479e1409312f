//! `tern policy …`: check, render, explain, apply (once) and flush network policy.
//!
//! `--config NODE.yaml` (check, render, explain, apply) compiles the way that node's agent
//! does: its failsafe ports, and — when no FILE is given — its `policy.paths` and
//! `endpoints`. `explain` exits 0 when the connection is allowed and
//! [`EXIT_DENIED`] (3) when it is denied, so scripts can test a verdict.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use acl::{Backend, CompileOptions, LoadError};

use super::{EXIT_BAD_INPUT, EXIT_RUNTIME};

/// Writes to stdout; a closed pipe (`tern policy explain … | head -1`) is not an error:
/// the rest is dropped quietly (Rust's `print!` would panic).
fn out(text: &str) {
    use std::io::Write as _;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes()).and_then(|()| o.flush());
}

/// Exit code of `tern policy explain` when the connection is denied.
pub const EXIT_DENIED: u8 = 3;

/// `--config`: compile as this node's agent does.
#[derive(clap::Args, Debug, Default)]
pub struct NodeArgs {
    /// Node config: use its failsafe ports, and its policy.paths and endpoints when no
    /// FILE is given.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// The `tern policy` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate policies and endpoints; errors as FILE:LINE:COL: message, exit 2.
    Check {
        #[command(flatten)]
        node: NodeArgs,
        /// Policy and endpoint files or folders (required without --config).
        #[arg(required_unless_present = "config")]
        files: Vec<PathBuf>,
    },
    /// Print the ruleset that would be applied.
    Render {
        /// nftables or iptables.
        #[arg(long, default_value = "nftables")]
        backend: Backend,
        #[command(flatten)]
        node: NodeArgs,
        /// Policy and endpoint files or folders (required without --config).
        #[arg(required_unless_present = "config")]
        files: Vec<PathBuf>,
    },
    /// Evaluate the compiled policy for one new connection and say what decided it.
    Explain {
        /// Source: endpoint (ns/name, host endpoint name) or IP address.
        #[arg(long)]
        from: String,
        /// Destination: endpoint or IP address.
        #[arg(long)]
        to: String,
        /// tcp, udp, sctp, icmp, icmpv6 or a number.
        #[arg(long, default_value = "tcp")]
        protocol: String,
        /// Destination port (required for tcp, udp and sctp).
        #[arg(long)]
        port: Option<u16>,
        /// Source port.
        #[arg(long, default_value_t = 49152)]
        source_port: u16,
        /// ICMP type (default echo request).
        #[arg(long, default_value_t = 8)]
        icmp_type: u8,
        #[command(flatten)]
        node: NodeArgs,
        /// Policy and endpoint files or folders (required without --config).
        #[arg(required_unless_present = "config")]
        files: Vec<PathBuf>,
    },
    /// Apply the policy once, replacing tern's rules (the agent does this continuously).
    #[command(hide = true)]
    Apply {
        /// nftables or iptables.
        #[arg(long, default_value = "nftables")]
        backend: Backend,
        #[command(flatten)]
        node: NodeArgs,
        /// Policy and endpoint files or folders (required without --config).
        #[arg(required_unless_present = "config")]
        files: Vec<PathBuf>,
    },
    /// Print what the staged policies counted in the rules in force (per rule and
    /// verdict; `none`: packets no rule of the policy decided).
    Stats {
        /// nftables or iptables.
        #[arg(long, default_value = "nftables")]
        backend: Backend,
        /// One JSON object per row.
        #[arg(long)]
        json: bool,
    },
    /// Remove every rule, chain and set tern owns (nothing else is touched).
    Flush {
        /// nftables or iptables.
        #[arg(long, default_value = "nftables")]
        backend: Backend,
    },
}

/// The files and compile options for `node` + `files`.
fn inputs(
    node: &NodeArgs,
    files: Vec<PathBuf>,
) -> Result<(Vec<PathBuf>, CompileOptions), ExitCode> {
    let Some(path) = &node.config else {
        return Ok((files, CompileOptions::default()));
    };
    let cfg = load_node(path)?;
    let options = crate::agent::plan::compile_options(&cfg);
    if !files.is_empty() {
        return Ok((files, options));
    }
    let mut all = cfg.policy.paths.clone();
    all.extend(cfg.endpoints.iter().cloned());
    Ok((all, options))
}

fn load_node(path: &Path) -> Result<config::NodeConfig, ExitCode> {
    config::NodeConfig::load(path).map_err(|e| match e {
        config::LoadError::Read { path, source } => {
            eprintln!("{}: cannot read: {source}", path.display());
            ExitCode::from(EXIT_RUNTIME)
        }
        config::LoadError::Invalid(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            ExitCode::from(EXIT_BAD_INPUT)
        }
    })
}

fn load(node: &NodeArgs, files: Vec<PathBuf>) -> Result<(acl::Bundle, acl::Ir), ExitCode> {
    let (files, options) = inputs(node, files)?;
    let loaded = acl::load_and_compile(&files, &options);
    if let Ok((bundle, _)) = &loaded {
        for w in &bundle.warnings {
            eprintln!("warning: {w}");
        }
    }
    loaded.map_err(|e| {
        match &e {
            LoadError::Io { .. } => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
            LoadError::Invalid(errors) => {
                for err in errors.iter() {
                    eprintln!("{err}");
                }
            }
        }
        ExitCode::from(EXIT_BAD_INPUT)
    })
}

/// With `--config` naming the iptables backend: refuses what that backend cannot
/// render (preDNAT / doNotTrack policies), as the agent would.
fn backend_can_render(node: &NodeArgs, ir: &acl::Ir) -> Result<(), ExitCode> {
    let Some(path) = &node.config else {
        return Ok(());
    };
    let cfg = load_node(path)?;
    if crate::agent::plan::backend(&cfg) != Backend::Iptables {
        return Ok(());
    }
    match acl::render::iptables::unsupported(ir) {
        Some(why) => {
            eprintln!("error: {}: policy.backend iptables: {why}", path.display());
            Err(ExitCode::from(EXIT_BAD_INPUT))
        }
        None => Ok(()),
    }
}

/// Runs a `tern policy` subcommand.
pub fn run(cmd: PolicyCommand) -> ExitCode {
    match cmd {
        PolicyCommand::Check { node, files } => match load(&node, files) {
            Ok((b, ir)) => {
                if let Err(code) = backend_can_render(&node, &ir) {
                    return code;
                }
                out(&format!(
                    "ok: {} policies, {} workload endpoints, {} host endpoints, {} network sets; {} endpoints under policy, {} rules, {} sets{}\n",
                    b.policies.len(),
                    b.workloads.len(),
                    b.hosts.len(),
                    b.network_sets.len(),
                    ir.endpoints.len(),
                    ir.rule_count(),
                    ir.set_count(),
                    match b.warnings.len() {
                        0 => String::new(),
                        n => format!("; {n} documents skipped"),
                    }
                ));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        PolicyCommand::Render {
            backend,
            node,
            files,
        } => match load(&node, files) {
            Ok((_, ir)) => {
                let refused = (backend == Backend::Iptables)
                    .then(|| acl::render::iptables::unsupported(&ir))
                    .flatten();
                if let Some(why) = refused {
                    eprintln!("error: {why}");
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
                out(&acl::render_text(&ir, backend));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        PolicyCommand::Explain {
            from,
            to,
            protocol,
            port,
            source_port,
            icmp_type,
            node,
            files,
        } => {
            let proto_name = protocol.to_ascii_lowercase();
            let Some(protocol) = acl::model::Protocol::parse(&protocol) else {
                eprintln!("--protocol: unknown protocol `{protocol}`");
                return ExitCode::from(EXIT_BAD_INPUT);
            };
            let ported = matches!(
                proto_name.as_str(),
                "tcp" | "udp" | "sctp" | "6" | "17" | "132"
            );
            let port = match (port, ported) {
                (Some(p), _) => p,
                (None, false) => 0,
                (None, true) => {
                    eprintln!("--port: required for {proto_name} (the destination port decides most rules)");
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
            };
            let (bundle, ir) = match load(&node, files) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let (src, dst) = match acl::explain::addresses(&bundle, &from, &to) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
            };
            let pkt = acl::explain::Packet {
                src,
                dst,
                protocol,
                sport: source_port,
                dport: port,
                icmp_type,
                icmp_code: 0,
            };
            let e = acl::explain::explain(&bundle, &ir, &pkt);
            // Staged policies: what the verdict would be with them enforced.
            let staged = acl::explain::with_staged(&bundle).map(|b| {
                let opts = inputs(&node, Vec::new())
                    .map(|(_, o)| o)
                    .unwrap_or_default();
                let ir = acl::compile(&b, &opts);
                acl::explain::explain(&b, &ir, &pkt)
            });
            let connection = if ported {
                format!("connection: {proto_name} source port {source_port} -> destination port {port}\n")
            } else {
                format!("connection: {proto_name}\n")
            };
            let staged = match staged {
                None => String::new(),
                Some(s) => format!(
                    "staged policies (evaluated, not enforced): the verdict would be {}\n{}",
                    if s.allowed { "allow" } else { "deny" },
                    s.to_string()
                        .lines()
                        .skip(2)
                        .map(|l| format!("  {l}\n"))
                        .collect::<String>()
                ),
            };
            out(&format!("{e}{connection}{staged}"));
            if e.allowed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_DENIED)
            }
        }
        PolicyCommand::Apply {
            backend,
            node,
            files,
        } => {
            let (_, ir) = match load(&node, files) {
                Ok(x) => x,
                Err(code) => return code,
            };
            match acl::Applier::new(backend).apply(&ir) {
                Ok(r) => {
                    println!(
                        "applied: {} rules, {} sets in {:?} ({:?})",
                        r.rules, r.sets, r.duration, r.mode
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("apply failed, rules in force unchanged: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
        }
        PolicyCommand::Stats { backend, json } => match acl::apply::staged_counters(backend) {
            Ok(rows) => {
                out(&stats_text(&rows, json));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot read the counters: {e}");
                ExitCode::from(EXIT_RUNTIME)
            }
        },
        PolicyCommand::Flush { backend } => match acl::apply::flush(backend) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("flush failed: {e}");
                ExitCode::from(EXIT_RUNTIME)
            }
        },
    }
}

/// `tern policy stats` output: a table, or one JSON object per line.
fn stats_text(rows: &[acl::staged::StagedCount], json: bool) -> String {
    let mut text = String::new();
    if json {
        for r in rows {
            let v = serde_json::json!({
                "policy": r.policy,
                "rule": r.rule,
                "verdict": r.verdict,
                "packets": r.packets,
                "bytes": r.bytes,
            });
            text.push_str(&format!("{v}\n"));
        }
        return text;
    }
    if rows.is_empty() {
        return "no staged policy counters in force\n".to_string();
    }
    text.push_str(&format!(
        "{:<40} {:>5} {:<8} {:>12} {:>14}\n",
        "STAGED POLICY", "RULE", "VERDICT", "PACKETS", "BYTES"
    ));
    for r in rows {
        let rule = r.rule.map_or("-".to_string(), |n| n.to_string());
        text.push_str(&format!(
            "{:<40} {:>5} {:<8} {:>12} {:>14}\n",
            r.policy, rule, r.verdict, r.packets, r.bytes
        ));
    }
    text
}
