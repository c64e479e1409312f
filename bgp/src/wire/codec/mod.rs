//! The sans-IO codec: [`decode_message`] / [`encode_message`] over byte slices, and
//! [`BgpCodec`] for `tokio_util::codec` framing on top of them.
//!
//! Header checks follow RFC 4271 §6.1 (marker, length per type, type) with the
//! RFC 8654 extended length; each message body has its own module.

mod as4;
mod attr_cache;
mod attr_decode;
mod attr_encode;
mod framed;
mod nlri;
mod open;
mod reader;
mod simple;
mod update;

use bytes::{BufMut, Bytes, BytesMut};

pub use attr_cache::AttrCache;
pub use framed::{BgpCodec, CodecError};

use super::context::{DecodeContext, EncodeContext};
use super::error::{DecodeError, EncodeError};
use super::message::{Message, MessageType};
use super::nlri::Nlri;
use super::notification::{ErrorCode, MessageHeaderError, RouteRefreshError};
use super::{HEADER_LEN, MAX_MESSAGE_LEN};
use reader::Reader;

/// Decodes an AS_PATH or AS4_PATH attribute value (`four_octet`: 4-octet AS numbers,
/// always true for AS4_PATH); `None` when it is malformed (RFC 7606 §7.2).
pub fn decode_as_path(value: &[u8], four_octet: bool) -> Option<super::AsPath> {
    as4::decode_as_path(value, four_octet).ok()
}

/// The AS path a 4-octet speaker reconstructs from AS_PATH and AS4_PATH received on a
/// 2-octet session (RFC 6793 §4.2.3).
pub fn merge_as4_path(as_path: &super::AsPath, as4_path: &super::AsPath) -> super::AsPath {
    as4::merge(as_path, as4_path)
}

/// A malformed-message error (session reset with this NOTIFICATION).
pub(crate) fn malformed(
    offset: usize,
    reason: &'static str,
    error: ErrorCode,
    data: impl Into<Bytes>,
) -> DecodeError {
    DecodeError::Malformed {
        offset,
        reason,
        notification: super::notification::Notification::new(error, data),
    }
}

/// Decodes one message from the front of `buf`.
///
/// Returns the message and the octets it took. [`DecodeError::Incomplete`] when `buf`
/// holds only part of a message (checked header faults are reported as soon as the 19
/// header octets are there); [`DecodeError::Malformed`] with the NOTIFICATION to send
/// otherwise. RFC 7606 faults that do not reset the session are recorded in
/// [`super::Update::errors`] of an `Ok` result.
pub fn decode_message(buf: &[u8], ctx: &DecodeContext) -> Result<(Message, usize), DecodeError> {
    let (kind, mut body, length) = header(buf, ctx)?;
    Ok((decode_body(kind, &mut body, buf, length, ctx)?, length))
}

/// [`decode_message`], appending the message to `out` instead of returning it: an
/// UPDATE is decoded in place in `out`'s next slot, without the copies of its ~200
/// octets that returning it through the layers would make. Returns the octets the
/// message took; on error `out` is left as it was.
pub fn decode_message_into(
    buf: &[u8],
    ctx: &DecodeContext,
    out: &mut Vec<Message>,
) -> Result<usize, DecodeError> {
    decode_message_cached(buf, ctx, out, None)
}

/// [`decode_message_into`] for a session reader: an UPDATE whose attribute list is in
/// `cache` shares the set decoded before instead of being decoded again, and a newly
/// decoded list is added to it. The cache must have been made for this `ctx`.
pub fn decode_message_cached(
    buf: &[u8],
    ctx: &DecodeContext,
    out: &mut Vec<Message>,
    cache: Option<&mut AttrCache>,
) -> Result<usize, DecodeError> {
    let (kind, mut body, length) = header(buf, ctx)?;
    if kind == MessageType::Update {
        update::decode_push(&mut body, ctx, out, cache)?;
    } else {
        out.push(decode_body(kind, &mut body, buf, length, ctx)?);
    }
    Ok(length)
}

/// A clean one-prefix UPDATE at the front of `buf` whose attribute list `cache` keeps
/// (see [`AttrCache::number`]): the list's number, the prefix and the octets the
/// message took; [`decode_message_cached`] with the same cache would have pushed an
/// UPDATE of that set and prefix alone. `None` for any other message, whole or not
/// (decode it with [`decode_message_cached`]).
pub fn decode_one_cached(
    buf: &[u8],
    ctx: &DecodeContext,
    cache: &mut AttrCache,
) -> Option<(u32, Nlri, usize)> {
    let (kind, mut body, length) = header(buf, ctx).ok()?;
    if kind != MessageType::Update {
        return None;
    }
    let (no, n) = update::decode_one(&mut body, ctx, cache)?;
    Some((no, n, length))
}

/// Checks the header of the message at the front of `buf` (RFC 4271 §6.1): its type,
/// its body and its whole length.
fn header<'a>(
    buf: &'a [u8],
    ctx: &DecodeContext,
) -> Result<(MessageType, Reader<'a>, usize), DecodeError> {
    let mut r = Reader::new(buf, 0);
    let Some(header) = r.array::<HEADER_LEN>() else {
        return Err(DecodeError::Incomplete {
            needed: HEADER_LEN - buf.len(),
        });
    };
    let [marker @ .., l0, l1, kind] = header;
    if marker.iter().any(|&b| b != 0xff) {
        return Err(malformed(
            0,
            "marker is not all ones",
            ErrorCode::MessageHeader(MessageHeaderError::ConnectionNotSynchronized),
            Bytes::new(),
        ));
    }
    let len = u16::from_be_bytes([l0, l1]);
    let length = usize::from(len);
    let bad_length = || {
        malformed(
            16,
            "bad message length",
            ErrorCode::MessageHeader(MessageHeaderError::BadMessageLength),
            Bytes::copy_from_slice(&len.to_be_bytes()),
        )
    };
    if length < HEADER_LEN || length > ctx.max_message_len() {
        return Err(bad_length());
    }
    let Some(kind) = MessageType::from_code(kind) else {
        return Err(malformed(
            18,
            "unknown message type",
            ErrorCode::MessageHeader(MessageHeaderError::BadMessageType),
            vec![kind],
        ));
    };
    let length_ok = match kind {
        // RFC 8654 §4: OPEN and KEEPALIVE never exceed 4096 octets.
        MessageType::Open => (29..=MAX_MESSAGE_LEN).contains(&length),
        MessageType::Update => length >= 23,
        MessageType::Notification => length >= 21,
        MessageType::Keepalive => length == HEADER_LEN,
        MessageType::RouteRefresh => true,
    };
    if !length_ok {
        return Err(bad_length());
    }
    let Some(body) = r.sub(length - HEADER_LEN) else {
        return Err(DecodeError::Incomplete {
            needed: length - buf.len(),
        });
    };
    Ok((kind, body, length))
}

/// Decodes the body of a message whose header [`header`] checked; `buf` starts with
/// the message.
fn decode_body(
    kind: MessageType,
    body: &mut Reader<'_>,
    buf: &[u8],
    length: usize,
    ctx: &DecodeContext,
) -> Result<Message, DecodeError> {
    Ok(match kind {
        MessageType::Open => Message::Open(open::decode(body)?),
        MessageType::Update => Message::Update(update::decode(body, ctx)?),
        MessageType::Notification => Message::Notification(simple::decode_notification(body)),
        MessageType::Keepalive => Message::Keepalive,
        MessageType::RouteRefresh => {
            let whole = buf.get(..length).unwrap_or_default();
            let rr = simple::decode_route_refresh(body).ok_or_else(|| {
                malformed(
                    16,
                    "ROUTE-REFRESH length is not 23",
                    ErrorCode::RouteRefresh(RouteRefreshError::InvalidMessageLength),
                    Bytes::copy_from_slice(whole),
                )
            })?;
            Message::RouteRefresh(rr)
        }
    })
}

/// Appends `msg` to `out` as one BGP message.
///
/// On error `out` is left as it was.
pub fn encode_message(
    msg: &Message,
    ctx: &EncodeContext,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_slice(&[0xff; 16]);
    out.put_u16(0);
    out.put_u8(msg.kind().code());
    let body = match msg {
        Message::Open(m) => open::encode(m, out),
        Message::Update(m) => update::encode(m, ctx, out),
        Message::Notification(m) => {
            simple::encode_notification(m, out);
            Ok(())
        }
        Message::Keepalive => Ok(()),
        Message::RouteRefresh(m) => {
            simple::encode_route_refresh(m, out);
            Ok(())
        }
    };
    let len = out.len() - start;
    let max = match msg {
        Message::Open(_) | Message::Keepalive => MAX_MESSAGE_LEN,
        _ => ctx.max_message_len(),
    };
    let result = if body.is_ok() && len > max {
        Err(EncodeError::MessageTooLong { len, max })
    } else {
        body
    };
    match result {
        Ok(()) => {
            let [hi, lo] = (len as u16).to_be_bytes();
            if let Some(field) = out.get_mut(start + 16..start + 18) {
                field.copy_from_slice(&[hi, lo]);
            }
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Encodes `msg` into a fresh buffer.
pub fn encode_to_vec(msg: &Message, ctx: &EncodeContext) -> Result<Vec<u8>, EncodeError> {
    let mut out = BytesMut::new();
    encode_message(msg, ctx, &mut out)?;
    Ok(out.to_vec())
}
