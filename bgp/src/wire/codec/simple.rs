//! NOTIFICATION (RFC 4271 §4.5) and ROUTE-REFRESH (RFC 2918, RFC 7313) bodies.

use bytes::{BufMut, Bytes, BytesMut};

use super::reader::Reader;
use crate::wire::family::AddressFamily;
use crate::wire::notification::{ErrorCode, Notification};
use crate::wire::route_refresh::RouteRefresh;

/// Decodes a NOTIFICATION body (the header check guaranteed at least 2 octets). A
/// NOTIFICATION is never answered with an error, so unknown codes are kept.
pub(crate) fn decode_notification(r: &mut Reader<'_>) -> Notification {
    let code = r.u8().unwrap_or(0);
    let subcode = r.u8().unwrap_or(0);
    Notification::new(
        ErrorCode::from_wire(code, subcode),
        Bytes::copy_from_slice(r.rest()),
    )
}

pub(crate) fn encode_notification(n: &Notification, out: &mut BytesMut) {
    out.put_u8(n.code());
    out.put_u8(n.subcode());
    out.put_slice(&n.data);
}

/// Decodes a ROUTE-REFRESH body: exactly AFI(2), subtype(1), SAFI(1). `None` when the
/// length is wrong (RFC 7313 §5: ROUTE-REFRESH Message Error / Invalid Message Length;
/// ORF entries (RFC 5291) are not supported, so subtype 0 must be 4 octets too).
pub(crate) fn decode_route_refresh(r: &mut Reader<'_>) -> Option<RouteRefresh> {
    if r.remaining() != 4 {
        return None;
    }
    let afi = r.u16()?;
    let subtype = r.u8()?;
    let safi = r.u8()?;
    Some(RouteRefresh {
        family: AddressFamily::new(afi.into(), safi.into()),
        subtype: subtype.into(),
    })
}

pub(crate) fn encode_route_refresh(m: &RouteRefresh, out: &mut BytesMut) {
    out.put_u16(m.family.afi.into());
    out.put_u8(m.subtype.into());
    out.put_u8(m.family.safi.into());
}
