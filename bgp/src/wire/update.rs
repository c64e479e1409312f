//! UPDATE message (RFC 4271 §4.3, RFC 4760): withdrawn routes, path attributes,
//! MP_REACH/MP_UNREACH, NLRI, and the RFC 7606 handling applied while decoding it.

use std::sync::Arc;

use super::attributes::{MpReach, MpUnreach, PathAttributes};
use super::error::{AttributeError, ErrorAction};
use super::family::AddressFamily;
use super::nlri::{Nlri, NlriList};

/// An UPDATE message.
///
/// Read routes through [`Update::announced`] and [`Update::withdrawals`]: they honour
/// RFC 7606 treat-as-withdraw (when [`Update::treat_as_withdraw`] is true, every
/// announced prefix is to be withdrawn instead and nothing is announced).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Update {
    /// Withdrawn Routes field (IPv4 unicast).
    pub withdrawn: Vec<Nlri>,
    /// Path attributes other than MP_REACH/MP_UNREACH, shared: the UPDATEs of a
    /// session that carry the same attribute octets share one decoded set (see
    /// [`crate::wire::AttrCache`]), and the RIB keeps that set without copying it.
    /// Change it through [`Arc::make_mut`].
    pub attributes: Arc<PathAttributes>,
    /// MP_REACH_NLRI (decoded families only).
    pub mp_reach: Option<Box<MpReach>>,
    /// MP_UNREACH_NLRI (decoded families only).
    pub mp_unreach: Option<Box<MpUnreach>>,
    /// NLRI field (IPv4 unicast).
    pub nlri: NlriList,
    /// RFC 7606 errors the decoder handled without a session reset (attribute discard,
    /// treat-as-withdraw). Empty for a clean UPDATE; ignored by the encoder.
    pub errors: Vec<AttributeError>,
}

impl Default for Update {
    fn default() -> Self {
        Self::with_attributes(no_attributes())
    }
}

impl Update {
    /// An UPDATE with this attribute set and nothing else.
    pub(crate) fn with_attributes(attributes: Arc<PathAttributes>) -> Self {
        Self {
            withdrawn: Vec::new(),
            attributes,
            mp_reach: None,
            mp_unreach: None,
            nlri: NlriList::new(),
            errors: Vec::new(),
        }
    }
}

/// The empty attribute set, one per thread: an UPDATE without attributes (or one about
/// to be decoded) allocates nothing for them.
fn no_attributes() -> Arc<PathAttributes> {
    thread_local! {
        static EMPTY: Arc<PathAttributes> = Arc::default();
    }
    EMPTY.with(Arc::clone)
}

impl Update {
    /// Whether RFC 7606 "treat-as-withdraw" applies: all NLRI of this UPDATE
    /// (NLRI field and MP_REACH) must be handled as withdrawn.
    pub fn treat_as_withdraw(&self) -> bool {
        self.errors
            .iter()
            .any(|e| e.action == ErrorAction::TreatAsWithdraw)
    }

    /// Prefixes announced by this UPDATE (NLRI field, then MP_REACH), or none under
    /// treat-as-withdraw.
    pub fn announced(&self) -> impl Iterator<Item = &Nlri> {
        let live = !self.treat_as_withdraw();
        let mp = self.mp_reach.iter().flat_map(|m| m.nlri.iter());
        self.nlri.iter().chain(mp).filter(move |_| live)
    }

    /// Prefixes withdrawn by this UPDATE: the Withdrawn Routes field, MP_UNREACH, and
    /// under treat-as-withdraw also the NLRI field and MP_REACH.
    pub fn withdrawals(&self) -> impl Iterator<Item = &Nlri> {
        let taw = self.treat_as_withdraw();
        let mp_unreach = self.mp_unreach.iter().flat_map(|m| m.withdrawn.iter());
        let announced = self
            .nlri
            .iter()
            .chain(self.mp_reach.iter().flat_map(|m| m.nlri.iter()));
        self.withdrawn
            .iter()
            .chain(mp_unreach)
            .chain(announced.filter(move |_| taw))
    }

    /// If this UPDATE is an End-of-RIB marker (RFC 4724 §2), its family: an empty
    /// UPDATE for IPv4 unicast, or an UPDATE holding only an empty MP_UNREACH_NLRI.
    pub fn end_of_rib(&self) -> Option<AddressFamily> {
        // A malformed UPDATE whose attributes were all dropped is not a marker.
        let bare = self.errors.is_empty()
            && self.withdrawn.is_empty()
            && self.nlri.is_empty()
            && self.mp_reach.is_none()
            && *self.attributes == PathAttributes::default();
        if !bare {
            return None;
        }
        match &self.mp_unreach {
            None => Some(AddressFamily::IPV4_UNICAST),
            Some(u) if u.withdrawn.is_empty() => Some(u.family),
            Some(_) => None,
        }
    }

    /// Whether this UPDATE is an End-of-RIB marker for any family.
    pub fn is_end_of_rib(&self) -> bool {
        self.end_of_rib().is_some()
    }

    /// The End-of-RIB marker for `family`.
    pub fn end_of_rib_marker(family: AddressFamily) -> Self {
        if family == AddressFamily::IPV4_UNICAST {
            Self::default()
        } else {
            Self {
                mp_unreach: Some(Box::new(MpUnreach {
                    family,
                    withdrawn: Vec::new(),
                })),
                ..Self::default()
            }
        }
    }
}
