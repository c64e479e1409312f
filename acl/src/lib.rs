//! acl: network policy for tern — the policy model (Calico and Kubernetes), endpoints,
//! the selector language, compilation to a sorted IR, explanation of verdicts, rendering
//! to nftables and iptables, and atomic, incremental apply with rollback.
#![warn(missing_docs)]

pub mod apply;
pub mod compile;
pub mod endpoint;
pub mod engine;
pub mod explain;
pub mod ir;
pub mod loader;
pub mod model;
pub mod names;
pub mod netset;
pub mod render;
pub mod selector;
pub mod staged;
pub mod tier;

pub use apply::{Applier, ApplyError, ApplyMode, ApplyReport};
pub use compile::{compile, CompileOptions, Incremental};
pub use endpoint::{HostEndpoint, Namespace, WorkloadEndpoint};
pub use engine::{Engine, EngineError, Reloaded};
pub use ir::Ir;
pub use loader::{load_paths, Bundle, LoadError};
pub use netset::NetworkSet;
pub use render::Backend;

/// Loads `paths` and compiles them (a one-shot; the agent keeps a [`loader::Loader`] so a
/// change re-parses only the changed files). On error nothing should be applied.
pub fn load_and_compile(
    paths: &[std::path::PathBuf],
    opts: &CompileOptions,
) -> Result<(Bundle, Ir), LoadError> {
    let bundle = load_paths(paths)?;
    let ir = compile(&bundle, opts);
    Ok((bundle, ir))
}

/// The text `tern policy render` prints for a backend.
pub fn render_text(ir: &Ir, backend: Backend) -> String {
    match backend {
        Backend::Nftables => render::nft::table_text(&render::nft::render(ir)),
        Backend::Iptables => render::iptables::display_text(&render::iptables::render(ir)),
    }
}
