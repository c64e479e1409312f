//! RFC 7607 (AS 0) and the RFC 7606 edge cases around it, on messages built byte by
//! byte from the RFC layouts: AS 0 in AS_PATH is treat-as-withdraw, AS 0 in AGGREGATOR
//! is attribute discard (RFC 7607 §2 hands both to RFC 7606, whose §7.7 discards a
//! malformed AGGREGATOR), a malformed LOCAL_PREF from an external peer is attribute
//! discard (RFC 7606 §7.5), and an UPDATE with a malformed attribute and no NLRI is
//! a withdrawal of nothing (no reset, and not an End-of-RIB marker).

use bgp::wire::attributes::type_code as t;
use bgp::wire::{decode_message, DecodeContext, ErrorAction, Message, Update};

fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

fn update(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0];
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    msg(2, &b)
}

const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
/// AS_PATH: AS_SEQUENCE [65001] (4-octet).
const AS_PATH_65001: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
/// AS_PATH: AS_SEQUENCE [65001, 0] (4-octet).
const AS_PATH_WITH_0: [u8; 13] = [0x40, 2, 10, 2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0];
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 10, 0, 0, 2];
/// AGGREGATOR (optional transitive): AS 0, 10.0.0.2 (4-octet).
const AGGREGATOR_0: [u8; 11] = [0xc0, 7, 8, 0, 0, 0, 0, 10, 0, 0, 2];
/// LOCAL_PREF with three octets instead of four.
const LOCAL_PREF_SHORT: [u8; 6] = [0x40, 5, 3, 0, 0, 100];
/// LOCAL_PREF 200, well formed.
const LOCAL_PREF_200: [u8; 7] = [0x40, 5, 4, 0, 0, 0, 200];
/// ORIGIN with the undefined value 7.
const ORIGIN_BAD: [u8; 4] = [0x40, 1, 1, 7];
/// 10.244.50.0/24.
const NLRI: [u8; 4] = [24, 10, 244, 50];

fn ctx(external: bool) -> DecodeContext {
    DecodeContext {
        four_octet_as: true,
        external,
        ..DecodeContext::default()
    }
}

fn decoded(bytes: &[u8], ctx: &DecodeContext) -> Update {
    match decode_message(bytes, ctx) {
        Ok((Message::Update(u), used)) => {
            assert_eq!(used, bytes.len());
            u
        }
        other => panic!("expected an UPDATE, got {other:?}"),
    }
}

fn actions(u: &Update) -> Vec<(u8, ErrorAction)> {
    u.errors
        .iter()
        .map(|e| (e.type_code, e.action.clone()))
        .collect()
}

#[test]
fn as_0_in_as_path_is_treat_as_withdraw() {
    let bytes = update(
        &[&ORIGIN_IGP[..], &AS_PATH_WITH_0, &NEXT_HOP].concat(),
        &NLRI,
    );
    for external in [false, true] {
        let u = decoded(&bytes, &ctx(external));
        assert_eq!(actions(&u), [(t::AS_PATH, ErrorAction::TreatAsWithdraw)]);
        assert!(u.treat_as_withdraw());
        assert_eq!(u.announced().count(), 0);
        assert_eq!(u.withdrawals().count(), 1);
    }
    // AS 0 in an AS_SET, and on a 2-octet session.
    let set = [
        0x40, 2, 14, 1, 3, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0, 0, 0, 0xfd, 0xea,
    ];
    let u = decoded(
        &update(&[&ORIGIN_IGP[..], &set, &NEXT_HOP].concat(), &NLRI),
        &ctx(true),
    );
    assert!(u.treat_as_withdraw(), "{:?}", u.errors);
    let as2 = [0x40, 2, 6, 2, 2, 0xfd, 0xe9, 0, 0];
    let two = DecodeContext::default();
    let u = decoded(
        &update(&[&ORIGIN_IGP[..], &as2, &NEXT_HOP].concat(), &NLRI),
        &two,
    );
    assert_eq!(actions(&u), [(t::AS_PATH, ErrorAction::TreatAsWithdraw)]);
}

#[test]
fn as_0_in_aggregator_discards_the_attribute() {
    let bytes = update(
        &[&ORIGIN_IGP[..], &AS_PATH_65001, &NEXT_HOP, &AGGREGATOR_0].concat(),
        &NLRI,
    );
    let u = decoded(&bytes, &ctx(true));
    assert_eq!(
        actions(&u),
        [(t::AGGREGATOR, ErrorAction::AttributeDiscard)]
    );
    assert!(!u.treat_as_withdraw());
    assert_eq!(u.attributes.aggregator, None);
    assert_eq!(u.announced().count(), 1);
    // 2-octet AGGREGATOR (length 6) with AS 0.
    let agg2 = [0xc0, 7, 6, 0, 0, 10, 0, 0, 2];
    let as2 = [0x40, 2, 4, 2, 1, 0xfd, 0xe9];
    let bytes = update(&[&ORIGIN_IGP[..], &as2, &NEXT_HOP, &agg2].concat(), &NLRI);
    let u = decoded(&bytes, &DecodeContext::default());
    assert_eq!(
        actions(&u),
        [(t::AGGREGATOR, ErrorAction::AttributeDiscard)]
    );
    assert_eq!(u.announced().count(), 1);
}

#[test]
fn as_0_in_as4_path_discards_it() {
    // 2-octet session: AS_PATH [AS_TRANS], AS4_PATH [0] → AS4_PATH ignored (RFC 6793).
    let as2 = [0x40, 2, 4, 2, 1, 0x5b, 0xa0];
    let as4 = [0xc0, 17, 6, 2, 1, 0, 0, 0, 0];
    let bytes = update(&[&ORIGIN_IGP[..], &as2, &NEXT_HOP, &as4].concat(), &NLRI);
    let u = decoded(&bytes, &DecodeContext::default());
    assert_eq!(actions(&u), [(t::AS4_PATH, ErrorAction::AttributeDiscard)]);
    assert_eq!(u.announced().count(), 1);
    let path = u.attributes.as_path.clone().expect("AS_PATH");
    assert_eq!(path.segments[0].asns[..], [23456]);
}

#[test]
fn malformed_local_pref_from_an_external_peer_is_discarded() {
    let bytes = update(
        &[
            &ORIGIN_IGP[..],
            &AS_PATH_65001,
            &NEXT_HOP,
            &LOCAL_PREF_SHORT,
        ]
        .concat(),
        &NLRI,
    );
    let u = decoded(&bytes, &ctx(true));
    assert_eq!(
        actions(&u),
        [(t::LOCAL_PREF, ErrorAction::AttributeDiscard)]
    );
    assert_eq!(u.attributes.local_pref, None);
    assert_eq!(u.announced().count(), 1);
    // From an internal peer it stays treat-as-withdraw (RFC 7606 §7.5).
    let u = decoded(&bytes, &ctx(false));
    assert_eq!(actions(&u), [(t::LOCAL_PREF, ErrorAction::TreatAsWithdraw)]);
    assert_eq!(u.announced().count(), 0);
}

#[test]
fn local_pref_from_an_external_peer_is_ignored() {
    // RFC 4271 §5.1.5: received from an external peer, it MUST be ignored.
    let bytes = update(
        &[&ORIGIN_IGP[..], &AS_PATH_65001, &NEXT_HOP, &LOCAL_PREF_200].concat(),
        &NLRI,
    );
    let u = decoded(&bytes, &ctx(true));
    assert!(u.errors.is_empty());
    assert_eq!(u.attributes.local_pref, None);
    let u = decoded(&bytes, &ctx(false));
    assert_eq!(u.attributes.local_pref, Some(200));
}

#[test]
fn malformed_attribute_without_nlri_withdraws_nothing_and_is_no_end_of_rib() {
    for attrs in [
        ORIGIN_BAD.to_vec(),
        [&ORIGIN_BAD[..], &AS_PATH_65001, &NEXT_HOP].concat(),
        [&ORIGIN_IGP[..], &AS_PATH_WITH_0, &NEXT_HOP].concat(),
        AS_PATH_WITH_0.to_vec(),
        LOCAL_PREF_SHORT.to_vec(),
    ] {
        let u = decoded(&update(&attrs, &[]), &ctx(false));
        assert!(u.treat_as_withdraw(), "{attrs:?}: {:?}", u.errors);
        assert_eq!(u.withdrawals().count(), 0, "{attrs:?}");
        assert_eq!(u.announced().count(), 0, "{attrs:?}");
        assert_eq!(
            u.end_of_rib(),
            None,
            "{attrs:?} is not an End-of-RIB marker"
        );
    }
    // Attribute discard alone does not make an End-of-RIB marker either.
    let u = decoded(&update(&AGGREGATOR_0, &[]), &ctx(true));
    assert_eq!(u.end_of_rib(), None);
}
