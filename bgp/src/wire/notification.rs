//! NOTIFICATION message (RFC 4271 §4.5, §6): typed error codes and subcodes (RFC 4486
//! Cease subcodes, RFC 6608 FSM subcodes, RFC 7313 ROUTE-REFRESH errors) and the
//! shutdown communication (RFC 8203 / RFC 9003).

use bytes::Bytes;

wire_enum! {
    /// Message Header Error subcodes (code 1).
    pub enum MessageHeaderError: u8 {
        /// 0.
        Unspecific = 0 => "unspecific",
        /// 1: marker not all ones.
        ConnectionNotSynchronized = 1 => "connection-not-synchronized",
        /// 2: length field out of range for the message type.
        BadMessageLength = 2 => "bad-message-length",
        /// 3: unknown message type.
        BadMessageType = 3 => "bad-message-type",
    }
}

wire_enum! {
    /// OPEN Message Error subcodes (code 2).
    pub enum OpenMessageError: u8 {
        /// 0.
        Unspecific = 0 => "unspecific",
        /// 1.
        UnsupportedVersionNumber = 1 => "unsupported-version-number",
        /// 2.
        BadPeerAs = 2 => "bad-peer-as",
        /// 3.
        BadBgpIdentifier = 3 => "bad-bgp-identifier",
        /// 4.
        UnsupportedOptionalParameter = 4 => "unsupported-optional-parameter",
        /// 6.
        UnacceptableHoldTime = 6 => "unacceptable-hold-time",
        /// 7 (RFC 5492).
        UnsupportedCapability = 7 => "unsupported-capability",
        /// 11 (RFC 9234).
        RoleMismatch = 11 => "role-mismatch",
    }
}

wire_enum! {
    /// UPDATE Message Error subcodes (code 3).
    pub enum UpdateMessageError: u8 {
        /// 0.
        Unspecific = 0 => "unspecific",
        /// 1.
        MalformedAttributeList = 1 => "malformed-attribute-list",
        /// 2.
        UnrecognizedWellKnownAttribute = 2 => "unrecognized-well-known-attribute",
        /// 3.
        MissingWellKnownAttribute = 3 => "missing-well-known-attribute",
        /// 4.
        AttributeFlagsError = 4 => "attribute-flags-error",
        /// 5.
        AttributeLengthError = 5 => "attribute-length-error",
        /// 6.
        InvalidOriginAttribute = 6 => "invalid-origin-attribute",
        /// 8.
        InvalidNextHopAttribute = 8 => "invalid-next-hop-attribute",
        /// 9.
        OptionalAttributeError = 9 => "optional-attribute-error",
        /// 10.
        InvalidNetworkField = 10 => "invalid-network-field",
        /// 11.
        MalformedAsPath = 11 => "malformed-as-path",
    }
}

wire_enum! {
    /// Finite State Machine Error subcodes (code 5, RFC 6608).
    pub enum FsmError: u8 {
        /// 0.
        Unspecified = 0 => "unspecified",
        /// 1.
        UnexpectedMessageInOpenSent = 1 => "unexpected-message-in-opensent",
        /// 2.
        UnexpectedMessageInOpenConfirm = 2 => "unexpected-message-in-openconfirm",
        /// 3.
        UnexpectedMessageInEstablished = 3 => "unexpected-message-in-established",
    }
}

wire_enum! {
    /// Cease subcodes (code 6, RFC 4486, RFC 8538, RFC 9384).
    pub enum CeaseSubcode: u8 {
        /// 0.
        Unspecific = 0 => "unspecific",
        /// 1.
        MaximumPrefixesReached = 1 => "maximum-number-of-prefixes-reached",
        /// 2 (may carry a shutdown communication).
        AdministrativeShutdown = 2 => "administrative-shutdown",
        /// 3.
        PeerDeconfigured = 3 => "peer-de-configured",
        /// 4 (may carry a shutdown communication).
        AdministrativeReset = 4 => "administrative-reset",
        /// 5.
        ConnectionRejected = 5 => "connection-rejected",
        /// 6.
        OtherConfigurationChange = 6 => "other-configuration-change",
        /// 7.
        ConnectionCollisionResolution = 7 => "connection-collision-resolution",
        /// 8.
        OutOfResources = 8 => "out-of-resources",
        /// 9 (RFC 8538).
        HardReset = 9 => "hard-reset",
        /// 10 (RFC 9384).
        BfdDown = 10 => "bfd-down",
    }
}

wire_enum! {
    /// ROUTE-REFRESH Message Error subcodes (code 7, RFC 7313).
    pub enum RouteRefreshError: u8 {
        /// 0.
        Reserved = 0 => "reserved",
        /// 1.
        InvalidMessageLength = 1 => "invalid-message-length",
    }
}

/// Error code with its typed subcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1: Message Header Error.
    MessageHeader(MessageHeaderError),
    /// 2: OPEN Message Error.
    OpenMessage(OpenMessageError),
    /// 3: UPDATE Message Error.
    Update(UpdateMessageError),
    /// 4: Hold Timer Expired (subcode as received; 0 when sent).
    HoldTimerExpired(u8),
    /// 5: Finite State Machine Error.
    Fsm(FsmError),
    /// 6: Cease.
    Cease(CeaseSubcode),
    /// 7: ROUTE-REFRESH Message Error.
    RouteRefresh(RouteRefreshError),
    /// An error code this codec does not name.
    Unknown {
        /// Error code.
        code: u8,
        /// Error subcode.
        subcode: u8,
    },
}

impl ErrorCode {
    /// The typed code for a wire (code, subcode) pair.
    pub fn from_wire(code: u8, subcode: u8) -> Self {
        match code {
            1 => Self::MessageHeader(subcode.into()),
            2 => Self::OpenMessage(subcode.into()),
            3 => Self::Update(subcode.into()),
            4 => Self::HoldTimerExpired(subcode),
            5 => Self::Fsm(subcode.into()),
            6 => Self::Cease(subcode.into()),
            7 => Self::RouteRefresh(subcode.into()),
            _ => Self::Unknown { code, subcode },
        }
    }

    /// Error code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Self::MessageHeader(_) => 1,
            Self::OpenMessage(_) => 2,
            Self::Update(_) => 3,
            Self::HoldTimerExpired(_) => 4,
            Self::Fsm(_) => 5,
            Self::Cease(_) => 6,
            Self::RouteRefresh(_) => 7,
            Self::Unknown { code, .. } => code,
        }
    }

    /// Error subcode on the wire.
    pub fn subcode(self) -> u8 {
        match self {
            Self::MessageHeader(s) => s.into(),
            Self::OpenMessage(s) => s.into(),
            Self::Update(s) => s.into(),
            Self::HoldTimerExpired(s) => s,
            Self::Fsm(s) => s.into(),
            Self::Cease(s) => s.into(),
            Self::RouteRefresh(s) => s.into(),
            Self::Unknown { subcode, .. } => subcode,
        }
    }

    /// Name of the error code: "message-header-error", "open-message-error", …
    pub fn code_name(self) -> &'static str {
        match self {
            Self::MessageHeader(_) => "message-header-error",
            Self::OpenMessage(_) => "open-message-error",
            Self::Update(_) => "update-message-error",
            Self::HoldTimerExpired(_) => "hold-timer-expired",
            Self::Fsm(_) => "fsm-error",
            Self::Cease(_) => "cease",
            Self::RouteRefresh(_) => "route-refresh-message-error",
            Self::Unknown { .. } => "unknown",
        }
    }

    /// Name of the subcode (`None` when unnamed).
    pub fn subcode_name(self) -> Option<&'static str> {
        match self {
            Self::MessageHeader(s) => s.name(),
            Self::OpenMessage(s) => s.name(),
            Self::Update(s) => s.name(),
            Self::HoldTimerExpired(0) => Some("unspecific"),
            Self::HoldTimerExpired(_) => None,
            Self::Fsm(s) => s.name(),
            Self::Cease(s) => s.name(),
            Self::RouteRefresh(s) => s.name(),
            Self::Unknown { .. } => None,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    /// `update-message-error/malformed-as-path (3/11)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.subcode_name() {
            Some(sub) => write!(
                f,
                "{}/{sub} ({}/{})",
                self.code_name(),
                self.code(),
                self.subcode()
            ),
            None => write!(
                f,
                "{}/{} ({}/{})",
                self.code_name(),
                self.subcode(),
                self.code(),
                self.subcode()
            ),
        }
    }
}

/// A NOTIFICATION message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Error code and subcode.
    pub error: ErrorCode,
    /// Data (meaning depends on the error).
    pub data: Bytes,
}

impl Notification {
    /// Longest shutdown communication in octets (RFC 9003 §2).
    pub const MAX_SHUTDOWN_COMMUNICATION: usize = 255;

    /// A NOTIFICATION with this error and data.
    pub fn new(error: ErrorCode, data: impl Into<Bytes>) -> Self {
        Self {
            error,
            data: data.into(),
        }
    }

    /// A Cease NOTIFICATION with no data.
    pub fn cease(subcode: CeaseSubcode) -> Self {
        Self::new(ErrorCode::Cease(subcode), Bytes::new())
    }

    /// Hold Timer Expired.
    pub fn hold_timer_expired() -> Self {
        Self::new(ErrorCode::HoldTimerExpired(0), Bytes::new())
    }

    /// Cease / Administrative Shutdown (or Administrative Reset when `reset`) with a
    /// shutdown communication (RFC 8203/9003): length octet then UTF-8, truncated at a
    /// character boundary to 255 octets. An empty message sends length 0.
    pub fn shutdown(message: &str, reset: bool) -> Self {
        let mut end = message.len().min(Self::MAX_SHUTDOWN_COMMUNICATION);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = message.get(..end).unwrap_or_default();
        let mut data = Vec::with_capacity(1 + text.len());
        data.push(text.len() as u8);
        data.extend_from_slice(text.as_bytes());
        let sub = if reset {
            CeaseSubcode::AdministrativeReset
        } else {
            CeaseSubcode::AdministrativeShutdown
        };
        Self::new(ErrorCode::Cease(sub), data)
    }

    /// The shutdown communication of a Cease / Administrative Shutdown or Reset
    /// (RFC 8203/9003), if the data holds a well-formed one (length octet matching,
    /// valid UTF-8). Returns `None` otherwise.
    pub fn shutdown_communication(&self) -> Option<&str> {
        if !matches!(
            self.error,
            ErrorCode::Cease(
                CeaseSubcode::AdministrativeShutdown | CeaseSubcode::AdministrativeReset
            )
        ) {
            return None;
        }
        let (len, rest) = self.data.split_first()?;
        let text = rest.get(..usize::from(*len))?;
        std::str::from_utf8(text).ok()
    }

    /// Error code on the wire.
    pub fn code(&self) -> u8 {
        self.error.code()
    }

    /// Error subcode on the wire.
    pub fn subcode(&self) -> u8 {
        self.error.subcode()
    }
}

impl std::fmt::Display for Notification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(text) = self.shutdown_communication() {
            write!(f, ": \"{text}\"")?;
        } else if !self.data.is_empty() {
            write!(f, " data {}", hex::encode(&self.data))?;
        }
        Ok(())
    }
}
