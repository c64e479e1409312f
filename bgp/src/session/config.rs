//! What one session is configured with, and the OPEN it sends.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::wire::{AddPathEntry, AddPathMode, AddressFamily, Capability, Open};

use super::graceful::GracefulRestartConfig;

/// Configuration of one peer's session (the sans-IO part; addresses, passwords and
/// sockets are the driver's business).
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our AS number.
    pub local_asn: u32,
    /// Our BGP identifier.
    pub local_id: Ipv4Addr,
    /// The AS number the peer must announce.
    pub peer_asn: u32,
    /// Hold time we propose: 0 (no keepalives) or at least 3 s; whole seconds are used
    /// and 1–2 s are raised to 3 s.
    pub hold_time: Duration,
    /// Keepalive interval; `None` is a third of the negotiated hold time. Never more
    /// than a third of the negotiated hold time.
    pub keepalive: Option<Duration>,
    /// Base of the ConnectRetry back-off (doubles per consecutive failure, up to 16×).
    pub connect_retry: Duration,
    /// Never connect; only accept connections from the peer.
    pub passive: bool,
    /// Address families we run on this session (Multiprotocol capabilities). The
    /// session needs at least one in common with the peer.
    pub families: Vec<AddressFamily>,
    /// Advertise BGP Extended Message (RFC 8654).
    pub extended_message: bool,
    /// Seed for the back-off jitter (no global RNG in the core).
    pub jitter_seed: u64,
    /// Graceful restart (RFC 4724): advertised, and the peer's restarts helped with;
    /// `None` turns both off.
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// ADD-PATH (RFC 7911) advertised for every family of the session: receive,
    /// send or both; `None` advertises nothing (one path per prefix each way).
    pub add_path: Option<AddPathMode>,
}

impl SessionConfig {
    /// Defaults: hold 90 s, keepalive hold/3, connect-retry base 5 s, active, IPv4 and
    /// IPv6 unicast, Extended Message on, graceful restart on (restart time 120 s, F
    /// bit set).
    pub fn new(local_asn: u32, local_id: Ipv4Addr, peer_asn: u32) -> Self {
        Self {
            local_asn,
            local_id,
            peer_asn,
            hold_time: Duration::from_secs(90),
            keepalive: None,
            connect_retry: Duration::from_secs(5),
            passive: false,
            families: vec![AddressFamily::IPV4_UNICAST, AddressFamily::IPV6_UNICAST],
            extended_message: true,
            jitter_seed: 0,
            graceful_restart: Some(GracefulRestartConfig::default()),
            add_path: None,
        }
    }

    /// Whether the session is internal (same AS).
    pub fn ibgp(&self) -> bool {
        self.local_asn == self.peer_asn
    }

    /// The hold time field we send, in seconds.
    pub fn hold_time_secs(&self) -> u16 {
        match self.hold_time.as_secs() {
            0 => 0,
            1..=2 => 3,
            s => u16::try_from(s).unwrap_or(u16::MAX),
        }
    }

    /// The OPEN we send: 4-octet AS (AS_TRANS in `my_as` when needed), Multiprotocol
    /// per family, Route Refresh, Extended Message, Graceful Restart and ADD-PATH when
    /// enabled.
    pub fn local_open(&self) -> Open {
        let mut caps: Vec<Capability> = self
            .families
            .iter()
            .map(|f| Capability::Multiprotocol(*f))
            .collect();
        caps.push(Capability::RouteRefresh);
        if self.extended_message {
            caps.push(Capability::ExtendedMessage);
        }
        if let Some(gr) = &self.graceful_restart {
            caps.push(gr.capability(&self.families));
        }
        if let Some(mode) = self.add_path {
            let entries = self.families.iter();
            caps.push(Capability::AddPath(
                entries
                    .map(|&family| AddPathEntry { family, mode })
                    .collect(),
            ));
        }
        Open::new(self.local_asn, self.hold_time_secs(), self.local_id, caps)
    }
}
