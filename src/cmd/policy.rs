//! `tern policy …`: check, render, explain, apply (once) and flush network policy.
use std::path::PathBuf;
use std::process::ExitCode;

use acl::{Backend, CompileOptions, LoadError};

use super::{EXIT_BAD_INPUT, EXIT_RUNTIME};

/// The `tern policy` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate policies and endpoints; errors as FILE:LINE:COL: message, exit 2.
    Check {
        /// Policy and endpoint files or folders.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the ruleset that would be applied.
    Render {
        /// nftables or iptables.
        #[arg(long, default_value = "nftables")]
        backend: Backend,
        /// Policy and endpoint files or folders.
        #[arg(required = true)]
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
        /// Destination port (tcp/udp/sctp).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Source port.
        #[arg(long, default_value_t = 49152)]
        source_port: u16,
        /// ICMP type (default echo request).
        #[arg(long, default_value_t = 8)]
        icmp_type: u8,
        /// Policy and endpoint files or folders.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Apply the policy once, replacing tern's rules (the agent does this continuously).
    #[command(hide = true)]
    Apply {
        /// nftables or iptables.
        #[arg(long, default_value = "nftables")]
        backend: Backend,
        /// Policy and endpoint files or folders.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Remove every rule, chain and set tern owns (nothing else is touched).
    Flush {
        /// nftables or iptables.
        #[arg(long, default_value = "nftables")]
        backend: Backend,
    },
}

fn load(files: &[PathBuf]) -> Result<(acl::Bundle, acl::Ir), ExitCode> {
    acl::load_and_compile(files, &CompileOptions::default()).map_err(|e| {
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

/// Runs a `tern policy` subcommand.
pub fn run(cmd: PolicyCommand) -> ExitCode {
    match cmd {
        PolicyCommand::Check { files } => match load(&files) {
            Ok((b, ir)) => {
                println!(
                    "ok: {} policies, {} workload endpoints, {} host endpoints; {} endpoints under policy, {} rules, {} sets",
                    b.policies.len(),
                    b.workloads.len(),
                    b.hosts.len(),
                    ir.endpoints.len(),
                    ir.rule_count(),
                    ir.set_count()
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        PolicyCommand::Render { backend, files } => match load(&files) {
            Ok((_, ir)) => {
                print!("{}", acl::render_text(&ir, backend));
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
            files,
        } => {
            let Some(protocol) = acl::model::Protocol::parse(&protocol) else {
                eprintln!("--protocol: unknown protocol `{protocol}`");
                return ExitCode::from(EXIT_BAD_INPUT);
            };
            let (bundle, ir) = match load(&files) {
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
            print!("{}", acl::explain::explain(&bundle, &ir, &pkt));
            ExitCode::SUCCESS
        }
        PolicyCommand::Apply { backend, files } => {
            let (_, ir) = match load(&files) {
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
        PolicyCommand::Flush { backend } => match acl::apply::flush(backend) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("flush failed: {e}");
                ExitCode::from(EXIT_RUNTIME)
            }
        },
    }
}
