//! `tern cni install`: copy the running binary as `tern` into the CNI plugin folder and
//! write a network config list for it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cmd::EXIT_RUNTIME;

/// Arguments of `tern cni install`.
#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    /// Where the runtime looks for plugins.
    #[arg(long, default_value = "/opt/cni/bin")]
    pub bin_dir: PathBuf,
    /// Where the runtime looks for network configs.
    #[arg(long, default_value = "/etc/cni/net.d")]
    pub conf_dir: PathBuf,
    /// The network's name (the conflist is `NAME.conflist`).
    #[arg(long, default_value = "tern")]
    pub name: String,
    /// The agent's control socket, written into the config.
    #[arg(long, default_value = "/run/tern/tern.sock")]
    pub socket: String,
    /// cniVersion of the config (1.0.0 or 1.1.0).
    #[arg(long, default_value = "1.0.0")]
    pub cni_version: String,
}

/// The conflist text for a network.
pub fn conflist(name: &str, socket: &str, version: &str) -> String {
    let v = serde_json::json!({
        "cniVersion": version,
        "name": name,
        "plugins": [{"type": "tern", "socket": socket}],
    });
    format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
}

/// Writes `text` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, path)
}

/// Runs `tern cni install`.
pub fn run(a: InstallArgs) -> ExitCode {
    if !super::spec::SUPPORTED_VERSIONS.contains(&a.cni_version.as_str())
        || a.name.is_empty()
        || a.name.contains('/')
    {
        eprintln!("tern cni install: bad --name or --cni-version");
        return ExitCode::from(crate::cmd::EXIT_BAD_INPUT);
    }
    let result = (|| -> Result<(PathBuf, PathBuf), String> {
        let me = std::env::current_exe().map_err(|e| format!("the running binary: {e}"))?;
        let bin = std::fs::read(&me).map_err(|e| format!("{}: {e}", me.display()))?;
        std::fs::create_dir_all(&a.bin_dir).map_err(|e| format!("{}: {e}", a.bin_dir.display()))?;
        std::fs::create_dir_all(&a.conf_dir)
            .map_err(|e| format!("{}: {e}", a.conf_dir.display()))?;
        let plugin = a.bin_dir.join("tern");
        write_atomic(&plugin, &bin, 0o755).map_err(|e| format!("{}: {e}", plugin.display()))?;
        let conf = a.conf_dir.join(format!("{}.conflist", a.name));
        write_atomic(
            &conf,
            conflist(&a.name, &a.socket, &a.cni_version).as_bytes(),
            0o644,
        )
        .map_err(|e| format!("{}: {e}", conf.display()))?;
        Ok((plugin, conf))
    })();
    match result {
        Ok((plugin, conf)) => {
            println!("installed {} and {}", plugin.display(), conf.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tern cni install: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
