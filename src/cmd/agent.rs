//! `tern agent`: load the node config and run the agent in the foreground.
//!
//! Config errors are printed as `FILE:LINE:COL: message` and exit 2; an unreadable file
//! or a failure at start or while running exits 1; SIGTERM/SIGINT exit 0. Logs go to
//! stderr, filtered by `RUST_LOG` (default `info`).
use std::path::PathBuf;
use std::process::ExitCode;

use config::{LoadError, NodeConfig};

use super::{EXIT_BAD_INPUT, EXIT_RUNTIME};
use crate::agent;

/// Arguments of `tern agent`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Node configuration file.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Delete tern's routes from the kernel on exit (by default they stay, so traffic keeps
    /// flowing while the agent restarts, and the next start adopts them).
    #[arg(long)]
    pub flush_routes_on_exit: bool,
    /// On SIGTERM/SIGINT, leave the way a restarting BGP speaker does (RFC 4724): sessions
    /// with peers that advertised graceful restart are closed without a NOTIFICATION, so
    /// those peers keep this node's routes for the restart time (120 s) and refresh them
    /// when the agent is back. Other peers get the Cease as usual. For restarts and
    /// upgrades; a plain stop should withdraw the routes.
    #[arg(long)]
    pub graceful_restart: bool,
}

/// Runs the agent.
pub fn run(args: Args) -> ExitCode {
    let cfg = match NodeConfig::load(&args.config) {
        Ok(c) => c,
        Err(LoadError::Read { path, source }) => {
            eprintln!("{}: cannot read: {source}", path.display());
            return ExitCode::from(EXIT_RUNTIME);
        }
        Err(LoadError::Invalid(errors)) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let opts = agent::Options {
        flush_routes_on_exit: args.flush_routes_on_exit,
        graceful_restart: args.graceful_restart,
    };
    match agent::run(cfg, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("tern agent: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
