//! OPEN message (RFC 4271 §4.2) with capabilities (RFC 5492) and the extended
//! optional-parameters length (RFC 9072).

use std::net::Ipv4Addr;

use super::capability::{AddPathEntry, Capability, GracefulRestart};
use super::family::AddressFamily;

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Open {
    /// BGP version; always 4 after a successful decode.
    pub version: u8,
    /// My Autonomous System, the 2-octet wire field (AS_TRANS when the AS needs 4 octets);
    /// see [`Open::asn`].
    pub my_as: u16,
    /// Proposed Hold Time in seconds (0, or at least 3).
    pub hold_time: u16,
    /// BGP Identifier.
    pub bgp_id: Ipv4Addr,
    /// Capabilities, flattened from all Capabilities optional parameters in order.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// The OPEN for `asn`: `my_as` is `asn` or AS_TRANS, and a 4-octet AS capability
    /// carrying `asn` is added first if not already among `capabilities`.
    pub fn new(
        asn: u32,
        hold_time: u16,
        bgp_id: Ipv4Addr,
        mut capabilities: Vec<Capability>,
    ) -> Self {
        let my_as = u16::try_from(asn).unwrap_or(super::AS_TRANS);
        if !capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
        {
            capabilities.insert(0, Capability::FourOctetAs(asn));
        }
        Self {
            version: 4,
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        }
    }

    /// The speaker's AS number: the 4-octet AS capability's value when present,
    /// else `my_as` (RFC 6793 §4.1).
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    /// The AS from the 4-octet AS capability, if the speaker advertised it.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(asn) => Some(*asn),
            _ => None,
        })
    }

    /// Families from Multiprotocol capabilities; a speaker that advertises none
    /// implicitly has IPv4 unicast only (RFC 4760 §8), which this returns then.
    pub fn multiprotocol(&self) -> Vec<AddressFamily> {
        let list: Vec<AddressFamily> = self
            .capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol(f) => Some(*f),
                _ => None,
            })
            .collect();
        if list.is_empty() {
            vec![AddressFamily::IPV4_UNICAST]
        } else {
            list
        }
    }

    /// ADD-PATH entries from all ADD-PATH capabilities.
    pub fn add_path(&self) -> Vec<AddPathEntry> {
        self.capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::AddPath(list) => Some(list.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// The Graceful Restart capability, if advertised.
    pub fn graceful_restart(&self) -> Option<&GracefulRestart> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart(gr) => Some(gr),
            _ => None,
        })
    }

    /// Whether a capability with this code was advertised.
    pub fn has_capability(&self, code: u8) -> bool {
        self.capabilities.iter().any(|c| c.code() == code)
    }

    /// Whether Route Refresh (RFC 2918) was advertised.
    pub fn route_refresh(&self) -> bool {
        self.has_capability(super::capability::code::ROUTE_REFRESH)
    }

    /// Whether Extended Message (RFC 8654) was advertised.
    pub fn extended_message(&self) -> bool {
        self.has_capability(super::capability::code::EXTENDED_MESSAGE)
    }
}
