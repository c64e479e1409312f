//! Prometheus metrics: the `tern_*` families, refreshed from snapshots of the speaker,
//! the controller and the policy engine, plus the standard `process_*` families read
//! from `/proc/self`; and the `/metrics` HTTP endpoint.
//!
//! One task owns [`Metrics`] (see `agent::run`): it refreshes every second and on each
//! scrape, which the HTTP server asks for over a channel. Counters that the speaker and
//! the controller keep as running totals are advanced by the difference since the last
//! refresh, so they stay monotonic. The only label is `peer` (the peer's address).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::limits::ConnLimit;

/// One peer's numbers at one moment (totals since the agent started).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSample {
    /// Label value: the peer's address.
    pub peer: String,
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
    /// Netlink route operations (total).
    pub netlink_ops: u64,
    /// Netlink route operations refused (total).
    pub netlink_errors: u64,
    /// Full reconciles done (total).
    pub reconciles: u64,
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
    fib_ops: IntCounter,
    fib_errors: IntCounter,
    fib_reconcile: Histogram,
    acl: AclMetrics,
    process: ProcessMetrics,
    last: Last,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    // Registration fails only for a duplicate or inconsistent family: a bug caught by the
    // unit test below, never input-dependent.
    if let Err(e) = r.register(Box::new(c.clone())) {
        tracing::error!("metrics registration: {e}");
    }
    c
}

fn peer_gauge(r: &Registry, name: &str, help: &str) -> IntGaugeVec {
    reg(
        r,
        IntGaugeVec::new(Opts::new(name, help), &["peer"]).expect("valid metric"),
    )
}

fn peer_counter(r: &Registry, name: &str, help: &str) -> IntCounterVec {
    reg(
        r,
        IntCounterVec::new(Opts::new(name, help), &["peer"]).expect("valid metric"),
    )
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
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
        Metrics {
            session_state: peer_gauge(
                &r,
                "tern_bgp_session_state",
                "BGP session state: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established.",
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
            fib_ops: counter(
                &r,
                "tern_fib_netlink_operations_total",
                "Route operations (add, replace, delete) sent to the kernel.",
            ),
            fib_errors: counter(&r, "tern_fib_netlink_errors_total", "Route operations the kernel refused."),
            fib_reconcile: histogram(
                &r,
                "tern_fib_reconcile_duration_seconds",
                "Duration of full FIB reconciles (dump, diff, apply).",
                b,
            ),
            process: ProcessMetrics::new(&r),
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
        for p in &s.peers {
            let l = [p.peer.as_str()];
            let prev = self.last.peers.get(&p.peer).cloned().unwrap_or_default();
            self.session_state.with_label_values(&l).set(p.state);
            let inc = |c: &IntCounterVec, now: u64, before: u64| {
                c.with_label_values(&l).inc_by(now.saturating_sub(before));
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
        self.fib_desired.set(clamp(f.desired));
        self.fib_installed.set(clamp(f.installed));
        self.fib_ops
            .inc_by(f.netlink_ops.saturating_sub(self.last.fib.netlink_ops));
        self.fib_errors.inc_by(
            f.netlink_errors
                .saturating_sub(self.last.fib.netlink_errors),
        );
        // The controller reports the duration of its last full reconcile; observe it once
        // per new reconcile seen (several within one refresh interval count as one).
        if f.reconciles > self.last.fib.reconciles {
            self.fib_reconcile.observe(f.last_reconcile.as_secs_f64());
        }
        self.last.fib = f;
        self.process.refresh();
    }

    /// The text exposition of every family.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!("metrics encode: {e}");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `process_*` families (as the Prometheus client libraries name them), from `/proc/self`.
struct ProcessMetrics {
    cpu: Gauge,
    rss: IntGauge,
    vsize: IntGauge,
    fds: IntGauge,
    max_fds: IntGauge,
    start: Gauge,
    threads: IntGauge,
}

impl ProcessMetrics {
    fn new(r: &Registry) -> Self {
        // process_cpu_seconds_total is a counter in meaning; it is kept as a gauge set from
        // the kernel's total, which is exposed the same way (type `gauge`) by many exporters.
        let g = |n: &str, h: &str| reg(r, Gauge::new(n, h).expect("valid metric"));
        ProcessMetrics {
            cpu: g(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
            ),
            rss: gauge(
                r,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            ),
            vsize: gauge(
                r,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            ),
            fds: gauge(r, "process_open_fds", "Number of open file descriptors."),
            max_fds: gauge(
                r,
                "process_max_fds",
                "Maximum number of open file descriptors.",
            ),
            start: g(
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds.",
            ),
            threads: gauge(r, "process_threads", "Number of OS threads in the process."),
        }
    }

    fn refresh(&self) {
        if let Some(p) = read_proc_self() {
            self.cpu.set(p.cpu_seconds);
            self.rss.set(clamp(p.rss_bytes));
            self.vsize.set(clamp(p.vsize_bytes));
            self.start.set(p.start_time);
            self.threads.set(clamp(p.threads));
        }
        if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
            self.fds.set(clamp(rd.count() as u64));
        }
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass; no other memory is touched.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            self.max_fds.set(clamp(lim.rlim_cur));
        }
    }
}

struct ProcSelf {
    cpu_seconds: f64,
    rss_bytes: u64,
    vsize_bytes: u64,
    start_time: f64,
    threads: u64,
}

fn read_proc_self() -> Option<ProcSelf> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat, ticks_per_second(), page_size(), boot_time()?)
}

/// Parses `/proc/self/stat` (fields after the parenthesised command name, which may
/// itself contain spaces and parentheses).
fn parse_stat(stat: &str, ticks: f64, page: u64, btime: u64) -> Option<ProcSelf> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); field N is f[N - 3].
    let num = |n: usize| -> Option<u64> { f.get(n - 3)?.parse().ok() };
    let utime = num(14)?;
    let stime = num(15)?;
    let threads = num(20)?;
    let start = num(22)?;
    let vsize = num(23)?;
    let rss = num(24)?;
    Some(ProcSelf {
        cpu_seconds: (utime + stime) as f64 / ticks,
        rss_bytes: rss * page,
        vsize_bytes: vsize,
        start_time: btime as f64 + start as f64 / ticks,
        threads,
    })
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(p).ok().filter(|p| *p > 0).unwrap_or(4096)
}

fn boot_time() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// A request to the task that owns [`Metrics`]: refresh, render, send the text back.
pub type ScrapeRequest = oneshot::Sender<String>;

/// Connections served at once; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 32;

/// Time a client has to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a whole exchange may take (head, scrape, answer).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `GET /metrics` (HTTP/1.1, one request per connection) until dropped; every
/// scrape asks the metrics task for a fresh rendering through `scrapes`. At most
/// [`MAX_CONNECTIONS`] at once, [`HEAD_TIMEOUT`] for the request head and
/// [`CONNECTION_TIMEOUT`] for everything: a client that holds connections open costs the
/// agent a bounded number of file descriptors for a bounded time.
pub async fn serve_http(listener: TcpListener, scrapes: mpsc::Sender<ScrapeRequest>) {
    let limit = std::sync::Arc::new(ConnLimit::new("metrics endpoint", MAX_CONNECTIONS));
    loop {
        let (mut stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("metrics accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(permit) = limit.try_admit() else {
            drop(stream);
            continue;
        };
        let scrapes = scrapes.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let served = tokio::time::timeout(CONNECTION_TIMEOUT, async {
                let head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream))
                    .await
                    .map_err(|_| std::io::Error::other("no request head"))??;
                let (status, ctype, body) = match request_target(&head) {
                    Some("/metrics") => {
                        let (tx, rx) = oneshot::channel();
                        let text = match scrapes.send(tx).await {
                            Ok(()) => rx.await.unwrap_or_default(),
                            Err(_) => String::new(),
                        };
                        ("200 OK", "text/plain; version=0.0.4; charset=utf-8", text)
                    }
                    Some(_) => ("404 Not Found", "text/plain", "not found; try /metrics\n".into()),
                    None => ("400 Bad Request", "text/plain", "bad request\n".into()),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(resp.as_bytes()).await?;
                stream.write_all(body.as_bytes()).await?;
                stream.shutdown().await
            })
            .await;
            if let Ok(Err(e)) = served {
                tracing::debug!("metrics connection: {e}");
            }
        });
    }
}

/// Reads the request head (up to the blank line, at most 8 KiB).
async fn read_head(stream: &mut tokio::net::TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The path of a `GET` request line, without a query string.
fn request_target(head: &str) -> Option<&str> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    if parts.next()? != "GET" {
        return None;
    }
    let target = parts.next()?;
    Some(target.split('?').next().unwrap_or(target))
}

/// Binds the metrics listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
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
            state: 6,
            established_transitions: 1,
            messages_received: 10,
            updates_received: 3,
            prefixes_accepted: 2,
            ..PeerSample::default()
        });
        s.fib = FibSample {
            desired: 5,
            installed: 4,
            netlink_ops: 7,
            reconciles: 1,
            last_reconcile: Duration::from_millis(3),
            ..FibSample::default()
        };
        m.refresh(&s);
        s.peers[0].messages_received = 15;
        s.fib.netlink_ops = 9;
        m.refresh(&s);
        let text = m.render();
        for want in [
            "tern_bgp_session_state{peer=\"192.0.2.2\"} 6",
            "tern_bgp_messages_received_total{peer=\"192.0.2.2\"} 15",
            "tern_bgp_updates_received_total{peer=\"192.0.2.2\"} 3",
            "tern_bgp_prefixes_accepted{peer=\"192.0.2.2\"} 2",
            "tern_fib_routes_desired 5",
            "tern_fib_routes_installed 4",
            "tern_fib_netlink_operations_total 9",
            "tern_fib_reconcile_duration_seconds_count 1",
            "tern_acl_apply_failures_total 0",
            "process_resident_memory_bytes ",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[test]
    fn stat_parsing_handles_odd_command_names() {
        let stat = "1234 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 7 0 1000 123456 300 0";
        let p = parse_stat(stat, 100.0, 4096, 1_700_000_000).unwrap();
        assert_eq!(p.cpu_seconds, 3.0);
        assert_eq!(p.threads, 7);
        assert_eq!(p.vsize_bytes, 123456);
        assert_eq!(p.rss_bytes, 300 * 4096);
        assert_eq!(p.start_time, 1_700_000_010.0);
        assert!(parse_stat("garbage", 100.0, 4096, 0).is_none());
    }

    #[test]
    fn request_target_of_get_lines() {
        assert_eq!(
            request_target("GET /metrics HTTP/1.1\r\n\r\n"),
            Some("/metrics")
        );
        assert_eq!(
            request_target("GET /metrics?x=1 HTTP/1.1\r\n"),
            Some("/metrics")
        );
        assert_eq!(request_target("POST /metrics HTTP/1.1\r\n"), None);
        assert_eq!(request_target(""), None);
    }
}
