//! Path attribute encoding: MP_REACH_NLRI/MP_UNREACH_NLRI first (RFC 7606 §5.1), then
//! the others in type-code order with unrecognised ones merged in by type code;
//! AS_TRANS plus AS4_PATH/AS4_AGGREGATOR on 2-octet sessions (RFC 6793 §4.2.2).

use std::net::IpAddr;

use bytes::{BufMut, BytesMut};

use super::as4;
use super::nlri::{encode_prefix, encoded_len};
use crate::wire::attributes::{
    flags, type_code as t, AsPath, PathAttributes, RawAttribute, SegmentList,
};
use crate::wire::context::EncodeContext;
use crate::wire::error::EncodeError;
use crate::wire::update::Update;
use crate::wire::AS_TRANS;

const WELL_KNOWN: u8 = flags::TRANSITIVE;
const OPTIONAL: u8 = flags::OPTIONAL;
const OPTIONAL_TRANSITIVE: u8 = flags::OPTIONAL | flags::TRANSITIVE;

/// Writes the attribute header for a value of `len` octets, choosing the length size.
fn header(out: &mut BytesMut, attr_flags: u8, code: u8, len: usize) -> Result<(), EncodeError> {
    if len > 255 {
        let len = u16::try_from(len).map_err(|_| EncodeError::FieldTooLong("path attribute"))?;
        out.put_u8(attr_flags | flags::EXTENDED_LENGTH);
        out.put_u8(code);
        out.put_u16(len);
    } else {
        out.put_u8(attr_flags & !flags::EXTENDED_LENGTH);
        out.put_u8(code);
        out.put_u8(len as u8);
    }
    Ok(())
}

/// Emits known attributes in type order, flushing unrecognised ones with lower codes first.
struct Emitter<'a> {
    unknown: std::slice::Iter<'a, RawAttribute>,
    peeked: Option<&'a RawAttribute>,
}

impl<'a> Emitter<'a> {
    fn new(unknown: &'a [RawAttribute]) -> Self {
        let mut unknown = unknown.iter();
        let peeked = unknown.next();
        Self { unknown, peeked }
    }

    /// Writes every pending unrecognised attribute with a type code below `code`.
    fn flush_below(&mut self, code: u16, out: &mut BytesMut) -> Result<(), EncodeError> {
        while let Some(raw) = self.peeked {
            if u16::from(raw.type_code) >= code {
                break;
            }
            header(out, raw.flags, raw.type_code, raw.value.len())?;
            out.put_slice(&raw.value);
            self.peeked = self.unknown.next();
        }
        Ok(())
    }
}

fn put_as_path(out: &mut BytesMut, path: &AsPath, four_octet: bool) {
    for seg in &path.segments {
        if seg.asns.is_empty() {
            out.put_u8(seg.kind.code());
            out.put_u8(0);
            continue;
        }
        for chunk in seg.asns.chunks(255) {
            out.put_u8(seg.kind.code());
            out.put_u8(chunk.len() as u8);
            for &asn in chunk {
                if four_octet {
                    out.put_u32(asn);
                } else {
                    out.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS));
                }
            }
        }
    }
}

pub(crate) fn encode(
    m: &Update,
    ctx: &EncodeContext,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if let Some(reach) = &m.mp_reach {
        let add_path = ctx.add_path.contains(reach.family);
        let nh_len = match (reach.next_hop.global, reach.next_hop.link_local) {
            (IpAddr::V4(_), _) => 4,
            (IpAddr::V6(_), None) => 16,
            (IpAddr::V6(_), Some(_)) => 32,
        };
        let nlri_len: usize = reach.nlri.iter().map(|n| encoded_len(n, add_path)).sum();
        header(out, OPTIONAL, t::MP_REACH_NLRI, 5 + nh_len + nlri_len)?;
        out.put_u16(reach.family.afi.into());
        out.put_u8(reach.family.safi.into());
        out.put_u8(nh_len as u8);
        match reach.next_hop.global {
            IpAddr::V4(a) => out.put_slice(&a.octets()),
            IpAddr::V6(a) => {
                out.put_slice(&a.octets());
                if let Some(ll) = reach.next_hop.link_local {
                    out.put_slice(&ll.octets());
                }
            }
        }
        out.put_u8(0);
        for n in &reach.nlri {
            encode_prefix(n, add_path, out);
        }
    }
    if let Some(unreach) = &m.mp_unreach {
        let add_path = ctx.add_path.contains(unreach.family);
        let nlri_len: usize = unreach
            .withdrawn
            .iter()
            .map(|n| encoded_len(n, add_path))
            .sum();
        header(out, OPTIONAL, t::MP_UNREACH_NLRI, 3 + nlri_len)?;
        out.put_u16(unreach.family.afi.into());
        out.put_u8(unreach.family.safi.into());
        for n in &unreach.withdrawn {
            encode_prefix(n, add_path, out);
        }
    }
    encode_attributes(&m.attributes, ctx, out)
}

fn encode_attributes(
    a: &PathAttributes,
    ctx: &EncodeContext,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let mut em = Emitter::new(&a.unknown);
    let four = ctx.four_octet_as;
    if let Some(origin) = a.origin {
        em.flush_below(u16::from(t::ORIGIN), out)?;
        header(out, WELL_KNOWN, t::ORIGIN, 1)?;
        out.put_u8(origin as u8);
    }
    if let Some(path) = &a.as_path {
        em.flush_below(u16::from(t::AS_PATH), out)?;
        header(
            out,
            WELL_KNOWN,
            t::AS_PATH,
            as4::encoded_len(path, if four { 4 } else { 2 }),
        )?;
        put_as_path(out, path, four);
    }
    if let Some(nh) = a.next_hop {
        em.flush_below(u16::from(t::NEXT_HOP), out)?;
        header(out, WELL_KNOWN, t::NEXT_HOP, 4)?;
        out.put_slice(&nh.octets());
    }
    if let Some(med) = a.med {
        em.flush_below(u16::from(t::MULTI_EXIT_DISC), out)?;
        header(out, OPTIONAL, t::MULTI_EXIT_DISC, 4)?;
        out.put_u32(med);
    }
    if let Some(lp) = a.local_pref {
        em.flush_below(u16::from(t::LOCAL_PREF), out)?;
        header(out, WELL_KNOWN, t::LOCAL_PREF, 4)?;
        out.put_u32(lp);
    }
    if a.atomic_aggregate {
        em.flush_below(u16::from(t::ATOMIC_AGGREGATE), out)?;
        header(out, WELL_KNOWN, t::ATOMIC_AGGREGATE, 0)?;
    }
    if let Some(ag) = a.aggregator {
        em.flush_below(u16::from(t::AGGREGATOR), out)?;
        if four {
            header(out, OPTIONAL_TRANSITIVE, t::AGGREGATOR, 8)?;
            out.put_u32(ag.asn);
        } else {
            header(out, OPTIONAL_TRANSITIVE, t::AGGREGATOR, 6)?;
            out.put_u16(u16::try_from(ag.asn).unwrap_or(AS_TRANS));
        }
        out.put_slice(&ag.address.octets());
    }
    if !a.communities.is_empty() {
        em.flush_below(u16::from(t::COMMUNITIES), out)?;
        header(
            out,
            OPTIONAL_TRANSITIVE,
            t::COMMUNITIES,
            4 * a.communities.len(),
        )?;
        for c in &a.communities {
            out.put_u32(c.0);
        }
    }
    if let Some(id) = a.originator_id {
        em.flush_below(u16::from(t::ORIGINATOR_ID), out)?;
        header(out, OPTIONAL, t::ORIGINATOR_ID, 4)?;
        out.put_slice(&id.octets());
    }
    if !a.cluster_list.is_empty() {
        em.flush_below(u16::from(t::CLUSTER_LIST), out)?;
        header(out, OPTIONAL, t::CLUSTER_LIST, 4 * a.cluster_list.len())?;
        for id in &a.cluster_list {
            out.put_slice(&id.octets());
        }
    }
    if !a.extended_communities.is_empty() {
        em.flush_below(u16::from(t::EXTENDED_COMMUNITIES), out)?;
        header(
            out,
            OPTIONAL_TRANSITIVE,
            t::EXTENDED_COMMUNITIES,
            8 * a.extended_communities.len(),
        )?;
        for c in &a.extended_communities {
            out.put_slice(&c.0);
        }
    }
    if !four {
        encode_as4(a, &mut em, out)?;
    }
    if !a.large_communities.is_empty() {
        em.flush_below(u16::from(t::LARGE_COMMUNITIES), out)?;
        header(
            out,
            OPTIONAL_TRANSITIVE,
            t::LARGE_COMMUNITIES,
            12 * a.large_communities.len(),
        )?;
        for c in &a.large_communities {
            out.put_u32(c.global_admin);
            out.put_u32(c.local_data1);
            out.put_u32(c.local_data2);
        }
    }
    em.flush_below(256, out)
}

/// AS4_PATH (without confederation segments) and AS4_AGGREGATOR, sent to a 2-octet
/// peer only when some AS number does not fit 2 octets (RFC 6793 §4.2.2).
fn encode_as4(
    a: &PathAttributes,
    em: &mut Emitter<'_>,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if let Some(path) = &a.as_path {
        if path
            .segments
            .iter()
            .any(|s| s.asns.iter().any(|&asn| asn > 0xffff))
        {
            let as4 = AsPath {
                segments: path
                    .segments
                    .iter()
                    .filter(|s| !s.kind.is_confed())
                    .cloned()
                    .collect::<SegmentList>(),
            };
            em.flush_below(u16::from(t::AS4_PATH), out)?;
            header(
                out,
                OPTIONAL_TRANSITIVE,
                t::AS4_PATH,
                as4::encoded_len(&as4, 4),
            )?;
            put_as_path(out, &as4, true);
        }
    }
    if let Some(ag) = a.aggregator.filter(|ag| ag.asn > 0xffff) {
        em.flush_below(u16::from(t::AS4_AGGREGATOR), out)?;
        header(out, OPTIONAL_TRANSITIVE, t::AS4_AGGREGATOR, 8)?;
        out.put_u32(ag.asn);
        out.put_slice(&ag.address.octets());
    }
    Ok(())
}
