//! Prometheus metrics: the `tern_*` families, refreshed from snapshots of the speaker,
//! the controller and the policy engine, plus the standard `process_*` families read
//! from `/proc/self`. The HTTP side is `agent::http`.
//!
//! One task owns [`Metrics`] (`agent::observe`): it refreshes every second and on each
//! scrape, which the HTTP server asks for over a channel. Counters that the speaker and
//! the controller keep as running totals are advanced by the difference since the last
//! refresh, so they stay monotonic (a total that went down — a peer re-created by a
//! reload — counts from zero again). Per-peer series are labelled `peer` (address),
//! `peer_as` and `peer_type` (`mesh` or `global`); a peer that leaves the configuration
//! takes its series with it.

use std::collections::HashMap;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// One peer's numbers at one moment (totals since the agent started).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSample {
    /// Label value: the peer's address.
    pub peer: String,
    /// Label value: the peer's AS.
    pub peer_as: u32,
    /// Label value: `mesh` or `global`.
    pub peer_type: String,
    /// Address families negotiated in the established session (`ipv4_unicast`, …).
    pub families: Vec<String>,
    /// RFC 4271 / BGP4-MIB state code: 1 Idle … 6 Established.
    pub state: i64,
    /// Transitions into Established.
    pub established_transitions: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// UPDATE messages received.
    pub updates_received: u64,
    /// UPDATE messages sent.
    pub updates_sent: u64,
    /// Prefixes received.
    pub prefixes_received: u64,
    /// Prefixes accepted by the import policy.
    pub prefixes_accepted: u64,
    /// Prefixes advertised.
    pub prefixes_advertised: u64,
    /// Announcements rejected in this session.
    pub prefixes_rejected: u64,
    /// Prefixes held back: attributes too large for the peer's messages.
    pub prefixes_oversized: u64,
}

/// Controller numbers at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FibSample {
    /// Desired routes (gauge).
    pub desired: u64,
    /// Installed routes (gauge).
    pub installed: u64,
    /// Desired routes the kernel refused or that cannot be installed (gauge).
    pub failed: u64,
    /// Kernel nexthop objects the routes share (gauge).
    pub nexthop_objects: u64,
    /// Netlink route operations (total).
    pub netlink_ops: u64,
    /// Netlink route operations refused (total).
    pub netlink_errors: u64,
    /// Full reconciles done (total).
    pub reconciles: u64,
    /// Full reconciles that failed as a whole (total).
    pub reconcile_errors: u64,
    /// Route events read from the kernel (total).
    pub events: u64,
    /// Event socket overruns, each followed by a full resync (total).
    pub event_overruns: u64,
    /// Small batches written by the agent's task while the FIB thread was idle (total).
    pub direct_pushes: u64,
    /// Route deletes held back while a next hop's routes go in bulk (gauge).
    pub deletes_held: u64,
    /// Duration of the last full reconcile.
    pub last_reconcile: Duration,
}

/// Everything a refresh needs.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Per peer.
    pub peers: Vec<PeerSample>,
    /// Loc-RIB prefixes.
    pub rib_prefixes: u64,
    /// Paths in the RIB.
    pub rib_paths: u64,
    /// Controller.
    pub fib: FibSample,
}

/// Handles the policy task uses to report directly.
#[derive(Clone)]
pub struct AclMetrics {
    /// `tern_acl_rules_rendered`.
    pub rules_rendered: IntGauge,
    /// `tern_acl_sets_rendered`.
    pub sets_rendered: IntGauge,
    /// `tern_acl_apply_duration_seconds`.
    pub apply_duration: Histogram,
    /// `tern_acl_apply_failures_total`.
    pub apply_failures: IntCounter,
}

#[derive(Default)]
struct Last {
    peers: HashMap<String, PeerSample>,
    fib: FibSample,
}

/// The registry and every family tern exports.
pub struct Metrics {
    registry: Registry,
    session_state: IntGaugeVec,
    peer_up: IntGaugeVec,
    peer_afi_safi: IntGaugeVec,
    established: IntCounterVec,
    messages_received: IntCounterVec,
    messages_sent: IntCounterVec,
    updates_received: IntCounterVec,
    updates_sent: IntCounterVec,
    prefixes_received: IntGaugeVec,
    prefixes_accepted: IntGaugeVec,
    prefixes_advertised: IntGaugeVec,
    prefixes_rejected: IntGaugeVec,
    prefixes_oversized: IntGaugeVec,
    rib_prefixes: IntGauge,
    rib_paths: IntGauge,
    fib_desired: IntGauge,
    fib_installed: IntGauge,
    fib_nexthop_objects: IntGauge,
    fib_deletes_held: IntGauge,
    fib_routes: IntGaugeVec,
    fib_ops: IntCounter,
    fib_errors: IntCounter,
    fib_reconciles: IntCounter,
    fib_reconcile_errors: IntCounter,
    fib_events: IntCounter,
    fib_event_overruns: IntCounter,
    fib_direct_pushes: IntCounter,
    fib_reconcile: Histogram,
    acl: AclMetrics,
    process: super::process::ProcessMetrics,
    last: Last,
}

pub(super) fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    // Registration fails only for a duplicate or inconsistent family: a bug caught by the
    // unit test below, never input-dependent.
    if let Err(e) = r.register(Box::new(c.clone())) {
        tracing::error!("metrics registration: {e}");
    }
    c
}

/// The labels of every per-peer series.
const PEER_LABELS: [&str; 3] = ["peer", "peer_as", "peer_type"];

fn peer_gauge(r: &Registry, name: &str, help: &str) -> IntGaugeVec {
    reg(
        r,
        IntGaugeVec::new(Opts::new(name, help), &PEER_LABELS).expect("valid metric"),
    )
}

fn peer_counter(r: &Registry, name: &str, help: &str) -> IntCounterVec {
    reg(
        r,
        IntCounterVec::new(Opts::new(name, help), &PEER_LABELS).expect("valid metric"),
    )
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    reg(
        r,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

pub(super) fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    reg(r, IntGauge::new(name, help).expect("valid metric"))
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    reg(r, IntCounter::new(name, help).expect("valid metric"))
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    reg(
        r,
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
            .expect("valid metric"),
    )
}

const DURATION_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every family.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let b = DURATION_BUCKETS.to_vec();
        let acl = AclMetrics {
            rules_rendered: gauge(
                &r,
                "tern_acl_rules_rendered",
                "Rules in the policy ruleset in force.",
            ),
            sets_rendered: gauge(
                &r,
                "tern_acl_sets_rendered",
                "Named sets in the policy ruleset in force.",
            ),
            apply_duration: histogram(
                &r,
                "tern_acl_apply_duration_seconds",
                "Time to load, compile, render and apply the policy ruleset.",
                b.clone(),
            ),
            apply_failures: counter(
                &r,
                "tern_acl_apply_failures_total",
                "Policy loads or applies that failed (the previous ruleset stayed in force).",
            ),
        };
        let build_info = gauge_vec(
            &r,
            "tern_build_info",
            "Always 1; the labels say which tern runs.",
            &["version", "commit"],
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("TERN_GIT_COMMIT")])
            .set(1);
        Metrics {
            session_state: peer_gauge(
                &r,
                "tern_bgp_session_state",
                "BGP session state: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established.",
            ),
            peer_up: peer_gauge(
                &r,
                "tern_bgp_peer_up",
                "1 while the BGP session is Established, else 0.",
            ),
            peer_afi_safi: gauge_vec(
                &r,
                "tern_bgp_peer_afi_safi",
                "1 for each address family negotiated in the established session.",
                &["peer", "peer_as", "peer_type", "afi_safi"],
            ),
            established: peer_counter(
                &r,
                "tern_bgp_established_transitions_total",
                "Transitions of the session into Established.",
            ),
            messages_received: peer_counter(&r, "tern_bgp_messages_received_total", "BGP messages received."),
            messages_sent: peer_counter(&r, "tern_bgp_messages_sent_total", "BGP messages sent."),
            updates_received: peer_counter(&r, "tern_bgp_updates_received_total", "BGP UPDATE messages received."),
            updates_sent: peer_counter(&r, "tern_bgp_updates_sent_total", "BGP UPDATE messages sent."),
            prefixes_received: peer_gauge(&r, "tern_bgp_prefixes_received", "Prefixes the peer advertised to us."),
            prefixes_accepted: peer_gauge(
                &r,
                "tern_bgp_prefixes_accepted",
                "Prefixes from the peer accepted by the import policy.",
            ),
            prefixes_advertised: peer_gauge(&r, "tern_bgp_prefixes_advertised", "Prefixes we advertise to the peer."),
            prefixes_rejected: peer_gauge(&r, "tern_bgp_prefixes_rejected", "Announcements from the peer rejected in this session (counted, not stored)."),
            prefixes_oversized: peer_gauge(&r, "tern_bgp_prefixes_oversized", "Prefixes not advertised to the peer: their attributes do not fit in its maximum message size."),
            rib_prefixes: gauge(&r, "tern_rib_prefixes", "Prefixes in the Loc-RIB."),
            rib_paths: gauge(&r, "tern_rib_paths", "Paths in the RIB (all peers)."),
            fib_desired: gauge(&r, "tern_fib_routes_desired", "Routes tern wants in the kernel FIB."),
            fib_installed: gauge(&r, "tern_fib_routes_installed", "Routes confirmed in the kernel FIB."),
            fib_nexthop_objects: gauge(&r, "tern_fib_nexthop_objects", "Kernel nexthop objects (gateways and ECMP groups) tern's routes share (fib.nexthopObjects)."),
            fib_deletes_held: gauge(&r, "tern_fib_deletes_held", "Route deletes held back for a moment while a next hop's routes go in bulk, to delete them with its nexthop object."),
            fib_routes: gauge_vec(
                &r,
                "tern_fib_routes",
                "Routes by state: desired (tern wants them), installed (confirmed in the kernel), failed (refused by the kernel or not installable; tern status' \"failed\").",
                &["state"],
            ),
            fib_ops: counter(
                &r,
                "tern_fib_netlink_operations_total",
                "Route operations (add, replace, delete) sent to the kernel.",
            ),
            fib_errors: counter(&r, "tern_fib_netlink_errors_total", "Route operations the kernel refused."),
            fib_reconciles: counter(
                &r,
                "tern_fib_reconciles_total",
                "Full FIB reconciles (dump, diff, apply) done.",
            ),
            fib_reconcile_errors: counter(
                &r,
                "tern_fib_reconcile_errors_total",
                "Full FIB reconciles that failed as a whole (netlink socket error, lost answers).",
            ),
            fib_events: counter(
                &r,
                "tern_fib_route_events_total",
                "Route events read from the kernel.",
            ),
            fib_event_overruns: counter(
                &r,
                "tern_fib_event_overruns_total",
                "Kernel route event overruns (ENOBUFS), each followed by a full resync.",
            ),
            fib_direct_pushes: counter(
                &r,
                "tern_fib_direct_pushes_total",
                "Small batches of route changes written to the kernel by the agent's own task because the FIB thread was idle.",
            ),
            fib_reconcile: histogram(
                &r,
                "tern_fib_reconcile_duration_seconds",
                "Duration of full FIB reconciles (dump, diff, apply).",
                b,
            ),
            process: super::process::ProcessMetrics::new(&r),
            acl,
            registry: r,
            last: Last::default(),
        }
    }

    /// Handles for the policy task.
    pub fn acl(&self) -> AclMetrics {
        self.acl.clone()
    }

    /// Brings every family up to date with `s`.
    pub fn refresh(&mut self, s: &Sample) {
        // Peers gone from the configuration, or whose AS or type changed: their series go.
        let gone: Vec<PeerSample> = self
            .last
            .peers
            .values()
            .filter(|old| {
                !s.peers.iter().any(|p| {
                    p.peer == old.peer && p.peer_as == old.peer_as && p.peer_type == old.peer_type
                })
            })
            .cloned()
            .collect();
        for old in gone {
            self.remove_peer(&old);
            self.last.peers.remove(&old.peer);
        }
        for p in &s.peers {
            let asn = p.peer_as.to_string();
            let l = [p.peer.as_str(), asn.as_str(), p.peer_type.as_str()];
            let prev = self.last.peers.get(&p.peer).cloned().unwrap_or_default();
            self.session_state.with_label_values(&l).set(p.state);
            self.peer_up
                .with_label_values(&l)
                .set(i64::from(p.state == ESTABLISHED));
            for f in &p.families {
                self.peer_afi_safi
                    .with_label_values(&[l[0], l[1], l[2], f.as_str()])
                    .set(1);
            }
            for f in prev.families.iter().filter(|f| !p.families.contains(f)) {
                let _ = self
                    .peer_afi_safi
                    .remove_label_values(&[l[0], l[1], l[2], f.as_str()]);
            }
            let inc = |c: &IntCounterVec, now: u64, before: u64| {
                c.with_label_values(&l).inc_by(delta(now, before));
            };
            inc(
                &self.established,
                p.established_transitions,
                prev.established_transitions,
            );
            inc(
                &self.messages_received,
                p.messages_received,
                prev.messages_received,
            );
            inc(&self.messages_sent, p.messages_sent, prev.messages_sent);
            inc(
                &self.updates_received,
                p.updates_received,
                prev.updates_received,
            );
            inc(&self.updates_sent, p.updates_sent, prev.updates_sent);
            let set = |g: &IntGaugeVec, v: u64| g.with_label_values(&l).set(clamp(v));
            set(&self.prefixes_received, p.prefixes_received);
            set(&self.prefixes_accepted, p.prefixes_accepted);
            set(&self.prefixes_advertised, p.prefixes_advertised);
            set(&self.prefixes_rejected, p.prefixes_rejected);
            set(&self.prefixes_oversized, p.prefixes_oversized);
            self.last.peers.insert(p.peer.clone(), p.clone());
        }
        self.rib_prefixes.set(clamp(s.rib_prefixes));
        self.rib_paths.set(clamp(s.rib_paths));
        let f = s.fib;
        let l = self.last.fib;
        self.fib_desired.set(clamp(f.desired));
        self.fib_installed.set(clamp(f.installed));
        self.fib_nexthop_objects.set(clamp(f.nexthop_objects));
        self.fib_deletes_held.set(clamp(f.deletes_held));
        for (state, v) in [
            ("desired", f.desired),
            ("installed", f.installed),
            ("failed", f.failed),
        ] {
            self.fib_routes.with_label_values(&[state]).set(clamp(v));
        }
        self.fib_ops.inc_by(delta(f.netlink_ops, l.netlink_ops));
        self.fib_errors
            .inc_by(delta(f.netlink_errors, l.netlink_errors));
        self.fib_reconciles
            .inc_by(delta(f.reconciles, l.reconciles));
        self.fib_reconcile_errors
            .inc_by(delta(f.reconcile_errors, l.reconcile_errors));
        self.fib_events.inc_by(delta(f.events, l.events));
        self.fib_event_overruns
            .inc_by(delta(f.event_overruns, l.event_overruns));
        self.fib_direct_pushes
            .inc_by(delta(f.direct_pushes, l.direct_pushes));
        // The controller reports the duration of its last full reconcile; observe it once
        // per new reconcile seen (several within one refresh interval count as one).
        if f.reconciles > self.last.fib.reconciles {
            self.fib_reconcile.observe(f.last_reconcile.as_secs_f64());
        }
        self.last.fib = f;
    }

    /// Removes every series of a peer.
    fn remove_peer(&self, old: &PeerSample) {
        let asn = old.peer_as.to_string();
        let l = [old.peer.as_str(), asn.as_str(), old.peer_type.as_str()];
        for g in [
            &self.session_state,
            &self.peer_up,
            &self.prefixes_received,
            &self.prefixes_accepted,
            &self.prefixes_advertised,
            &self.prefixes_rejected,
            &self.prefixes_oversized,
        ] {
            let _ = g.remove_label_values(&l);
        }
        for c in [
            &self.established,
            &self.messages_received,
            &self.messages_sent,
            &self.updates_received,
            &self.updates_sent,
        ] {
            let _ = c.remove_label_values(&l);
        }
        for f in &old.families {
            let _ = self
                .peer_afi_safi
                .remove_label_values(&[l[0], l[1], l[2], f.as_str()]);
        }
    }

    /// The registry, for families another task keeps itself (`tern_bfd_*`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition of every family. The `process_*` families are read from
    /// `/proc` here, for the scrape only (they were read every second: two files, a
    /// directory listing and `/proc/stat`, about an eighth of an idle agent's CPU).
    pub fn render(&self) -> String {
        self.process.refresh();
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!("metrics encode: {e}");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

pub(super) fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// BGP4-MIB `bgpPeerState` of Established.
const ESTABLISHED: i64 = 6;

/// What a counter advances by when a running total went from `before` to `now`: a
/// total that went down was restarted (a re-created peer) and counts from zero.
fn delta(now: u64, before: u64) -> u64 {
    if now >= before {
        now - before
    } else {
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_totals_and_stay_monotonic() {
        let mut m = Metrics::new();
        let mut s = Sample::default();
        s.peers.push(PeerSample {
            peer: "192.0.2.2".into(),
            peer_as: 65000,
            peer_type: "global".into(),
            families: vec!["ipv4_unicast".into()],
            state: 6,
            established_transitions: 1,
            messages_received: 10,
            updates_received: 3,
            prefixes_accepted: 2,
            ..PeerSample::default()
        });
        s.peers.push(PeerSample {
            peer: "192.0.2.3".into(),
            peer_as: 64512,
            peer_type: "mesh".into(),
            state: 3,
            messages_received: 4,
            ..PeerSample::default()
        });
        s.fib = FibSample {
            desired: 5,
            installed: 4,
            failed: 1,
            nexthop_objects: 2,
            netlink_ops: 7,
            reconciles: 1,
            events: 12,
            direct_pushes: 3,
            deletes_held: 6,
            last_reconcile: Duration::from_millis(3),
            ..FibSample::default()
        };
        m.refresh(&s);
        s.peers[0].messages_received = 15;
        s.fib.netlink_ops = 9;
        s.fib.reconciles = 2;
        s.fib.direct_pushes = 5;
        m.refresh(&s);
        let text = m.render();
        let l = "peer=\"192.0.2.2\",peer_as=\"65000\",peer_type=\"global\"";
        let l3 = "peer=\"192.0.2.3\",peer_as=\"64512\",peer_type=\"mesh\"";
        for want in [
            format!("tern_bgp_session_state{{{l}}} 6"),
            format!("tern_bgp_peer_up{{{l}}} 1"),
            format!("tern_bgp_peer_up{{{l3}}} 0"),
            format!("tern_bgp_peer_afi_safi{{afi_safi=\"ipv4_unicast\",{l}}} 1"),
            format!("tern_bgp_messages_received_total{{{l}}} 15"),
            format!("tern_bgp_updates_received_total{{{l}}} 3"),
            format!("tern_bgp_prefixes_accepted{{{l}}} 2"),
            "tern_fib_routes_desired 5".into(),
            "tern_fib_routes_installed 4".into(),
            "tern_fib_nexthop_objects 2".into(),
            "tern_fib_deletes_held 6".into(),
            "tern_fib_routes{state=\"desired\"} 5".into(),
            "tern_fib_routes{state=\"installed\"} 4".into(),
            "tern_fib_routes{state=\"failed\"} 1".into(),
            "tern_fib_netlink_operations_total 9".into(),
            "tern_fib_reconciles_total 2".into(),
            "tern_fib_route_events_total 12".into(),
            "tern_fib_direct_pushes_total 5".into(),
            "tern_fib_reconcile_duration_seconds_count 2".into(),
            "tern_acl_apply_failures_total 0".into(),
            format!(
                "tern_build_info{{commit=\"{}\",version=\"{}\"}} 1",
                env!("TERN_GIT_COMMIT"),
                env!("CARGO_PKG_VERSION")
            ),
            "# TYPE process_cpu_seconds_total counter".into(),
            "process_resident_memory_bytes ".into(),
        ] {
            assert!(text.contains(&want), "missing {want:?} in:\n{text}");
        }
        // The process families are read at the scrape (render), not left at zero.
        let rss = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .and_then(|v| v.parse::<f64>().ok());
        assert!(rss.is_some_and(|v| v > 0.0), "{rss:?}");

        // The mesh peer leaves the configuration and the global one changes its AS and
        // comes back with fresh totals: old series go, the new ones count from zero.
        s.peers.truncate(1);
        s.peers[0].peer_as = 65001;
        s.peers[0].messages_received = 2;
        m.refresh(&s);
        let text = m.render();
        assert!(!text.contains("192.0.2.3"), "{text}");
        assert!(!text.contains("peer_as=\"65000\""), "{text}");
        let l = "peer=\"192.0.2.2\",peer_as=\"65001\",peer_type=\"global\"";
        assert!(
            text.contains(&format!("tern_bgp_messages_received_total{{{l}}} 2")),
            "{text}"
        );
        // A total that went down (re-created peer, same labels) counts from zero again.
        s.peers[0].messages_received = 1;
        m.refresh(&s);
        assert!(m
            .render()
            .contains(&format!("tern_bgp_messages_received_total{{{l}}} 3")));
    }
}
