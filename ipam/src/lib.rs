//! ipam: addresses for tern's workloads — a sans-IO allocator over this node's blocks
//! ([`Allocator`]), crash-safe persistence of allocations under `stateDir`
//! ([`store::StateDir`], the only module doing I/O), and the two together ([`Ipam`]).
//!
//! One IPv4 and one IPv6 address (one per family that has a block) per
//! [`AttachmentKey`] (container ID + interface name), idempotent, never handed out twice.
//!
//! ```
//! use ipam::{Allocator, Attachment, AttachmentKey, Request};
//!
//! let mut alloc = Allocator::new(["10.65.0.0/26".parse().unwrap(), "fd00:65::/122".parse().unwrap()]);
//! let key = AttachmentKey::new("3f2a9c", "eth0")?;
//! let req = Request::new(Attachment { netns: "/run/netns/x".into(), name: "web-1".into(), ..Default::default() });
//! let a = alloc.allocate(&key, &req)?;
//! assert_eq!(a.ipv4, Some("10.65.0.1".parse().unwrap()));
//! assert_eq!(a.ipv6, Some("fd00:65::1".parse().unwrap()));
//! assert_eq!(alloc.allocate(&key, &req)?, a); // ADD twice: same answer
//! alloc.update_labels(&key, |l| { l.insert("app".into(), "web".into()); })?;
//! assert_eq!(alloc.release(&key).map(|a| a.ipv4), Some(a.ipv4));
//! assert!(alloc.release(&key).is_none()); // DEL of something unknown is fine
//! # Ok::<(), ipam::IpamError>(())
//! ```
//!
//! With persistence (what the agent does):
//!
//! ```no_run
//! # fn main() -> Result<(), ipam::IpamError> {
//! let blocks = vec!["10.65.0.0/26".parse().unwrap()];
//! let (mut ipam, report) = ipam::Ipam::open("/var/lib/tern", blocks)?;
//! for p in &report.load { eprintln!("ipam: {p}"); }
//! for p in &report.restore { eprintln!("ipam: {p}"); }
//! let key = ipam::AttachmentKey::new("3f2a9c", "eth0")?;
//! let a = ipam.allocate(&key, &ipam::Request::default())?; // on disk before it returns
//! ipam.release(&key)?;
//! # let _ = a; Ok(()) }
//! ```
#![warn(missing_docs)]

mod allocator;
mod block;
mod error;
mod key;
mod model;
mod persistent;
pub mod store;

pub use allocator::{Allocator, BlockUsage, ProblemKind, RestoreProblem};
pub use error::IpamError;
pub use key::{
    validate_container_id, validate_ifname, AttachmentKey, MAX_CONTAINER_ID_LEN, MAX_IFNAME_LEN,
};
pub use model::{Allocation, Attachment, Family, Record, Request};
pub use persistent::{GcOutcome, Ipam, OpenReport};
