//! `tern config check FILE`: validate a node config.
//!
//! Prints `FILE: ok` and exits 0, or prints every error as `FILE:LINE:COL: message`
//! (one per line, on stderr) and exits 2; a file that cannot be read exits 1.
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
        Ok(_) => {
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
