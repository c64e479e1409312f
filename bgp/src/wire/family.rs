//! Address families: AFI (RFC 4760, IANA "Address Family Numbers") and SAFI.

wire_enum! {
    /// Address Family Identifier.
    pub enum Afi: u16 {
        /// IPv4.
        Ipv4 = 1 => "ipv4",
        /// IPv6.
        Ipv6 = 2 => "ipv6",
        /// BGP-LS (RFC 7752).
        LinkState = 16388 => "link-state",
    }
}

wire_enum! {
    /// Subsequent Address Family Identifier.
    pub enum Safi: u8 {
        /// Unicast forwarding.
        Unicast = 1 => "unicast",
        /// Multicast forwarding.
        Multicast = 2 => "multicast",
        /// Labeled unicast (RFC 8277).
        Labeled = 4 => "labeled-unicast",
        /// EVPN (RFC 7432).
        Evpn = 70 => "evpn",
        /// MPLS-labeled VPN (RFC 4364).
        MplsVpn = 128 => "mpls-vpn",
        /// Flow specification (RFC 8955).
        FlowSpec = 133 => "flowspec",
    }
}

/// An (AFI, SAFI) pair: the unit that capabilities, MP_REACH/MP_UNREACH and
/// ROUTE-REFRESH talk about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressFamily {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
}

impl AddressFamily {
    /// IPv4 unicast (the family a session has without any multiprotocol capability).
    pub const IPV4_UNICAST: Self = Self {
        afi: Afi::Ipv4,
        safi: Safi::Unicast,
    };
    /// IPv6 unicast.
    pub const IPV6_UNICAST: Self = Self {
        afi: Afi::Ipv6,
        safi: Safi::Unicast,
    };

    /// Builds a family from its parts.
    pub const fn new(afi: Afi, safi: Safi) -> Self {
        Self { afi, safi }
    }

    /// Whether this codec decodes this family's NLRI (IPv4/IPv6 unicast and multicast);
    /// MP_REACH/MP_UNREACH of other families are kept as raw attributes.
    pub fn nlri_supported(self) -> bool {
        matches!(self.afi, Afi::Ipv4 | Afi::Ipv6)
            && matches!(self.safi, Safi::Unicast | Safi::Multicast)
    }
}

impl std::fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.afi, self.safi)
    }
}
