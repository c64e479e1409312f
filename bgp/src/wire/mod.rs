//! BGP-4 wire codec: the message model and its sans-IO encoder/decoder.
//!
//! This module owns everything that is bytes on a BGP session: the 19-octet header and
//! framing ([`message`]), OPEN and capabilities ([`open`], [`capability`]), UPDATE with
//! path attributes and NLRI ([`update`], [`attributes`], [`nlri`]), NOTIFICATION
//! ([`notification`]) and ROUTE-REFRESH ([`route_refresh`]). Decoding takes an explicit
//! [`DecodeContext`] of what the session negotiated; every malformed input maps to the
//! NOTIFICATION that RFC 4271 §6 prescribes or to an RFC 7606 action ([`ErrorAction`]).
//!
//! Nothing here does I/O, reads a clock or panics on input.

#[macro_use]
mod wire_enum;

pub mod attributes;
pub mod capability;
pub mod codec;
pub mod context;
pub mod error;
pub mod family;
pub mod message;
pub mod nlri;
pub mod notification;
pub mod open;
pub mod route_refresh;
pub mod update;

pub use attributes::{
    Aggregator, AsList, AsPath, AsSegment, AsSegmentKind, Community, CommunityList,
    ExtendedCommunity, LargeCommunity, MpNextHop, MpReach, MpUnreach, Origin, PathAttributes,
    RawAttribute, SegmentList,
};
pub use capability::{
    AddPathEntry, AddPathMode, Capability, ExtendedNextHopEntry, GracefulRestart,
    GracefulRestartFamily,
};
pub use codec::{
    decode_as_path, decode_message, decode_message_cached, decode_message_into, decode_one_cached,
    encode_message, encode_to_vec, merge_as4_path, AttrCache, BgpCodec, CodecError,
};
pub use context::{DecodeContext, EncodeContext, FamilySet};
pub use error::{AttributeError, DecodeError, EncodeError, ErrorAction};
pub use family::{AddressFamily, Afi, Safi};
pub use message::{Message, MessageType};
pub use nlri::{Nlri, NlriList};
pub use notification::{
    CeaseSubcode, ErrorCode, FsmError, MessageHeaderError, Notification, OpenMessageError,
    RouteRefreshError, UpdateMessageError,
};
pub use open::Open;
pub use route_refresh::{RouteRefresh, RouteRefreshSubtype};
pub use update::Update;

/// Length of the BGP message header (marker, length, type).
pub const HEADER_LEN: usize = 19;
/// Largest message without the Extended Message capability (RFC 4271).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message once Extended Message (RFC 8654) is negotiated.
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// AS_TRANS (RFC 6793): stands in for a 4-octet AS number on 2-octet sessions.
pub const AS_TRANS: u16 = 23456;
