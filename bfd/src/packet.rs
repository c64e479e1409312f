//! The BFD Control packet (RFC 5880 §4.1, §4.2–4.4): decoding with the
//! packet-level reception checks of §6.8.6, and encoding.
//!
//! Everything a session does not need to know to judge a packet is checked here, so a
//! [`DecodeError`] always means "discard the packet" (and count it). The checks that
//! depend on session state (the A bit against the session's authentication, Your
//! Discriminator against a session) belong to [`crate::session`] and the driver.
//!
//! Intervals are in microseconds, as on the wire. Unknown diagnostic codes survive a round
//! trip as [`Diag::Unknown`]; unknown authentication types as [`Auth::Unknown`].

use std::fmt;

/// Length of a Control packet without an authentication section.
pub const HEADER_LEN: usize = 24;

/// The only protocol version this module speaks (§4.1).
pub const VERSION: u8 = 1;

/// Session state as carried in the Sta field (§4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// 0: administratively held down.
    AdminDown,
    /// 1: down.
    Down,
    /// 2: the remote system is heard, the session is coming up.
    Init,
    /// 3: up.
    Up,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// Lower-case name, as operators read it (`admin-down`, `down`, `init`, `up`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::AdminDown => "admin-down",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Diagnostic code (§4.1): why the sender's session last left Up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Diag {
    /// 0: no diagnostic.
    None,
    /// 1: Control Detection Time Expired.
    ControlDetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFunctionFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborSignaledSessionDown,
    /// 4: Forwarding Plane Reset.
    ForwardingPlaneReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdministrativelyDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9–31: reserved; kept so it round-trips.
    Unknown(u8),
}

impl Diag {
    /// The 5-bit code.
    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Unknown(c) => c & 0x1f,
        }
    }

    /// The diagnostic for a 5-bit code.
    pub fn from_code(c: u8) -> Diag {
        match c & 0x1f {
            0 => Diag::None,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            c => Diag::Unknown(c),
        }
    }

    /// Short name for logs, status and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Diag::None => "none",
            Diag::ControlDetectionTimeExpired => "control-detection-time-expired",
            Diag::EchoFunctionFailed => "echo-function-failed",
            Diag::NeighborSignaledSessionDown => "neighbor-signaled-session-down",
            Diag::ForwardingPlaneReset => "forwarding-plane-reset",
            Diag::PathDown => "path-down",
            Diag::ConcatenatedPathDown => "concatenated-path-down",
            Diag::AdministrativelyDown => "administratively-down",
            Diag::ReverseConcatenatedPathDown => "reverse-concatenated-path-down",
            Diag::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diag::Unknown(c) => write!(f, "unknown({c})"),
            d => f.write_str(d.as_str()),
        }
    }
}

/// The optional authentication section (§4.2–4.4). Parsed and re-encoded as is; this
/// crate does not check digests (see the crate README).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Type 1: Simple Password (1–16 octets).
    SimplePassword {
        /// Auth Key ID.
        key_id: u8,
        /// The password.
        password: Vec<u8>,
    },
    /// Types 2 and 3: Keyed MD5 and Meticulous Keyed MD5.
    KeyedMd5 {
        /// True for Meticulous Keyed MD5 (type 3).
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Digest.
        digest: [u8; 16],
    },
    /// Types 4 and 5: Keyed SHA1 and Meticulous Keyed SHA1.
    KeyedSha1 {
        /// True for Meticulous Keyed SHA1 (type 5).
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Hash.
        hash: [u8; 20],
    },
    /// Any other type: its code and the bytes after the Auth Len field.
    Unknown {
        /// Auth Type.
        auth_type: u8,
        /// Everything after Auth Len.
        data: Vec<u8>,
    },
}

impl Auth {
    /// The Auth Type code.
    pub fn auth_type(&self) -> u8 {
        match self {
            Auth::SimplePassword { .. } => 1,
            Auth::KeyedMd5 { meticulous, .. } => 2 + u8::from(*meticulous),
            Auth::KeyedSha1 { meticulous, .. } => 4 + u8::from(*meticulous),
            Auth::Unknown { auth_type, .. } => *auth_type,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(self.auth_type());
        out.push(0); // Auth Len, patched below.
        match self {
            Auth::SimplePassword { key_id, password } => {
                out.push(*key_id);
                out.extend_from_slice(password);
            }
            Auth::KeyedMd5 {
                key_id,
                sequence,
                digest,
                ..
            } => {
                out.extend_from_slice(&[*key_id, 0]);
                out.extend_from_slice(&sequence.to_be_bytes());
                out.extend_from_slice(digest);
            }
            Auth::KeyedSha1 {
                key_id,
                sequence,
                hash,
                ..
            } => {
                out.extend_from_slice(&[*key_id, 0]);
                out.extend_from_slice(&sequence.to_be_bytes());
                out.extend_from_slice(hash);
            }
            Auth::Unknown { data, .. } => out.extend_from_slice(data),
        }
        out[start + 1] = (out.len() - start) as u8;
    }

    fn decode(b: &[u8]) -> Result<Auth, DecodeError> {
        // The caller guarantees b.len() >= 2 and b.len() == Auth Len.
        let (auth_type, len) = (b[0], b.len());
        let fixed = |want: usize| {
            if len == want {
                Ok(())
            } else {
                Err(DecodeError::AuthLength {
                    auth_type,
                    len: len as u8,
                })
            }
        };
        Ok(match auth_type {
            1 => {
                if !(4..=19).contains(&len) {
                    return Err(DecodeError::AuthLength {
                        auth_type,
                        len: len as u8,
                    });
                }
                Auth::SimplePassword {
                    key_id: b[2],
                    password: b[3..].to_vec(),
                }
            }
            2 | 3 => {
                fixed(24)?;
                let mut digest = [0u8; 16];
                digest.copy_from_slice(&b[8..24]);
                Auth::KeyedMd5 {
                    meticulous: auth_type == 3,
                    key_id: b[2],
                    sequence: be32(&b[4..8]),
                    digest,
                }
            }
            4 | 5 => {
                fixed(28)?;
                let mut hash = [0u8; 20];
                hash.copy_from_slice(&b[8..28]);
                Auth::KeyedSha1 {
                    meticulous: auth_type == 5,
                    key_id: b[2],
                    sequence: be32(&b[4..8]),
                    hash,
                }
            }
            _ => Auth::Unknown {
                auth_type,
                data: b[2..].to_vec(),
            },
        })
    }
}

/// A BFD Control packet (version 1). Intervals are in microseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlPacket {
    /// Diag.
    pub diag: Diag,
    /// Sta.
    pub state: State,
    /// P: Poll.
    pub poll: bool,
    /// F: Final.
    pub final_: bool,
    /// C: Control Plane Independent.
    pub cpi: bool,
    /// D: Demand.
    pub demand: bool,
    /// M: Multipoint (always false in a valid packet).
    pub multipoint: bool,
    /// Detect Mult.
    pub detect_mult: u8,
    /// My Discriminator.
    pub my_discr: u32,
    /// Your Discriminator.
    pub your_discr: u32,
    /// Desired Min TX Interval (µs).
    pub desired_min_tx: u32,
    /// Required Min RX Interval (µs).
    pub required_min_rx: u32,
    /// Required Min Echo RX Interval (µs).
    pub required_min_echo_rx: u32,
    /// The authentication section; the A bit is set exactly when this is `Some`.
    pub auth: Option<Auth>,
}

/// Why a received packet was discarded (RFC 5880 §6.8.6, packet-level rules).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the fixed header, or than the Length field says.
    #[error("truncated: {got} bytes, need {need}")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Version other than 1.
    #[error("version {0} (only 1 is known)")]
    Version(u8),
    /// Length field below 24 (26 with the A bit).
    #[error("length field {0} below the minimum")]
    Length(u8),
    /// Detect Mult is zero.
    #[error("detect mult is zero")]
    ZeroDetectMult,
    /// The M bit is set.
    #[error("multipoint bit set")]
    Multipoint,
    /// My Discriminator is zero.
    #[error("my discriminator is zero")]
    ZeroMyDiscriminator,
    /// Your Discriminator is zero while the state is Init or Up.
    #[error("your discriminator is zero in state {0}")]
    ZeroYourDiscriminator(State),
    /// The authentication section's length does not fit its type or the packet.
    #[error("authentication type {auth_type} with length {len}")]
    AuthLength {
        /// Auth Type.
        auth_type: u8,
        /// Auth Len.
        len: u8,
    },
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl ControlPacket {
    /// Decodes and validates one packet (the UDP payload). Bytes after the Length field's
    /// end are ignored, as §6.8.6 only discards packets whose Length exceeds the payload.
    pub fn decode(b: &[u8]) -> Result<ControlPacket, DecodeError> {
        if b.len() < HEADER_LEN {
            return Err(DecodeError::Truncated {
                got: b.len(),
                need: HEADER_LEN,
            });
        }
        let version = b[0] >> 5;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let flags = b[1];
        let auth_bit = flags & 0x04 != 0;
        let len = b[3];
        let min = if auth_bit { HEADER_LEN + 2 } else { HEADER_LEN };
        if (len as usize) < min {
            return Err(DecodeError::Length(len));
        }
        if len as usize > b.len() {
            return Err(DecodeError::Truncated {
                got: b.len(),
                need: len as usize,
            });
        }
        let b = &b[..len as usize];
        let state = State::from_bits(flags >> 6);
        let p = ControlPacket {
            diag: Diag::from_code(b[0]),
            state,
            poll: flags & 0x20 != 0,
            final_: flags & 0x10 != 0,
            cpi: flags & 0x08 != 0,
            demand: flags & 0x02 != 0,
            multipoint: flags & 0x01 != 0,
            detect_mult: b[2],
            my_discr: be32(&b[4..8]),
            your_discr: be32(&b[8..12]),
            desired_min_tx: be32(&b[12..16]),
            required_min_rx: be32(&b[16..20]),
            required_min_echo_rx: be32(&b[20..24]),
            auth: None,
        };
        if p.detect_mult == 0 {
            return Err(DecodeError::ZeroDetectMult);
        }
        if p.multipoint {
            return Err(DecodeError::Multipoint);
        }
        if p.my_discr == 0 {
            return Err(DecodeError::ZeroMyDiscriminator);
        }
        if p.your_discr == 0 && matches!(state, State::Init | State::Up) {
            return Err(DecodeError::ZeroYourDiscriminator(state));
        }
        let mut p = p;
        if auth_bit {
            let rest = &b[HEADER_LEN..];
            let auth_len = rest[1];
            if (auth_len as usize) < 2 || auth_len as usize != rest.len() {
                return Err(DecodeError::AuthLength {
                    auth_type: rest[0],
                    len: auth_len,
                });
            }
            p.auth = Some(Auth::decode(rest)?);
        } else if b.len() > HEADER_LEN {
            // Length claims more than a header but there is no authentication section.
            return Err(DecodeError::Length(len));
        }
        Ok(p)
    }

    /// Encodes the packet; the A bit and the Length field follow `auth`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 28);
        out.push((VERSION << 5) | self.diag.code());
        let mut flags = self.state.bits() << 6;
        for (bit, on) in [
            (0x20, self.poll),
            (0x10, self.final_),
            (0x08, self.cpi),
            (0x04, self.auth.is_some()),
            (0x02, self.demand),
            (0x01, self.multipoint),
        ] {
            if on {
                flags |= bit;
            }
        }
        out.push(flags);
        out.push(self.detect_mult);
        out.push(0); // Length, patched below.
        for v in [
            self.my_discr,
            self.your_discr,
            self.desired_min_tx,
            self.required_min_rx,
            self.required_min_echo_rx,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        if let Some(a) = &self.auth {
            a.encode(&mut out);
        }
        out[3] = out.len() as u8;
        out
    }
}
