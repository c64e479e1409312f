//! `tern completion SHELL` and `tern manpage` are generated from the CLI definition: every
//! top-level command appears in both, and the man page is valid roff that `man` renders.

use std::process::{Command, Stdio};

fn tern(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .output()
        .expect("run tern")
}

const COMMANDS: [&str; 7] = [
    "agent", "status", "routes", "config", "policy", "bgp", "fib",
];

#[test]
fn completions_know_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let out = tern(&["completion", shell]);
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for c in COMMANDS {
            assert!(text.contains(c), "{shell} completion lacks `{c}`");
        }
    }
    let bad = tern(&["completion", "cmd.exe"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn manpage_renders_and_lists_the_commands() {
    let out = tern(&["manpage"]);
    assert!(out.status.success());
    let roff = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        roff.starts_with(".ie") || roff.contains(".TH tern 8"),
        "{roff}"
    );
    // Render it as `man -l` would, when man is installed.
    let Ok(mut child) = Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("man not installed: checked the roff text only");
        for c in COMMANDS {
            assert!(roff.contains(c), "man page lacks `{c}`");
        }
        return;
    };
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(roff.as_bytes()).expect("write roff");
    }
    let r = child.wait_with_output().expect("man");
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    for c in COMMANDS {
        assert!(text.contains(c), "rendered man page lacks `{c}`:\n{text}");
    }
}
