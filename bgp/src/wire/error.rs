//! Decode and encode errors. A decode error *is* what goes on the wire: the
//! NOTIFICATION of a session reset (RFC 4271 §6), or one of the lighter RFC 7606
//! actions recorded on the decoded UPDATE ([`AttributeError`]).

use super::notification::Notification;

/// What the receiver of a malformed message must do (RFC 7606 §2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorAction {
    /// Send this NOTIFICATION and reset the session.
    SessionReset(Notification),
    /// Handle every NLRI of the UPDATE as withdrawn (RFC 7606 §2 "treat-as-withdraw").
    TreatAsWithdraw,
    /// Ignore the malformed attribute, process the rest (RFC 7606 §2 "attribute discard").
    AttributeDiscard,
}

impl ErrorAction {
    /// "session-reset", "treat-as-withdraw" or "attribute-discard".
    pub fn name(&self) -> &'static str {
        match self {
            Self::SessionReset(_) => "session-reset",
            Self::TreatAsWithdraw => "treat-as-withdraw",
            Self::AttributeDiscard => "attribute-discard",
        }
    }
}

impl std::fmt::Display for ErrorAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SessionReset(n) => write!(f, "session reset with NOTIFICATION {n}"),
            other => f.write_str(other.name()),
        }
    }
}

/// A malformed path attribute handled without a session reset (recorded in
/// [`super::Update::errors`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttributeError {
    /// Type code of the offending attribute (0 for a problem with the attribute list
    /// itself, e.g. an attribute running past the list).
    pub type_code: u8,
    /// [`ErrorAction::TreatAsWithdraw`] or [`ErrorAction::AttributeDiscard`].
    pub action: ErrorAction,
    /// What was wrong.
    pub reason: &'static str,
    /// Byte offset of the attribute from the start of the message.
    pub offset: usize,
}

impl std::fmt::Display for AttributeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (attribute type {} at byte {}): {}",
            self.reason, self.type_code, self.offset, self.action
        )
    }
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DecodeError {
    /// The buffer holds only part of a message; at least `needed` more octets are
    /// required. Not an error of the peer: read more and retry.
    #[error("incomplete message: {needed} more octets needed")]
    Incomplete {
        /// Octets missing (at least).
        needed: usize,
    },
    /// The message is malformed and the session must be reset with `notification`.
    #[error("{reason} at byte {offset}: NOTIFICATION {notification}")]
    Malformed {
        /// Byte offset of the fault from the start of the message.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
        /// The NOTIFICATION to send (RFC 4271 §6, RFC 7606).
        notification: Notification,
    },
}

impl DecodeError {
    /// The NOTIFICATION for a malformed message (`None` for [`DecodeError::Incomplete`]).
    pub fn notification(&self) -> Option<&Notification> {
        match self {
            Self::Incomplete { .. } => None,
            Self::Malformed { notification, .. } => Some(notification),
        }
    }

    /// The action: always a session reset for a malformed message.
    pub fn action(&self) -> Option<ErrorAction> {
        self.notification().cloned().map(ErrorAction::SessionReset)
    }
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The message would exceed the negotiated maximum length.
    #[error("message of {len} octets exceeds the maximum of {max}")]
    MessageTooLong {
        /// Encoded length.
        len: usize,
        /// Allowed maximum.
        max: usize,
    },
    /// A field's value does not fit its wire field.
    #[error("{0} does not fit its wire field")]
    FieldTooLong(&'static str),
}
