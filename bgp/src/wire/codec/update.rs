//! UPDATE body (RFC 4271 §4.3, §6.3): withdrawn routes, path attributes, NLRI.

use bytes::{BufMut, Bytes, BytesMut};

use super::attr_cache::{AttrCache, Lookup};
use super::attr_decode;
use super::attr_encode;
use super::malformed;
use super::nlri::{decode_prefixes, encode_prefix};
use super::reader::Reader;
use crate::wire::context::{DecodeContext, EncodeContext};
use crate::wire::error::{DecodeError, EncodeError};
use crate::wire::family::{AddressFamily, Afi};
use crate::wire::message::Message;
use crate::wire::nlri::{Nlri, NlriList};
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
    let body = Body::split(r)?;
    let mut update = Update::default();
    body.decode_into(ctx, &mut update, true)?;
    Ok(update)
}

/// Decodes an UPDATE body and pushes it onto `out` (nothing is pushed when it is
/// malformed): in place, so that the value is not copied on its way out. With a
/// `cache` (of this session, for this `ctx`), an attribute list decoded before is not
/// decoded again, and the UPDATE is made with its shared set (no placeholder set is
/// made and dropped: two atomic operations less per UPDATE).
pub(crate) fn decode_push(
    r: &mut Reader<'_>,
    ctx: &DecodeContext,
    out: &mut Vec<Message>,
    mut cache: Option<&mut AttrCache>,
) -> Result<(), DecodeError> {
    let body = Body::split(r)?;
    let (octets, nlri_present) = (body.attrs.clone().rest(), !body.nlri.is_empty());
    let looked = cache.as_deref_mut().map(|c| c.lookup(octets, nlri_present));
    let (update, miss, decode_attrs) = match looked {
        Some(Lookup::Hit(attrs)) => (Update::with_attributes(attrs), None, false),
        Some(Lookup::Miss(hash)) => (Update::default(), Some(hash), true),
        Some(Lookup::Skip) | None => (Update::default(), None, true),
    };
    out.push(Message::Update(update));
    let Some(Message::Update(u)) = out.last_mut() else {
        return Ok(());
    };
    if let Err(e) = body.decode_into(ctx, u, decode_attrs) {
        out.pop();
        return Err(e);
    }
    if let (Some(cache), Some(hash)) = (cache, miss) {
        cache.keep(hash, octets, nlri_present, u);
    }
    Ok(())
}

/// A clean UPDATE body of one IPv4 NLRI and no withdrawn routes whose attribute list
/// `cache` keeps: the list's number ([`AttrCache::number`]) and the prefix — what
/// [`decode_push`] with that cache would make, without making it. `None` for any other
/// body (the caller decodes it in full, which reports what is wrong with it).
pub(crate) fn decode_one(
    r: &mut Reader<'_>,
    ctx: &DecodeContext,
    cache: &mut AttrCache,
) -> Option<(u32, Nlri)> {
    let mut body = Body::split(r).ok()?;
    let add_path = ctx.add_path.contains(AddressFamily::IPV4_UNICAST);
    let id_len = if add_path { 4 } else { 0 };
    // One prefix exactly fills the field: checked before the cache is looked up, so an
    // UPDATE of many prefixes costs only this.
    let len = *body.nlri.get(id_len)?;
    if len > 32 || body.nlri.len() != id_len + 1 + usize::from(len).div_ceil(8) {
        return None;
    }
    if !body.withdrawn.rest().is_empty() {
        return None;
    }
    let no = cache.number(body.attrs.rest(), true)?;
    let mut one = NlriList::new();
    decode_prefixes(body.nlri, Afi::Ipv4, add_path, &mut one).ok()?;
    match one.as_slice() {
        [n] => Some((no, *n)),
        _ => None,
    }
}

/// An UPDATE body's three fields (RFC 4271 §4.3), lengths checked.
struct Body<'a> {
    withdrawn: Reader<'a>,
    attrs: Reader<'a>,
    nlri: &'a [u8],
    nlri_at: usize,
}

impl<'a> Body<'a> {
    fn split(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let wlen_at = r.offset();
        let too_long = "Withdrawn Routes Length + Total Path Attribute Length exceed the message";
        let wlen = r.u16().ok_or_else(|| list_error(wlen_at, too_long))?;
        let withdrawn = r
            .sub(usize::from(wlen))
            .ok_or_else(|| list_error(wlen_at, too_long))?;
        let alen_at = r.offset();
        let alen = r.u16().ok_or_else(|| list_error(alen_at, too_long))?;
        let attrs = r
            .sub(usize::from(alen))
            .ok_or_else(|| list_error(alen_at, too_long))?;
        let nlri_at = r.offset();
        Ok(Self {
            withdrawn,
            attrs,
            nlri: r.rest(),
            nlri_at,
        })
    }

    /// Decodes the fields into `update`, which must be empty but for its attribute set:
    /// the attributes too when `attributes` (else `update` has them already).
    fn decode_into(
        mut self,
        ctx: &DecodeContext,
        update: &mut Update,
        attributes: bool,
    ) -> Result<(), DecodeError> {
        let v4_add_path = ctx.add_path.contains(AddressFamily::IPV4_UNICAST);
        let withdrawn_at = self.withdrawn.offset();
        decode_prefixes(
            self.withdrawn.rest(),
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
        if attributes {
            attr_decode::decode(self.attrs, ctx, update, !self.nlri.is_empty())?;
        }
        let nlri_at = self.nlri_at;
        decode_prefixes(self.nlri, Afi::Ipv4, v4_add_path, &mut update.nlri).map_err(|e| {
            malformed(
                nlri_at + e.at,
                e.reason,
                ErrorCode::Update(UpdateMessageError::InvalidNetworkField),
                Bytes::new(),
            )
        })
    }
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
