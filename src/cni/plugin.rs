//! The plugin process: read the CNI environment and the network config on stdin, ask the
//! agent over its control socket, print the result or one error object on stdout, exit.
//! Nothing but the result or the error ever goes to stdout; log lines go to stderr and,
//! when the config names a `logFile`, are appended there too.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::spec::{self, code, CniCall, CniError, CniReply, NetConf};
use crate::agent::control::{Reply, Request};

/// Default control socket of the agent.
pub const DEFAULT_SOCKET: &str = "/run/tern/tern.sock";
/// Longest network config read from stdin.
const MAX_STDIN: u64 = 1 << 20;
/// How long the plugin waits for the agent's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

struct Out {
    version: String,
    log_file: Option<String>,
}

impl Out {
    fn log(&self, line: &str) {
        eprintln!("tern-cni: {line}");
        if let Some(f) = &self.log_file {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)
            {
                let _ = writeln!(f, "tern-cni[{}]: {line}", std::process::id());
            }
        }
    }

    fn fail(&self, mut e: CniError) -> ExitCode {
        self.log(&format!("error {}: {} {}", e.code, e.msg, e.details));
        e.cni_version = self.version.clone();
        let text = serde_json::to_string(&e).unwrap_or_else(|_| {
            format!(
                "{{\"cniVersion\":\"{}\",\"code\":{},\"msg\":\"error\"}}",
                self.version, e.code
            )
        });
        println!("{text}");
        ExitCode::from(1)
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

/// Runs the plugin for `command` (the value of `CNI_COMMAND`).
pub fn run(command: &str) -> ExitCode {
    let latest = spec::SUPPORTED_VERSIONS[spec::SUPPORTED_VERSIONS.len() - 1];
    let mut out = Out {
        version: latest.to_string(),
        log_file: None,
    };
    let mut stdin = String::new();
    if command != "VERSION" || !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        if let Err(e) = std::io::stdin().take(MAX_STDIN).read_to_string(&mut stdin) {
            return out.fail(CniError::new(
                code::IO_FAILURE,
                format!("reading stdin: {e}"),
            ));
        }
    }
    if command == "VERSION" {
        println!(
            "{}",
            serde_json::json!({"cniVersion": latest, "supportedVersions": spec::SUPPORTED_VERSIONS})
        );
        return ExitCode::SUCCESS;
    }
    let conf: NetConf = match serde_json::from_str(&stdin) {
        Ok(c) => c,
        Err(e) => {
            return out.fail(
                CniError::new(code::DECODE, "cannot decode the network configuration")
                    .details(e.to_string()),
            )
        }
    };
    out.log_file = conf.log_file.clone();
    if !spec::SUPPORTED_VERSIONS.contains(&conf.cni_version.as_str()) {
        return out.fail(
            CniError::new(
                code::INCOMPATIBLE_VERSION,
                format!("incompatible CNI version {:?}", conf.cni_version),
            )
            .details(format!(
                "tern supports {}",
                spec::SUPPORTED_VERSIONS.join(", ")
            )),
        );
    }
    out.version = conf.cni_version.clone();
    match command {
        "ADD" | "DEL" | "CHECK" | "GC" | "STATUS" => {}
        other => {
            return out.fail(CniError::new(
                code::INVALID_ENV,
                format!("unknown CNI_COMMAND {other:?}"),
            ))
        }
    }
    if matches!(command, "GC" | "STATUS") && conf.cni_version == "1.0.0" {
        return out.fail(CniError::new(
            code::INCOMPATIBLE_VERSION,
            format!("{command} needs cniVersion 1.1.0"),
        ));
    }
    let need: &[&str] = match command {
        "ADD" | "CHECK" => &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
        "DEL" => &["CNI_CONTAINERID", "CNI_IFNAME"],
        _ => &[],
    };
    for n in need {
        if env(n).is_empty() {
            return out.fail(CniError::new(code::INVALID_ENV, format!("{n} is not set")));
        }
    }
    let spec::RuntimeArgs {
        namespace: ns,
        name,
        mut labels,
    } = match spec::parse_cni_args(&env("CNI_ARGS")) {
        Ok(v) => v,
        Err(e) => return out.fail(CniError::new(code::INVALID_ENV, e)),
    };
    let arg_labels: BTreeMap<String, String> = conf
        .args
        .iter()
        .filter_map(|a| a.cni.as_ref())
        .flat_map(|c| c.labels.iter().map(|l| (l.key.clone(), l.value.clone())))
        .collect();
    for (k, v) in arg_labels {
        labels.entry(k).or_insert(v);
    }
    let container_id = env("CNI_CONTAINERID");
    let call = CniCall {
        command: command.to_string(),
        cni_version: conf.cni_version.clone(),
        network: conf.name.clone(),
        namespace: ns.unwrap_or_else(|| "default".into()),
        name: name.unwrap_or_else(|| container_id.clone()),
        container_id,
        netns: env("CNI_NETNS"),
        ifname: env("CNI_IFNAME"),
        labels,
        valid_attachments: conf.valid_attachments.clone(),
    };
    let socket = conf.socket.clone().unwrap_or_else(|| DEFAULT_SOCKET.into());
    out.log(&format!(
        "{command} {} {} netns={:?} socket={socket}",
        call.container_id, call.ifname, call.netns
    ));
    let reply = match ask(Path::new(&socket), &Request::Cni(call)) {
        Ok(r) => r,
        Err(e) => {
            let c = if command == "STATUS" {
                code::NOT_AVAILABLE
            } else {
                code::TRY_AGAIN_LATER
            };
            return out.fail(
                CniError::new(c, "the tern agent cannot be reached; try again later")
                    .details(format!("{socket}: {e}")),
            );
        }
    };
    match reply {
        Reply::Cni(CniReply::Ok(Some(mut result))) => {
            result.cni_version = out.version.clone();
            match serde_json::to_string(&result) {
                Ok(s) => {
                    println!("{s}");
                    ExitCode::SUCCESS
                }
                Err(e) => out.fail(CniError::new(code::IO_FAILURE, e.to_string())),
            }
        }
        Reply::Cni(CniReply::Ok(None)) => ExitCode::SUCCESS,
        Reply::Cni(CniReply::Err(e)) => out.fail(e),
        // The agent serves a bounded number of connections at once; beyond that it
        // answers "busy", which is transient.
        Reply::Error(e) if e.starts_with("busy") => out.fail(
            CniError::new(
                code::TRY_AGAIN_LATER,
                "the tern agent is busy; try again later",
            )
            .details(e),
        ),
        Reply::Error(e) => {
            out.fail(CniError::new(code::IO_FAILURE, "the agent refused the request").details(e))
        }
        _ => out.fail(CniError::new(
            code::IO_FAILURE,
            "unexpected answer from the agent",
        )),
    }
}

/// One request line, one reply line.
fn ask(socket: &Path, req: &Request) -> std::io::Result<Reply> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    let mut line = serde_json::to_vec(req).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut answer = String::new();
    std::io::BufReader::new(stream).read_line(&mut answer)?;
    if answer.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the agent closed the connection without answering",
        ));
    }
    serde_json::from_str(answer.trim()).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unreadable answer: {e}"),
        )
    })
}
