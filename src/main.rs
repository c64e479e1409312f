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
    #[command(flatten)]
    Socket(SocketCommand),
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

/// The short control-socket requests, which scripts run often (`reload` after each
/// config change, as Calico's confd runs `birdc configure`). `main` parses them with
/// [`SocketCli`], a tree of just these subcommands: building the whole tree (every
/// subcommand's arguments, about 130 KiB more heap) took about an eighth of
/// `tern reload`'s run, request included. Flattened into [`Command`], so help,
/// completions and man pages are unchanged.
#[derive(Subcommand, Debug)]
enum SocketCommand {
    /// Show BGP peers: address, AS, state, uptime, prefix counts, last error.
    Status(cmd::status::StatusArgs),
    /// Show the Loc-RIB: prefix, best next hops, AS path, learned from, FIB state.
    Routes(cmd::status::RoutesArgs),
    /// Make the running agent re-read its node config (as SIGHUP does); exit 1 if that failed.
    Reload(cmd::reload::ReloadArgs),
}

/// The names of [`SocketCommand`]'s subcommands (a test checks them).
const SOCKET_COMMANDS: [&str; 3] = ["status", "routes", "reload"];

/// [`Cli`] with only the [`SocketCommand`]s: `tern reload …` parses (and reports errors
/// and help) exactly as with the whole tree, since a subcommand's help and errors
/// depend only on the subcommand and the binary's name.
#[derive(Parser, Debug)]
#[command(name = "tern", version = VERSION, about, long_about = None)]
struct SocketCli {
    #[command(subcommand)]
    command: SocketCommand,
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
    let first = std::env::args_os().nth(1);
    if first
        .as_deref()
        .and_then(|a| a.to_str())
        .is_some_and(|a| SOCKET_COMMANDS.contains(&a))
    {
        return run_socket(SocketCli::parse().command);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Agent(a) => cmd::agent::run(a),
        Command::Socket(c) => run_socket(c),
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

fn run_socket(c: SocketCommand) -> ExitCode {
    match c {
        SocketCommand::Status(a) => cmd::status::run_status(a),
        SocketCommand::Routes(a) => cmd::status::run_routes(a),
        SocketCommand::Reload(a) => cmd::reload::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_cli_is_valid() {
        SocketCli::command().debug_assert();
        Cli::command().debug_assert();
    }

    #[test]
    fn socket_command_names() {
        let names: Vec<_> = SocketCli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert_eq!(names, SOCKET_COMMANDS);
    }

    /// The short tree parses, and prints help and errors, byte for byte as the whole one.
    #[test]
    fn socket_cli_parses_as_the_whole_tree() {
        let cases: &[&[&str]] = &[
            &["reload"],
            &["reload", "--json", "--socket", "/x.sock"],
            &["reload", "--help"],
            &["reload", "-h"],
            &["reload", "--jsn"],
            &["reload", "extra"],
            &["reload", "--version"],
            &["reload", "--socket"],
            &["status"],
            &["status", "192.0.2.1", "--json"],
            &["status", "help"],
            &["status", "--help"],
            &["status", "-h"],
            &["status", "a", "b"],
            &["routes", "10.0.0.0/8", "--all"],
            &[
                "routes",
                "--prefix",
                "10.0.0.0/8",
                "--match",
                "covered",
                "--limit",
                "3",
            ],
            &["routes", "--match", "nope"],
            &["routes", "10.0.0.0/8", "--prefix", "10.0.0.0/8"],
            &["routes", "not-a-prefix"],
            &["routes", "--help"],
            &["routes", "-h"],
        ];
        for case in cases {
            let argv = std::iter::once("tern").chain(case.iter().copied());
            let whole = Cli::try_parse_from(argv.clone());
            let short = SocketCli::try_parse_from(argv);
            match (whole, short) {
                (Ok(w), Ok(s)) => match w.command {
                    Command::Socket(c) => {
                        assert_eq!(format!("{c:?}"), format!("{:?}", s.command), "{case:?}")
                    }
                    other => panic!("{case:?}: whole tree parsed {other:?}"),
                },
                (Err(w), Err(s)) => {
                    assert_eq!(w.kind(), s.kind(), "{case:?}");
                    assert_eq!(w.exit_code(), s.exit_code(), "{case:?}");
                    assert_eq!(
                        w.render().ansi().to_string(),
                        s.render().ansi().to_string(),
                        "{case:?}"
                    );
                }
                (w, s) => panic!("{case:?}: whole tree {w:?}, short tree {s:?}"),
            }
        }
    }
}
