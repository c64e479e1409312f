//! tern's node configuration and the located-YAML layer every input file uses.
//!
//! - [`yaml`]: typed multi-document YAML with `FILE:LINE:COL: message` errors and a
//!   key-path → position index (also used by `acl` for policies and endpoints).
//! - [`node`]: `node.yaml` — [`NodeConfig::load`] parses, fills defaults, reads
//!   password files and checks everything, reporting all errors at once.
//! - [`workloads`]: warnings about the workload endpoints a node names (an address
//!   two endpoints share, an address outside the node's blocks).
//!
//! See README.md for the contract.
#![warn(missing_docs)]

pub mod node;
pub mod workloads;
pub mod yaml;

pub use node::{LoadError, NodeConfig};
pub use workloads::check_workloads;
pub use yaml::{LocatedError, LocatedErrors};
