//! tern as a CNI plugin (spec 1.0.0 and 1.1.0).
//!
//! The `tern` binary started with `CNI_COMMAND` in its environment (whatever its name) is
//! the plugin: [`plugin`] reads the environment and the network config on stdin, sends
//! one request over the agent's control socket and prints the agent's answer — the ADD
//! result, nothing, or one CNI error object — on stdout. It is a thin client: the agent's
//! workload task allocates, wires, routes and registers the container for policy.
//! [`spec`] has the wire types, [`install`] the `tern cni install` command.
//!
//! Network config (one plugin of a conflist):
//! `{"cniVersion":"1.0.0","name":"tern","type":"tern","socket":"/run/tern/tern.sock"}`;
//! `socket` (default `/run/tern/tern.sock`) and `logFile` are optional; labels come from
//! `args.cni.labels` (`[{"key":"app","value":"web"}]`, CNI conventions) and from CNI_ARGS
//! `TERN_LABELS=app=web,tier=fe`; the workload's namespace and name from CNI_ARGS
//! `K8S_POD_NAMESPACE` / `K8S_POD_NAME` (default `default` / the container ID).
//!
//! Error codes: 1 unknown cniVersion, 3 the netns (or the attachment, for CHECK) does not
//! exist, 4 a missing or invalid CNI_* variable, 5 an I/O or netlink failure or a failed
//! CHECK, 6 stdin is not JSON, 7 an invalid config, 11 the agent cannot be reached (try
//! again later) or the node's block is full (the message names the block), 50 STATUS: the
//! agent is down or the node has no block.

pub mod install;
pub mod plugin;
pub mod spec;

/// `Some(exit code)` when this process was started as a CNI plugin (`CNI_COMMAND` set).
pub fn run_if_plugin() -> Option<std::process::ExitCode> {
    let command = std::env::var("CNI_COMMAND").ok()?;
    Some(plugin::run(&command))
}
