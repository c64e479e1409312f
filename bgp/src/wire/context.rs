//! What a session negotiated, as the codec needs it: explicit contexts passed to every
//! decode/encode call (no global flags).

use super::capability::Capability;
use super::family::{AddressFamily, Afi, Safi};
use super::open::Open;

/// A set of the address families whose NLRI this codec decodes (IPv4/IPv6 unicast and
/// multicast); used for per-family ADD-PATH. Other families are never members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FamilySet(u8);

impl FamilySet {
    /// The empty set.
    pub const EMPTY: Self = Self(0);
    /// IPv4 and IPv6 unicast.
    pub const UNICAST: Self = Self(0b0101);

    fn bit(family: AddressFamily) -> u8 {
        match (family.afi, family.safi) {
            (Afi::Ipv4, Safi::Unicast) => 0b0001,
            (Afi::Ipv4, Safi::Multicast) => 0b0010,
            (Afi::Ipv6, Safi::Unicast) => 0b0100,
            (Afi::Ipv6, Safi::Multicast) => 0b1000,
            _ => 0,
        }
    }

    /// Adds a family (no-op for families this codec does not decode).
    pub fn insert(&mut self, family: AddressFamily) {
        self.0 |= Self::bit(family);
    }

    /// Whether the family is in the set.
    pub fn contains(self, family: AddressFamily) -> bool {
        Self::bit(family) != 0 && self.0 & Self::bit(family) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<AddressFamily> for FamilySet {
    fn from_iter<T: IntoIterator<Item = AddressFamily>>(iter: T) -> Self {
        let mut set = Self::EMPTY;
        for f in iter {
            set.insert(f);
        }
        set
    }
}

/// Decoding context: what was negotiated for messages we receive.
///
/// `Default` is the state before negotiation, which is what an OPEN is decoded with:
/// 2-octet AS, no ADD-PATH, 4096-octet messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DecodeContext {
    /// Both sides advertised 4-octet AS support (RFC 6793): AS_PATH and AGGREGATOR
    /// carry 4-octet AS numbers, AS4_PATH/AS4_AGGREGATOR are ignored.
    pub four_octet_as: bool,
    /// Families for which we receive ADD-PATH path identifiers (RFC 7911).
    pub add_path: FamilySet,
    /// Both sides advertised Extended Message (RFC 8654): messages up to 65535 octets.
    pub extended_message: bool,
    /// For tools that show the wire (`tern bgp decode`): keep AS4_PATH/AS4_AGGREGATOR
    /// as raw attributes in [`crate::wire::PathAttributes::unknown`] instead of merging
    /// them (RFC 6793 §4.2.3) or ignoring them. Sessions leave this false.
    pub keep_as4_attributes: bool,
    /// The peer is in another AS (eBGP): a LOCAL_PREF it sends is ignored (RFC 4271
    /// §5.1.5), and a malformed one is attribute discard, not treat-as-withdraw (RFC
    /// 7606 §7.5). Sessions set it from the configured AS numbers.
    pub external: bool,
}

/// Encoding context: what was negotiated for messages we send.
///
/// `Default` is the state before negotiation (2-octet AS, no ADD-PATH, 4096 octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EncodeContext {
    /// Send 4-octet AS numbers in AS_PATH/AGGREGATOR (else AS_TRANS plus AS4_PATH /
    /// AS4_AGGREGATOR when needed).
    pub four_octet_as: bool,
    /// Families for which we send ADD-PATH path identifiers.
    pub add_path: FamilySet,
    /// Messages up to 65535 octets allowed (RFC 8654).
    pub extended_message: bool,
}

fn four_octet(open: &Open) -> bool {
    open.four_octet_as().is_some()
}

fn add_path_families(sender: &Open, receiver: &Open) -> FamilySet {
    let send = sender.add_path();
    let recv = receiver.add_path();
    send.iter()
        .filter(|s| s.mode.send())
        .filter(|s| {
            recv.iter()
                .any(|r| r.family == s.family && r.mode.receive())
        })
        .map(|s| s.family)
        .collect()
}

fn extended(open: &Open) -> bool {
    open.capabilities
        .iter()
        .any(|c| matches!(c, Capability::ExtendedMessage))
}

impl DecodeContext {
    /// The context for messages from `remote` after exchanging OPENs with it.
    pub fn negotiated(local: &Open, remote: &Open) -> Self {
        Self {
            four_octet_as: four_octet(local) && four_octet(remote),
            add_path: add_path_families(remote, local),
            extended_message: extended(local) && extended(remote),
            keep_as4_attributes: false,
            external: local.asn() != remote.asn(),
        }
    }

    /// Largest message length accepted.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            super::MAX_EXTENDED_MESSAGE_LEN
        } else {
            super::MAX_MESSAGE_LEN
        }
    }
}

impl EncodeContext {
    /// The context for messages to `remote` after exchanging OPENs with it.
    pub fn negotiated(local: &Open, remote: &Open) -> Self {
        Self {
            four_octet_as: four_octet(local) && four_octet(remote),
            add_path: add_path_families(local, remote),
            extended_message: extended(local) && extended(remote),
        }
    }

    /// Largest message length that may be sent.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            super::MAX_EXTENDED_MESSAGE_LEN
        } else {
            super::MAX_MESSAGE_LEN
        }
    }
}
