//! `tern fib flush`: remove every route tern owns from the kernel (uninstall, or a clean
//! start after `tern agent` was stopped without `--flush-routes-on-exit`).
//!
//! "Owns" means the routes with tern's protocol number in tern's table — the same rule the
//! agent's reconciler uses — so routes of other owners (the host's own, BIRD's, DHCP's)
//! are never touched. The table and protocol come from `--config NODE.yaml` (its `fib`
//! section), or from `--table` / `--protocol` (defaults: main, 201). Prints how many routes
//! were removed; exit 0, 1 when the kernel refused, 2 for a bad config. The nexthop objects
//! those routes used and the tunnel devices tern makes for pools with an `ipipMode`
//! (`tern.ipip`) are deleted too.
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use config::{LoadError, NodeConfig};
use controller::{Counters, NetlinkTable, Reconciler, TableConfig};

use super::{EXIT_BAD_INPUT, EXIT_RUNTIME};

/// `tern fib …` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum FibCommand {
    /// Delete every route with tern's protocol number in tern's table.
    Flush(FlushArgs),
}

/// Arguments of `tern fib flush`.
#[derive(clap::Args, Debug)]
pub struct FlushArgs {
    /// Take the table and protocol from this node config's `fib` section.
    #[arg(long, short, conflicts_with_all = ["table", "protocol"])]
    pub config: Option<PathBuf>,
    /// Routing table id (default: main, 254).
    #[arg(long)]
    pub table: Option<u32>,
    /// Route protocol number tern installs with (default 201).
    #[arg(long)]
    pub protocol: Option<u8>,
}

/// Runs a `tern fib` subcommand.
pub fn run(cmd: FibCommand) -> ExitCode {
    match cmd {
        FibCommand::Flush(a) => flush(a),
    }
}

fn flush(args: FlushArgs) -> ExitCode {
    // With nexthop objects on whatever the config says: the objects the routes used
    // (an agent's with `fib.nexthopObjects`, the default) go after the routes.
    let mut table = TableConfig {
        nexthop_objects: true,
        ..TableConfig::default()
    };
    if let Some(path) = &args.config {
        match NodeConfig::load(path) {
            Ok(cfg) => {
                table.table = cfg.fib.table;
                table.protocol = cfg.fib.protocol;
            }
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
        }
    }
    if let Some(t) = args.table {
        table.table = t;
    }
    if let Some(p) = args.protocol {
        table.protocol = p;
    }
    let nl = match NetlinkTable::open(table, None, false) {
        Ok(nl) => nl,
        Err(e) => {
            eprintln!("tern fib flush: netlink: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let mut rec = Reconciler::new(table, nl, Arc::new(Counters::default()), true);
    match rec.flush() {
        Ok(n) => {
            println!(
                "removed {n} routes (table {}, protocol {})",
                table.table, table.protocol
            );
            // The tunnel devices tern made for pools with an ipipMode (by name: only
            // tern's own; the kernel's tunl0 and other tunnels stay).
            for dev in [controller::IPIP_DEVICE, controller::VXLAN_DEVICE] {
                match controller::delete_tunnel(dev) {
                    Ok(true) => println!("removed tunnel device {dev}"),
                    Ok(false) => {}
                    Err(e) => {
                        eprintln!("tern fib flush: {dev}: {e}");
                        return ExitCode::from(EXIT_RUNTIME);
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tern fib flush: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
