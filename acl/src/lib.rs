//! acl: network policy for tern — the policy model (Calico and Kubernetes), endpoints,
//! the selector language, compilation to a sorted IR, explanation of verdicts, rendering
//! to nftables and iptables, and atomic, incremental apply with rollback.
#![warn(missing_docs)]

pub mod selector;
