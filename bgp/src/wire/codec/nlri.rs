//! NLRI encoding (RFC 4271 §4.3: length in bits, then the minimum number of octets;
//! RFC 7911: a 4-octet path identifier first when ADD-PATH is negotiated).
//!
//! This is the decoder's hot path: prefixes are decoded straight into a list
//! (`Vec`, or the UPDATE's inline [`crate::wire::NlriList`]) reserved once per field,
//! with no allocation per prefix.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::wire::family::Afi;
use crate::wire::nlri::{Nlri, NlriList};

/// Where a field's prefixes go.
pub(crate) trait NlriOut {
    fn reserve(&mut self, n: usize);
    fn push(&mut self, n: Nlri);
}

impl NlriOut for Vec<Nlri> {
    fn reserve(&mut self, n: usize) {
        Vec::reserve(self, n);
    }
    fn push(&mut self, n: Nlri) {
        Vec::push(self, n);
    }
}

impl NlriOut for NlriList {
    fn reserve(&mut self, n: usize) {
        NlriList::reserve(self, n);
    }
    fn push(&mut self, n: Nlri) {
        NlriList::push(self, n);
    }
}

/// Why an NLRI field could not be parsed, and where (offset within the field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NlriError {
    pub(crate) at: usize,
    pub(crate) reason: &'static str,
}

/// Decodes a whole NLRI/withdrawn-routes field of `afi` into `out`.
pub(crate) fn decode_prefixes(
    field: &[u8],
    afi: Afi,
    add_path: bool,
    out: &mut impl NlriOut,
) -> Result<(), NlriError> {
    match (afi, add_path) {
        (Afi::Ipv4, false) => decode_v4(field, out),
        (Afi::Ipv6, false) => decode_v6::<false>(field, out),
        (Afi::Ipv4, true) => decode_v4_add_path(field, out),
        (Afi::Ipv6, true) => decode_v6::<true>(field, out),
        _ => Err(NlriError {
            at: 0,
            reason: "unsupported address family",
        }),
    }
}

#[inline]
fn v4_prefix(len: u8, bytes: &[u8]) -> Option<Ipv4Net> {
    let raw = match *bytes {
        [] => 0,
        [a] => u32::from(a) << 24,
        [a, b] => (u32::from(a) << 24) | (u32::from(b) << 16),
        [a, b, c] => (u32::from(a) << 24) | (u32::from(b) << 16) | (u32::from(c) << 8),
        [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
        _ => return None,
    };
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    Ipv4Net::new(Ipv4Addr::from(raw & mask), len).ok()
}

/// Number of prefixes in a field without path identifiers (a pre-scan over the
/// length octets, so the output vector is sized once; bounds are checked later).
fn count_prefixes(field: &[u8]) -> usize {
    let (mut i, mut n) = (0usize, 0usize);
    while let Some(&len) = field.get(i) {
        i += 1 + usize::from(len).div_ceil(8);
        n += 1;
    }
    n
}

fn decode_v4(field: &[u8], out: &mut impl NlriOut) -> Result<(), NlriError> {
    out.reserve(count_prefixes(field));
    let mut i = 0usize;
    while let Some(&len) = field.get(i) {
        if len > 32 {
            return Err(NlriError {
                at: i,
                reason: "IPv4 prefix length over 32",
            });
        }
        let n = usize::from(len).div_ceil(8);
        let bytes = field.get(i + 1..i + 1 + n).ok_or(NlriError {
            at: i,
            reason: "prefix runs past the end of the field",
        })?;
        let net = v4_prefix(len, bytes).ok_or(NlriError {
            at: i,
            reason: "bad IPv4 prefix",
        })?;
        out.push(Nlri {
            prefix: IpNet::V4(net),
            path_id: None,
        });
        i += 1 + n;
    }
    Ok(())
}

fn decode_v4_add_path(field: &[u8], out: &mut impl NlriOut) -> Result<(), NlriError> {
    out.reserve(field.len() / 8 + 1);
    let mut i = 0usize;
    while i < field.len() {
        let head: [u8; 5] =
            field
                .get(i..i + 5)
                .and_then(|s| s.try_into().ok())
                .ok_or(NlriError {
                    at: i,
                    reason: "path identifier or prefix length truncated",
                })?;
        let [a, b, c, d, len] = head;
        if len > 32 {
            return Err(NlriError {
                at: i + 4,
                reason: "IPv4 prefix length over 32",
            });
        }
        let n = usize::from(len).div_ceil(8);
        let bytes = field.get(i + 5..i + 5 + n).ok_or(NlriError {
            at: i + 4,
            reason: "prefix runs past the end of the field",
        })?;
        let net = v4_prefix(len, bytes).ok_or(NlriError {
            at: i + 4,
            reason: "bad IPv4 prefix",
        })?;
        out.push(Nlri {
            prefix: IpNet::V4(net),
            path_id: Some(u32::from_be_bytes([a, b, c, d])),
        });
        i += 5 + n;
    }
    Ok(())
}

fn decode_v6<const ADD_PATH: bool>(field: &[u8], out: &mut impl NlriOut) -> Result<(), NlriError> {
    out.reserve(if ADD_PATH {
        field.len() / 9 + 1
    } else {
        count_prefixes(field)
    });
    let mut i = 0usize;
    while i < field.len() {
        let path_id = if ADD_PATH {
            let id: [u8; 4] =
                field
                    .get(i..i + 4)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(NlriError {
                        at: i,
                        reason: "path identifier truncated",
                    })?;
            i += 4;
            Some(u32::from_be_bytes(id))
        } else {
            None
        };
        let len = *field.get(i).ok_or(NlriError {
            at: i,
            reason: "prefix length missing",
        })?;
        if len > 128 {
            return Err(NlriError {
                at: i,
                reason: "IPv6 prefix length over 128",
            });
        }
        let n = usize::from(len).div_ceil(8);
        let bytes = field.get(i + 1..i + 1 + n).ok_or(NlriError {
            at: i,
            reason: "prefix runs past the end of the field",
        })?;
        let mut octets = [0u8; 16];
        for (dst, src) in octets.iter_mut().zip(bytes) {
            *dst = *src;
        }
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        let addr = Ipv6Addr::from(u128::from_be_bytes(octets) & mask);
        let net = Ipv6Net::new(addr, len).map_err(|_| NlriError {
            at: i,
            reason: "bad IPv6 prefix",
        })?;
        out.push(Nlri {
            prefix: IpNet::V6(net),
            path_id,
        });
        i += 1 + n;
    }
    Ok(())
}

/// Octets that `nlri` takes on the wire.
pub(crate) fn encoded_len(nlri: &Nlri, add_path: bool) -> usize {
    let id = if add_path { 4 } else { 0 };
    id + 1 + usize::from(nlri.prefix.prefix_len()).div_ceil(8)
}

/// Appends `nlri` (path id only when `add_path`; a missing id is sent as 0).
pub(crate) fn encode_prefix(nlri: &Nlri, add_path: bool, out: &mut BytesMut) {
    if add_path {
        out.put_u32(nlri.path_id.unwrap_or(0));
    }
    let len = nlri.prefix.prefix_len();
    let n = usize::from(len).div_ceil(8);
    out.put_u8(len);
    match nlri.prefix {
        IpNet::V4(net) => {
            let octets = net.network().octets();
            out.put_slice(octets.get(..n).unwrap_or(&octets));
        }
        IpNet::V6(net) => {
            let octets = net.network().octets();
            out.put_slice(octets.get(..n).unwrap_or(&octets));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(field: &[u8]) -> Result<Vec<String>, NlriError> {
        let mut out = Vec::new();
        decode_prefixes(field, Afi::Ipv4, false, &mut out)?;
        Ok(out.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn ipv4_prefixes_of_every_octet_count_and_host_bits_cleared() {
        // 0.0.0.0/0, 10.0.0.0/8, 172.16.0.0/12 (host bits 0x1f in the 2nd octet),
        // 192.0.2.0/24, 198.51.100.7/32.
        let field = [0, 8, 10, 12, 172, 31, 24, 192, 0, 2, 32, 198, 51, 100, 7];
        assert_eq!(
            v4(&field).unwrap(),
            [
                "0.0.0.0/0",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.0.2.0/24",
                "198.51.100.7/32"
            ]
        );
    }

    #[test]
    fn ipv4_errors_name_the_offset() {
        assert_eq!(v4(&[24, 10, 0, 0, 33, 1, 2, 3, 4, 5]).unwrap_err().at, 4);
        assert_eq!(v4(&[24, 10, 0]).unwrap_err().at, 0);
    }

    #[test]
    fn ipv6_and_add_path_round_trip() {
        for (afi, add_path, text) in [
            (Afi::Ipv6, false, "2001:db8:1::/48"),
            (Afi::Ipv6, true, "::/0"),
            (Afi::Ipv4, true, "10.1.2.128/25"),
            (Afi::Ipv6, false, "2001:db8::1/128"),
        ] {
            let nlri = Nlri {
                prefix: text.parse().unwrap(),
                path_id: add_path.then_some(7),
            };
            let mut buf = BytesMut::new();
            encode_prefix(&nlri, add_path, &mut buf);
            assert_eq!(buf.len(), encoded_len(&nlri, add_path));
            let mut out = Vec::new();
            decode_prefixes(&buf, afi, add_path, &mut out).unwrap();
            assert_eq!(out, [nlri]);
        }
    }
}
