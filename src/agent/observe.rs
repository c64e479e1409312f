//! The task that owns [`Metrics`] and answers the metrics listener (`agent::http`):
//! samples the speaker, the controller and the policy task every second and before each
//! scrape, and says whether the agent is ready.
//!
//! # Readiness (`/readyz`)
//!
//! The agent is ready when all of these hold (each one that does not is a line of the
//! 503 answer):
//!
//! - every configured BGP peer is Established or trying to get there: any state but
//!   Idle. Connect, Active, OpenSent and OpenConfirm count as trying (the session is
//!   started and works on a connection); Idle means the session is stopped (for
//!   example after a prefix limit shut it down) and is not ready. A peer that does not
//!   answer keeps the node ready: its session is trying, and the `BgpSessionDown` alert
//!   tells about it;
//! - with the FIB on (`fib.enabled`), the controller has done at least one full
//!   reconcile (dump, diff, apply) of the kernel table since the start;
//! - with policy configured (`policy.paths`), the policy as the files say now is applied:
//!   the last load and apply succeeded. A change that failed leaves the previous ruleset
//!   in force and the node not ready until a good change is applied.

use std::time::Duration;

use bgp::speaker::{PeerStatus, SpeakerHandle};
use bgp::wire::{Afi, Safi};
use controller::{ControllerHandle, CountersSnapshot};
use tokio::sync::{mpsc, watch};

use super::control::PolicySummary;
use super::http::Ask;
use super::metrics::{FibSample, Metrics, PeerSample, Sample};

/// What the task reads.
pub struct Inputs {
    /// The speaker.
    pub speaker: SpeakerHandle,
    /// The FIB controller (`None` when `fib.enabled` is false).
    pub fib: Option<ControllerHandle>,
    /// The policy summary (backend `none`: no policy configured).
    pub policy: watch::Receiver<PolicySummary>,
}

/// Owns `metrics`: refreshes every second, and before answering each scrape.
pub async fn run(mut metrics: Metrics, inputs: Inputs, mut asks: mpsc::Receiver<Ask>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut serving = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let s = sample(&inputs).await;
                metrics.refresh(&s);
            }
            ask = asks.recv(), if serving => match ask {
                Some(Ask::Metrics(reply)) => {
                    let s = sample(&inputs).await;
                    metrics.refresh(&s);
                    let _ = reply.send(metrics.render());
                }
                Some(Ask::Ready(reply)) => {
                    let peers = inputs.speaker.peers().await;
                    let fib = inputs.fib.as_ref().map(ControllerHandle::counters);
                    let policy = inputs.policy.borrow().clone();
                    let _ = reply.send(not_ready(&peers, fib.as_ref(), &policy));
                }
                None => serving = false,
            },
        }
    }
}

/// What keeps the agent from being ready (see the module's documentation); empty when
/// it is ready.
pub fn not_ready(
    peers: &[PeerStatus],
    fib: Option<&CountersSnapshot>,
    policy: &PolicySummary,
) -> Vec<String> {
    let mut out = Vec::new();
    for p in peers.iter().filter(|p| p.state == "Idle") {
        let why = p
            .last_error
            .as_deref()
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default();
        out.push(format!(
            "BGP peer {} (AS {}): session stopped (Idle){why}",
            p.address, p.asn
        ));
    }
    if let Some(c) = fib {
        if c.reconciles == 0 {
            out.push("FIB: no full reconcile of the kernel table done yet".into());
        }
    }
    if policy.backend != "none" && !policy.ok {
        match &policy.last_error {
            Some(e) => out.push(format!(
                "policy: the last change was not applied: {}",
                e.lines().next().unwrap_or_default()
            )),
            None => out.push("policy: not applied yet".into()),
        }
    }
    out
}

/// BGP4-MIB `bgpPeerState` numbers.
fn state_code(state: &str) -> i64 {
    match state {
        "Idle" => 1,
        "Connect" => 2,
        "Active" => 3,
        "OpenSent" => 4,
        "OpenConfirm" => 5,
        "Established" => 6,
        _ => 0,
    }
}

/// The `afi_safi` label value of a family, as OpenConfig names them
/// (`ipv4_unicast`, `ipv6_unicast`, otherwise the numbers).
pub fn afi_safi_name(afi: Afi, safi: Safi) -> String {
    match (afi, safi) {
        (Afi::Ipv4, Safi::Unicast) => "ipv4_unicast".into(),
        (Afi::Ipv6, Safi::Unicast) => "ipv6_unicast".into(),
        (a, s) => format!("afi{}_safi{}", u16::from(a), u8::from(s)),
    }
}

fn peer_sample(p: &PeerStatus) -> PeerSample {
    PeerSample {
        peer: p.address.to_string(),
        peer_as: p.asn,
        peer_type: p.kind.name().into(),
        families: p
            .negotiated
            .as_ref()
            .map(|n| {
                n.families
                    .iter()
                    .map(|f| afi_safi_name(f.afi, f.safi))
                    .collect()
            })
            .unwrap_or_default(),
        state: state_code(p.state),
        established_transitions: p.established_transitions,
        messages_received: p.messages_in,
        messages_sent: p.messages_out,
        updates_received: p.updates_in,
        updates_sent: p.updates_out,
        prefixes_received: p.prefixes_received,
        prefixes_accepted: p.prefixes_accepted,
        prefixes_advertised: p.prefixes_advertised,
        prefixes_rejected: p.rejected.iter().map(|(_, n)| n).sum(),
        prefixes_oversized: p.prefixes_oversized,
    }
}

async fn sample(inputs: &Inputs) -> Sample {
    let peers = inputs.speaker.peers().await;
    let (prefixes, paths) = inputs.speaker.rib_size().await;
    let c = inputs
        .fib
        .as_ref()
        .map(ControllerHandle::counters)
        .unwrap_or_default();
    Sample {
        peers: peers.iter().map(peer_sample).collect(),
        rib_prefixes: prefixes as u64,
        rib_paths: paths as u64,
        fib: FibSample {
            desired: c.routes_desired,
            installed: c.routes_installed,
            failed: c.routes_failed,
            nexthop_objects: c.nexthop_objects,
            netlink_ops: c.netlink_ops,
            netlink_errors: c.netlink_errors,
            reconciles: c.reconciles,
            reconcile_errors: c.reconcile_errors,
            events: c.events,
            event_overruns: c.event_overruns,
            direct_pushes: c.direct_pushes,
            deletes_held: c.deletes_held,
            last_reconcile: c.last_reconcile,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp::speaker::PeerKind;

    fn peer(address: &str, state: &'static str, last_error: Option<&str>) -> PeerStatus {
        PeerStatus {
            address: address.parse().unwrap(),
            asn: 65000,
            kind: PeerKind::Global,
            description: None,
            state,
            since: None,
            uptime: None,
            prefixes_received: 0,
            prefixes_accepted: 0,
            prefixes_advertised: 0,
            prefixes_oversized: 0,
            rejected: Vec::new(),
            last_error: last_error.map(String::from),
            messages_in: 0,
            messages_out: 0,
            updates_in: 0,
            updates_out: 0,
            established_transitions: 0,
            hold_time: None,
            stale_paths: 0,
            negotiated: None,
            hold_time_configured: Duration::from_secs(90),
            keepalive_configured: None,
            received_by_type: Default::default(),
            sent_by_type: Default::default(),
            errors: Vec::new(),
            end_of_rib: Vec::new(),
        }
    }

    fn policy(backend: &str, ok: bool, err: Option<&str>) -> PolicySummary {
        PolicySummary {
            backend: backend.into(),
            ok,
            last_error: err.map(String::from),
            ..PolicySummary::default()
        }
    }

    #[test]
    fn what_counts_as_ready() {
        let reconciled = CountersSnapshot {
            reconciles: 1,
            ..CountersSnapshot::default()
        };
        let none = policy("none", true, None);
        // Established and trying peers, a reconciled FIB, no policy: ready.
        let peers = [
            peer("192.0.2.2", "Established", None),
            peer("192.0.2.3", "Active", Some("connection refused")),
            peer("192.0.2.4", "Connect", None),
            peer("192.0.2.5", "OpenSent", None),
        ];
        assert!(not_ready(&peers, Some(&reconciled), &none).is_empty());
        // FIB off: nothing to wait for.
        assert!(not_ready(&peers, None, &none).is_empty());
        // A stopped session, no reconcile yet, a policy that failed: three lines.
        let stopped = [peer(
            "192.0.2.6",
            "Idle",
            Some("sent NOTIFICATION Cease / Maximum Number of Prefixes Reached"),
        )];
        let failed = policy(
            "nftables",
            false,
            Some("web.yaml:6:3: unknown field `selektor`\nmore"),
        );
        let lines = not_ready(&stopped, Some(&CountersSnapshot::default()), &failed);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains("192.0.2.6") && lines[0].contains("Maximum Number"));
        assert!(lines[1].starts_with("FIB:"));
        assert_eq!(
            lines[2],
            "policy: the last change was not applied: web.yaml:6:3: unknown field `selektor`"
        );
        // Policy configured, not applied yet.
        let pending = policy("nftables", false, None);
        assert_eq!(
            not_ready(&[], Some(&reconciled), &pending),
            ["policy: not applied yet"]
        );
    }

    #[test]
    fn family_labels() {
        assert_eq!(afi_safi_name(Afi::Ipv4, Safi::Unicast), "ipv4_unicast");
        assert_eq!(afi_safi_name(Afi::Ipv6, Safi::Unicast), "ipv6_unicast");
        assert_eq!(afi_safi_name(Afi::Ipv4, Safi::FlowSpec), "afi1_safi133");
    }
}
