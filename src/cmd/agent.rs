//! `tern agent`: run the node agent.
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `tern agent`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Node configuration file.
    #[arg(long, short)]
    pub config: PathBuf,
}

/// Runs the agent.
pub fn run(_args: Args) -> ExitCode {
    super::not_built("tern agent")
}
