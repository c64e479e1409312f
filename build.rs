//! Build script: stamps the binary with the git commit and the build date, so
//! `tern --version`, the start-up log line and `tern_build_info` say exactly what runs.
//! Outside a git checkout (a source tarball) the commit is "unknown".

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    // SOURCE_DATE_EPOCH (reproducible builds) wins over the clock.
    let date = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|e| {
            Command::new("date")
                .args(["-u", "-d", &format!("@{e}"), "+%Y-%m-%d"])
                .output()
                .ok()
        })
        .or_else(|| Command::new("date").args(["-u", "+%Y-%m-%d"]).output().ok())
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=TERN_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=TERN_BUILD_DATE={date}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}
