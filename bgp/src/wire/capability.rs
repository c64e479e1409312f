//! BGP capabilities (RFC 5492) carried in OPEN: the model of each capability this
//! speaker understands, plus a raw catch-all for the rest.

use bytes::Bytes;

use super::family::{AddressFamily, Afi};

/// Capability codes (IANA "Capability Codes").
pub mod code {
    /// Multiprotocol Extensions (RFC 4760).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route Refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Extended Next Hop Encoding (RFC 8950).
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    /// BGP Extended Message (RFC 8654).
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// Graceful Restart (RFC 4724).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// Support for 4-octet AS number (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
    /// ADD-PATH (RFC 7911).
    pub const ADD_PATH: u8 = 69;
    /// Enhanced Route Refresh (RFC 7313).
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    /// FQDN (draft-walton-bgp-hostname-capability).
    pub const FQDN: u8 = 73;
}

/// One capability advertised in an OPEN message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Multiprotocol Extensions for one (AFI, SAFI) (RFC 4760).
    Multiprotocol(AddressFamily),
    /// Route Refresh (RFC 2918).
    RouteRefresh,
    /// Enhanced Route Refresh (RFC 7313).
    EnhancedRouteRefresh,
    /// Support for 4-octet AS numbers, with the speaker's AS (RFC 6793).
    FourOctetAs(u32),
    /// Graceful Restart (RFC 4724).
    GracefulRestart(GracefulRestart),
    /// ADD-PATH: per family, whether the speaker sends and/or receives path ids (RFC 7911).
    AddPath(Vec<AddPathEntry>),
    /// Extended Next Hop Encoding: NLRI families that may carry a next hop of another
    /// AFI, e.g. IPv4 unicast over an IPv6 next hop (RFC 8950).
    ExtendedNextHop(Vec<ExtendedNextHopEntry>),
    /// BGP Extended Message: messages up to 65535 octets (RFC 8654).
    ExtendedMessage,
    /// FQDN capability: the speaker's host and domain name.
    Fqdn {
        /// Host name.
        hostname: String,
        /// Domain name.
        domain: String,
    },
    /// A capability this codec does not model (or one it models whose value was
    /// malformed), kept as received.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Bytes,
    },
}

impl Capability {
    /// The capability code on the wire.
    pub fn code(&self) -> u8 {
        match self {
            Self::Multiprotocol(_) => code::MULTIPROTOCOL,
            Self::RouteRefresh => code::ROUTE_REFRESH,
            Self::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Self::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Self::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Self::AddPath(_) => code::ADD_PATH,
            Self::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Self::ExtendedMessage => code::EXTENDED_MESSAGE,
            Self::Fqdn { .. } => code::FQDN,
            Self::Unknown { code, .. } => *code,
        }
    }

    /// A short name for logs and JSON (`"unknown"` for [`Capability::Unknown`]).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Multiprotocol(_) => "multiprotocol",
            Self::RouteRefresh => "route-refresh",
            Self::EnhancedRouteRefresh => "enhanced-route-refresh",
            Self::FourOctetAs(_) => "four-octet-as",
            Self::GracefulRestart(_) => "graceful-restart",
            Self::AddPath(_) => "add-path",
            Self::ExtendedNextHop(_) => "extended-next-hop",
            Self::ExtendedMessage => "extended-message",
            Self::Fqdn { .. } => "fqdn",
            Self::Unknown { .. } => "unknown",
        }
    }
}

/// Graceful Restart capability value (RFC 4724 §3; N bit from RFC 8538).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct GracefulRestart {
    /// The 4 Restart Flags bits (high nibble of the first octet, shifted down):
    /// [`GracefulRestart::RESTART_STATE`], [`GracefulRestart::NOTIFICATION`].
    pub restart_flags: u8,
    /// Restart Time in seconds (12 bits).
    pub restart_time: u16,
    /// Per-family entries.
    pub families: Vec<GracefulRestartFamily>,
}

impl GracefulRestart {
    /// Restart State bit (R): the speaker has restarted.
    pub const RESTART_STATE: u8 = 0x8;
    /// Graceful Notification bit (N, RFC 8538).
    pub const NOTIFICATION: u8 = 0x4;

    /// Whether the Restart State (R) bit is set.
    pub fn restart_state(&self) -> bool {
        self.restart_flags & Self::RESTART_STATE != 0
    }

    /// Whether the Graceful Notification (N) bit is set.
    pub fn notification(&self) -> bool {
        self.restart_flags & Self::NOTIFICATION != 0
    }
}

/// One (AFI, SAFI) entry of the Graceful Restart capability.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    /// The family.
    pub family: AddressFamily,
    /// Flags for the family; [`GracefulRestartFamily::FORWARDING_STATE`] is the F bit.
    pub flags: u8,
}

impl GracefulRestartFamily {
    /// Forwarding State bit (F): forwarding state was preserved across the restart.
    pub const FORWARDING_STATE: u8 = 0x80;

    /// Whether the forwarding state was preserved.
    pub fn forwarding_preserved(&self) -> bool {
        self.flags & Self::FORWARDING_STATE != 0
    }
}

/// ADD-PATH Send/Receive field (RFC 7911 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddPathMode {
    /// 1: able to receive multiple paths.
    Receive,
    /// 2: able to send multiple paths.
    Send,
    /// 3: both.
    Both,
    /// Another value (RFC 7911 says ignore the entry); kept as received.
    Unknown(u8),
}

impl AddPathMode {
    /// Whether this mode includes receiving.
    pub fn receive(self) -> bool {
        matches!(self, Self::Receive | Self::Both)
    }
    /// Whether this mode includes sending.
    pub fn send(self) -> bool {
        matches!(self, Self::Send | Self::Both)
    }
}

impl From<u8> for AddPathMode {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::Receive,
            2 => Self::Send,
            3 => Self::Both,
            other => Self::Unknown(other),
        }
    }
}

impl From<AddPathMode> for u8 {
    fn from(v: AddPathMode) -> u8 {
        match v {
            AddPathMode::Receive => 1,
            AddPathMode::Send => 2,
            AddPathMode::Both => 3,
            AddPathMode::Unknown(other) => other,
        }
    }
}

/// One (AFI, SAFI, Send/Receive) tuple of the ADD-PATH capability.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddPathEntry {
    /// The family.
    pub family: AddressFamily,
    /// Whether the speaker sends and/or receives path identifiers for it.
    pub mode: AddPathMode,
}

/// One tuple of the Extended Next Hop capability (RFC 8950 §3). On the wire the NLRI
/// SAFI is a 2-octet field; values above 255 are not representable here and make the
/// capability [`Capability::Unknown`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtendedNextHopEntry {
    /// NLRI family (e.g. IPv4 unicast).
    pub nlri: AddressFamily,
    /// AFI of the next hop (e.g. IPv6).
    pub next_hop_afi: Afi,
}
