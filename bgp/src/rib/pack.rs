//! UPDATE packing: prefixes that share an attribute set (and next hop) travel in one
//! UPDATE, as many as fit in the negotiated message size; withdrawals are packed the
//! same way. Sizes are computed from the RFC encodings (RFC 4271 §4.3, RFC 4760,
//! RFC 6793 AS4_PATH on 2-octet sessions) — an upper bound that is exact for the
//! attribute sets tern sends.

use std::sync::Arc;

use ipnet::IpNet;

use crate::wire::{
    AddressFamily, MpNextHop, MpReach, MpUnreach, Nlri, PathAttributes, Update, AS_TRANS,
};

/// Octets of an UPDATE without attributes and NLRI: header, two length fields.
pub(crate) const UPDATE_OVERHEAD: usize = 19 + 2 + 2;

/// Octets one prefix takes in an NLRI list.
pub(crate) fn nlri_len(p: &IpNet) -> usize {
    1 + usize::from(p.prefix_len()).div_ceil(8)
}

fn attr(value_len: usize) -> usize {
    value_len + if value_len > 255 { 4 } else { 3 }
}

fn as_path_value(attrs: &PathAttributes, as_size: usize, skip_confed: bool) -> usize {
    attrs.as_path.as_ref().map_or(0, |p| {
        p.segments
            .iter()
            .filter(|s| !(skip_confed && s.kind.is_confed()))
            .map(|s| {
                let chunks = s.asns.len().div_ceil(255).max(1);
                2 * chunks + as_size * s.asns.len()
            })
            .sum()
    })
}

/// Encoded length of the path attributes (without MP_REACH/MP_UNREACH).
pub(crate) fn attributes_len(a: &PathAttributes, four_octet_as: bool) -> usize {
    let mut n = 0;
    if a.origin.is_some() {
        n += attr(1);
    }
    if a.as_path.is_some() {
        let as_size = if four_octet_as { 4 } else { 2 };
        n += attr(as_path_value(a, as_size, false));
        let wide = a.as_path.as_ref().is_some_and(|p| {
            p.segments
                .iter()
                .any(|s| s.asns.iter().any(|&x| x > 0xffff))
        });
        if !four_octet_as && wide {
            n += attr(as_path_value(a, 4, true));
        }
    }
    if a.next_hop.is_some() {
        n += attr(4);
    }
    if a.med.is_some() {
        n += attr(4);
    }
    if a.local_pref.is_some() {
        n += attr(4);
    }
    if a.atomic_aggregate {
        n += attr(0);
    }
    if let Some(ag) = a.aggregator {
        if four_octet_as {
            n += attr(8);
        } else {
            n += attr(6);
            if ag.asn > u32::from(u16::MAX) || ag.asn == u32::from(AS_TRANS) {
                n += attr(8);
            }
        }
    }
    if !a.communities.is_empty() {
        n += attr(4 * a.communities.len());
    }
    if a.originator_id.is_some() {
        n += attr(4);
    }
    if !a.cluster_list.is_empty() {
        n += attr(4 * a.cluster_list.len());
    }
    if !a.extended_communities.is_empty() {
        n += attr(8 * a.extended_communities.len());
    }
    if !a.large_communities.is_empty() {
        n += attr(12 * a.large_communities.len());
    }
    n += a.unknown.iter().map(|u| attr(u.value.len())).sum::<usize>();
    n
}

fn mp_next_hop_len(nh: &MpNextHop) -> usize {
    match (nh.global, nh.link_local) {
        (std::net::IpAddr::V4(_), _) => 4,
        (std::net::IpAddr::V6(_), None) => 16,
        (std::net::IpAddr::V6(_), Some(_)) => 32,
    }
}

/// Whether one UPDATE carrying `attrs` / `next_hop` and a prefix of `family` (the
/// longest one: the decision holds for every prefix of the family) fits in `max_len`
/// octets. When it does not, the set cannot be sent to that peer at all: decided
/// once per attribute set, not per prefix.
pub(crate) fn fits(
    attrs: &PathAttributes,
    next_hop: &MpNextHop,
    family: AddressFamily,
    max_len: usize,
    four_octet_as: bool,
) -> bool {
    encoded_base(attrs, next_hop, family, four_octet_as) + max_nlri_len(family) <= max_len
}

/// Octets of an UPDATE announcing `family` with `attrs` before its first prefix.
pub(crate) fn encoded_base(
    attrs: &PathAttributes,
    next_hop: &MpNextHop,
    family: AddressFamily,
    four_octet_as: bool,
) -> usize {
    let base = UPDATE_OVERHEAD + attributes_len(attrs, four_octet_as);
    if family == AddressFamily::IPV4_UNICAST {
        base
    } else {
        base + mp_fixed_len(next_hop)
    }
}

fn max_nlri_len(family: AddressFamily) -> usize {
    if family == AddressFamily::IPV4_UNICAST {
        5
    } else {
        17
    }
}

/// MP_REACH without its NLRI: flags/type/extended length (4), AFI/SAFI (3),
/// next-hop length (1), next hop, reserved (1).
fn mp_fixed_len(next_hop: &MpNextHop) -> usize {
    4 + 3 + 1 + mp_next_hop_len(next_hop) + 1
}

/// Octets one NLRI takes: the prefix, plus 4 for an ADD-PATH path identifier
/// (RFC 7911 §3; present exactly when ADD-PATH send is negotiated for the family).
pub(crate) fn path_nlri_len(n: &Nlri) -> usize {
    nlri_len(&n.prefix) + if n.path_id.is_some() { 4 } else { 0 }
}

/// Splits `prefixes` into chunks whose NLRI take at most `room` octets each.
fn chunks(prefixes: &[Nlri], room: usize) -> Vec<Vec<Nlri>> {
    let mut out = Vec::new();
    let mut cur: Vec<Nlri> = Vec::new();
    let mut used = 0;
    for p in prefixes {
        let n = path_nlri_len(p);
        if used + n > room && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            used = 0;
        }
        cur.push(*p);
        used += n;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// UPDATEs announcing `prefixes` (all of one family) with `attrs` / `next_hop`.
/// IPv4 goes in the NLRI field with NEXT_HOP; anything else in MP_REACH_NLRI.
pub(crate) fn announce(
    attrs: &Arc<PathAttributes>,
    next_hop: MpNextHop,
    family: AddressFamily,
    prefixes: &[Nlri],
    max_len: usize,
    four_octet_as: bool,
) -> Vec<Update> {
    let base = UPDATE_OVERHEAD + attributes_len(attrs, four_octet_as);
    if family == AddressFamily::IPV4_UNICAST {
        let room = max_len.saturating_sub(base).max(5);
        return chunks(prefixes, room)
            .into_iter()
            .map(|nlri| Update {
                attributes: attrs.clone(),
                nlri: nlri.into(),
                ..Update::default()
            })
            .collect();
    }
    let mp_fixed = mp_fixed_len(&next_hop);
    let room = max_len.saturating_sub(base + mp_fixed).max(17);
    chunks(prefixes, room)
        .into_iter()
        .map(|nlri| Update {
            attributes: attrs.clone(),
            mp_reach: Some(Box::new(MpReach {
                family,
                next_hop,
                nlri,
            })),
            ..Update::default()
        })
        .collect()
}

/// UPDATEs withdrawing `prefixes` (all of one family).
pub(crate) fn withdraw(family: AddressFamily, prefixes: &[Nlri], max_len: usize) -> Vec<Update> {
    if family == AddressFamily::IPV4_UNICAST {
        let room = max_len.saturating_sub(UPDATE_OVERHEAD);
        return chunks(prefixes, room)
            .into_iter()
            .map(|withdrawn| Update {
                withdrawn,
                ..Update::default()
            })
            .collect();
    }
    // MP_UNREACH: header (4), AFI/SAFI (3).
    let room = max_len.saturating_sub(UPDATE_OVERHEAD + 4 + 3);
    chunks(prefixes, room)
        .into_iter()
        .map(|withdrawn| Update {
            mp_unreach: Some(Box::new(MpUnreach { family, withdrawn })),
            ..Update::default()
        })
        .collect()
}

/// Encoded size of an UPDATE built by this module.
#[cfg(test)]
pub(crate) fn update_len(u: &Update, four_octet_as: bool) -> usize {
    let nl = |v: &[Nlri]| v.iter().map(path_nlri_len).sum::<usize>();
    let mut n = UPDATE_OVERHEAD + attributes_len(&u.attributes, four_octet_as);
    n += nl(&u.withdrawn) + nl(&u.nlri);
    if let Some(m) = &u.mp_reach {
        n += 4 + 3 + 1 + mp_next_hop_len(&m.next_hop) + 1 + nl(&m.nlri);
    }
    if let Some(m) = &u.mp_unreach {
        n += 4 + 3 + nl(&m.withdrawn);
    }
    n
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::wire::{
        encode_to_vec, AsPath, Community, EncodeContext, LargeCommunity, Message, Origin,
    };

    fn attrs(asns: Vec<u32>) -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(asns)),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            med: Some(5),
            local_pref: Some(100),
            communities: vec![Community::new(65000, 1), Community::NO_EXPORT].into(),
            large_communities: vec![LargeCommunity {
                global_admin: 65000,
                local_data1: 1,
                local_data2: 2,
            }],
            cluster_list: vec![Ipv4Addr::new(1, 1, 1, 1)],
            originator_id: Some(Ipv4Addr::new(2, 2, 2, 2)),
            ..PathAttributes::default()
        }
    }

    fn encoded_len(u: &Update, four: bool) -> usize {
        let ctx = EncodeContext {
            four_octet_as: four,
            ..EncodeContext::default()
        };
        encode_to_vec(&Message::Update(u.clone()), &ctx)
            .expect("encodes")
            .len()
    }

    fn v4(i: u32, len: u8) -> IpNet {
        IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), len).unwrap())
    }

    #[test]
    fn computed_sizes_match_the_encoder() {
        for four in [true, false] {
            for asns in [vec![65001, 65002], vec![4_200_000_000, 65001], vec![]] {
                let prefixes: Vec<Nlri> = (0..50).map(|i| Nlri::new(v4(i, 24))).collect();
                let nh = MpNextHop {
                    global: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                    link_local: None,
                };
                let family = AddressFamily::IPV4_UNICAST;
                for u in announce(
                    &attrs(asns.clone()).into(),
                    nh,
                    family,
                    &prefixes,
                    4096,
                    four,
                ) {
                    assert_eq!(
                        update_len(&u, four),
                        encoded_len(&u, four),
                        "{asns:?} {four}"
                    );
                }
                let w = withdraw(family, &prefixes, 4096);
                assert_eq!(update_len(&w[0], four), encoded_len(&w[0], four));
            }
        }
    }

    #[test]
    fn mp_sizes_are_an_upper_bound_within_one_octet() {
        let nh = MpNextHop {
            global: IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().unwrap()),
            link_local: Some("fe80::1".parse().unwrap()),
        };
        let mut a = attrs(vec![65001]);
        a.next_hop = None;
        let prefixes: Vec<Nlri> = (0..1000u128)
            .map(|i| {
                Nlri::new(IpNet::V6(
                    ipnet::Ipv6Net::new(Ipv6Addr::from((0x2001_0db8u128 << 96) | (i << 64)), 64)
                        .unwrap(),
                ))
            })
            .collect();
        let ups = announce(
            &a.into(),
            nh,
            AddressFamily::IPV6_UNICAST,
            &prefixes,
            4096,
            true,
        );
        assert!(ups.len() > 1);
        for u in &ups {
            let real = encoded_len(u, true);
            let ours = update_len(u, true);
            assert!(
                real <= 4096 && ours >= real && ours - real <= 1,
                "{ours} vs {real}"
            );
        }
        for u in withdraw(AddressFamily::IPV6_UNICAST, &prefixes, 4096) {
            let real = encoded_len(&u, true);
            assert!(real <= 4096 && update_len(&u, true) >= real);
        }
    }

    #[test]
    fn add_path_sizes_match_the_encoder() {
        let family = AddressFamily::IPV4_UNICAST;
        let ctx = EncodeContext {
            four_octet_as: true,
            add_path: [family].into_iter().collect(),
            ..EncodeContext::default()
        };
        let prefixes: Vec<Nlri> = (0..2000)
            .map(|i| Nlri {
                path_id: Some(i + 1),
                ..Nlri::new(v4(i % 300, 24))
            })
            .collect();
        let nh = MpNextHop {
            global: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            link_local: None,
        };
        let len = |u: &Update| {
            encode_to_vec(&Message::Update(u.clone()), &ctx)
                .expect("encodes")
                .len()
        };
        let ups = announce(
            &attrs(vec![65001]).into(),
            nh,
            family,
            &prefixes,
            4096,
            true,
        );
        assert!(ups.len() > 1);
        for u in ups.iter().chain(&withdraw(family, &prefixes, 4096)) {
            assert!(len(u) <= 4096);
            assert_eq!(update_len(u, true), len(u));
        }
    }
}
