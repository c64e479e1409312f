//! `tern status` and `tern routes`: read the agent's state over its control socket.
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `tern status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Control socket of the agent.
    #[arg(long, default_value = "/run/tern/tern.sock")]
    pub socket: PathBuf,
}

/// Arguments of `tern routes`.
#[derive(clap::Args, Debug)]
pub struct RoutesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also show the paths that lost, and why.
    #[arg(long)]
    pub all: bool,
    /// Control socket of the agent.
    #[arg(long, default_value = "/run/tern/tern.sock")]
    pub socket: PathBuf,
}

/// Runs `tern status`.
pub fn run_status(_args: StatusArgs) -> ExitCode {
    super::not_built("tern status")
}

/// Runs `tern routes`.
pub fn run_routes(_args: RoutesArgs) -> ExitCode {
    super::not_built("tern routes")
}
