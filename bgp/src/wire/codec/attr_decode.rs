//! Path attribute decoding with RFC 7606 error handling: each malformed attribute
//! leads to treat-as-withdraw, attribute discard or a session reset, as RFC 7606 §7
//! (and RFC 4271 §6.3 where RFC 7606 is silent) prescribe for its type; AS number 0
//! in AS_PATH / AGGREGATOR (and their AS4_ forms) is malformed (RFC 7607), and
//! LOCAL_PREF from an external peer is ignored, or discarded when malformed (§7.5).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bytes::Bytes;

use super::as4;
use super::malformed;
use super::nlri::decode_prefixes;
use super::reader::Reader;
use crate::wire::attributes::{
    flags, type_code as t, Aggregator, AsPath, Community, ExtendedCommunity, LargeCommunity,
    MpNextHop, MpReach, MpUnreach, Origin, PathAttributes, RawAttribute,
};
use crate::wire::context::DecodeContext;
use crate::wire::error::{AttributeError, DecodeError, ErrorAction};
use crate::wire::family::{AddressFamily, Afi};
use crate::wire::notification::{ErrorCode, UpdateMessageError};
use crate::wire::update::Update;
use crate::wire::AS_TRANS;

/// How a malformed attribute of a given type is handled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Handling {
    TreatAsWithdraw,
    Discard,
    Reset,
}

fn handling(code: u8, ctx: &DecodeContext) -> Handling {
    match code {
        // RFC 7606 §7.5: from an external peer LOCAL_PREF is discarded.
        t::LOCAL_PREF if ctx.external => Handling::Discard,
        // RFC 7606 §7.6, §7.7; RFC 6793 §6 for the AS4_ attributes.
        t::ATOMIC_AGGREGATE | t::AGGREGATOR | t::AS4_PATH | t::AS4_AGGREGATOR => Handling::Discard,
        // RFC 7606 §7.11: the NLRI cannot be located reliably.
        t::MP_REACH_NLRI | t::MP_UNREACH_NLRI => Handling::Reset,
        _ => Handling::TreatAsWithdraw,
    }
}

/// Optional/Transitive bits each recognised attribute must carry (RFC 7606 §3.c).
fn expected_flags(code: u8) -> Option<u8> {
    match code {
        t::ORIGIN | t::AS_PATH | t::NEXT_HOP | t::LOCAL_PREF | t::ATOMIC_AGGREGATE => {
            Some(flags::TRANSITIVE)
        }
        t::MULTI_EXIT_DISC
        | t::ORIGINATOR_ID
        | t::CLUSTER_LIST
        | t::MP_REACH_NLRI
        | t::MP_UNREACH_NLRI => Some(flags::OPTIONAL),
        t::AGGREGATOR
        | t::COMMUNITIES
        | t::EXTENDED_COMMUNITIES
        | t::AS4_PATH
        | t::AS4_AGGREGATOR
        | t::LARGE_COMMUNITIES => Some(flags::OPTIONAL | flags::TRANSITIVE),
        _ => None,
    }
}

/// One attribute as found in the list.
struct Attr<'a> {
    flags: u8,
    code: u8,
    value: &'a [u8],
    /// The whole attribute (flags, type, length, value): NOTIFICATION data.
    whole: &'a [u8],
}

/// What is wrong with an attribute.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FaultKind {
    /// Its value (length, content).
    Value,
    /// Its Optional/Transitive flags.
    Flags,
    /// Well-known but not recognised (RFC 4271 §6.3): always a session reset.
    UnrecognizedWellKnown,
}

/// A malformed attribute.
struct Fault {
    reason: &'static str,
    kind: FaultKind,
}

fn fault(reason: &'static str) -> Fault {
    Fault {
        reason,
        kind: FaultKind::Value,
    }
}

/// Decoding state that is not part of the attribute set.
#[derive(Default)]
struct Pending {
    as4_path: Option<AsPath>,
    as4_aggregator: Option<Aggregator>,
}

/// Set of attribute type codes seen (duplicate detection, RFC 7606 §3.g).
struct Seen([u64; 4]);

impl Seen {
    /// Marks `code`; false when it was already seen.
    fn insert(&mut self, code: u8) -> bool {
        let (word, bit) = (usize::from(code >> 6), 1u64 << (code & 63));
        match self.0.get_mut(word) {
            Some(w) => {
                let fresh = *w & bit == 0;
                *w |= bit;
                fresh
            }
            None => false,
        }
    }
    fn contains(&self, code: u8) -> bool {
        self.0
            .get(usize::from(code >> 6))
            .is_some_and(|w| w & (1u64 << (code & 63)) != 0)
    }
}

fn record(update: &mut Update, code: u8, action: ErrorAction, reason: &'static str, offset: usize) {
    update.errors.push(AttributeError {
        type_code: code,
        action,
        reason,
        offset,
    });
}

/// Decodes the path attributes in `r` into `update`. `nlri_present`: the UPDATE's NLRI
/// field is not empty (NEXT_HOP is then mandatory).
pub(crate) fn decode(
    mut r: Reader<'_>,
    ctx: &DecodeContext,
    update: &mut Update,
    nlri_present: bool,
) -> Result<(), DecodeError> {
    let list_at = r.offset();
    let mut seen = Seen([0; 4]);
    let mut pending = Pending::default();
    // Decoded here and shared once at the end (writing through the `Arc` would cost two
    // atomic operations per attribute).
    let mut attrs = PathAttributes::default();
    let any = !r.is_empty();
    while !r.is_empty() {
        let at = r.offset();
        let mut whole_reader = r.clone();
        let Some((attr_flags, code)) = r.u8().zip(r.u8()) else {
            record(
                update,
                0,
                ErrorAction::TreatAsWithdraw,
                "attribute header truncated",
                at,
            );
            break;
        };
        let len = if attr_flags & flags::EXTENDED_LENGTH != 0 {
            r.u16().map(usize::from)
        } else {
            r.u8().map(usize::from)
        };
        let Some(value) = len.and_then(|len| r.take(len)) else {
            if handling(code, ctx) == Handling::Reset {
                return Err(malformed(
                    at,
                    "MP_REACH_NLRI/MP_UNREACH_NLRI runs past the attribute list",
                    ErrorCode::Update(UpdateMessageError::OptionalAttributeError),
                    Bytes::copy_from_slice(whole_reader.rest()),
                ));
            }
            record(
                update,
                code,
                ErrorAction::TreatAsWithdraw,
                "attribute runs past the attribute list",
                at,
            );
            break;
        };
        let whole = whole_reader.take(r.offset() - at).unwrap_or_default();
        let attr = Attr {
            flags: attr_flags & 0xe0,
            code,
            value,
            whole,
        };
        if !seen.insert(code) {
            if handling(code, ctx) == Handling::Reset {
                return Err(malformed(
                    at,
                    "MP_REACH_NLRI/MP_UNREACH_NLRI appears twice",
                    ErrorCode::Update(UpdateMessageError::MalformedAttributeList),
                    Bytes::new(),
                ));
            }
            record(
                update,
                code,
                ErrorAction::AttributeDiscard,
                "duplicate attribute",
                at,
            );
            continue;
        }
        if let Err(f) = decode_one(&attr, ctx, update, &mut attrs, &mut pending) {
            if f.kind == FaultKind::UnrecognizedWellKnown {
                return Err(malformed(
                    at,
                    f.reason,
                    ErrorCode::Update(UpdateMessageError::UnrecognizedWellKnownAttribute),
                    Bytes::copy_from_slice(attr.whole),
                ));
            }
            match handling(code, ctx) {
                Handling::TreatAsWithdraw => {
                    record(update, code, ErrorAction::TreatAsWithdraw, f.reason, at)
                }
                Handling::Discard => {
                    record(update, code, ErrorAction::AttributeDiscard, f.reason, at)
                }
                Handling::Reset => {
                    let sub = if f.kind == FaultKind::Flags {
                        UpdateMessageError::AttributeFlagsError
                    } else {
                        UpdateMessageError::OptionalAttributeError
                    };
                    return Err(malformed(
                        at,
                        f.reason,
                        ErrorCode::Update(sub),
                        Bytes::copy_from_slice(attr.whole),
                    ));
                }
            }
        }
    }
    if !ctx.four_octet_as {
        apply_as4(&mut attrs, pending);
    }
    // RFC 7606 §3.d: missing well-known mandatory attributes → treat-as-withdraw.
    if nlri_present || update.mp_reach.is_some() {
        let missing = [
            (t::ORIGIN, attrs.origin.is_none(), "ORIGIN missing"),
            (t::AS_PATH, attrs.as_path.is_none(), "AS_PATH missing"),
            (
                t::NEXT_HOP,
                nlri_present && attrs.next_hop.is_none(),
                "NEXT_HOP missing",
            ),
        ];
        for (code, absent, reason) in missing {
            if absent && !seen.contains(code) {
                record(update, code, ErrorAction::TreatAsWithdraw, reason, list_at);
            }
        }
    }
    if any {
        update.attributes = Arc::new(attrs);
    }
    Ok(())
}

/// RFC 6793 §4.2.3 on a 2-octet session.
fn apply_as4(attrs: &mut PathAttributes, pending: Pending) {
    if let Some(a4) = pending.as4_aggregator {
        match &mut attrs.aggregator {
            Some(ag) if ag.asn == u32::from(AS_TRANS) => ag.asn = a4.asn,
            // AGGREGATOR from an AS that needs no AS_TRANS: AS4_AGGREGATOR and AS4_PATH
            // come from an older aggregation and are ignored.
            Some(_) => return,
            None => {}
        }
    }
    if let (Some(p4), Some(path)) = (pending.as4_path, attrs.as_path.as_mut()) {
        *path = as4::merge(path, &p4);
    }
}

/// RFC 7607: AS 0 must not appear in a path.
fn holds_as_0(path: &AsPath) -> bool {
    path.segments.iter().any(|s| s.asns.contains(&0))
}

fn u32_value(v: &[u8], reason: &'static str) -> Result<u32, Fault> {
    v.try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| fault(reason))
}

fn decode_one(
    a: &Attr<'_>,
    ctx: &DecodeContext,
    update: &mut Update,
    attrs: &mut PathAttributes,
    pending: &mut Pending,
) -> Result<(), Fault> {
    match expected_flags(a.code) {
        Some(expected) if a.flags & (flags::OPTIONAL | flags::TRANSITIVE) != expected => {
            return Err(Fault {
                reason: "attribute flags conflict with the type",
                kind: FaultKind::Flags,
            });
        }
        Some(_) => {}
        None => return keep_unknown(a, attrs),
    }
    if ctx.keep_as4_attributes && matches!(a.code, t::AS4_PATH | t::AS4_AGGREGATOR) {
        return keep_unknown(a, attrs);
    }
    let v = a.value;
    match a.code {
        t::ORIGIN => {
            attrs.origin = Some(match v {
                [0] => Origin::Igp,
                [1] => Origin::Egp,
                [2] => Origin::Incomplete,
                [_] => return Err(fault("undefined ORIGIN value")),
                _ => return Err(fault("ORIGIN length is not 1")),
            })
        }
        t::AS_PATH => {
            let path = as4::decode_as_path(v, ctx.four_octet_as).map_err(fault)?;
            if holds_as_0(&path) {
                return Err(fault("AS_PATH holds AS number 0 (RFC 7607)"));
            }
            attrs.as_path = Some(path);
        }
        t::NEXT_HOP => {
            let octets: [u8; 4] = v
                .try_into()
                .map_err(|_| fault("NEXT_HOP length is not 4"))?;
            attrs.next_hop = Some(Ipv4Addr::from(octets));
        }
        t::MULTI_EXIT_DISC => attrs.med = Some(u32_value(v, "MULTI_EXIT_DISC length is not 4")?),
        t::LOCAL_PREF => {
            let pref = u32_value(v, "LOCAL_PREF length is not 4")?;
            // RFC 4271 §5.1.5: ignored when it comes from an external peer.
            if !ctx.external {
                attrs.local_pref = Some(pref);
            }
        }
        t::ATOMIC_AGGREGATE => {
            if !v.is_empty() {
                return Err(fault("ATOMIC_AGGREGATE length is not 0"));
            }
            attrs.atomic_aggregate = true;
        }
        t::AGGREGATOR => {
            let aggregator = match (ctx.four_octet_as, v) {
                (true, &[a, b, c, d, e, f, g, h]) => Aggregator {
                    asn: u32::from_be_bytes([a, b, c, d]),
                    address: Ipv4Addr::new(e, f, g, h),
                },
                (false, &[a, b, e, f, g, h]) => Aggregator {
                    asn: u32::from(u16::from_be_bytes([a, b])),
                    address: Ipv4Addr::new(e, f, g, h),
                },
                _ => {
                    return Err(fault(
                        "AGGREGATOR length is not 6 (2-octet AS) or 8 (4-octet AS)",
                    ))
                }
            };
            if aggregator.asn == 0 {
                return Err(fault("AGGREGATOR holds AS number 0 (RFC 7607)"));
            }
            attrs.aggregator = Some(aggregator);
        }
        t::COMMUNITIES => {
            if v.is_empty() || !v.len().is_multiple_of(4) {
                return Err(fault("COMMUNITIES length is not a non-zero multiple of 4"));
            }
            attrs.communities = v
                .chunks_exact(4)
                .map(|c| Community(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
        }
        t::ORIGINATOR_ID => {
            let octets: [u8; 4] = v
                .try_into()
                .map_err(|_| fault("ORIGINATOR_ID length is not 4"))?;
            attrs.originator_id = Some(Ipv4Addr::from(octets));
        }
        t::CLUSTER_LIST => {
            if v.is_empty() || !v.len().is_multiple_of(4) {
                return Err(fault("CLUSTER_LIST length is not a non-zero multiple of 4"));
            }
            attrs.cluster_list = v
                .chunks_exact(4)
                .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                .collect();
        }
        t::EXTENDED_COMMUNITIES => {
            if v.is_empty() || !v.len().is_multiple_of(8) {
                return Err(fault(
                    "EXTENDED_COMMUNITIES length is not a non-zero multiple of 8",
                ));
            }
            attrs.extended_communities = v
                .chunks_exact(8)
                .map(|c| ExtendedCommunity([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect();
        }
        t::LARGE_COMMUNITIES => {
            if v.is_empty() || !v.len().is_multiple_of(12) {
                return Err(fault(
                    "LARGE_COMMUNITY length is not a non-zero multiple of 12",
                ));
            }
            attrs.large_communities = v
                .chunks_exact(12)
                .map(|c| LargeCommunity {
                    global_admin: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                    local_data1: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
                    local_data2: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
                })
                .collect();
        }
        t::AS4_PATH => {
            let path = as4::decode_as_path(v, true).map_err(fault)?;
            if path.segments.iter().any(|s| s.kind.is_confed()) {
                return Err(fault("AS4_PATH holds confederation segments"));
            }
            if holds_as_0(&path) {
                return Err(fault("AS4_PATH holds AS number 0 (RFC 7607)"));
            }
            pending.as4_path = Some(path);
        }
        t::AS4_AGGREGATOR => {
            let &[a, b, c, d, e, f, g, h] = v else {
                return Err(fault("AS4_AGGREGATOR length is not 8"));
            };
            let asn = u32::from_be_bytes([a, b, c, d]);
            if asn == 0 {
                return Err(fault("AS4_AGGREGATOR holds AS number 0 (RFC 7607)"));
            }
            pending.as4_aggregator = Some(Aggregator {
                asn,
                address: Ipv4Addr::new(e, f, g, h),
            });
        }
        t::MP_REACH_NLRI => return decode_mp_reach(a, ctx, update, attrs),
        t::MP_UNREACH_NLRI => return decode_mp_unreach(a, ctx, update, attrs),
        _ => return keep_unknown(a, attrs),
    }
    Ok(())
}

/// Keeps an unrecognised optional attribute; an unrecognised well-known one resets
/// the session (RFC 4271 §6.3: Unrecognized Well-known Attribute).
fn keep_unknown(a: &Attr<'_>, attrs: &mut PathAttributes) -> Result<(), Fault> {
    if a.flags & flags::OPTIONAL == 0 {
        return Err(Fault {
            reason: "unrecognised well-known attribute",
            kind: FaultKind::UnrecognizedWellKnown,
        });
    }
    attrs.unknown.push(RawAttribute {
        flags: a.flags,
        type_code: a.code,
        value: Bytes::copy_from_slice(a.value),
    });
    Ok(())
}

fn family_of(r: &mut Reader<'_>) -> Result<AddressFamily, Fault> {
    let afi = r.u16().ok_or(fault("MP attribute AFI/SAFI truncated"))?;
    let safi = r.u8().ok_or(fault("MP attribute AFI/SAFI truncated"))?;
    Ok(AddressFamily::new(afi.into(), safi.into()))
}

fn decode_mp_reach(
    a: &Attr<'_>,
    ctx: &DecodeContext,
    update: &mut Update,
    attrs: &mut PathAttributes,
) -> Result<(), Fault> {
    let mut r = Reader::new(a.value, 0);
    let family = family_of(&mut r)?;
    if !family.nlri_supported() {
        return keep_unknown(a, attrs);
    }
    let nh_len = r
        .u8()
        .ok_or(fault("MP_REACH_NLRI next hop length missing"))?;
    let nh = r
        .take(usize::from(nh_len))
        .ok_or(fault("MP_REACH_NLRI next hop runs past the attribute"))?;
    let next_hop = match (family.afi, nh) {
        (Afi::Ipv4, &[a, b, c, d]) => MpNextHop {
            global: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            link_local: None,
        },
        (_, nh) if nh.len() == 16 || nh.len() == 32 => {
            let global: [u8; 16] = nh
                .get(..16)
                .and_then(|s| s.try_into().ok())
                .ok_or(fault("bad next hop"))?;
            let link_local = nh
                .get(16..32)
                .and_then(|s| <[u8; 16]>::try_from(s).ok())
                .map(Ipv6Addr::from);
            MpNextHop {
                global: IpAddr::V6(Ipv6Addr::from(global)),
                link_local,
            }
        }
        _ => {
            return Err(fault(
                "MP_REACH_NLRI next hop length does not match the AFI",
            ))
        }
    };
    let _reserved = r
        .u8()
        .ok_or(fault("MP_REACH_NLRI reserved octet missing"))?;
    let mut nlri = Vec::new();
    decode_prefixes(
        r.rest(),
        family.afi,
        ctx.add_path.contains(family),
        &mut nlri,
    )
    .map_err(|e| fault(e.reason))?;
    update.mp_reach = Some(Box::new(MpReach {
        family,
        next_hop,
        nlri,
    }));
    Ok(())
}

fn decode_mp_unreach(
    a: &Attr<'_>,
    ctx: &DecodeContext,
    update: &mut Update,
    attrs: &mut PathAttributes,
) -> Result<(), Fault> {
    let mut r = Reader::new(a.value, 0);
    let family = family_of(&mut r)?;
    if !family.nlri_supported() {
        return keep_unknown(a, attrs);
    }
    let mut withdrawn = Vec::new();
    decode_prefixes(
        r.rest(),
        family.afi,
        ctx.add_path.contains(family),
        &mut withdrawn,
    )
    .map_err(|e| fault(e.reason))?;
    update.mp_unreach = Some(Box::new(MpUnreach { family, withdrawn }));
    Ok(())
}
