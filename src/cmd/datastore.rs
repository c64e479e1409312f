//! `tern apply -f FILE…`, `tern get KIND [NAME]`, `tern delete KIND NAME | -f FILE…`
//! and `tern node list`: calicoctl's habits over tern's datastore (etcd, or the
//! read-only files backend for `get`). Every document of every file is validated
//! before anything is written (`FILE:LINE:COL: …`, exit 2). Writes are
//! compare-and-swap on the revision read (`store::apply`). Exit 1 when the datastore
//! fails or refuses (conflict, not found, read-only), 2 for bad input.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use resources::{Kind, Resource, ResourceKey, Spec};
use serde_json::{json, Value};
use store::{Datastore, DatastoreConfig, Store, StoreError};

use super::{EXIT_BAD_INPUT, EXIT_RUNTIME};

/// Where the resources are.
#[derive(clap::Args, Debug, Clone)]
pub struct DatastoreArgs {
    /// `etcd` (or `etcdv3`) or `files` (read-only); default: $DATASTORE_TYPE, else etcdv3.
    #[arg(long, value_name = "TYPE")]
    pub datastore: Option<String>,
    /// etcd client URLs, comma-separated; default: $ETCD_ENDPOINTS, else http://127.0.0.1:2379.
    #[arg(long, value_name = "URL,...")]
    pub endpoints: Option<String>,
    /// Files or folders of the files datastore.
    #[arg(long = "files", id = "store_files", value_name = "PATH")]
    pub store_files: Vec<PathBuf>,
    /// CA certificate (PEM) of https:// etcd endpoints; default: $ETCD_CA_CERT_FILE.
    #[arg(long, value_name = "FILE")]
    pub ca_cert_file: Option<PathBuf>,
    /// Client certificate (PEM) for etcd; default: $ETCD_CERT_FILE.
    #[arg(long, value_name = "FILE")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's key (PEM); default: $ETCD_KEY_FILE.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

/// Arguments of `tern apply`.
#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// Resource files (YAML or JSON, several documents each; `-` for stdin).
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub ds: DatastoreArgs,
}

/// Output formats of `get`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A table of the main fields.
    Ps,
    /// A table with more fields.
    Wide,
    /// YAML documents (what `apply` takes back).
    Yaml,
    /// JSON.
    Json,
}

/// Arguments of `tern get`.
#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// Kind: nodes, ippools, bgpconfigurations, bgppeers, networksets,
    /// globalnetworksets, hostendpoints, workloadendpoints, networkpolicies,
    /// globalnetworkpolicies, kubernetesnetworkpolicies, namespaces, tiers (or the
    /// kind's name, or a short name: gnp, ipp, hep, wep, …).
    pub kind: String,
    /// One resource's name.
    pub name: Option<String>,
    /// Namespace of namespaced kinds (default `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Ps)]
    pub output: Output,
    #[command(flatten)]
    pub ds: DatastoreArgs,
}

/// Arguments of `tern delete`.
#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// Kind (as for `get`).
    #[arg(required_unless_present = "files", conflicts_with = "files")]
    pub kind: Option<String>,
    /// Name.
    #[arg(required_unless_present = "files")]
    pub name: Option<String>,
    /// Namespace of namespaced kinds (default `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Delete what these files define (validated first; a `resourceVersion` in a
    /// document makes the delete conditional on it).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub ds: DatastoreArgs,
}

/// `tern node …`.
#[derive(clap::Subcommand, Debug)]
pub enum NodeCommand {
    /// List the cluster's nodes (Node resources): name, addresses, AS.
    List(NodeListArgs),
}

/// Arguments of `tern node list`.
#[derive(clap::Args, Debug)]
pub struct NodeListArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Ps)]
    pub output: Output,
    #[command(flatten)]
    pub ds: DatastoreArgs,
}

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("tern: {msg}");
    ExitCode::from(code)
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(EXIT_RUNTIME, format!("cannot start the runtime: {e}")))
}

/// Opens a datastore that takes writes (the files one answers read-only at once).
async fn open_writable(ds: &DatastoreArgs) -> Result<Datastore, ExitCode> {
    match open(ds).await? {
        Datastore::Files(_) => Err(fail(EXIT_RUNTIME, StoreError::ReadOnly)),
        other => Ok(other),
    }
}

async fn open(ds: &DatastoreArgs) -> Result<Datastore, ExitCode> {
    let cfg = DatastoreConfig::resolve(
        ds.datastore.as_deref(),
        ds.endpoints.as_deref(),
        &ds.store_files,
        &store::TlsFlags {
            ca_cert_file: ds.ca_cert_file.clone(),
            cert_file: ds.cert_file.clone(),
            key_file: ds.key_file.clone(),
        },
        |k| std::env::var(k).ok(),
    )
    .map_err(|e| fail(EXIT_BAD_INPUT, e))?;
    Datastore::open(&cfg).await.map_err(|e| match e {
        // Unreadable TLS files are the command's input.
        StoreError::Tls(_) => fail(EXIT_BAD_INPUT, e),
        e => fail(EXIT_RUNTIME, e),
    })
}

/// Loads every file; on any error prints them all and returns exit 2.
fn load_all(files: &[PathBuf]) -> Result<Vec<Resource>, ExitCode> {
    let mut out: Vec<Resource> = Vec::new();
    let mut bad = false;
    let mut seen: BTreeSet<ResourceKey> = BTreeSet::new();
    for f in files {
        let loaded = if f == Path::new("-") {
            let mut text = String::new();
            match std::io::stdin()
                .take(resources::load::MAX_FILE_BYTES)
                .read_to_string(&mut text)
            {
                Ok(_) => resources::load_text(Path::new("<stdin>"), &text)
                    .map_err(resources::load::LoadError::Invalid),
                Err(e) => return Err(fail(EXIT_RUNTIME, format!("<stdin>: cannot read: {e}"))),
            }
        } else {
            resources::load_file(f)
        };
        match loaded {
            Ok(rs) => {
                for r in rs {
                    if !seen.insert(r.key()) {
                        eprintln!(
                            "{}: {} is also defined in an earlier file",
                            f.display(),
                            r.key()
                        );
                        bad = true;
                    }
                    out.push(r);
                }
            }
            Err(resources::load::LoadError::Invalid(es)) => {
                for e in es.iter() {
                    eprintln!("{e}");
                }
                bad = true;
            }
            Err(e @ resources::load::LoadError::Read { .. }) => {
                return Err(fail(EXIT_RUNTIME, e));
            }
        }
    }
    if bad {
        eprintln!("tern: nothing was written");
        return Err(ExitCode::from(EXIT_BAD_INPUT));
    }
    Ok(out)
}

/// `tern apply`.
pub fn run_apply(a: ApplyArgs) -> ExitCode {
    let resources = match load_all(&a.files) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let store = match open_writable(&a.ds).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        for (i, r) in resources.iter().enumerate() {
            match store::apply(&store, r).await {
                Ok((created, rev)) => println!(
                    "{}: {} (revision {rev})",
                    r.key(),
                    if created { "created" } else { "configured" }
                ),
                Err(e) => {
                    let hint = match e {
                        StoreError::Conflict { .. } => {
                            "; get it again (tern get -o yaml) and re-apply"
                        }
                        _ => "",
                    };
                    return fail(
                        EXIT_RUNTIME,
                        format!(
                            "apply {}: {e}{hint} ({i} of {} applied before it)",
                            r.key(),
                            resources.len()
                        ),
                    );
                }
            }
        }
        ExitCode::SUCCESS
    })
}

fn kind_arg(word: &str) -> Result<Kind, ExitCode> {
    Kind::from_cli(word).ok_or_else(|| {
        fail(
            EXIT_BAD_INPUT,
            format!("unknown resource kind `{word}` ({})", Kind::cli_words()),
        )
    })
}

fn key_for(kind: Kind, name: &str, namespace: Option<&str>) -> ResourceKey {
    ResourceKey {
        kind,
        namespace: kind
            .namespaced()
            .then(|| namespace.unwrap_or("default").to_string()),
        name: name.to_string(),
    }
}

/// `tern get`.
pub fn run_get(a: GetArgs) -> ExitCode {
    let kind = match kind_arg(&a.kind) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let store = match open(&a.ds).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        if let Some(name) = &a.name {
            let key = key_for(kind, name, a.namespace.as_deref());
            return match store.get(&key).await {
                Ok(Some(r)) => print_one(&r, a.output),
                Ok(None) => fail(EXIT_RUNTIME, format!("{key} does not exist")),
                Err(e) => fail(EXIT_RUNTIME, e),
            };
        }
        match store.list(kind).await {
            Ok((mut list, _)) => {
                if kind.namespaced() && !a.all_namespaces {
                    let ns = a.namespace.as_deref().unwrap_or("default");
                    list.retain(|r| r.metadata.namespace.as_deref() == Some(ns));
                }
                list.sort_by_key(Resource::key);
                print_list(kind, &list, a.output, a.all_namespaces)
            }
            Err(e) => fail(EXIT_RUNTIME, e),
        }
    })
}

/// `tern delete`.
pub fn run_delete(a: DeleteArgs) -> ExitCode {
    let targets: Vec<(ResourceKey, Option<i64>)> = if a.files.is_empty() {
        let kind = match kind_arg(a.kind.as_deref().unwrap_or_default()) {
            Ok(k) => k,
            Err(code) => return code,
        };
        let name = a.name.clone().unwrap_or_default();
        vec![(key_for(kind, &name, a.namespace.as_deref()), None)]
    } else {
        match load_all(&a.files) {
            Ok(rs) => rs
                .iter()
                .map(|r| {
                    let rev = r
                        .metadata
                        .resource_version
                        .as_deref()
                        .and_then(|v| v.parse().ok());
                    (r.key(), rev)
                })
                .collect(),
            Err(code) => return code,
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let store = match open_writable(&a.ds).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        let mut code = ExitCode::SUCCESS;
        for (key, expected) in &targets {
            match store.delete(key, *expected).await {
                Ok(rev) => println!("{key}: deleted (revision {rev})"),
                Err(e @ StoreError::NotFound(_)) => {
                    code = fail(EXIT_RUNTIME, format!("delete: {e}"));
                }
                Err(e) => return fail(EXIT_RUNTIME, format!("delete {key}: {e}")),
            }
        }
        code
    })
}

/// `tern node list`.
pub fn run_node(c: NodeCommand) -> ExitCode {
    match c {
        NodeCommand::List(a) => run_get(GetArgs {
            kind: "nodes".into(),
            name: None,
            namespace: None,
            all_namespaces: false,
            output: a.output,
            ds: a.ds,
        }),
    }
}

fn print_one(r: &Resource, out: Output) -> ExitCode {
    match out {
        Output::Yaml => emit_yaml(&r.to_value()),
        Output::Json => emit_json(&r.to_value()),
        Output::Ps | Output::Wide => print_list(r.kind, std::slice::from_ref(r), out, true),
    }
}

fn print_list(kind: Kind, list: &[Resource], out: Output, with_ns: bool) -> ExitCode {
    match out {
        Output::Yaml | Output::Json => {
            let doc = json!({
                "apiVersion": kind.api_version(),
                "kind": format!("{}List", kind.name()),
                "items": list.iter().map(Resource::to_value).collect::<Vec<_>>(),
            });
            if out == Output::Yaml {
                emit_yaml(&doc)
            } else {
                emit_json(&doc)
            }
        }
        Output::Ps | Output::Wide => {
            let wide = out == Output::Wide;
            let with_ns = with_ns && kind.namespaced();
            let mut rows: Vec<Vec<String>> = Vec::new();
            let mut header = Vec::new();
            if with_ns {
                header.push("NAMESPACE".to_string());
            }
            header.push("NAME".to_string());
            header.extend(
                columns(kind, None, wide)
                    .into_iter()
                    .map(|(h, _)| h.to_string()),
            );
            rows.push(header);
            for r in list {
                let mut row = Vec::new();
                if with_ns {
                    row.push(r.metadata.namespace.clone().unwrap_or_default());
                }
                row.push(r.metadata.name.clone());
                row.extend(columns(kind, Some(r), wide).into_iter().map(|(_, v)| v));
                rows.push(row);
            }
            print_table(&rows);
            ExitCode::SUCCESS
        }
    }
}

fn emit_yaml(v: &Value) -> ExitCode {
    match serde_yaml::to_string(v) {
        Ok(s) => {
            print!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(EXIT_RUNTIME, e),
    }
}

fn emit_json(v: &Value) -> ExitCode {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(EXIT_RUNTIME, e),
    }
}

fn print_table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| format!("{s:<w$}", w = widths[c]))
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// The table columns of a kind: (header, value of `r`); `r` None gives headers only.
fn columns(kind: Kind, r: Option<&Resource>, wide: bool) -> Vec<(&'static str, String)> {
    let spec = r.map(|r| &r.spec);
    let mut c: Vec<(&'static str, String)> = Vec::new();
    match kind {
        Kind::Node => {
            let s = match spec {
                Some(Spec::Node(s)) => Some(s),
                _ => None,
            };
            let b = s.and_then(|s| s.bgp.as_ref());
            c.push(("ASN", opt(s.and_then(|s| s.as_number()))));
            c.push(("IPV4", opt(b.and_then(|b| b.ipv4_address.clone()))));
            c.push(("IPV6", opt(b.and_then(|b| b.ipv6_address.clone()))));
            if wide {
                c.push((
                    "RRCLUSTERID",
                    opt(b.and_then(|b| b.route_reflector_cluster_id.clone())),
                ));
            }
        }
        Kind::IpPool => {
            let s = match spec {
                Some(Spec::IpPool(s)) => Some(s),
                _ => None,
            };
            c.push(("CIDR", opt(s.map(|s| s.cidr.clone()))));
            c.push((
                "SELECTOR",
                opt(s.map(|s| s.node_selector.clone().unwrap_or_else(|| "all()".into()))),
            ));
            if wide {
                c.push(("BLOCKSIZE", opt(s.map(|s| s.block_size()))));
                c.push((
                    "IPIPMODE",
                    opt(s.map(|s| format!("{:?}", s.ipip_mode.unwrap_or_default()))),
                ));
                c.push((
                    "VXLANMODE",
                    opt(s.map(|s| format!("{:?}", s.vxlan_mode.unwrap_or_default()))),
                ));
                c.push(("DISABLED", opt(s.map(|s| s.disabled))));
            }
        }
        Kind::BgpConfiguration => {
            let s = match spec {
                Some(Spec::BgpConfiguration(s)) => Some(s),
                _ => None,
            };
            c.push((
                "LOGSEVERITY",
                opt(s.and_then(|s| s.log_severity_screen.clone())),
            ));
            c.push(("MESHENABLED", opt(s.map(|s| s.mesh_enabled()))));
            c.push(("ASNUMBER", opt(s.and_then(|s| s.as_number))));
        }
        Kind::BgpPeer => {
            let s = match spec {
                Some(Spec::BgpPeer(s)) => Some(s),
                _ => None,
            };
            c.push(("PEERIP", opt(s.and_then(|s| s.peer_ip.clone()))));
            c.push((
                "NODE",
                opt(s.map(|s| match (&s.node, &s.node_selector) {
                    (Some(n), _) => n.clone(),
                    (None, Some(sel)) => sel.clone(),
                    (None, None) => "(global)".into(),
                })),
            ));
            c.push(("ASN", opt(s.and_then(|s| s.as_number))));
            if wide {
                c.push(("PEERSELECTOR", opt(s.and_then(|s| s.peer_selector.clone()))));
            }
        }
        Kind::NetworkSet | Kind::GlobalNetworkSet => {
            let s = match spec {
                Some(Spec::NetworkSet(s)) => Some(s),
                _ => None,
            };
            c.push(("NETS", opt(s.map(|s| s.nets.join(",")))));
        }
        Kind::HostEndpoint => {
            let s = match spec {
                Some(Spec::HostEndpoint(s)) => Some(s),
                _ => None,
            };
            c.push(("NODE", opt(s.and_then(|s| s.node.clone()))));
            c.push(("INTERFACE", opt(s.and_then(|s| s.interface_name.clone()))));
            c.push(("IPS", opt(s.map(|s| s.expected_ips.join(",")))));
        }
        Kind::WorkloadEndpoint => {
            let s = match spec {
                Some(Spec::WorkloadEndpoint(s)) => Some(s),
                _ => None,
            };
            c.push(("NODE", opt(s.and_then(|s| s.node.clone()))));
            c.push(("NETWORKS", opt(s.map(|s| s.ip_networks.join(",")))));
            c.push(("INTERFACE", opt(s.map(|s| s.interface_name.clone()))));
        }
        Kind::NetworkPolicy | Kind::GlobalNetworkPolicy | Kind::KubernetesNetworkPolicy => {
            if wide {
                let p = match spec {
                    Some(Spec::Policy(p)) => Some(p),
                    _ => None,
                };
                c.push(("ORDER", opt(p.and_then(|p| p.policy.order))));
                c.push(("SELECTOR", opt(p.map(|p| p.policy.selector.to_string()))));
            }
        }
        Kind::Namespace => {}
        Kind::Tier => {
            let t = match spec {
                Some(Spec::Tier(t)) => Some(&t.tier),
                _ => None,
            };
            c.push(("ORDER", opt(t.and_then(|t| t.order))));
            c.push((
                "DEFAULTACTION",
                opt(t.map(|t| format!("{:?}", t.default_action))),
            ));
        }
    }
    if wide {
        c.push((
            "LABELS",
            opt(r.map(|r| {
                r.metadata
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })),
        ));
    }
    c
}
