//! `tern config check FILE`.
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `tern config check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Node configuration file to validate.
    pub file: PathBuf,
}

/// Runs `tern config check`.
pub fn run_check(_args: CheckArgs) -> ExitCode {
    super::not_built("tern config check")
}
