//! `TERN_SOCKET` sets the control socket of the client commands when `--socket` is not
//! given (as the node config's `control.socket` may differ from the default).

use std::process::Command;

#[test]
fn tern_socket_names_the_socket_and_socket_flag_wins() {
    let dir = std::env::temp_dir().join(format!("tern-socket-env-{}", std::process::id()));
    let from_env = dir.join("from-env.sock");
    let from_flag = dir.join("from-flag.sock");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tern"))
            .args(args)
            .env("TERN_SOCKET", &from_env)
            .output()
            .expect("run tern")
    };
    for cmd in [&["status"][..], &["routes"][..], &["endpoints"][..]] {
        let out = run(cmd);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("from-env.sock"), "{cmd:?}: {err}");
    }
    let flag = from_flag.to_str().expect("utf-8");
    let out = run(&["status", "--socket", flag]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("from-flag.sock") && !err.contains("from-env.sock"),
        "{err}"
    );
}
