//! OPEN body (RFC 4271 §4.2, §6.2) with capabilities (RFC 5492) and the extended
//! optional parameters length (RFC 9072).

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};

use super::malformed;
use super::reader::Reader;
use crate::wire::capability::{
    code, AddPathEntry, Capability, ExtendedNextHopEntry, GracefulRestart, GracefulRestartFamily,
};
use crate::wire::error::{DecodeError, EncodeError};
use crate::wire::family::AddressFamily;
use crate::wire::notification::{ErrorCode, OpenMessageError};
use crate::wire::open::Open;

/// Optional parameter type: Capabilities (RFC 5492).
const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072: Non-Ext OP Type marking the extended format.
const PARAM_EXTENDED: u8 = 255;

fn open_error(
    offset: usize,
    reason: &'static str,
    sub: OpenMessageError,
    data: impl Into<Bytes>,
) -> DecodeError {
    malformed(offset, reason, ErrorCode::OpenMessage(sub), data)
}

fn unspecific(offset: usize, reason: &'static str) -> DecodeError {
    open_error(offset, reason, OpenMessageError::Unspecific, Bytes::new())
}

pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Open, DecodeError> {
    let short = |r: &Reader<'_>| unspecific(r.offset(), "OPEN truncated");
    let version = r.u8().ok_or_else(|| short(r))?;
    if version != 4 {
        // Data: the largest version we support, as 2 octets (RFC 4271 §6.2).
        return Err(open_error(
            19,
            "unsupported BGP version",
            OpenMessageError::UnsupportedVersionNumber,
            vec![0, 4],
        ));
    }
    let my_as = r.u16().ok_or_else(|| short(r))?;
    let hold_time = r.u16().ok_or_else(|| short(r))?;
    if hold_time == 1 || hold_time == 2 {
        return Err(open_error(
            22,
            "hold time of 1 or 2 seconds",
            OpenMessageError::UnacceptableHoldTime,
            Bytes::new(),
        ));
    }
    let bgp_id = Ipv4Addr::from(r.u32().ok_or_else(|| short(r))?);
    if bgp_id.is_unspecified() {
        return Err(open_error(
            24,
            "BGP Identifier 0.0.0.0",
            OpenMessageError::BadBgpIdentifier,
            Bytes::new(),
        ));
    }
    let len_at = r.offset();
    let mut opt_len = usize::from(r.u8().ok_or_else(|| short(r))?);
    // RFC 9072 §2: length 255 followed by type 255 announces the extended format.
    let mut peek = r.clone();
    let extended = opt_len == 255 && peek.u8() == Some(PARAM_EXTENDED);
    if extended {
        r.u8();
        opt_len =
            usize::from(r.u16().ok_or_else(|| {
                unspecific(len_at, "extended optional parameters length truncated")
            })?);
    }
    let mut params = r
        .sub(opt_len)
        .ok_or_else(|| unspecific(len_at, "optional parameters length exceeds the message"))?;
    if !r.is_empty() {
        return Err(unspecific(
            r.offset(),
            "octets after the optional parameters",
        ));
    }
    let mut capabilities = Vec::new();
    while !params.is_empty() {
        let at = params.offset();
        let kind = params
            .u8()
            .ok_or_else(|| unspecific(at, "optional parameter truncated"))?;
        let len = if extended {
            params.u16().map(usize::from)
        } else {
            params.u8().map(usize::from)
        };
        let mut value = len.and_then(|len| params.sub(len)).ok_or_else(|| {
            unspecific(at, "optional parameter runs past the optional parameters")
        })?;
        if kind != PARAM_CAPABILITIES {
            return Err(open_error(
                at,
                "unsupported optional parameter",
                OpenMessageError::UnsupportedOptionalParameter,
                Bytes::new(),
            ));
        }
        while !value.is_empty() {
            let at = value.offset();
            let parsed = value
                .u8()
                .zip(value.u8())
                .and_then(|(c, len)| Some((c, value.take(usize::from(len))?)));
            let (code, bytes) = parsed
                .ok_or_else(|| unspecific(at, "capability runs past its optional parameter"))?;
            capabilities.push(decode_capability(code, bytes));
        }
    }
    Ok(Open {
        version,
        my_as,
        hold_time,
        bgp_id,
        capabilities,
    })
}

/// Decodes one capability; a malformed value of a known capability is kept as
/// [`Capability::Unknown`] (not understood, so not used), never a panic.
fn decode_capability(code: u8, value: &[u8]) -> Capability {
    decode_known(code, value).unwrap_or_else(|| Capability::Unknown {
        code,
        value: Bytes::copy_from_slice(value),
    })
}

fn family(afi: u16, safi: u8) -> AddressFamily {
    AddressFamily::new(afi.into(), safi.into())
}

fn decode_known(kind: u8, value: &[u8]) -> Option<Capability> {
    let mut r = Reader::new(value, 0);
    let cap = match kind {
        code::MULTIPROTOCOL => {
            let afi = r.u16()?;
            let _reserved = r.u8()?;
            Capability::Multiprotocol(family(afi, r.u8()?))
        }
        code::ROUTE_REFRESH => Capability::RouteRefresh,
        code::ENHANCED_ROUTE_REFRESH => Capability::EnhancedRouteRefresh,
        code::EXTENDED_MESSAGE => Capability::ExtendedMessage,
        code::FOUR_OCTET_AS => Capability::FourOctetAs(r.u32()?),
        code::GRACEFUL_RESTART => {
            let head = r.u16()?;
            let mut families = Vec::with_capacity(r.remaining() / 4);
            while !r.is_empty() {
                let fam = family(r.u16()?, r.u8()?);
                families.push(GracefulRestartFamily {
                    family: fam,
                    flags: r.u8()?,
                });
            }
            Capability::GracefulRestart(GracefulRestart {
                restart_flags: (head >> 12) as u8,
                restart_time: head & 0x0fff,
                families,
            })
        }
        code::ADD_PATH => {
            let mut list = Vec::with_capacity(r.remaining() / 4);
            while !r.is_empty() {
                let fam = family(r.u16()?, r.u8()?);
                list.push(AddPathEntry {
                    family: fam,
                    mode: r.u8()?.into(),
                });
            }
            Capability::AddPath(list)
        }
        code::EXTENDED_NEXT_HOP => {
            let mut list = Vec::with_capacity(r.remaining() / 6);
            while !r.is_empty() {
                let afi = r.u16()?;
                let safi = u8::try_from(r.u16()?).ok()?;
                list.push(ExtendedNextHopEntry {
                    nlri: family(afi, safi),
                    next_hop_afi: r.u16()?.into(),
                });
            }
            Capability::ExtendedNextHop(list)
        }
        code::FQDN => {
            let len = usize::from(r.u8()?);
            let hostname = std::str::from_utf8(r.take(len)?).ok()?.to_owned();
            let len = usize::from(r.u8()?);
            let domain = std::str::from_utf8(r.take(len)?).ok()?.to_owned();
            Capability::Fqdn { hostname, domain }
        }
        _ => return None,
    };
    // Trailing octets: the value is malformed, keep it raw.
    r.is_empty().then_some(cap)
}

fn encode_capability(cap: &Capability, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.push(cap.code());
    out.push(0);
    match cap {
        Capability::Multiprotocol(f) => {
            out.put_u16(f.afi.into());
            out.put_u8(0);
            out.put_u8(f.safi.into());
        }
        Capability::RouteRefresh
        | Capability::EnhancedRouteRefresh
        | Capability::ExtendedMessage => {}
        Capability::FourOctetAs(asn) => out.put_u32(*asn),
        Capability::GracefulRestart(gr) => {
            out.put_u16((u16::from(gr.restart_flags & 0x0f) << 12) | (gr.restart_time & 0x0fff));
            for f in &gr.families {
                out.put_u16(f.family.afi.into());
                out.put_u8(f.family.safi.into());
                out.put_u8(f.flags);
            }
        }
        Capability::AddPath(list) => {
            for e in list {
                out.put_u16(e.family.afi.into());
                out.put_u8(e.family.safi.into());
                out.put_u8(e.mode.into());
            }
        }
        Capability::ExtendedNextHop(list) => {
            for e in list {
                out.put_u16(e.nlri.afi.into());
                out.put_u16(u16::from(u8::from(e.nlri.safi)));
                out.put_u16(e.next_hop_afi.into());
            }
        }
        Capability::Fqdn { hostname, domain } => {
            for s in [hostname, domain] {
                let len =
                    u8::try_from(s.len()).map_err(|_| EncodeError::FieldTooLong("FQDN name"))?;
                out.put_u8(len);
                out.put_slice(s.as_bytes());
            }
        }
        Capability::Unknown { value, .. } => out.put_slice(value),
    }
    let len = u8::try_from(out.len() - start - 2)
        .map_err(|_| EncodeError::FieldTooLong("capability value"))?;
    if let Some(field) = out.get_mut(start + 1) {
        *field = len;
    }
    Ok(())
}

/// Encodes the OPEN body: all capabilities in one Capabilities parameter, in the
/// RFC 9072 extended format only when they do not fit 255 octets.
pub(crate) fn encode(m: &Open, out: &mut BytesMut) -> Result<(), EncodeError> {
    let mut caps = Vec::new();
    for cap in &m.capabilities {
        encode_capability(cap, &mut caps)?;
    }
    out.put_u8(m.version);
    out.put_u16(m.my_as);
    out.put_u16(m.hold_time);
    out.put_slice(&m.bgp_id.octets());
    if caps.is_empty() {
        out.put_u8(0);
    } else if caps.len() + 2 <= 255 {
        out.put_u8((caps.len() + 2) as u8);
        out.put_u8(PARAM_CAPABILITIES);
        out.put_u8(caps.len() as u8);
        out.put_slice(&caps);
    } else {
        let param_len =
            u16::try_from(caps.len()).map_err(|_| EncodeError::FieldTooLong("capabilities"))?;
        let total = u16::try_from(caps.len() + 3)
            .map_err(|_| EncodeError::FieldTooLong("optional parameters"))?;
        out.put_u8(255);
        out.put_u8(PARAM_EXTENDED);
        out.put_u16(total);
        out.put_u8(PARAM_CAPABILITIES);
        out.put_u16(param_len);
        out.put_slice(&caps);
    }
    Ok(())
}
