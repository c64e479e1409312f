//! `tern config check FILE`: validate a node config.
//!
//! Prints `FILE: ok` and exits 0 (after warnings about the workload endpoints the
//! config names, on stderr, as `FILE:LINE:COL: warning: …`), or prints every error
//! as `FILE:LINE:COL: message` (one per line, on stderr, sorted) and exits 2; a file
//! that cannot be read exits 1.
use std::path::PathBuf;
use std::process::ExitCode;

use config::{LoadError, NodeConfig};

use super::{EXIT_BAD_INPUT, EXIT_RUNTIME};

/// Arguments of `tern config check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Node configuration file to validate.
    pub file: PathBuf,
}

/// Runs `tern config check`.
pub fn run_check(args: CheckArgs) -> ExitCode {
    match NodeConfig::load(&args.file) {
        Ok(cfg) => {
            // Warnings about the endpoint files (shared or out-of-block addresses):
            // shown, but the config is valid and the agent runs with it.
            for w in config::check_workloads(&cfg) {
                eprintln!("{w}");
            }
            println!("{}: ok", args.file.display());
            ExitCode::SUCCESS
        }
        Err(LoadError::Read { path, source }) => {
            eprintln!("{}: cannot read: {source}", path.display());
            ExitCode::from(EXIT_RUNTIME)
        }
        Err(LoadError::Invalid(errors)) => {
            for e in &errors {
                eprintln!("{e}");
            }
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
