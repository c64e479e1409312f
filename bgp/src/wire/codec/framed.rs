//! [`BgpCodec`]: `tokio_util::codec` framing over [`super::decode_message`] and
//! [`super::encode_message`], with contexts the session updates after OPEN negotiation.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::wire::context::{DecodeContext, EncodeContext};
use crate::wire::error::{DecodeError, EncodeError};
use crate::wire::message::Message;

/// Errors of [`BgpCodec`].
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The peer sent a malformed message (carries the NOTIFICATION to send).
    #[error(transparent)]
    Decode(DecodeError),
    /// A message could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The transport failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// BGP message framing for `tokio_util::codec::Framed`.
#[derive(Debug, Clone, Default)]
pub struct BgpCodec {
    /// Context for received messages.
    pub decode: DecodeContext,
    /// Context for sent messages.
    pub encode: EncodeContext,
}

impl BgpCodec {
    /// A codec with the pre-negotiation contexts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Switches both directions to what the OPEN exchange negotiated.
    pub fn set_negotiated(&mut self, decode: DecodeContext, encode: EncodeContext) {
        self.decode = decode;
        self.encode = encode;
    }
}

impl Decoder for BgpCodec {
    type Item = Message;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        match super::decode_message(src, &self.decode) {
            Ok((msg, used)) => {
                src.advance(used);
                Ok(Some(msg))
            }
            Err(DecodeError::Incomplete { needed }) => {
                src.reserve(needed);
                Ok(None)
            }
            Err(e) => Err(CodecError::Decode(e)),
        }
    }
}

impl Encoder<Message> for BgpCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&item, dst)
    }
}

impl Encoder<&Message> for BgpCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        super::encode_message(item, &self.encode, dst).map_err(CodecError::from)
    }
}
