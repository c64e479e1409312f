//! `tern agent`: load the node config and run the agent in the foreground.
//!
//! Config errors are printed as `FILE:LINE:COL: message` and exit 2; an unreadable file
//! or a failure at start or while running exits 1; SIGTERM/SIGINT exit 0. Logs go to
//! stderr, filtered by `RUST_LOG` or `--log-level` (default `info`), as text (colour only on
//! a terminal, never with `NO_COLOR`) or JSON (`--log-format json`).
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
    /// Log filter when `RUST_LOG` is not set: error, warn, info, debug, trace, or a
    /// tracing directive such as `info,bgp=debug`.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Log line format on stderr: `text` (colour only when stderr is a terminal and
    /// `NO_COLOR` is unset) or `json` (one object per line, for log shippers).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Whether text logs may carry ANSI colour: only on a terminal, and never with
/// `NO_COLOR` set to anything non-empty (no-color.org).
fn use_colour(stderr_is_tty: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_tty && !matches!(no_color, Some(v) if !v.is_empty())
}

fn init_logging(args: &Args) -> Result<(), String> {
    use std::io::IsTerminal;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => tracing_subscriber::EnvFilter::try_new(&v)
            .map_err(|e| format!("RUST_LOG={v:?}: {e}"))?,
        _ => tracing_subscriber::EnvFilter::try_new(&args.log_level)
            .map_err(|e| format!("--log-level {:?}: {e}", args.log_level))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
        LogFormat::Text => builder
            .with_ansi(use_colour(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR"),
            ))
            .try_init(),
    };
    Ok(())
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
    if let Err(e) = init_logging(&args) {
        eprintln!("tern agent: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    tracing::info!(
        version = crate::VERSION,
        config = %args.config.display(),
        "tern agent starting"
    );
    for w in config::check_workloads(&cfg) {
        tracing::warn!("{w}");
    }
    let opts = agent::Options {
        flush_routes_on_exit: args.flush_routes_on_exit,
        graceful_restart: args.graceful_restart,
    };
    match agent::run(cfg, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once: the log line is the report (stderr, in the chosen format).
            tracing::error!("tern agent: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::use_colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("".into())));
        assert!(!use_colour(true, Some("1".into())));
        assert!(!use_colour(false, None));
    }
}
