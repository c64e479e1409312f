//! `tern reload`: asks the running agent to re-read its node config, as SIGHUP does,
//! and prints the outcome (what changed, or the located errors / the refused key).
//! Exit 0 when the reload succeeded, 1 when it failed (the agent then runs on with the
//! config it had) or the agent cannot be reached.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::agent::control::{self, Reply, Request};

use super::EXIT_RUNTIME;

/// Arguments of `tern reload`.
#[derive(clap::Args, Debug)]
pub struct ReloadArgs {
    /// Print the agent's JSON answer instead of a sentence.
    #[arg(long)]
    pub json: bool,
    /// Control socket of the agent (or $TERN_SOCKET).
    #[arg(long, env = "TERN_SOCKET", default_value = "/run/tern/tern.sock")]
    pub socket: PathBuf,
}

/// Runs `tern reload`.
pub fn run(args: ReloadArgs) -> ExitCode {
    let reply = match control::request(&args.socket, &Request::Reload) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "tern: cannot reach the agent at {}: {e} (is `tern agent` running? use --socket PATH)",
                args.socket.display()
            );
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let view = match reply {
        Reply::Reload(v) => v,
        Reply::Error(e) => {
            eprintln!("tern: the agent answered: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
        other => {
            eprintln!("tern: unexpected answer from the agent: {other:?}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&view) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("tern: {e}"),
        }
    } else if view.ok {
        println!(
            "config reloaded: {}",
            view.changed.as_deref().unwrap_or("nothing changed")
        );
    } else {
        eprintln!("tern: config reload failed; the agent runs on with its previous config:");
        for line in view.error.as_deref().unwrap_or("unknown error").lines() {
            eprintln!("  {line}");
        }
    }
    if view.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_RUNTIME)
    }
}
