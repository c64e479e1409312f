//! `tern endpoints` (the container workloads the agent wired through CNI: addresses,
//! interface, labels) and `tern endpoint label NS/NAME key=value… key-…` (set or remove
//! labels; persisted with the attachment, policy updated). Exit 1 when the agent cannot
//! be reached or refuses, 2 for a malformed argument.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::agent::control::{self, Reply, Request};
use crate::agent::workloads_net::{EndpointsView, LabelRequest};

use super::{EXIT_BAD_INPUT, EXIT_RUNTIME};

/// Arguments of `tern endpoints`.
#[derive(clap::Args, Debug)]
pub struct EndpointsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Control socket of the agent.
    #[arg(long, env = "TERN_SOCKET", default_value = "/run/tern/tern.sock")]
    pub socket: PathBuf,
}

/// `tern endpoint …`.
#[derive(clap::Subcommand, Debug)]
pub enum EndpointCommand {
    /// Set labels (`key=value`) or remove them (`key-`) on a workload (NAMESPACE/NAME).
    Label(LabelArgs),
}

/// Arguments of `tern endpoint label`.
#[derive(clap::Args, Debug)]
pub struct LabelArgs {
    /// The workload, NAMESPACE/NAME (as `tern endpoints` shows).
    pub workload: String,
    /// `key=value` to set, `key-` to remove.
    #[arg(required = true)]
    pub labels: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Control socket of the agent.
    #[arg(long, env = "TERN_SOCKET", default_value = "/run/tern/tern.sock")]
    pub socket: PathBuf,
}

fn show(v: &EndpointsView, json: bool) -> ExitCode {
    if json {
        return match serde_json::to_string_pretty(v) {
            Ok(s) => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tern: {e}");
                ExitCode::from(EXIT_RUNTIME)
            }
        };
    }
    println!(
        "{:<30} {:<16} {:<40} LABELS",
        "WORKLOAD", "INTERFACE", "ADDRESSES"
    );
    for r in &v.endpoints {
        let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{:<30} {:<16} {:<40} {}",
            format!("{}/{}", r.namespace, r.name),
            r.interface,
            r.addresses.join(","),
            labels.join(",")
        );
    }
    ExitCode::SUCCESS
}

fn ask(socket: &std::path::Path, req: &Request, json: bool) -> ExitCode {
    match control::request(socket, req) {
        Ok(Reply::Endpoints(v)) => show(&v, json),
        Ok(Reply::Error(e)) => {
            eprintln!("tern: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
        Ok(_) => {
            eprintln!("tern: unexpected answer from the agent");
            ExitCode::from(EXIT_RUNTIME)
        }
        Err(e) => {
            eprintln!(
                "tern: cannot reach the agent at {}: {e} (is `tern agent` running? use --socket PATH)",
                socket.display()
            );
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Runs `tern endpoints`.
pub fn run_list(a: EndpointsArgs) -> ExitCode {
    ask(&a.socket, &Request::Endpoints, a.json)
}

/// Parses `NS/NAME` and `k=v` / `k-` arguments.
pub fn label_request(workload: &str, labels: &[String]) -> Result<LabelRequest, String> {
    let Some((ns, name)) = workload.split_once('/') else {
        return Err(format!("{workload:?}: expected NAMESPACE/NAME"));
    };
    if ns.is_empty() || name.is_empty() {
        return Err(format!("{workload:?}: expected NAMESPACE/NAME"));
    }
    let mut req = LabelRequest {
        namespace: ns.into(),
        name: name.into(),
        ..LabelRequest::default()
    };
    for l in labels {
        if let Some((k, v)) = l.split_once('=') {
            if k.is_empty() {
                return Err(format!("{l:?}: empty label key"));
            }
            req.set.insert(k.into(), v.into());
        } else if let Some(k) = l.strip_suffix('-').filter(|k| !k.is_empty()) {
            req.remove.push(k.into());
        } else {
            return Err(format!("{l:?}: expected key=value or key-"));
        }
    }
    Ok(req)
}

/// Runs `tern endpoint …`.
pub fn run(c: EndpointCommand) -> ExitCode {
    match c {
        EndpointCommand::Label(a) => match label_request(&a.workload, &a.labels) {
            Ok(req) => ask(&a.socket, &Request::EndpointLabel(req), a.json),
            Err(e) => {
                eprintln!("tern endpoint label: {e}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_arguments() {
        let r = label_request("shop/web-1", &["app=web".into(), "tier-".into()]).unwrap();
        assert_eq!(r.namespace, "shop");
        assert_eq!(r.set.get("app").map(String::as_str), Some("web"));
        assert_eq!(r.remove, ["tier"]);
        assert!(label_request("web-1", &["a=b".into()]).is_err());
        assert!(label_request("a/b", &["nope".into()]).is_err());
        assert!(label_request("a/b", &["=x".into()]).is_err());
    }
}
