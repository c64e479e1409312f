//! NLRI: prefixes with an optional ADD-PATH path identifier (RFC 4271 §4.3, RFC 7911).

use ipnet::IpNet;
use smallvec::SmallVec;

/// The NLRI field of an UPDATE: one prefix (the usual packing of BIRD and of most
/// routers for a changed route) is kept inline, more spill to the heap.
pub type NlriList = SmallVec<[Nlri; 1]>;

/// One NLRI entry: a prefix (host bits cleared) and, when ADD-PATH is negotiated for
/// its family in this direction, the path identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nlri {
    /// The prefix.
    pub prefix: IpNet,
    /// ADD-PATH path identifier (RFC 7911).
    pub path_id: Option<u32>,
}

impl Nlri {
    /// An NLRI without a path identifier.
    pub fn new(prefix: IpNet) -> Self {
        Self {
            prefix,
            path_id: None,
        }
    }
}

impl From<IpNet> for Nlri {
    fn from(prefix: IpNet) -> Self {
        Self::new(prefix)
    }
}

impl std::fmt::Display for Nlri {
    /// `10.0.0.0/24`, or `10.0.0.0/24 path-id 7` with ADD-PATH.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path_id {
            Some(id) => write!(f, "{} path-id {id}", self.prefix),
            None => write!(f, "{}", self.prefix),
        }
    }
}
