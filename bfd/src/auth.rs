//! Keyed SHA1 and Meticulous Keyed SHA1 authentication (RFC 5880 §6.7.4): signing a
//! packet, checking one, and the sequence-number window. Sans-IO.
//!
//! The hash covers the whole packet as sent with the key (zero-padded to 20 bytes) in the
//! Auth Key/Hash field. A received packet is checked by re-encoding it with the key in
//! that field: the codec reproduces valid packets byte for byte.

use std::fmt;

use sha1::{Digest, Sha1};

use crate::packet::{Auth, ControlPacket};

/// A Keyed SHA1 key of a session.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    /// Auth Key ID (both sides must agree).
    pub key_id: u8,
    /// The shared secret, 1–20 bytes.
    pub secret: Vec<u8>,
    /// Meticulous Keyed SHA1 (type 5): the sequence number rises with every packet and
    /// a repeated one is refused. Plain Keyed SHA1 (type 4) otherwise.
    pub meticulous: bool,
}

impl fmt::Debug for AuthKey {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthKey")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .field("meticulous", &self.meticulous)
            .finish()
    }
}

/// Why an authenticated session refused a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No authentication section.
    #[error("authentication missing")]
    Missing,
    /// Another authentication type or key ID.
    #[error("authentication type {auth_type} key {key_id} not the session's")]
    Mismatch {
        /// Auth Type received.
        auth_type: u8,
        /// Auth Key ID received (0 when the type has none).
        key_id: u8,
    },
    /// The sequence number is outside the accepted window.
    #[error("sequence number {0} outside the window")]
    Sequence(u32),
    /// The hash does not match.
    #[error("wrong SHA1 hash")]
    Digest,
}

impl AuthKey {
    fn padded(&self) -> [u8; 20] {
        let mut k = [0u8; 20];
        let n = self.secret.len().min(20);
        k[..n].copy_from_slice(&self.secret[..n]);
        k
    }

    /// Adds a signed authentication section with `sequence` to `p`.
    pub fn sign(&self, p: &mut ControlPacket, sequence: u32) {
        p.auth = Some(Auth::KeyedSha1 {
            meticulous: self.meticulous,
            key_id: self.key_id,
            sequence,
            hash: self.padded(),
        });
        let hash: [u8; 20] = Sha1::digest(p.encode()).into();
        if let Some(Auth::KeyedSha1 { hash: h, .. }) = &mut p.auth {
            *h = hash;
        }
    }

    /// Checks type, key ID and hash of `p`; returns its sequence number. The window is
    /// the caller's (it needs the session's last sequence number).
    pub fn verify(&self, p: &ControlPacket) -> Result<u32, AuthError> {
        let Some(auth) = &p.auth else {
            return Err(AuthError::Missing);
        };
        let Auth::KeyedSha1 {
            meticulous,
            key_id,
            sequence,
            hash,
        } = auth
        else {
            return Err(AuthError::Mismatch {
                auth_type: auth.auth_type(),
                key_id: 0,
            });
        };
        if *meticulous != self.meticulous || *key_id != self.key_id {
            return Err(AuthError::Mismatch {
                auth_type: auth.auth_type(),
                key_id: *key_id,
            });
        }
        let mut keyed = p.clone();
        keyed.auth = Some(Auth::KeyedSha1 {
            meticulous: *meticulous,
            key_id: *key_id,
            sequence: *sequence,
            hash: self.padded(),
        });
        let want: [u8; 20] = Sha1::digest(keyed.encode()).into();
        if want != *hash {
            return Err(AuthError::Digest);
        }
        Ok(*sequence)
    }

    /// Whether `seq` may follow `last` (§6.7.4): within `last .. last + 3 × detect_mult`
    /// (modulo 2^32), and strictly after `last` for Meticulous.
    pub fn in_window(&self, last: u32, seq: u32, detect_mult: u8) -> bool {
        let ahead = seq.wrapping_sub(last);
        let max = 3 * u32::from(detect_mult);
        if self.meticulous {
            (1..=max).contains(&ahead)
        } else {
            ahead <= max
        }
    }
}
