//! UPDATE body (RFC 4271 §4.3, §6.3): withdrawn routes, path attributes, NLRI.

use bytes::{BufMut, Bytes, BytesMut};

use super::attr_cache::AttrCache;
use super::attr_decode;
use super::attr_encode;
use super::malformed;
use super::nlri::{decode_prefixes, encode_prefix};
use super::reader::Reader;
use crate::wire::context::{DecodeContext, EncodeContext};
use crate::wire::error::{DecodeError, EncodeError};
use crate::wire::family::{AddressFamily, Afi};
use crate::wire::notification::{ErrorCode, UpdateMessageError};
use crate::wire::update::Update;

fn list_error(offset: usize, reason: &'static str) -> DecodeError {
    malformed(
        offset,
        reason,
        ErrorCode::Update(UpdateMessageError::MalformedAttributeList),
        Bytes::new(),
    )
}

pub(crate) fn decode(r: &mut Reader<'_>, ctx: &DecodeContext) -> Result<Update, DecodeError> {
    let mut update = Update::default();
    decode_into(r, ctx, &mut update, None)?;
    Ok(update)
}

/// Decodes an UPDATE body into `update`, which must be empty (`Update::default()`): in
/// place, so that the value is not copied on its way out. With a `cache` (of this
/// session, for this `ctx`), an attribute list decoded before is not decoded again.
pub(crate) fn decode_into(
    r: &mut Reader<'_>,
    ctx: &DecodeContext,
    update: &mut Update,
    cache: Option<&mut AttrCache>,
) -> Result<(), DecodeError> {
    let wlen_at = r.offset();
    let too_long = "Withdrawn Routes Length + Total Path Attribute Length exceed the message";
    let wlen = r.u16().ok_or_else(|| list_error(wlen_at, too_long))?;
    let mut withdrawn = r
        .sub(usize::from(wlen))
        .ok_or_else(|| list_error(wlen_at, too_long))?;
    let alen_at = r.offset();
    let alen = r.u16().ok_or_else(|| list_error(alen_at, too_long))?;
    let attrs = r
        .sub(usize::from(alen))
        .ok_or_else(|| list_error(alen_at, too_long))?;
    let nlri_at = r.offset();
    let nlri = r.rest();

    let v4_add_path = ctx.add_path.contains(AddressFamily::IPV4_UNICAST);
    let withdrawn_at = withdrawn.offset();
    decode_prefixes(
        withdrawn.rest(),
        Afi::Ipv4,
        v4_add_path,
        &mut update.withdrawn,
    )
    .map_err(|e| {
        malformed(
            withdrawn_at + e.at,
            e.reason,
            ErrorCode::Update(UpdateMessageError::InvalidNetworkField),
            Bytes::new(),
        )
    })?;
    let nlri_present = !nlri.is_empty();
    let octets = attrs.clone().rest();
    match cache {
        Some(cache) => cache.fill(octets, nlri_present, update, |u| {
            attr_decode::decode(attrs, ctx, u, nlri_present)
        })?,
        None => attr_decode::decode(attrs, ctx, update, nlri_present)?,
    }
    decode_prefixes(nlri, Afi::Ipv4, v4_add_path, &mut update.nlri).map_err(|e| {
        malformed(
            nlri_at + e.at,
            e.reason,
            ErrorCode::Update(UpdateMessageError::InvalidNetworkField),
            Bytes::new(),
        )
    })
}

/// Writes a 2-octet length placeholder and returns its position.
fn length_slot(out: &mut BytesMut) -> usize {
    out.put_u16(0);
    out.len() - 2
}

/// Fills the placeholder at `slot` with the octets written after it.
fn fill_length(out: &mut BytesMut, slot: usize, what: &'static str) -> Result<(), EncodeError> {
    let len = u16::try_from(out.len() - slot - 2).map_err(|_| EncodeError::FieldTooLong(what))?;
    if let Some(field) = out.get_mut(slot..slot + 2) {
        field.copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

pub(crate) fn encode(
    m: &Update,
    ctx: &EncodeContext,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let v4_add_path = ctx.add_path.contains(AddressFamily::IPV4_UNICAST);
    let slot = length_slot(out);
    for n in &m.withdrawn {
        encode_prefix(n, v4_add_path, out);
    }
    fill_length(out, slot, "withdrawn routes")?;
    let slot = length_slot(out);
    attr_encode::encode(m, ctx, out)?;
    fill_length(out, slot, "path attributes")?;
    for n in &m.nlri {
        encode_prefix(n, v4_add_path, out);
    }
    Ok(())
}
