//! Control packets captured with tcpdump on a veth between BIRD 2.0.12 (10.99.0.1) and
//! FRR 8.4.4 bfdd (10.99.0.2), 100 ms × 3: (bytes, decoded value) pairs, re-encoded to
//! the same bytes. Then RFC 5880 §6.8.6 discard rules on hand-made variants.

use bfd::packet::{Auth, ControlPacket, DecodeError, Diag, State};

fn pkt(hexstr: &str) -> (Vec<u8>, ControlPacket) {
    let bytes = hex::decode(hexstr).expect("hex");
    let p = ControlPacket::decode(&bytes).expect("captured packet decodes");
    assert_eq!(p.encode(), bytes, "re-encodes to the captured bytes");
    (bytes, p)
}

fn base(
    state: State,
    diag: Diag,
    my: u32,
    your: u32,
    tx: u32,
    rx: u32,
    echo: u32,
) -> ControlPacket {
    ControlPacket {
        diag,
        state,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        multipoint: false,
        detect_mult: 3,
        my_discr: my,
        your_discr: your,
        desired_min_tx: tx,
        required_min_rx: rx,
        required_min_echo_rx: echo,
        auth: None,
    }
}

const BIRD: u32 = 0x9485_a357;
const FRR: u32 = 0x9957_a169;

#[test]
fn bird_down_slow_start() {
    // BIRD before it hears anyone: Down, your discr 0, 1 s TX, 100 ms RX, no echo.
    let (_, p) = pkt("204003189485a35700000000000f4240000186a000000000");
    assert_eq!(
        p,
        base(State::Down, Diag::None, BIRD, 0, 1_000_000, 100_000, 0)
    );
}

#[test]
fn frr_init_answers_bird() {
    let (_, p) = pkt("208003189957a1699485a357000f4240000f42400000c350");
    // FRR advertises 1 s RX while not Up and a 50 ms echo RX.
    assert_eq!(
        p,
        base(
            State::Init,
            Diag::None,
            FRR,
            BIRD,
            1_000_000,
            1_000_000,
            50_000
        )
    );
}

#[test]
fn up_with_poll_then_final() {
    let (_, p) = pkt("20e003189485a3579957a169000186a0000186a000000000");
    assert_eq!(
        p,
        ControlPacket {
            poll: true,
            ..base(State::Up, Diag::None, BIRD, FRR, 100_000, 100_000, 0)
        }
    );
    let (_, f) = pkt("20d003189957a1699485a357000186a0000186a00000c350");
    assert_eq!(
        f,
        ControlPacket {
            final_: true,
            ..base(State::Up, Diag::None, FRR, BIRD, 100_000, 100_000, 50_000)
        }
    );
    let (_, steady) = pkt("20c003189485a3579957a169000186a0000186a000000000");
    assert!(!steady.poll && !steady.final_ && steady.state == State::Up);
}

#[test]
fn frr_detection_time_expired_forgets_remote_discriminator() {
    // After nft dropped BIRD's packets: Down, diag 1, your discr zeroed (§6.8.1).
    let (_, p) = pkt("214003189957a16900000000000186a0000186a00000c350");
    assert_eq!(
        p,
        base(
            State::Down,
            Diag::ControlDetectionTimeExpired,
            FRR,
            0,
            100_000,
            100_000,
            50_000
        )
    );
}

#[test]
fn bird_neighbor_signaled_down_with_poll() {
    let (_, p) = pkt("236003189485a3579957a169000f4240000186a000000000");
    assert_eq!(
        p,
        ControlPacket {
            poll: true,
            ..base(
                State::Down,
                Diag::NeighborSignaledSessionDown,
                BIRD,
                FRR,
                1_000_000,
                100_000,
                0
            )
        }
    );
}

#[test]
fn frr_admin_down_and_final() {
    let (_, p) = pkt("200003189957a1699485a357000186a0000186a00000c350");
    assert_eq!(
        p,
        base(
            State::AdminDown,
            Diag::None,
            FRR,
            BIRD,
            100_000,
            100_000,
            50_000
        )
    );
    let (_, f) = pkt("201003189957a1699485a357000186a0000186a00000c350");
    assert!(f.final_ && f.state == State::AdminDown);
}

#[test]
fn bird_simple_password() {
    // `authentication simple; password "tern-secret" { id 7; }`
    let (_, p) =
        pkt("20c403269485a3579957a169000186a0000186a000000000010e077465726e2d736563726574");
    assert_eq!(
        p.auth,
        Some(Auth::SimplePassword {
            key_id: 7,
            password: b"tern-secret".to_vec()
        })
    );
    assert_eq!(p.state, State::Up);
}

#[test]
fn bird_keyed_md5() {
    let (_, p) = pkt("214403309485a35700000000000f4240000186a000000000021807001dcd3acbc12fc75cbd9f150699b4fa0f1641b435");
    match p.auth {
        Some(Auth::KeyedMd5 {
            meticulous: false,
            key_id: 7,
            sequence,
            digest,
        }) => {
            assert_eq!(sequence, 0x1dcd_3acb);
            assert_eq!(hex::encode(digest), "c12fc75cbd9f150699b4fa0f1641b435");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bird_keyed_and_meticulous_sha1() {
    let (_, p) = pkt("214403349485a35700000000000f4240000186a000000000041c07001dcd3acde97be171d5ae6b3ed4fdc029c69d9b06579d83c3");
    assert!(matches!(
        p.auth,
        Some(Auth::KeyedSha1 {
            meticulous: false,
            key_id: 7,
            sequence: 0x1dcd_3acd,
            ..
        })
    ));
    let (_, m) = pkt("214403349485a35700000000000f4240000186a000000000051c07001dcd3ad0677059d790ee0868e5ed9f28a4004685c9e2fde0");
    assert!(matches!(
        m.auth,
        Some(Auth::KeyedSha1 {
            meticulous: true,
            sequence: 0x1dcd_3ad0,
            ..
        })
    ));
}

/// A valid Down packet from RFC 5880 §4.1's layout, then one field broken at a time.
fn valid() -> Vec<u8> {
    hex::decode("20400318000000010000000000".to_owned() + "0f4240000f424000000000").expect("hex")
}

/// Breaks one field of a valid packet.
type Breaker = Box<dyn Fn(&mut Vec<u8>)>;

#[test]
fn discard_rules_of_6_8_6() {
    assert!(ControlPacket::decode(&valid()).is_ok());
    let cases: Vec<(Breaker, DecodeError)> = vec![
        (Box::new(|b| b[0] = 0x40), DecodeError::Version(2)),
        (Box::new(|b| b[0] = 0x00), DecodeError::Version(0)),
        (Box::new(|b| b[3] = 23), DecodeError::Length(23)),
        (
            Box::new(|b| b[3] = 25),
            DecodeError::Truncated { got: 24, need: 25 },
        ),
        (Box::new(|b| b[2] = 0), DecodeError::ZeroDetectMult),
        (Box::new(|b| b[1] |= 0x01), DecodeError::Multipoint),
        (
            Box::new(|b| b[4..8].copy_from_slice(&[0; 4])),
            DecodeError::ZeroMyDiscriminator,
        ),
        // Your Discriminator 0 is fine in Down and AdminDown, not in Init or Up.
        (
            Box::new(|b| b[1] = 0x80),
            DecodeError::ZeroYourDiscriminator(State::Init),
        ),
        (
            Box::new(|b| b[1] = 0xc0),
            DecodeError::ZeroYourDiscriminator(State::Up),
        ),
        // A bit with Length 24: below the 26 minimum.
        (Box::new(|b| b[1] |= 0x04), DecodeError::Length(24)),
        (
            Box::new(|b| b.truncate(20)),
            DecodeError::Truncated { got: 20, need: 24 },
        ),
    ];
    for (i, (f, want)) in cases.into_iter().enumerate() {
        let mut b = valid();
        f(&mut b);
        assert_eq!(ControlPacket::decode(&b), Err(want), "case {i}");
    }
    let mut admin = valid();
    admin[1] = 0x00;
    assert_eq!(
        ControlPacket::decode(&admin).map(|p| p.state),
        Ok(State::AdminDown)
    );
}

#[test]
fn bad_auth_sections_are_discarded() {
    let with_auth = |auth: &[u8]| {
        let mut b = valid();
        b[1] |= 0x04;
        b.extend_from_slice(auth);
        b[3] = b.len() as u8;
        ControlPacket::decode(&b)
    };
    // Keyed SHA1 must be 28 bytes long.
    assert_eq!(
        with_auth(&[4, 24, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(DecodeError::AuthLength {
            auth_type: 4,
            len: 24
        })
    );
    // Auth Len disagreeing with the packet's Length.
    assert_eq!(
        with_auth(&[1, 9, 1, b'a']),
        Err(DecodeError::AuthLength {
            auth_type: 1,
            len: 9
        })
    );
    // Simple password of 0 bytes.
    assert_eq!(
        with_auth(&[1, 3, 1]),
        Err(DecodeError::AuthLength {
            auth_type: 1,
            len: 3
        })
    );
    // Unknown types survive.
    let p = with_auth(&[9, 4, 0xaa, 0xbb]).expect("unknown type kept");
    assert_eq!(
        p.auth,
        Some(Auth::Unknown {
            auth_type: 9,
            data: vec![0xaa, 0xbb]
        })
    );
    let again = ControlPacket::decode(&p.encode()).expect("round trip");
    assert_eq!(again, p);
}

#[test]
fn unknown_diag_round_trips_and_trailing_bytes_are_ignored() {
    let mut b = valid();
    b[0] = 0x20 | 17;
    let p = ControlPacket::decode(&b).expect("decodes");
    assert_eq!(p.diag, Diag::Unknown(17));
    assert_eq!(p.encode(), b);
    b.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(ControlPacket::decode(&b), Ok(p));
}

#[test]
fn every_truncation_and_flip_is_an_error_or_a_packet_never_a_panic() {
    let (bytes, _) = pkt("214403349485a35700000000000f4240000186a000000000041c07001dcd3acde97be171d5ae6b3ed4fdc029c69d9b06579d83c3");
    for n in 0..bytes.len() {
        let _ = ControlPacket::decode(&bytes[..n]);
    }
    for i in 0..bytes.len() {
        for v in [0u8, 1, 0x7f, 0xff] {
            let mut b = bytes.clone();
            b[i] = v;
            if let Ok(p) = ControlPacket::decode(&b) {
                assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
            }
        }
    }
}

#[test]
fn bird_keyed_sha1_hashes_check_with_the_shared_secret() {
    use bfd::auth::{AuthError, AuthKey};
    let key = |secret: &[u8], meticulous| AuthKey {
        key_id: 7,
        secret: secret.to_vec(),
        meticulous,
    };
    // Captured from BIRD with `password "tern-secret" { id 7; }`.
    let (_, keyed) = pkt("214403349485a35700000000000f4240000186a000000000041c07001dcd3acde97be171d5ae6b3ed4fdc029c69d9b06579d83c3");
    let (_, meti) = pkt("214403349485a35700000000000f4240000186a000000000051c07001dcd3ad0677059d790ee0868e5ed9f28a4004685c9e2fde0");
    assert_eq!(key(b"tern-secret", false).verify(&keyed), Ok(0x1dcd_3acd));
    assert_eq!(key(b"tern-secret", true).verify(&meti), Ok(0x1dcd_3ad0));
    assert_eq!(
        key(b"tern-secreT", false).verify(&keyed),
        Err(AuthError::Digest)
    );
    assert!(matches!(
        key(b"tern-secret", true).verify(&keyed),
        Err(AuthError::Mismatch {
            auth_type: 4,
            key_id: 7
        })
    ));
    // Any changed field breaks the hash.
    let mut changed = keyed.clone();
    changed.required_min_rx += 1;
    assert_eq!(
        key(b"tern-secret", false).verify(&changed),
        Err(AuthError::Digest)
    );
    // Our signature over the same fields is BIRD's, byte for byte.
    let mut ours = keyed.clone();
    key(b"tern-secret", false).sign(&mut ours, 0x1dcd_3acd);
    assert_eq!(ours, keyed);
    // Keyed MD5 is parsed but not a key we check.
    let (_, md5) = pkt("214403309485a35700000000000f4240000186a000000000021807001dcd3acbc12fc75cbd9f150699b4fa0f1641b435");
    assert!(matches!(
        key(b"tern-secret", false).verify(&md5),
        Err(AuthError::Mismatch { auth_type: 2, .. })
    ));
}
