//! Cross-file checks of the workload endpoints a node config names: addresses that
//! two endpoints share, and addresses outside the node's blocks. Both are warnings,
//! not errors (the files load and the agent runs; see [`check_workloads`]).
//!
//! This module only reads the endpoint files for their addresses (`ips` of tern's
//! shape, `spec.ipNetworks` of Calico's); everything else about them is checked by
//! the policy loader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde_yaml::Value;

use crate::node::NodeConfig;
use crate::yaml::{self, LocatedError};

/// Largest endpoint file read here (as the policy loader's limit).
const MAX_FILE_BYTES: u64 = 8 << 20;
/// Most files looked at under the `endpoints` paths.
const MAX_FILES: usize = 10_000;
/// Most folders walked.
const MAX_FOLDERS: usize = 10_000;

/// Warnings about the workload endpoints in the files and folders of the node's
/// `endpoints`, located and sorted by file and position:
///
/// - an address that another workload endpoint also has (the second and later
///   ones are reported, naming the first): the kernel route and the policy sets can
///   hold only one of them. A warning rather than an error because the agent must
///   keep enforcing policy for every other workload while one stale file is fixed;
/// - an address outside every one of the node's `blocks` (for endpoints of this
///   node: no `spec.node`, or `spec.node` equal to `nodeName`): the agent installs
///   the local route but advertises only its blocks, so the other hosts have no
///   route to it. A warning because a node may be given such addresses on purpose
///   (routes brought by other means).
///
/// Files that cannot be read or parsed are skipped here: the policy loader
/// (`tern policy check`, the agent) reports them.
pub fn check_workloads(node: &NodeConfig) -> Vec<LocatedError> {
    let mut files = Vec::new();
    let mut folders = 0;
    for p in &node.endpoints {
        collect_files(p, &mut files, &mut folders);
    }
    files.sort();
    files.dedup();
    let mut seen: BTreeMap<IpNet, (String, String)> = BTreeMap::new();
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = yaml::read_file(&file, MAX_FILE_BYTES) else {
            continue;
        };
        for source in yaml::documents(&file, &text) {
            if source.positions().scalar("kind") != Some("WorkloadEndpoint") {
                continue;
            }
            let Ok(doc) = source.deserialize::<Value>() else {
                continue;
            };
            check_document(node, &file, &doc, &mut seen, &mut out);
        }
    }
    out.sort_by(|a, b| (&a.file, a.location()).cmp(&(&b.file, b.location())));
    out
}

fn check_document(
    node: &NodeConfig,
    file: &Path,
    doc: &yaml::Document<Value>,
    seen: &mut BTreeMap<IpNet, (String, String)>,
    out: &mut Vec<LocatedError>,
) {
    let v = &doc.value;
    let calico = v.get("apiVersion").is_some();
    let (key, list, name, other_node) = if calico {
        let spec = v.get("spec");
        let node_name = spec.and_then(|s| s.get("node")).and_then(Value::as_str);
        (
            "spec.ipNetworks",
            spec.and_then(|s| s.get("ipNetworks")),
            endpoint_name(v.get("metadata")),
            node_name.is_some_and(|n| n != node.node_name),
        )
    } else {
        ("ips", v.get("ips"), endpoint_name(Some(v)), false)
    };
    let Some(Value::Sequence(ips)) = list else {
        return;
    };
    for (i, ip) in ips.iter().enumerate() {
        let Some(net) = ip.as_str().and_then(parse_net) else {
            continue;
        };
        let path = format!("{key}[{i}]");
        let at = doc.positions.at(&path);
        let here = format!("{}:{}", file.display(), at);
        if let Some((first, where_)) = seen.get(&net) {
            out.push(LocatedError::new(
                file,
                at,
                format!(
                    "warning: {path}: {net} is also the address of workload {first} ({where_}): \
                     only one of them gets the route and the policy"
                ),
            ));
        } else {
            seen.insert(net, (name.clone(), here));
        }
        if !other_node && !node.blocks.iter().any(|b| b.contains(&net)) {
            out.push(LocatedError::new(
                file,
                at,
                format!(
                    "warning: {path}: {net} is outside this node's blocks ({}): the other \
                     hosts get no route to it (only blocks are advertised)",
                    blocks_text(&node.blocks)
                ),
            ));
        }
    }
}

/// `namespace/name` of an endpoint (tern's shape: top level; Calico's: `metadata`).
fn endpoint_name(meta: Option<&Value>) -> String {
    let get = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
    format!(
        "{}/{}",
        get("namespace").unwrap_or("default"),
        get("name").unwrap_or("?")
    )
}

fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        .map(|n| n.trunc())
}

fn blocks_text(blocks: &[IpNet]) -> String {
    match blocks.len() {
        0 => "none".to_string(),
        1..=3 => blocks
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        n => format!(
            "{}, … {n} in all",
            blocks[..3]
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Files named, and `*.yaml` / `*.yml` files under folders (recursively; regular
/// files only, symlinked folders not followed, bounded like the policy loader).
fn collect_files(path: &Path, out: &mut Vec<PathBuf>, folders: &mut usize) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_file() {
        if out.len() < MAX_FILES {
            out.push(path.to_path_buf());
        }
        return;
    }
    if !meta.is_dir() || *folders >= MAX_FOLDERS {
        return;
    }
    *folders += 1;
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let yaml = matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        // Folders are walked only where they really are (a symlink back up would loop).
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            collect_files(&p, out, folders);
        } else if yaml && out.len() < MAX_FILES && std::fs::metadata(&p).is_ok_and(|m| m.is_file())
        {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_as_host_routes() {
        assert_eq!(parse_net("10.65.0.10"), "10.65.0.10/32".parse().ok());
        assert_eq!(parse_net("10.65.0.10/32"), "10.65.0.10/32".parse().ok());
        assert_eq!(parse_net("fd00::1/128"), "fd00::1/128".parse().ok());
        assert_eq!(parse_net("nope"), None);
    }
}
