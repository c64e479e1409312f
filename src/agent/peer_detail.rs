//! `tern status PEER`: one peer in detail, as `birdc show protocols all NAME` shows it —
//! capabilities of both OPENs, timers configured and negotiated, graceful restart,
//! recent errors with their times, messages by type, prefix counts. The view (what the
//! control socket sends, the `--json` output), how the agent fills it from the
//! speaker's [`PeerStatus`], and how the CLI prints it.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bgp::speaker::PeerStatus;
use bgp::wire::{AddPathMode, Capability, Open};
use serde::{Deserialize, Serialize};

use super::control::{PeerRow, RejectedSummary};

/// One peer in detail.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerDetail {
    /// What `tern status` shows for the peer.
    pub peer: PeerRow,
    /// The peer's BGP identifier (while established).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// Seconds in Established (while established).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
    /// Hold time and keepalive.
    pub timers: Timers,
    /// Address families both sides enabled (while established).
    pub families: Vec<String>,
    /// Capabilities of both OPENs, one row per capability (while established).
    pub capabilities: Vec<CapabilityRow>,
    /// Graceful restart (RFC 4724).
    pub graceful_restart: GracefulRestartView,
    /// Messages by type.
    pub messages: Vec<MessageRow>,
    /// Rejected announcements of this session by reason.
    pub rejected: Vec<RejectedSummary>,
    /// Recent errors of the session, oldest first.
    pub errors: Vec<ErrorRow>,
}

/// Timers in seconds: configured (what our OPEN proposes) and negotiated.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timers {
    /// Hold time configured.
    pub hold_configured: u64,
    /// Hold time negotiated (the smaller of both OPENs; 0: no hold timer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_negotiated: Option<u64>,
    /// The peer's proposed hold time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_peer: Option<u64>,
    /// Keepalive configured (`None`: a third of the hold time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_configured: Option<u64>,
    /// Keepalive in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_negotiated: Option<u64>,
}

/// A capability and what each side's OPEN said of it (`None`: not advertised).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityRow {
    /// Its name (`multiprotocol`, `route-refresh`, `4-octet-as`, …).
    pub name: String,
    /// Our OPEN.
    pub local: Option<String>,
    /// The peer's OPEN.
    pub peer: Option<String>,
}

/// Graceful restart of the session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GracefulRestartView {
    /// Both sides advertised it.
    pub negotiated: bool,
    /// The peer's restart time, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_restart_time: Option<u64>,
    /// Paths of the peer kept as stale (it is restarting or has not sent End-of-RIB).
    pub stale_paths: usize,
}

/// Messages of one type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRow {
    /// `OPEN`, `UPDATE`, `NOTIFICATION`, `KEEPALIVE`, `ROUTE-REFRESH`, `total`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Received.
    pub received: u64,
    /// Sent.
    pub sent: u64,
}

/// An error of the session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRow {
    /// When it was first seen (seconds since the Unix epoch).
    pub at_unix: u64,
    /// What happened.
    pub message: String,
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whether `query` names the peer: its address (as written or parsed), or its
/// description.
pub fn matches(p: &PeerStatus, query: &str) -> bool {
    let q = query.trim();
    match q.parse::<std::net::IpAddr>() {
        Ok(a) => a.to_canonical() == p.address.to_canonical(),
        Err(_) => p.description.as_deref() == Some(q),
    }
}

/// The detail of `p`; `row` is its `tern status` row.
pub fn detail(p: &PeerStatus, row: PeerRow) -> PeerDetail {
    let n = p.negotiated.as_ref();
    let peer_gr = n.and_then(|n| n.peer_open.graceful_restart());
    let local_gr = n.and_then(|n| n.local_open.graceful_restart());
    let mut messages: Vec<MessageRow> = [
        ("OPEN", p.received_by_type.open, p.sent_by_type.open),
        ("UPDATE", p.received_by_type.update, p.sent_by_type.update),
        (
            "NOTIFICATION",
            p.received_by_type.notification,
            p.sent_by_type.notification,
        ),
        (
            "KEEPALIVE",
            p.received_by_type.keepalive,
            p.sent_by_type.keepalive,
        ),
        (
            "ROUTE-REFRESH",
            p.received_by_type.route_refresh,
            p.sent_by_type.route_refresh,
        ),
    ]
    .into_iter()
    .map(|(k, r, s)| MessageRow {
        kind: k.into(),
        received: r,
        sent: s,
    })
    .collect();
    messages.push(MessageRow {
        kind: "total".into(),
        received: p.messages_in,
        sent: p.messages_out,
    });
    PeerDetail {
        peer: row,
        router_id: n.map(|n| n.peer_id.to_string()),
        uptime_secs: p.uptime.map(secs),
        timers: Timers {
            hold_configured: secs(p.hold_time_configured),
            hold_negotiated: n.map(|n| secs(n.hold_time)),
            hold_peer: n.map(|n| u64::from(n.peer_open.hold_time)),
            keepalive_configured: p.keepalive_configured.map(secs),
            keepalive_negotiated: n.and_then(|n| n.keepalive).map(secs),
        },
        families: n
            .map(|n| n.families.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        capabilities: n
            .map(|n| capabilities(&n.local_open, &n.peer_open))
            .unwrap_or_default(),
        graceful_restart: GracefulRestartView {
            negotiated: peer_gr.is_some() && local_gr.is_some(),
            peer_restart_time: peer_gr.map(|g| u64::from(g.restart_time)),
            stale_paths: p.stale_paths,
        },
        messages,
        rejected: p
            .rejected
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| RejectedSummary {
                reason: (*r).to_string(),
                count: *n,
                peer: None,
            })
            .collect(),
        errors: p
            .errors
            .iter()
            .map(|e| ErrorRow {
                at_unix: unix(e.at),
                message: e.message.clone(),
            })
            .collect(),
    }
}

/// A capability's name and value as text.
fn capability_text(c: &Capability) -> (String, String) {
    let families = |fs: &mut dyn Iterator<Item = String>| fs.collect::<Vec<_>>().join(" ");
    match c {
        Capability::Multiprotocol(f) => ("multiprotocol".into(), f.to_string()),
        Capability::RouteRefresh => ("route-refresh".into(), "yes".into()),
        Capability::EnhancedRouteRefresh => ("enhanced-route-refresh".into(), "yes".into()),
        Capability::FourOctetAs(a) => ("4-octet-as".into(), format!("AS {a}")),
        Capability::GracefulRestart(g) => {
            let mut v = format!("restart time {} s", g.restart_time);
            if g.restart_state() {
                v.push_str(", restarted");
            }
            if g.notification() {
                v.push_str(", notification");
            }
            let fs = families(&mut g.families.iter().map(|f| {
                let fwd = if f.forwarding_preserved() {
                    " (forwarding kept)"
                } else {
                    ""
                };
                format!("{}{fwd}", f.family)
            }));
            if !fs.is_empty() {
                v.push_str(", ");
                v.push_str(&fs);
            }
            ("graceful-restart".into(), v)
        }
        Capability::AddPath(es) => (
            "add-path".into(),
            families(&mut es.iter().map(|e| {
                let m = match e.mode {
                    AddPathMode::Receive => "receive".to_string(),
                    AddPathMode::Send => "send".to_string(),
                    AddPathMode::Both => "send+receive".to_string(),
                    AddPathMode::Unknown(v) => format!("mode {v}"),
                };
                format!("{} {m}", e.family)
            })),
        ),
        Capability::ExtendedNextHop(es) => (
            "extended-next-hop".into(),
            families(
                &mut es
                    .iter()
                    .map(|e| format!("{} via {}", e.nlri, e.next_hop_afi)),
            ),
        ),
        Capability::ExtendedMessage => ("extended-message".into(), "yes".into()),
        Capability::Fqdn { hostname, domain } => (
            "fqdn".into(),
            if domain.is_empty() {
                hostname.clone()
            } else {
                format!("{hostname}.{domain}")
            },
        ),
        Capability::Unknown { code, value } => (
            format!("capability {code}"),
            format!("{} octets", value.len()),
        ),
    }
}

/// One row per capability name, in the order first seen (ours, then the peer's); a
/// capability that occurs several times (multiprotocol) has its values joined.
fn capabilities(local: &Open, peer: &Open) -> Vec<CapabilityRow> {
    let mut rows: Vec<CapabilityRow> = Vec::new();
    for (mine, open) in [(true, local), (false, peer)] {
        for c in &open.capabilities {
            let (name, value) = capability_text(c);
            let i = match rows.iter().position(|r| r.name == name) {
                Some(i) => i,
                None => {
                    rows.push(CapabilityRow {
                        name,
                        ..CapabilityRow::default()
                    });
                    rows.len() - 1
                }
            };
            if let Some(r) = rows.get_mut(i) {
                let slot = if mine { &mut r.local } else { &mut r.peer };
                match slot {
                    Some(v) => {
                        v.push_str(", ");
                        v.push_str(&value);
                    }
                    None => *slot = Some(value),
                }
            }
        }
    }
    rows
}

/// `HH:MM:SS` (with days) of a duration in seconds.
fn hms(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS` UTC.
fn datetime(t: u64) -> String {
    let (y, mo, d) = civil_from_days((t / 86400) as i64);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        t / 3600 % 24,
        t / 60 % 60,
        t % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

impl PeerDetail {
    /// The text `tern status PEER` prints.
    pub fn to_text(&self) -> String {
        let p = &self.peer;
        let mut o = String::new();
        let name = p
            .description
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        let _ = writeln!(o, "Peer {}{name}", p.address);
        let _ = writeln!(o, "  Type:             {} (AS {})", p.kind, p.asn);
        let mut state = p.state.clone();
        if let Some(t) = p.since_unix {
            let _ = write!(state, " since {} UTC", datetime(t));
        }
        if let Some(u) = self.uptime_secs {
            let _ = write!(state, ", up {}", hms(u));
        }
        let _ = writeln!(o, "  State:            {state}");
        if let Some(id) = &self.router_id {
            let _ = writeln!(o, "  Router ID:        {id}");
        }
        if let Some(b) = &p.bfd {
            let _ = writeln!(o, "  BFD:              {b}");
        }
        let t = &self.timers;
        let _ = writeln!(
            o,
            "  Hold time:        configured {} s, peer {}, negotiated {}",
            t.hold_configured,
            opt(t.hold_peer),
            opt(t.hold_negotiated)
        );
        let _ = writeln!(
            o,
            "  Keepalive:        configured {}, in use {}",
            t.keepalive_configured
                .map_or_else(|| "hold/3".into(), |k| format!("{k} s")),
            opt(t.keepalive_negotiated)
        );
        if !self.families.is_empty() {
            let _ = writeln!(o, "  Families:         {}", self.families.join(" "));
        }
        let g = &self.graceful_restart;
        let _ = writeln!(
            o,
            "  Graceful restart: {}{}, {} stale paths",
            if g.negotiated {
                "negotiated"
            } else {
                "not negotiated"
            },
            g.peer_restart_time
                .map(|t| format!(", peer restart time {t} s"))
                .unwrap_or_default(),
            g.stale_paths
        );
        if !self.capabilities.is_empty() {
            let _ = writeln!(o, "  Capabilities:");
            let w = self
                .capabilities
                .iter()
                .map(|c| c.name.len())
                .max()
                .unwrap_or(0);
            let lw = self
                .capabilities
                .iter()
                .map(|c| c.local.as_deref().unwrap_or("-").len())
                .max()
                .unwrap_or(0)
                .max("local".len());
            let _ = writeln!(o, "    {:w$}  {:lw$}  peer", "", "local");
            for c in &self.capabilities {
                let _ = writeln!(
                    o,
                    "    {:w$}  {:lw$}  {}",
                    c.name,
                    c.local.as_deref().unwrap_or("-"),
                    c.peer.as_deref().unwrap_or("-")
                );
            }
        }
        let _ = writeln!(
            o,
            "  Prefixes:         {} received, {} accepted, {} rejected, {} advertised, {} oversized",
            p.received, p.accepted, p.rejected, p.advertised, p.oversized
        );
        for r in &self.rejected {
            let _ = writeln!(o, "    {} rejected: {}", r.count, r.reason);
        }
        let _ = writeln!(
            o,
            "  Messages:         {:<14} {:>10} {:>10}",
            "", "received", "sent"
        );
        for m in &self.messages {
            let _ = writeln!(
                o,
                "                    {:<14} {:>10} {:>10}",
                m.kind, m.received, m.sent
            );
        }
        if self.errors.is_empty() {
            let _ = writeln!(o, "  Errors:           none");
        } else {
            let _ = writeln!(o, "  Errors (oldest first):");
            for e in &self.errors {
                let _ = writeln!(o, "    {} UTC  {}", datetime(e.at_unix), e.message);
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp::wire::{AddressFamily, Afi, Safi};

    fn open(caps: Vec<Capability>) -> Open {
        Open {
            version: 4,
            my_as: 65000,
            hold_time: 90,
            bgp_id: "192.0.2.2".parse().unwrap(),
            capabilities: caps,
        }
    }

    #[test]
    fn capability_rows_pair_both_sides() {
        let v4 = AddressFamily {
            afi: Afi::Ipv4,
            safi: Safi::Unicast,
        };
        let v6 = AddressFamily {
            afi: Afi::Ipv6,
            safi: Safi::Unicast,
        };
        let local = open(vec![
            Capability::Multiprotocol(v4),
            Capability::Multiprotocol(v6),
            Capability::RouteRefresh,
            Capability::FourOctetAs(64512),
        ]);
        let peer = open(vec![
            Capability::Multiprotocol(v4),
            Capability::FourOctetAs(65000),
            Capability::ExtendedMessage,
        ]);
        let rows = capabilities(&local, &peer);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "multiprotocol",
                "route-refresh",
                "4-octet-as",
                "extended-message"
            ]
        );
        assert_eq!(rows[0].local.as_deref(), Some("ipv4-unicast, ipv6-unicast"));
        assert_eq!(rows[0].peer.as_deref(), Some("ipv4-unicast"));
        assert_eq!(rows[1].peer, None);
        assert_eq!(rows[2].peer.as_deref(), Some("AS 65000"));
        assert_eq!(rows[3].local, None);
    }

    #[test]
    fn text_of_a_peer_that_never_came_up() {
        let d = PeerDetail {
            peer: PeerRow {
                address: "192.0.2.9".into(),
                asn: 65009,
                kind: "global".into(),
                state: "Active".into(),
                ..PeerRow::default()
            },
            timers: Timers {
                hold_configured: 90,
                ..Timers::default()
            },
            errors: vec![ErrorRow {
                at_unix: 1_764_806_400,
                message: "connection refused".into(),
            }],
            ..PeerDetail::default()
        };
        let t = d.to_text();
        assert!(t.contains("Peer 192.0.2.9"), "{t}");
        assert!(t.contains("configured 90 s, peer -, negotiated -"), "{t}");
        assert!(
            t.contains("2025-12-04 00:00:00 UTC  connection refused"),
            "{t}"
        );
        assert!(!t.contains("Capabilities"), "{t}");
    }
}
