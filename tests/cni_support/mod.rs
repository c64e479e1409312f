//! Helpers of the CNI tests: run the `tern` binary as a CNI plugin (environment and
//! network config on stdin, as a runtime does), read its result or error object, and
//! look at what a host holds (tern's interfaces, device routes, allocation files).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use testlab::Netns;

pub struct Cni {
    pub socket: PathBuf,
    pub version: &'static str,
}

pub struct Out {
    pub code: i32,
    pub json: Option<Value>,
    pub stdout: String,
}

impl Cni {
    pub fn conf(&self) -> String {
        format!(
            r#"{{"cniVersion":"{}","name":"ternnet","type":"tern","socket":"{}"}}"#,
            self.version,
            self.socket.display()
        )
    }

    pub fn exec(&self, cmd: &str, env: &[(&str, &str)], stdin: &str) -> Out {
        let mut c = Command::new(testlab::tern_bin());
        c.env_clear()
            .env("CNI_COMMAND", cmd)
            .env("CNI_PATH", "/opt/cni/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("run the plugin");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        let o = child.wait_with_output().expect("plugin output");
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        Out {
            code: o.status.code().unwrap_or(-1),
            json: serde_json::from_str(stdout.trim()).ok(),
            stdout,
        }
    }

    pub fn call(&self, cmd: &str, id: &str, netns: &str) -> Out {
        let args = format!("K8S_POD_NAMESPACE=test;K8S_POD_NAME=p-{id};TERN_LABELS=app=web");
        self.exec(
            cmd,
            &[
                ("CNI_CONTAINERID", id),
                ("CNI_NETNS", netns),
                ("CNI_IFNAME", "eth0"),
                ("CNI_ARGS", &args),
            ],
            &self.conf(),
        )
    }
}

pub fn netns_path(ns: &Netns) -> String {
    format!("/run/netns/{}", ns.name())
}

pub fn error_code(o: &Out) -> u64 {
    assert_ne!(o.code, 0, "expected an error, got {}", o.stdout);
    o.json
        .as_ref()
        .and_then(|j| j["code"].as_u64())
        .unwrap_or_else(|| panic!("no error object: {}", o.stdout))
}

pub fn address_of(result: &Value, v6: bool) -> String {
    result["ips"]
        .as_array()
        .expect("ips")
        .iter()
        .map(|i| i["address"].as_str().unwrap_or_default().to_string())
        .find(|a| a.contains(':') == v6)
        .expect("address of the family")
}

/// `tern…` interfaces in the host.
pub fn tern_links(host: &Netns) -> Vec<String> {
    host.ok(&["ip", "-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or_default().to_string())
        .filter(|n| n.starts_with("tern"))
        .collect()
}

/// Routes with tern's protocol to a workload interface (`dev tern…`).
pub fn tern_device_routes(host: &Netns) -> Vec<String> {
    let mut out = Vec::new();
    for fam in ["-4", "-6"] {
        for l in host
            .ok(&["ip", fam, "route", "show", "proto", "201"])
            .lines()
        {
            if l.contains(" dev tern") {
                out.push(l.to_string());
            }
        }
    }
    out
}

pub fn allocations(state: &Path) -> usize {
    std::fs::read_dir(state.join("ipam"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}

impl Cni {
    /// Runs `cmd` for container `id` (interface eth0) with CNI_ARGS `args`.
    pub fn call_args(&self, cmd: &str, id: &str, netns: &str, args: &str) -> Out {
        self.exec(
            cmd,
            &[
                ("CNI_CONTAINERID", id),
                ("CNI_NETNS", netns),
                ("CNI_IFNAME", "eth0"),
                ("CNI_ARGS", args),
            ],
            &self.conf(),
        )
    }
}
