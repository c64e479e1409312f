//! ROUTE-REFRESH message (RFC 2918) with the Enhanced Route Refresh subtypes (RFC 7313).

use super::family::AddressFamily;

wire_enum! {
    /// ROUTE-REFRESH message subtype (RFC 7313 §3; the former Reserved octet).
    pub enum RouteRefreshSubtype: u8 {
        /// 0: a normal route refresh request.
        Normal = 0 => "normal",
        /// 1: Beginning of Route Refresh.
        BoRR = 1 => "borr",
        /// 2: End of Route Refresh.
        EoRR = 2 => "eorr",
    }
}

/// A ROUTE-REFRESH message. A subtype other than 0–2 must be ignored by the receiver
/// (RFC 7313 §5); the decoder keeps it as [`RouteRefreshSubtype::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    /// The family to refresh.
    pub family: AddressFamily,
    /// Subtype.
    pub subtype: RouteRefreshSubtype,
}
