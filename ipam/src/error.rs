//! The errors of the allocator (and of the persistent wrapper, which adds store failures).

use ipnet::IpNet;
use std::net::IpAddr;

use crate::store::StoreError;
use crate::AttachmentKey;

/// Why an IPAM operation was refused. A refused operation changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// The container ID is not what the CNI spec allows.
    #[error("invalid container ID \"{id}\": {reason}")]
    InvalidContainerId {
        /// The ID as given (escaped for printing).
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The interface name is not a valid Linux interface name.
    #[error("invalid interface name \"{ifname}\": {reason}")]
    InvalidIfname {
        /// The name as given (escaped for printing).
        ifname: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Every block of a family is full.
    #[error("no free address in block{} {block}{}", if also_full.is_empty() { "" } else { "s" }, list_also(also_full))]
    Exhausted {
        /// The (first) full block of the family.
        block: IpNet,
        /// The other blocks of that family, all full too.
        also_full: Vec<IpNet>,
    },
    /// The node has no block at all, so nothing can be allocated.
    #[error("this node has no address block to allocate from")]
    NoBlock,
    /// A specific address was requested but it is not in any of this node's blocks.
    #[error("{addr} is not in any of this node's blocks")]
    OutsideBlocks {
        /// The requested address.
        addr: IpAddr,
    },
    /// A specific address was requested but IPAM never hands it out (network or broadcast).
    #[error("{addr} is reserved in block {block} (network or broadcast address)")]
    Reserved {
        /// The requested address.
        addr: IpAddr,
        /// Its block.
        block: IpNet,
    },
    /// A specific address was requested but another attachment holds it.
    #[error("{addr} is already allocated to {holder}")]
    InUse {
        /// The requested address.
        addr: IpAddr,
        /// Who holds it.
        holder: AttachmentKey,
    },
    /// The key already holds an allocation whose address differs from the requested one.
    #[error("{key} already holds {held}, not the requested {requested}")]
    Conflict {
        /// The key.
        key: AttachmentKey,
        /// The address it holds.
        held: IpAddr,
        /// The address that was asked for.
        requested: IpAddr,
    },
    /// The key holds no allocation.
    #[error("no allocation for {key}")]
    UnknownKey {
        /// The key.
        key: AttachmentKey,
    },
    /// Persisting the change failed; the in-memory state was left as before.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn list_also(also: &[IpNet]) -> String {
    also.iter()
        .map(|b| format!(", {b}"))
        .collect::<Vec<_>>()
        .concat()
}
