//! cluster: what a tern node takes from a cluster datastore (etcd) instead of its own
//! file — the node-to-node mesh and BGP peers ([`mesh`]), its AS number, the pools it
//! may use and the blocks it owns ([`pools`], [`affinity`]).
//!
//! [`mesh`] and [`pools`] are pure: they read snapshots of resources (as a
//! `store::Reflector` publishes them) and return plain values, so the agent can
//! recompute them on every change and apply only the difference. [`affinity`] is the
//! one part that writes: it claims IPAM blocks with compare-and-swap transactions
//! through `store::Store`, so no two nodes ever own one block; [`reclaim`] gives them
//! back (empty blocks, and those of nodes that are gone), with transactions as well.
#![warn(missing_docs)]

pub mod affinity;
pub mod mesh;
pub mod pools;
pub mod reclaim;

use std::collections::BTreeMap;

use resources::{Resource, ResourceKey};

/// Resources of one kind by key, as a reflector snapshot holds them.
pub type Items = BTreeMap<ResourceKey, Resource>;

pub use affinity::{AffinityError, BlockClaim};
pub use mesh::{desired_peers, local_as, Local, PeerDefaults};
pub use pools::{usable_pools, Pool};
