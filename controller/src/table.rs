//! The `RouteTable` abstraction: what the reconcile logic needs from a FIB backend —
//! a dump of *our* routes and a batched apply with one result per operation.
//! Backends: [`crate::NetlinkTable`] (the kernel) and [`crate::MemoryTable`] (unit tests).

use ipnet::IpNet;

use crate::route::{Route, RouteKind};

/// One change to the FIB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Create a route that must not exist yet (`NLM_F_CREATE|NLM_F_EXCL`): a route of another
    /// protocol for the same prefix makes it fail with [`OpErrorKind::Exists`] instead of
    /// being overwritten.
    Add(&'a RouteKind),
    /// Overwrite our existing route for the prefix (`NLM_F_CREATE|NLM_F_REPLACE`).
    Replace(&'a RouteKind),
    /// Delete our route for the prefix (matched by prefix, table and our protocol only).
    Delete,
}

/// A change to one prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op<'a> {
    /// The route's destination.
    pub prefix: IpNet,
    /// What to do.
    pub action: Action<'a>,
}

/// Why one operation failed (the kernel's answer, classified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpErrorKind {
    /// A route for the prefix already exists (EEXIST).
    Exists,
    /// No such route (ESRCH/ENOENT) — harmless for a delete.
    NotFound,
    /// The next hop is not on a directly connected network (ENETUNREACH).
    Unreachable,
    /// The interface does not exist or is gone (ENODEV).
    NoDevice,
    /// Any other errno.
    Other(i32),
}

/// A failed operation, with a reason fit for `tern routes` and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct OpError {
    /// Classification.
    pub kind: OpErrorKind,
    /// Human-readable reason, e.g. "next hop 10.0.0.9 not directly reachable".
    pub reason: String,
}

/// A failure of a whole backend call (not of a single route).
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A socket call failed.
    #[error("netlink {what}: {source}")]
    Io {
        /// The operation that failed.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused a request (an NLMSG_ERROR answer). The errno is kept as a
    /// number, also when the kernel attached an extended-ack text, so callers can test it
    /// with [`TableError::code`].
    #[error("netlink {what}: {}{}", std::io::Error::from_raw_os_error(*errno),
        text.as_deref().map(|t| format!(": {t}")).unwrap_or_default())]
    Kernel {
        /// The operation that failed.
        what: &'static str,
        /// The positive errno (e.g. `libc::EEXIST`).
        errno: i32,
        /// The kernel's extended-ack message (`NLMSGERR_ATTR_MSG`), if it sent one.
        text: Option<String>,
    },
    /// The kernel dropped answers because our receive buffer overflowed (ENOBUFS); the
    /// results of the operations without an answer are unknown.
    #[error("netlink answers lost (receive buffer overrun)")]
    Overrun,
    /// The kernel sent something we could not parse.
    #[error("netlink decode: {0}")]
    Decode(String),
    /// Opening the backend inside a network namespace failed.
    #[error("network namespace {name}: {source}")]
    Netns {
        /// Namespace name (under /run/netns).
        name: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl TableError {
    /// The errno of the netlink call, if there is one: the kernel's answer to a request or
    /// the OS error of a socket call. The one place errno checks look at. `None` for a lost
    /// answer, a decode failure or a namespace that could not be entered (an ENOENT there
    /// means a missing namespace, not a missing route or device).
    pub fn code(&self) -> Option<i32> {
        match self {
            TableError::Kernel { errno, .. } => Some(*errno),
            TableError::Io { source, .. } => source.raw_os_error(),
            TableError::Overrun | TableError::Decode(_) | TableError::Netns { .. } => None,
        }
    }

    /// Whether the failure carries `errno` (e.g. `libc::EEXIST`).
    pub fn is_errno(&self, errno: i32) -> bool {
        self.code() == Some(errno)
    }
}

/// What a dump found besides the routes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpInfo {
    /// The kernel flagged the dump as inconsistent (the table changed while it ran).
    pub interrupted: bool,
}

/// A FIB that the reconcile logic can read and change, in batches.
pub trait RouteTable {
    /// Call `each` for every route with our protocol number in our table (IPv4 and IPv6),
    /// in the kernel's terms: `Via` next hops carry the device name the kernel chose.
    fn dump(&mut self, each: &mut dyn FnMut(Route)) -> Result<DumpInfo, TableError>;

    /// Apply `ops` in order and push one result per operation onto `results` (which the
    /// caller clears). On `Err`, `results` may be shorter than `ops`: the outcome of the rest
    /// is unknown.
    fn apply(
        &mut self,
        ops: &[Op<'_>],
        results: &mut Vec<Result<(), OpError>>,
    ) -> Result<(), TableError>;

    /// How many operations the caller should hand to one `apply` call.
    fn batch_size(&self) -> usize {
        1024
    }

    /// Shared objects the routes reference (kernel nexthop objects), for the gauge.
    fn shared_objects(&self) -> usize {
        0
    }

    /// Delete the routes of `prefixes` (sorted, each a route of ours via `kind`) in one
    /// operation, by deleting the shared object they go through, if that is exact: the
    /// backend has an object for `kind`, no kind in `keep` (the kinds other routes still
    /// use) goes through it or a group with it, and the routes through it in the backend
    /// are exactly `prefixes`. Returns whether it did; `false` leaves everything as it
    /// was (the caller deletes the routes one by one). Backends without shared objects
    /// never do.
    fn delete_through_shared(
        &mut self,
        kind: &RouteKind,
        prefixes: &[IpNet],
        keep: &[&RouteKind],
    ) -> Result<bool, TableError> {
        let _ = (kind, prefixes, keep);
        Ok(false)
    }
}
