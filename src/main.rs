//! tern: node agent for pure layer-3 container networking.
//!
//! This file only parses the command line and dispatches; each subcommand lives in
//! its own module under `src/cmd/` (and the agent under `src/agent/`).
//! Exit codes: 0 ok, 1 runtime failure, 2 bad input.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod agent;
mod cmd;
mod cni;

/// `VERSION (commit COMMIT, built DATE)`: what `--version`, the start-up log line and
/// `tern_build_info` report.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TERN_GIT_COMMIT"),
    ", built ",
    env!("TERN_BUILD_DATE"),
    ")"
);

/// tern — BGP, kernel routes and network policy for pure layer-3 container networking.
#[derive(Parser, Debug)]
#[command(name = "tern", version = VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the node agent in the foreground (logs to stderr, filter with RUST_LOG).
    Agent(cmd::agent::Args),
    /// Show BGP peers: address, AS, state, uptime, prefix counts, last error.
    Status(cmd::status::StatusArgs),
    /// Show the Loc-RIB: prefix, best next hops, AS path, learned from, FIB state.
    Routes(cmd::status::RoutesArgs),
    /// Make the running agent re-read its node config (as SIGHUP does); exit 1 if that failed.
    Reload(cmd::reload::ReloadArgs),
    /// Node configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Network-policy commands.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// BGP tools.
    #[command(subcommand)]
    Bgp(BgpCommand),
    /// Kernel FIB commands (tern's own routes only).
    #[command(subcommand)]
    Fib(cmd::fib::FibCommand),
    /// List the container workloads wired through CNI: addresses, interface, labels.
    Endpoints(cmd::endpoints::EndpointsArgs),
    /// Change a container workload (labels).
    #[command(subcommand)]
    Endpoint(cmd::endpoints::EndpointCommand),
    /// CNI plugin commands (the plugin itself runs when CNI_COMMAND is set).
    #[command(subcommand)]
    Cni(CniCommand),
    /// Create or update resources (Calico v3 YAML) in the datastore; all validated first.
    Apply(cmd::datastore::ApplyArgs),
    /// List or show resources: KIND [NAME] [-o yaml|json|wide].
    Get(cmd::datastore::GetArgs),
    /// Delete resources: KIND NAME, or -f FILE.
    Delete(cmd::datastore::DeleteArgs),
    /// Cluster nodes in the datastore.
    #[command(subcommand)]
    Node(cmd::datastore::NodeCommand),
    /// Print a shell completion script (bash, zsh, fish, …) on stdout.
    Completion(cmd::shell::CompletionArgs),
    /// Print the man page (roff) on stdout, or write all pages with --dir.
    Manpage(cmd::shell::ManpageArgs),
}

#[derive(Subcommand, Debug)]
enum CniCommand {
    /// Copy this binary as `tern` into the CNI plugin folder and write a network config.
    Install(cni::install::InstallArgs),
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate a node config; errors as FILE:LINE:COL: message, exit 2.
    Check(cmd::config::CheckArgs),
}

#[derive(Subcommand, Debug)]
enum BgpCommand {
    /// Decode raw BGP messages (a TCP stream's bytes) from stdin, one JSON object per line.
    Decode(cmd::decode::Args),
}

fn main() -> ExitCode {
    // A container runtime runs plugins with CNI_COMMAND set, whatever the binary's name.
    if let Some(code) = cni::run_if_plugin() {
        return code;
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Agent(a) => cmd::agent::run(a),
        Command::Status(a) => cmd::status::run_status(a),
        Command::Routes(a) => cmd::status::run_routes(a),
        Command::Reload(a) => cmd::reload::run(a),
        Command::Config(ConfigCommand::Check(a)) => cmd::config::run_check(a),
        Command::Policy(p) => cmd::policy::run(p),
        Command::Bgp(BgpCommand::Decode(a)) => cmd::decode::run(a),
        Command::Endpoints(a) => cmd::endpoints::run_list(a),
        Command::Endpoint(c) => cmd::endpoints::run(c),
        Command::Cni(CniCommand::Install(a)) => cni::install::run(a),
        Command::Fib(f) => cmd::fib::run(f),
        Command::Apply(a) => cmd::datastore::run_apply(a),
        Command::Get(a) => cmd::datastore::run_get(a),
        Command::Delete(a) => cmd::datastore::run_delete(a),
        Command::Node(c) => cmd::datastore::run_node(c),
        Command::Completion(a) => cmd::shell::completion(a, Cli::command()),
        Command::Manpage(a) => cmd::shell::manpage(a, Cli::command()),
    }
}
