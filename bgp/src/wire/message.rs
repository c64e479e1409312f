//! The BGP message: header type codes and the [`Message`] enum.

use super::notification::Notification;
use super::open::Open;
use super::route_refresh::RouteRefresh;
use super::update::Update;

/// Message type codes (RFC 4271 §4.1, RFC 2918).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 1.
    Open,
    /// 2.
    Update,
    /// 3.
    Notification,
    /// 4.
    Keepalive,
    /// 5.
    RouteRefresh,
}

impl MessageType {
    /// The type code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Self::Open => 1,
            Self::Update => 2,
            Self::Notification => 3,
            Self::Keepalive => 4,
            Self::RouteRefresh => 5,
        }
    }

    /// The type for a code (`None`: Bad Message Type).
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Open,
            2 => Self::Update,
            3 => Self::Notification,
            4 => Self::Keepalive,
            5 => Self::RouteRefresh,
            _ => return None,
        })
    }

    /// JSON/log name: "open", "update", "notification", "keepalive", "route_refresh".
    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Update => "update",
            Self::Notification => "notification",
            Self::Keepalive => "keepalive",
            Self::RouteRefresh => "route_refresh",
        }
    }
}

/// A BGP message.
// UPDATE dominates traffic and is the large variant; boxing it would cost an
// allocation per message for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The message type.
    pub fn kind(&self) -> MessageType {
        match self {
            Self::Open(_) => MessageType::Open,
            Self::Update(_) => MessageType::Update,
            Self::Notification(_) => MessageType::Notification,
            Self::Keepalive => MessageType::Keepalive,
            Self::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }
}

impl From<Open> for Message {
    fn from(m: Open) -> Self {
        Self::Open(m)
    }
}
impl From<Update> for Message {
    fn from(m: Update) -> Self {
        Self::Update(m)
    }
}
impl From<Notification> for Message {
    fn from(m: Notification) -> Self {
        Self::Notification(m)
    }
}
impl From<RouteRefresh> for Message {
    fn from(m: RouteRefresh) -> Self {
        Self::RouteRefresh(m)
    }
}
