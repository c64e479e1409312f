//! The property the `decode` fuzz target checks, shared with the corpus replay in
//! `bgp/tests/wire_corpus.rs` so that `cargo test` runs every corpus entry through it.
//!
//! The first input byte selects the context (bit 0: 4-octet AS, bit 1: ADD-PATH for
//! IPv4/IPv6 unicast, bit 2: extended message, bit 3: keep AS4_* attributes raw); the
//! rest is a message stream. Nothing may panic, a decoded message must re-encode (when
//! it fits) to bytes that decode to the same message, and the in-place decode a
//! connection's reader uses (`decode_message_into`) must give the same message or error,
//! leaving its batch as it was on error.

use bgp::wire::{
    decode_message, decode_message_into, encode_message, DecodeContext, EncodeContext, FamilySet,
    Message,
};
use bytes::BytesMut;

/// Runs one input; returns how many messages decoded.
pub fn check(data: &[u8]) -> usize {
    let Some((&selector, mut rest)) = data.split_first() else {
        return 0;
    };
    let ctx = DecodeContext {
        four_octet_as: selector & 1 != 0,
        add_path: if selector & 2 != 0 {
            FamilySet::UNICAST
        } else {
            FamilySet::EMPTY
        },
        extended_message: selector & 4 != 0,
        keep_as4_attributes: selector & 8 != 0,
        external: selector & 16 != 0,
    };
    let enc = EncodeContext {
        four_octet_as: ctx.four_octet_as,
        add_path: ctx.add_path,
        extended_message: ctx.extended_message,
    };
    let mut count = 0;
    let mut batch = vec![Message::Keepalive];
    loop {
        let one = decode_message(rest, &ctx);
        let into = decode_message_into(rest, &ctx, &mut batch);
        match (one, into) {
            (Ok((msg, used)), Ok(used_into)) => {
                assert_eq!(used, used_into, "decode_message_into took other octets");
                assert_eq!(
                    batch.pop().as_ref(),
                    Some(&msg),
                    "decode_message_into differs"
                );
                count += 1;
                round_trip(&msg, &ctx, &enc);
                rest = rest.get(used..).unwrap_or_default();
            }
            (Err(e), Err(e_into)) => {
                assert_eq!(e, e_into, "decode_message_into gave another error");
                assert_eq!(batch, [Message::Keepalive], "an error changed the batch");
                break;
            }
            (one, into) => panic!("decode_message {one:?}, decode_message_into {into:?}"),
        }
    }
    count
}

fn round_trip(msg: &Message, ctx: &DecodeContext, enc: &EncodeContext) {
    if let Message::Update(u) = msg {
        // RFC 7606 handling dropped parts, AS4_* were merged/kept, or LOCAL_PREF from an
        // external peer was ignored: no identity to check.
        if !u.errors.is_empty() || ctx.keep_as4_attributes || !ctx.four_octet_as || ctx.external {
            return;
        }
    }
    let mut buf = BytesMut::new();
    if encode_message(msg, enc, &mut buf).is_err() {
        return;
    }
    match decode_message(&buf, ctx) {
        Ok((back, used)) => {
            assert_eq!(used, buf.len());
            assert_eq!(&back, msg, "re-encoded message decodes differently");
        }
        Err(e) => panic!("re-encoded message does not decode: {e}"),
    }
}
