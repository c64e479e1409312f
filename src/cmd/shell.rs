//! `tern completion SHELL` and `tern manpage`: shell completions and a man page, both
//! generated from the CLI definition itself (clap_complete, clap_mangen), so they cannot
//! drift from the commands. `make install` installs both (man pages in section 1).
use std::io::Write;
use std::process::ExitCode;

use super::EXIT_RUNTIME;

/// Arguments of `tern completion`.
#[derive(clap::Args, Debug)]
pub struct CompletionArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

/// Prints the completion script for `args.shell` on stdout.
pub fn completion(args: CompletionArgs, mut cmd: clap::Command) -> ExitCode {
    // Into a buffer first: clap_complete panics when its writer fails (a closed pipe).
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "tern", &mut out);
    write_stdout(&out, "tern completion")
}

fn write_stdout(bytes: &[u8], what: &str) -> ExitCode {
    match std::io::stdout().write_all(bytes) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): not our failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{what}: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Arguments of `tern manpage`.
#[derive(clap::Args, Debug)]
pub struct ManpageArgs {
    /// Write every page (tern.1, tern-agent.1, tern-policy-explain.1, …) into this folder
    /// instead of printing tern.1 on stdout.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

/// Prints the man page (roff, section 1) on stdout, or writes all pages to `--dir`.
pub fn manpage(args: ManpageArgs, cmd: clap::Command) -> ExitCode {
    let cmd = cmd.name("tern");
    if let Some(dir) = args.dir {
        return match clap_mangen::generate_to(cmd, &dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tern manpage: {}: {e}", dir.display());
                ExitCode::from(EXIT_RUNTIME)
            }
        };
    }
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(cmd);
    let r = man
        .render(&mut out)
        .and_then(|()| std::io::stdout().write_all(&out));
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tern manpage: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
