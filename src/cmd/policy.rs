//! `tern policy …`: check, render, explain and flush network policy.
use std::path::PathBuf;
use std::process::ExitCode;

/// The `tern policy` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate policies and endpoints; errors as FILE:LINE:COL: message, exit 2.
    Check {
        /// Policy and endpoint files or folders.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Runs a `tern policy` subcommand.
pub fn run(_cmd: PolicyCommand) -> ExitCode {
    super::not_built("tern policy")
}
