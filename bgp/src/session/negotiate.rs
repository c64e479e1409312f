//! OPEN checks (RFC 4271 §6.2, RFC 5492, RFC 6793, RFC 6286) and what both OPENs
//! negotiate: hold time, keepalive, families, codec contexts.

use std::net::Ipv4Addr;
use std::time::Duration;

use bytes::{BufMut, BytesMut};

use super::config::SessionConfig;
use crate::wire::{
    AddressFamily, Capability, DecodeContext, EncodeContext, ErrorCode, Notification, Open,
    OpenMessageError,
};

/// What a session negotiated once both OPENs were exchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The OPEN we sent.
    pub local_open: Open,
    /// The OPEN the peer sent.
    pub peer_open: Open,
    /// The peer's BGP identifier.
    pub peer_id: Ipv4Addr,
    /// The peer's AS (from the 4-octet AS capability, else the 2-octet field).
    pub peer_asn: u32,
    /// Negotiated hold time (the smaller of both; zero: no hold timer, no keepalives).
    pub hold_time: Duration,
    /// Keepalive interval; `None` when the hold time is zero.
    pub keepalive: Option<Duration>,
    /// Families both sides advertised, in our configured order.
    pub families: Vec<AddressFamily>,
    /// Both sides support 4-octet AS numbers (RFC 6793).
    pub four_octet_as: bool,
    /// The peer advertised Route Refresh (RFC 2918): we may send it ROUTE-REFRESH.
    pub peer_route_refresh: bool,
    /// Context for decoding the peer's messages.
    pub decode: DecodeContext,
    /// Context for encoding our messages to the peer.
    pub encode: EncodeContext,
}

impl Negotiated {
    /// Largest message we may send.
    pub fn max_message_len(&self) -> usize {
        self.encode.max_message_len()
    }
}

fn open_error(sub: OpenMessageError, data: Vec<u8>) -> Notification {
    Notification::new(ErrorCode::OpenMessage(sub), data)
}

/// Capability TLVs (code, length, value) of our Multiprotocol capabilities: the data of
/// an Unsupported Capability NOTIFICATION (RFC 5492 §5).
fn multiprotocol_tlvs(families: &[AddressFamily]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for f in families {
        out.put_u8(crate::wire::capability::code::MULTIPROTOCOL);
        out.put_u8(4);
        out.put_u16(f.afi.into());
        out.put_u8(0);
        out.put_u8(f.safi.into());
    }
    out.to_vec()
}

/// Checks the peer's OPEN against our configuration and the OPEN we sent. `Err` is the
/// NOTIFICATION to send before closing the connection.
pub fn check_open(
    cfg: &SessionConfig,
    local: &Open,
    remote: &Open,
) -> Result<Negotiated, Notification> {
    if remote.version != 4 {
        // Data: the largest version we support, 2 octets (RFC 4271 §6.2).
        return Err(open_error(
            OpenMessageError::UnsupportedVersionNumber,
            vec![0, 4],
        ));
    }
    let peer_asn = remote.asn();
    if peer_asn != cfg.peer_asn {
        return Err(open_error(OpenMessageError::BadPeerAs, Vec::new()));
    }
    if matches!(remote.hold_time, 1 | 2) {
        return Err(open_error(
            OpenMessageError::UnacceptableHoldTime,
            Vec::new(),
        ));
    }
    // RFC 6286: any non-zero value; equal identifiers only matter within an AS.
    if remote.bgp_id.is_unspecified() || (cfg.ibgp() && remote.bgp_id == cfg.local_id) {
        return Err(open_error(OpenMessageError::BadBgpIdentifier, Vec::new()));
    }
    let theirs = remote.multiprotocol();
    let families: Vec<AddressFamily> = cfg
        .families
        .iter()
        .copied()
        .filter(|f| theirs.contains(f))
        .collect();
    if families.is_empty() {
        return Err(open_error(
            OpenMessageError::UnsupportedCapability,
            multiprotocol_tlvs(&cfg.families),
        ));
    }
    let hold_secs = local.hold_time.min(remote.hold_time);
    let hold_time = Duration::from_secs(u64::from(hold_secs));
    let keepalive = if hold_secs == 0 {
        None
    } else {
        let third = hold_time / 3;
        let ka = cfg.keepalive.map_or(third, |k| k.min(third));
        Some(ka.max(Duration::from_secs(1)))
    };
    Ok(Negotiated {
        local_open: local.clone(),
        peer_open: remote.clone(),
        peer_id: remote.bgp_id,
        peer_asn,
        hold_time,
        keepalive,
        families,
        four_octet_as: local.four_octet_as().is_some() && remote.four_octet_as().is_some(),
        peer_route_refresh: remote.capabilities.iter().any(|c| {
            matches!(
                c,
                Capability::RouteRefresh | Capability::EnhancedRouteRefresh
            )
        }),
        decode: DecodeContext::negotiated(local, remote),
        encode: EncodeContext::negotiated(local, remote),
    })
}
