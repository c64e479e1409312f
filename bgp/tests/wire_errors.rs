//! One test per error path: the exact NOTIFICATION (code, subcode, data) of a session
//! reset (RFC 4271 §6) or the RFC 7606 action, for messages built byte by byte.

use bgp::wire::attributes::type_code as t;
use bgp::wire::{
    decode_message, decode_message_into, AsSegmentKind, Capability, DecodeContext, DecodeError,
    ErrorAction, ErrorCode, Message, MessageHeaderError, OpenMessageError, RawAttribute,
    RouteRefreshError, RouteRefreshSubtype, Update, UpdateMessageError,
};

fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = (withdrawn.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    msg(2, &b)
}

fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, code, value.len() as u8];
    a.extend_from_slice(value);
    a
}

const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
/// AS_PATH: AS_SEQUENCE [65001] (4-octet).
const AS_PATH_65001: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 10, 0, 0, 1];
/// 192.0.2.0/24.
const NLRI: [u8; 4] = [24, 192, 0, 2];

/// A valid attribute list plus `extra`.
fn attrs_with(extra: &[u8]) -> Vec<u8> {
    [&ORIGIN_IGP[..], &AS_PATH_65001, &NEXT_HOP, extra].concat()
}

fn ctx4() -> DecodeContext {
    DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    }
}

fn reset(bytes: &[u8], ctx: &DecodeContext) -> (u8, u8, Vec<u8>, usize) {
    match decode_message(bytes, ctx) {
        Err(DecodeError::Malformed {
            offset,
            notification,
            ..
        }) => (
            notification.code(),
            notification.subcode(),
            notification.data.to_vec(),
            offset,
        ),
        other => panic!("expected a session reset, got {other:?}"),
    }
}

fn assert_reset(bytes: &[u8], error: ErrorCode, data: &[u8]) -> usize {
    let (code, subcode, got, offset) = reset(bytes, &ctx4());
    assert_eq!((code, subcode), (error.code(), error.subcode()), "{error}");
    assert_eq!(got, data, "NOTIFICATION data for {error}");
    offset
}

fn decoded_update(bytes: &[u8], ctx: &DecodeContext) -> Update {
    match decode_message(bytes, ctx) {
        Ok((Message::Update(u), used)) => {
            assert_eq!(used, bytes.len());
            u
        }
        other => panic!("expected an UPDATE, got {other:?}"),
    }
}

/// The UPDATE decodes with exactly one RFC 7606 error of this attribute type and action.
fn assert_action(bytes: &[u8], code: u8, action: ErrorAction) -> Update {
    let u = decoded_update(bytes, &ctx4());
    assert_eq!(u.errors.len(), 1, "{:?}", u.errors);
    assert_eq!(
        (u.errors[0].type_code, &u.errors[0].action),
        (code, &action)
    );
    let announced: Vec<_> = u.announced().collect();
    let withdrawn: Vec<String> = u.withdrawals().map(|n| n.to_string()).collect();
    if action == ErrorAction::TreatAsWithdraw {
        assert!(announced.is_empty());
        assert!(
            withdrawn.contains(&"192.0.2.0/24".to_string()),
            "{withdrawn:?}"
        );
    } else {
        assert_eq!(announced.len(), 1);
    }
    u
}

fn header(e: MessageHeaderError) -> ErrorCode {
    ErrorCode::MessageHeader(e)
}
fn open_err(e: OpenMessageError) -> ErrorCode {
    ErrorCode::OpenMessage(e)
}
fn update_err(e: UpdateMessageError) -> ErrorCode {
    ErrorCode::Update(e)
}

// ---- message header (RFC 4271 §6.1) ----

#[test]
fn marker_not_all_ones_is_connection_not_synchronized() {
    let mut m = msg(4, &[]);
    m[3] = 0;
    let at = assert_reset(
        &m,
        header(MessageHeaderError::ConnectionNotSynchronized),
        &[],
    );
    assert_eq!(at, 0);
}

#[test]
fn length_below_19_is_bad_message_length_with_the_length_as_data() {
    let mut m = msg(4, &[]);
    m[17] = 18;
    let at = assert_reset(&m, header(MessageHeaderError::BadMessageLength), &[0, 18]);
    assert_eq!(at, 16);
}

#[test]
fn length_above_4096_needs_extended_message() {
    let m = update(&[], &attrs_with(&[]), &NLRI.repeat(1100));
    assert!(m.len() > 4096);
    let len = (m.len() as u16).to_be_bytes();
    assert_reset(&m, header(MessageHeaderError::BadMessageLength), &len);
    let ext = DecodeContext {
        extended_message: true,
        ..ctx4()
    };
    let u = decoded_update(&m, &ext);
    assert_eq!(u.nlri.len(), 1100);
}

#[test]
fn open_and_keepalive_stay_within_4096_even_with_extended_message() {
    let ext = DecodeContext {
        extended_message: true,
        ..ctx4()
    };
    let mut open = msg(1, &[4, 0xfd, 0xe9, 0, 90, 10, 0, 0, 1, 0]);
    open.resize(5000, 0);
    open[16..18].copy_from_slice(&5000u16.to_be_bytes());
    let (code, subcode, _, _) = reset(&open, &ext);
    assert_eq!((code, subcode), (1, 2));
}

#[test]
fn unknown_message_type_is_bad_message_type_with_the_type_as_data() {
    let at = assert_reset(
        &msg(9, &[]),
        header(MessageHeaderError::BadMessageType),
        &[9],
    );
    assert_eq!(at, 18);
}

#[test]
fn per_type_minimum_lengths_are_bad_message_length() {
    for (kind, body_len) in [(4u8, 1usize), (1, 9), (2, 3), (3, 1)] {
        let m = msg(kind, &vec![0; body_len]);
        let len = (m.len() as u16).to_be_bytes();
        assert_reset(&m, header(MessageHeaderError::BadMessageLength), &len);
    }
}

#[test]
fn route_refresh_of_the_wrong_length_is_a_route_refresh_error_with_the_message_as_data() {
    let m = msg(5, &[0, 1, 0, 1, 0]);
    let err = ErrorCode::RouteRefresh(RouteRefreshError::InvalidMessageLength);
    assert_reset(&m, err, &m);
}

#[test]
fn partial_messages_are_incomplete_not_errors() {
    let m = update(&[], &attrs_with(&[]), &NLRI);
    assert_eq!(
        decode_message(&m[..10], &ctx4()),
        Err(DecodeError::Incomplete { needed: 9 })
    );
    assert_eq!(
        decode_message(&m[..25], &ctx4()),
        Err(DecodeError::Incomplete {
            needed: m.len() - 25
        })
    );
}

// ---- OPEN (RFC 4271 §6.2) ----

/// OPEN body: version, AS 65001, hold 90, id 10.0.0.1, then optional parameters.
fn open(version: u8, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut b = vec![version, 0xfd, 0xe9];
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(params.len() as u8);
    b.extend_from_slice(params);
    msg(1, &b)
}

#[test]
fn version_other_than_4_is_unsupported_version_with_4_as_data() {
    let m = open(3, 90, [10, 0, 0, 1], &[]);
    assert_reset(
        &m,
        open_err(OpenMessageError::UnsupportedVersionNumber),
        &[0, 4],
    );
}

#[test]
fn hold_time_1_or_2_is_unacceptable() {
    for hold in [1, 2] {
        let m = open(4, hold, [10, 0, 0, 1], &[]);
        assert_reset(&m, open_err(OpenMessageError::UnacceptableHoldTime), &[]);
    }
    assert!(decode_message(&open(4, 0, [10, 0, 0, 1], &[]), &ctx4()).is_ok());
    assert!(decode_message(&open(4, 3, [10, 0, 0, 1], &[]), &ctx4()).is_ok());
}

#[test]
fn bgp_identifier_zero_is_bad_bgp_identifier() {
    let m = open(4, 90, [0, 0, 0, 0], &[]);
    assert_reset(&m, open_err(OpenMessageError::BadBgpIdentifier), &[]);
}

#[test]
fn non_capability_optional_parameter_is_unsupported() {
    // Parameter type 1 (the deprecated Authentication Information).
    let m = open(4, 90, [10, 0, 0, 1], &[1, 2, 0, 0]);
    assert_reset(
        &m,
        open_err(OpenMessageError::UnsupportedOptionalParameter),
        &[],
    );
}

#[test]
fn inconsistent_optional_parameter_lengths_are_open_errors() {
    let unspecific = open_err(OpenMessageError::Unspecific);
    // Parameter claims 6 octets, 4 present.
    assert_reset(
        &open(4, 90, [10, 0, 0, 1], &[2, 6, 2, 0, 0, 0]),
        unspecific,
        &[],
    );
    // Capability claims 4 octets inside a 4-octet parameter.
    assert_reset(
        &open(4, 90, [10, 0, 0, 1], &[2, 4, 65, 4, 0, 0]),
        unspecific,
        &[],
    );
    // Octets after the optional parameters.
    let mut m = open(4, 90, [10, 0, 0, 1], &[]);
    m.push(0);
    m[17] += 1;
    assert_reset(&m, unspecific, &[]);
}

#[test]
fn malformed_known_capability_is_kept_raw_not_used() {
    // 4-octet AS capability with 3 octets.
    let m = open(4, 90, [10, 0, 0, 1], &[2, 5, 65, 3, 0, 0, 1]);
    let Ok((Message::Open(o), _)) = decode_message(&m, &ctx4()) else {
        panic!()
    };
    assert!(matches!(
        o.capabilities[..],
        [Capability::Unknown { code: 65, .. }]
    ));
    assert_eq!(o.four_octet_as(), None);
}

// ---- UPDATE: session resets (RFC 4271 §6.3, RFC 7606 §4, §5.3, §7.11) ----

#[test]
fn withdrawn_length_beyond_the_message_is_malformed_attribute_list() {
    let mut m = update(&[], &attrs_with(&[]), &NLRI);
    m[19..21].copy_from_slice(&500u16.to_be_bytes());
    let at = assert_reset(
        &m,
        update_err(UpdateMessageError::MalformedAttributeList),
        &[],
    );
    assert_eq!(at, 19);
}

/// Decoding in place into a batch: a malformed UPDATE is the same error and leaves the
/// batch as it was (no half-decoded message), a partial one too.
#[test]
fn a_malformed_update_decoded_into_a_batch_leaves_it_as_it_was() {
    let good = update(&[], &attrs_with(&[]), &NLRI);
    let mut bad = good.clone();
    bad[19..21].copy_from_slice(&500u16.to_be_bytes());
    let mut batch = Vec::new();
    let used = decode_message_into(&good, &ctx4(), &mut batch).unwrap();
    assert_eq!(used, good.len());
    assert_eq!(batch.len(), 1);
    match decode_message_into(&bad, &ctx4(), &mut batch) {
        Err(DecodeError::Malformed {
            offset,
            notification,
            ..
        }) => {
            let e = update_err(UpdateMessageError::MalformedAttributeList);
            assert_eq!(offset, 19);
            assert_eq!(
                (notification.code(), notification.subcode()),
                (e.code(), e.subcode())
            );
        }
        other => panic!("expected a reset, got {other:?}"),
    }
    assert!(matches!(
        decode_message_into(&good[..good.len() - 1], &ctx4(), &mut batch),
        Err(DecodeError::Incomplete { .. })
    ));
    assert_eq!(batch, [decode_message(&good, &ctx4()).unwrap().0]);
}

#[test]
fn total_attribute_length_beyond_the_message_is_malformed_attribute_list() {
    let mut m = update(&[], &attrs_with(&[]), &NLRI);
    m[21..23].copy_from_slice(&500u16.to_be_bytes());
    assert_reset(
        &m,
        update_err(UpdateMessageError::MalformedAttributeList),
        &[],
    );
}

#[test]
fn bad_prefixes_in_withdrawn_or_nlri_are_invalid_network_field() {
    let invalid = update_err(UpdateMessageError::InvalidNetworkField);
    let at = assert_reset(&update(&[33, 1, 2, 3, 4, 5], &[], &[]), invalid, &[]);
    assert_eq!(at, 21);
    assert_reset(&update(&[], &attrs_with(&[]), &[24, 10, 0]), invalid, &[]);
    assert_reset(
        &update(&[], &attrs_with(&[]), &[40, 10, 0, 0, 0, 0]),
        invalid,
        &[],
    );
}

#[test]
fn unrecognized_well_known_attribute_resets_with_the_attribute_as_data() {
    let unknown = attr(0x40, 99, &[1, 2]);
    let m = update(&[], &attrs_with(&unknown), &NLRI);
    assert_reset(
        &m,
        update_err(UpdateMessageError::UnrecognizedWellKnownAttribute),
        &unknown,
    );
}

/// MP_REACH_NLRI for IPv6 unicast with a 16-octet next hop and 2001:db8::/32.
fn mp_reach_v6() -> Vec<u8> {
    let mut v = vec![0, 2, 1, 16];
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v.push(0);
    v.extend_from_slice(&[32, 0x20, 0x01, 0x0d, 0xb8]);
    v
}

#[test]
fn malformed_mp_reach_resets_with_optional_attribute_error() {
    let opt = update_err(UpdateMessageError::OptionalAttributeError);
    // Next hop of 5 octets for IPv6.
    let mut v = mp_reach_v6();
    v[3] = 5;
    let a = attr(0x80, t::MP_REACH_NLRI, &v);
    assert_reset(
        &update(&[], &[&ORIGIN_IGP[..], &AS_PATH_65001, &a].concat(), &[]),
        opt,
        &a,
    );
    // A prefix longer than 128.
    let mut v = mp_reach_v6();
    let n = v.len();
    v[n - 5] = 129;
    let a = attr(0x80, t::MP_REACH_NLRI, &v);
    assert_reset(
        &update(&[], &[&ORIGIN_IGP[..], &AS_PATH_65001, &a].concat(), &[]),
        opt,
        &a,
    );
    // MP_UNREACH_NLRI with only an AFI.
    let a = attr(0x80, t::MP_UNREACH_NLRI, &[0, 2]);
    assert_reset(&update(&[], &a, &[]), opt, &a);
}

#[test]
fn mp_reach_with_wrong_flags_resets_with_attribute_flags_error() {
    let a = attr(0x40, t::MP_REACH_NLRI, &mp_reach_v6());
    let m = update(&[], &[&ORIGIN_IGP[..], &AS_PATH_65001, &a].concat(), &[]);
    assert_reset(&m, update_err(UpdateMessageError::AttributeFlagsError), &a);
}

#[test]
fn mp_reach_twice_is_malformed_attribute_list() {
    let a = attr(0x80, t::MP_REACH_NLRI, &mp_reach_v6());
    let m = update(
        &[],
        &[&ORIGIN_IGP[..], &AS_PATH_65001, &a, &a].concat(),
        &[],
    );
    assert_reset(
        &m,
        update_err(UpdateMessageError::MalformedAttributeList),
        &[],
    );
}

#[test]
fn mp_reach_running_past_the_attribute_list_resets() {
    let mut attrs = attrs_with(&[]);
    attrs.extend_from_slice(&[0x80, t::MP_REACH_NLRI, 40, 0, 2, 1]);
    let m = update(&[], &attrs, &[]);
    let (code, subcode, _, _) = reset(&m, &ctx4());
    assert_eq!((code, subcode), (3, 9));
}

// ---- UPDATE: treat-as-withdraw (RFC 7606 §7) ----

fn taw(code: u8, bad: &[u8]) {
    // Replace the attribute of this type in the valid list, or add it.
    let list: Vec<u8> = match code {
        t::ORIGIN => [bad, &AS_PATH_65001, &NEXT_HOP].concat(),
        t::AS_PATH => [&ORIGIN_IGP[..], bad, &NEXT_HOP].concat(),
        t::NEXT_HOP => [&ORIGIN_IGP[..], &AS_PATH_65001, bad].concat(),
        _ => attrs_with(bad),
    };
    assert_action(
        &update(&[], &list, &NLRI),
        code,
        ErrorAction::TreatAsWithdraw,
    );
}

#[test]
fn origin_errors_are_treat_as_withdraw() {
    taw(t::ORIGIN, &attr(0x40, t::ORIGIN, &[3]));
    taw(t::ORIGIN, &attr(0x40, t::ORIGIN, &[0, 0]));
    // Optional bit set on a well-known attribute (RFC 7606 §3.c).
    taw(t::ORIGIN, &attr(0xc0, t::ORIGIN, &[0]));
}

#[test]
fn as_path_errors_are_treat_as_withdraw() {
    taw(t::AS_PATH, &attr(0x40, t::AS_PATH, &[5, 1, 0, 0, 0, 1]));
    taw(t::AS_PATH, &attr(0x40, t::AS_PATH, &[2, 0]));
    taw(t::AS_PATH, &attr(0x40, t::AS_PATH, &[2, 2, 0, 0, 0, 1]));
    taw(t::AS_PATH, &attr(0x40, t::AS_PATH, &[2, 1, 0, 0, 0, 1, 2]));
}

#[test]
fn fixed_length_attribute_errors_are_treat_as_withdraw() {
    taw(t::NEXT_HOP, &attr(0x40, t::NEXT_HOP, &[10, 0, 0, 1, 0]));
    taw(
        t::MULTI_EXIT_DISC,
        &attr(0x80, t::MULTI_EXIT_DISC, &[0, 0, 1]),
    );
    taw(t::LOCAL_PREF, &attr(0x40, t::LOCAL_PREF, &[0, 100]));
    taw(t::ORIGINATOR_ID, &attr(0x80, t::ORIGINATOR_ID, &[1, 2, 3]));
}

#[test]
fn list_attribute_errors_are_treat_as_withdraw() {
    taw(
        t::COMMUNITIES,
        &attr(0xc0, t::COMMUNITIES, &[0, 0, 0, 1, 2]),
    );
    taw(t::COMMUNITIES, &attr(0xc0, t::COMMUNITIES, &[]));
    taw(
        t::CLUSTER_LIST,
        &attr(0x80, t::CLUSTER_LIST, &[1, 2, 3, 4, 5, 6]),
    );
    taw(
        t::EXTENDED_COMMUNITIES,
        &attr(0xc0, t::EXTENDED_COMMUNITIES, &[0; 7]),
    );
    taw(
        t::LARGE_COMMUNITIES,
        &attr(0xc0, t::LARGE_COMMUNITIES, &[0; 11]),
    );
}

#[test]
fn missing_mandatory_attributes_are_treat_as_withdraw() {
    let only = |list: Vec<u8>, missing: u8| {
        assert_action(
            &update(&[], &list, &NLRI),
            missing,
            ErrorAction::TreatAsWithdraw,
        );
    };
    only([&AS_PATH_65001[..], &NEXT_HOP].concat(), t::ORIGIN);
    only([&ORIGIN_IGP[..], &NEXT_HOP].concat(), t::AS_PATH);
    only([&ORIGIN_IGP[..], &AS_PATH_65001].concat(), t::NEXT_HOP);
    // A withdrawal needs none of them.
    let u = decoded_update(&update(&NLRI, &[], &[]), &ctx4());
    assert!(u.errors.is_empty());
    // IPv6 in MP_REACH needs ORIGIN and AS_PATH but not NEXT_HOP.
    let a = attr(0x80, t::MP_REACH_NLRI, &mp_reach_v6());
    let u = decoded_update(
        &update(&[], &[&ORIGIN_IGP[..], &AS_PATH_65001, &a].concat(), &[]),
        &ctx4(),
    );
    assert!(u.errors.is_empty(), "{:?}", u.errors);
    let u = decoded_update(&update(&[], &[&ORIGIN_IGP[..], &a].concat(), &[]), &ctx4());
    assert!(u.treat_as_withdraw());
    assert_eq!(u.withdrawals().count(), 1);
}

#[test]
fn attribute_running_past_the_list_is_treat_as_withdraw() {
    let mut list = attrs_with(&[]);
    list.extend_from_slice(&[0xc0, t::COMMUNITIES, 8, 0, 0]);
    assert_action(
        &update(&[], &list, &NLRI),
        t::COMMUNITIES,
        ErrorAction::TreatAsWithdraw,
    );
    // Two octets left: not even an attribute header.
    let mut list = attrs_with(&[]);
    list.extend_from_slice(&[0xc0, t::COMMUNITIES]);
    let u = decoded_update(&update(&[], &list, &NLRI), &ctx4());
    assert!(u.treat_as_withdraw());
}

// ---- UPDATE: attribute discard ----

#[test]
fn atomic_aggregate_and_aggregator_errors_are_attribute_discard() {
    let u = assert_action(
        &update(
            &[],
            &attrs_with(&attr(0x40, t::ATOMIC_AGGREGATE, &[1])),
            &NLRI,
        ),
        t::ATOMIC_AGGREGATE,
        ErrorAction::AttributeDiscard,
    );
    assert!(!u.attributes.atomic_aggregate);
    let u = assert_action(
        &update(&[], &attrs_with(&attr(0xc0, t::AGGREGATOR, &[0; 7])), &NLRI),
        t::AGGREGATOR,
        ErrorAction::AttributeDiscard,
    );
    assert!(u.attributes.aggregator.is_none());
}

#[test]
fn duplicate_attributes_after_the_first_are_discarded() {
    let list = attrs_with(&attr(0x40, t::ORIGIN, &[2]));
    let u = assert_action(
        &update(&[], &list, &NLRI),
        t::ORIGIN,
        ErrorAction::AttributeDiscard,
    );
    assert_eq!(u.attributes.origin, Some(bgp::wire::Origin::Igp));
}

/// 2-octet session: ORIGIN, AS_PATH [65001 23456], NEXT_HOP, then `extra`.
fn as2_update(extra: &[u8]) -> Update {
    let list = [
        &ORIGIN_IGP[..],
        &[0x40, 2, 6, 2, 2, 0xfd, 0xe9, 0x5b, 0xa0],
        &NEXT_HOP,
        extra,
    ]
    .concat();
    decoded_update(&update(&[], &list, &NLRI), &DecodeContext::default())
}

#[test]
fn malformed_as4_attributes_are_discarded_and_as_path_kept() {
    let u = as2_update(&attr(0xc0, t::AS4_PATH, &[2, 1, 0, 0]));
    assert_eq!(u.errors[0].action, ErrorAction::AttributeDiscard);
    assert_eq!(
        u.attributes.as_path.as_ref().unwrap().segments[0].asns[..],
        [65001, 23456]
    );
    // Confederation segments have no place in AS4_PATH.
    let u = as2_update(&attr(0xc0, t::AS4_PATH, &[3, 1, 0, 0, 0, 1]));
    assert_eq!(
        (u.errors[0].type_code, &u.errors[0].action),
        (t::AS4_PATH, &ErrorAction::AttributeDiscard)
    );
    let u = as2_update(&attr(0xc0, t::AS4_AGGREGATOR, &[0; 7]));
    assert_eq!(
        (u.errors[0].type_code, &u.errors[0].action),
        (t::AS4_AGGREGATOR, &ErrorAction::AttributeDiscard)
    );
    // A good one is merged.
    let u = as2_update(&attr(
        0xc0,
        t::AS4_PATH,
        &[2, 2, 0, 0, 0xfd, 0xe9, 0xfa, 0x56, 0xea, 0x01],
    ));
    assert!(u.errors.is_empty());
    let path = u.attributes.as_path.clone().unwrap();
    assert_eq!(path.segments[0].kind, AsSegmentKind::Sequence);
    assert_eq!(path.segments[0].asns[..], [65001, 4200000001]);
}

// ---- things that are not errors ----

#[test]
fn unknown_optional_attributes_survive_and_get_partial_when_passed_on() {
    let transitive = attr(0xc0, 99, &[1, 2, 3]);
    let non_transitive = attr(0x80, 100, &[4]);
    let u = decoded_update(
        &update(
            &[],
            &attrs_with(&[transitive, non_transitive].concat()),
            &NLRI,
        ),
        &ctx4(),
    );
    assert!(u.errors.is_empty());
    assert_eq!(
        u.attributes.unknown,
        [
            RawAttribute {
                flags: 0xc0,
                type_code: 99,
                value: vec![1, 2, 3].into()
            },
            RawAttribute {
                flags: 0x80,
                type_code: 100,
                value: vec![4].into()
            },
        ]
    );
    let passed_on = u.attributes.for_readvertise();
    assert_eq!(
        passed_on.unknown,
        [RawAttribute {
            flags: 0xe0,
            type_code: 99,
            value: vec![1, 2, 3].into()
        }]
    );
}

#[test]
fn unknown_route_refresh_subtype_is_kept_for_the_session_to_ignore() {
    let Ok((Message::RouteRefresh(rr), _)) = decode_message(&msg(5, &[0, 1, 7, 1]), &ctx4()) else {
        panic!()
    };
    assert_eq!(rr.subtype, RouteRefreshSubtype::Unknown(7));
}
