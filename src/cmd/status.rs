//! `tern status` and `tern routes`: read the agent's state over its control socket
//! (protocol in `agent::control`) and print it as a table, or as the agent's JSON with
//! `--json`. `tern status PEER` shows one peer in detail (`agent::peer_detail`);
//! `tern routes PREFIX` every path of the most specific route covering PREFIX. `tern routes` prints rows as the agent streams them (a table a page at a
//! time; with `--json` the document `{"routes":[…], "rejected":[…], "next":"…"}` written
//! row by row, one route per line). Exit 1 when the agent cannot be reached.
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use ipnet::IpNet;

use crate::agent::control::{
    self, PrefixMatch, RejectedSummary, Reply, Request, RouteRow, RoutesQuery, StatusView,
};

use super::EXIT_RUNTIME;

/// Arguments of `tern status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// One peer in detail (capabilities, timers, graceful restart, errors, messages):
    /// its address or its description.
    pub peer: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Control socket of the agent (or $TERN_SOCKET).
    #[arg(long, env = "TERN_SOCKET", default_value = "/run/tern/tern.sock")]
    pub socket: PathBuf,
}

/// Arguments of `tern routes`.
#[derive(clap::Args, Debug)]
pub struct RoutesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also show the paths that lost, and why, and the rejected ones.
    #[arg(long)]
    pub all: bool,
    /// The most specific route covering this prefix or address, with all its paths
    /// (as `birdc show route for`; the same as `--prefix P --all`).
    #[arg(value_parser = parse_net, conflicts_with = "prefix", value_name = "PREFIX")]
    pub lookup: Option<IpNet>,
    /// Only routes for this prefix or address (see --match).
    #[arg(long, value_parser = parse_net)]
    pub prefix: Option<IpNet>,
    /// How --prefix selects: the most specific covering route (longest), exactly that
    /// prefix (exact), or every route inside it (covered).
    #[arg(long = "match", value_enum, default_value = "longest")]
    pub match_: MatchArg,
    /// Only routes with a path from this peer.
    #[arg(long)]
    pub peer: Option<IpAddr>,
    /// At most this many routes; the output then says where the next page starts.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only routes after this prefix (the next page of a --limit listing).
    #[arg(long, value_parser = parse_net)]
    pub after: Option<IpNet>,
    /// Control socket of the agent (or $TERN_SOCKET).
    #[arg(long, env = "TERN_SOCKET", default_value = "/run/tern/tern.sock")]
    pub socket: PathBuf,
}

/// `--match` values.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchArg {
    /// The most specific route covering the prefix.
    Longest,
    /// Exactly the prefix.
    Exact,
    /// The prefix and every more specific route.
    Covered,
}

/// A prefix, or an address as a host prefix.
fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is neither a prefix nor an address"))
}

fn ask(socket: &std::path::Path, req: &Request) -> Result<Reply, ExitCode> {
    control::request(socket, req).map_err(|e| {
        eprintln!(
            "tern: cannot reach the agent at {}: {e} (is `tern agent` running? use --socket PATH)",
            socket.display()
        );
        ExitCode::from(EXIT_RUNTIME)
    })
}

fn print_json<T: serde::Serialize>(v: &T) -> ExitCode {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tern: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn unexpected(reply: Reply) -> ExitCode {
    match reply {
        Reply::Error(e) => eprintln!("tern: the agent answered: {e}"),
        other => eprintln!("tern: unexpected answer from the agent: {other:?}"),
    }
    ExitCode::from(EXIT_RUNTIME)
}

/// Runs `tern status`.
pub fn run_status(args: StatusArgs) -> ExitCode {
    if let Some(peer) = args.peer {
        return match ask(&args.socket, &Request::Peer { peer }) {
            Ok(Reply::Peer(d)) if args.json => print_json(&d),
            Ok(Reply::Peer(d)) => {
                print!("{}", d.to_text());
                ExitCode::SUCCESS
            }
            Ok(Reply::Error(e)) => {
                eprintln!("tern: {e}");
                ExitCode::from(super::EXIT_BAD_INPUT)
            }
            Ok(other) => unexpected(other),
            Err(code) => code,
        };
    }
    match ask(&args.socket, &Request::Status) {
        Ok(Reply::Status(s)) if args.json => print_json(&s),
        Ok(Reply::Status(s)) => {
            print!("{}", status_table(&s, now_unix()));
            ExitCode::SUCCESS
        }
        Ok(other) => unexpected(other),
        Err(code) => code,
    }
}

/// Runs `tern routes`.
pub fn run_routes(args: RoutesArgs) -> ExitCode {
    let lookup = args.lookup.is_some();
    let query = RoutesQuery {
        all: args.all || lookup,
        prefix: args.lookup.or(args.prefix),
        match_: match args.match_ {
            _ if lookup => PrefixMatch::Longest,
            MatchArg::Longest => PrefixMatch::Longest,
            MatchArg::Exact => PrefixMatch::Exact,
            MatchArg::Covered => PrefixMatch::Covered,
        },
        peer: args.peer,
        limit: args.limit,
        after: args.after,
    };
    let mut lines = match control::request_lines(&args.socket, &Request::Routes(query)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "tern: cannot reach the agent at {}: {e} (is `tern agent` running? use --socket PATH)",
                args.socket.display()
            );
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printer = RoutesPrinter::new(args.json, args.all || lookup);
    let result = loop {
        match lines.next_reply() {
            Ok(Some(Reply::Route(r))) => printer.row(*r),
            Ok(Some(Reply::Rejected(r))) => printer.rejected(r),
            Ok(Some(Reply::End(end))) => {
                printer.next = end.next;
                break Ok(());
            }
            Ok(Some(other)) => {
                let _ = out.flush();
                return unexpected(other);
            }
            Ok(None) => break Err("the agent closed the connection before the end".to_string()),
            Err(e) => break Err(e.to_string()),
        }
        if printer.write_ready(&mut out).is_err() {
            // stdout closed (e.g. `| head`): stop quietly.
            return ExitCode::SUCCESS;
        }
    };
    let _ = printer.finish(&mut out);
    let _ = out.flush();
    let empty = printer.rows_written == 0 && !args.json && result.is_ok();
    if let Some(p) = args.lookup.filter(|_| empty) {
        eprintln!("tern: no route covers {p}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tern: routes: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Prints `tern routes` as the rows arrive: the table a page at a time (column widths
/// only grow), or the `--json` document a row per line.
struct RoutesPrinter {
    json: bool,
    all: bool,
    pending: Vec<RouteRow>,
    rejected: Vec<RejectedSummary>,
    next: Option<String>,
    widths: Vec<usize>,
    rows_written: u64,
}

/// Rows gathered before a piece of the table is written.
const PRINT_BATCH: usize = 1024;

impl RoutesPrinter {
    fn new(json: bool, all: bool) -> RoutesPrinter {
        RoutesPrinter {
            json,
            all,
            pending: Vec::new(),
            rejected: Vec::new(),
            next: None,
            widths: Vec::new(),
            rows_written: 0,
        }
    }

    fn row(&mut self, r: RouteRow) {
        self.pending.push(r);
    }

    fn rejected(&mut self, r: RejectedSummary) {
        self.rejected.push(r);
    }

    fn write_ready(&mut self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        if self.json || self.pending.len() >= PRINT_BATCH {
            self.write_pending(out)?;
        }
        Ok(())
    }

    fn write_pending(&mut self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        if self.json {
            for r in self.pending.drain(..) {
                let sep = if self.rows_written == 0 {
                    "{\"routes\":[\n"
                } else {
                    ",\n"
                };
                let text = serde_json::to_string(&r).map_err(std::io::Error::other)?;
                write!(out, "{sep}{text}")?;
                self.rows_written += 1;
            }
            return Ok(());
        }
        let header = self.rows_written == 0;
        let rows = routes_rows(&self.pending, self.all, header);
        out.write_all(table_with(&rows, &mut self.widths).as_bytes())?;
        self.rows_written += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    fn finish(&mut self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        if self.json {
            self.write_pending(out)?;
            if self.rows_written == 0 {
                write!(out, "{{\"routes\":[")?;
            } else {
                writeln!(out)?;
            }
            write!(out, "]")?;
            if !self.rejected.is_empty() {
                let text = serde_json::to_string(&self.rejected).map_err(std::io::Error::other)?;
                write!(out, ",\n\"rejected\":{text}")?;
            }
            if let Some(n) = &self.next {
                let text = serde_json::to_string(n).map_err(std::io::Error::other)?;
                write!(out, ",\n\"next\":{text}")?;
            }
            return writeln!(out, "}}");
        }
        if !self.pending.is_empty() || self.rows_written == 0 {
            self.write_pending(out)?;
        }
        for r in &self.rejected {
            let from = r
                .peer
                .as_deref()
                .map(|p| format!(" from {p}"))
                .unwrap_or_default();
            writeln!(out, "{} paths{from} rejected: {}", r.count, r.reason)?;
        }
        if let Some(n) = &self.next {
            writeln!(out, "(more: --after {n})")?;
        }
        Ok(())
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `HH:MM:SS` for durations.
fn hms(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// A Unix time as BIRD shows it: the UTC time of day within the last 24 hours, else the date.
fn since(t: u64, now: u64) -> String {
    let (y, mo, d) = civil_from_days((t / 86400) as i64);
    if now.saturating_sub(t) < 86400 {
        format!("{:02}:{:02}:{:02}", t / 3600 % 24, t / 60 % 60, t % 60)
    } else {
        format!("{y:04}-{mo:02}-{d:02}")
    }
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

/// Left-aligned columns, two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
    table_with(rows, &mut Vec::new())
}

/// [`table`] with column widths that are at least `widths` (updated: a table printed in
/// pieces keeps its columns aligned as far as the rows seen so far allow).
fn table_with(rows: &[Vec<String>], widths: &mut Vec<usize>) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    if widths.len() < cols {
        widths.resize(cols, 0);
    }
    for (c, w) in widths.iter_mut().enumerate() {
        let here = rows
            .iter()
            .filter_map(|r| r.get(c))
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0);
        *w = (*w).max(here);
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                let w = widths.get(i).copied().unwrap_or(0);
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn status_table(s: &StatusView, now: u64) -> String {
    let mut out = format!(
        "tern on {} (AS {}, router ID {}), up {}\n\n",
        s.node_name,
        s.asn,
        s.router_id,
        hms(s.uptime_secs)
    );
    let mut rows = vec![[
        "PEER",
        "AS",
        "TYPE",
        "STATE",
        "SINCE",
        "RECEIVED",
        "ACCEPTED",
        "ADVERTISED",
        "LAST ERROR",
    ]
    .map(String::from)
    .to_vec()];
    for p in &s.peers {
        rows.push(vec![
            p.address.clone(),
            p.asn.to_string(),
            p.kind.clone(),
            p.state.clone(),
            p.since_unix
                .map(|t| since(t, now))
                .unwrap_or_else(|| "-".into()),
            p.received.to_string(),
            p.accepted.to_string(),
            p.advertised.to_string(),
            p.last_error.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    // A BFD column after STATE when any peer runs BFD.
    if s.peers.iter().any(|p| p.bfd.is_some()) {
        rows[0].insert(4, "BFD".into());
        for (r, p) in rows[1..].iter_mut().zip(&s.peers) {
            r.insert(4, p.bfd.clone().unwrap_or_else(|| "off".into()));
        }
    }
    out.push_str(&table(&rows));
    out.push_str(&format!(
        "\nFIB: {} routes desired, {} installed, {} failed. Endpoints: {}.\n",
        s.fib.desired, s.fib.installed, s.fib.failed, s.endpoints
    ));
    let p = &s.policy;
    let from_store = p.datastore.as_ref().map_or(String::new(), |d| {
        format!(
            " (from the datastore: {} policies, {} endpoints of other nodes, {} network sets)",
            d.policies, d.remote_endpoints, d.network_sets
        )
    });
    match (&p.last_error, p.ok) {
        _ if p.backend == "none" => {
            out.push_str("Policy: none configured (policy.paths is empty).\n")
        }
        (_, true) => out.push_str(&format!(
            "Policy: {}, {} rules in force{from_store}.\n",
            p.backend, p.rules
        )),
        (Some(e), false) => out.push_str(&format!(
            "Policy: {}, {} rules in force; last change NOT applied:\n  {}\n",
            p.backend,
            p.rules,
            e.replace('\n', "\n  ")
        )),
        (None, false) => out.push_str(&format!("Policy: {}, not applied yet.\n", p.backend)),
    }
    if let Some(r) = &s.config_reload {
        match &r.error {
            Some(e) if !r.ok => out.push_str(&format!(
                "Config reload failed at {}: {}\n  (the previous config stays in force)\n",
                utc(r.at_unix),
                e.replace('\n', "\n  ")
            )),
            _ => out.push_str(&format!("Config reloaded at {}.\n", utc(r.at_unix))),
        }
    }
    if let Some(d) = &s.datastore {
        let state = if d.connected {
            "connected"
        } else {
            "DISCONNECTED (last state kept)"
        };
        out.push_str(&format!(
            "Datastore: {} {state}, {} nodes, {} reconnects, {} resyncs, blocks [{}]{}\n",
            d.kind,
            d.nodes,
            d.reconnects,
            d.resyncs,
            d.blocks
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            d.last_error
                .as_ref()
                .map_or(String::new(), |e| format!("; last error: {e}"))
        ));
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(t: u64) -> String {
    let (y, mo, d) = civil_from_days((t / 86400) as i64);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} UTC",
        t / 3600 % 24,
        t / 60 % 60,
        t % 60
    )
}

fn fib_cell(r: &RouteRow) -> String {
    match &r.fib_reason {
        Some(reason) => format!("{}: {reason}", r.fib),
        None => r.fib.clone(),
    }
}

#[cfg(test)]
fn routes_table(v: &control::RoutesView, all: bool) -> String {
    table(&routes_rows(&v.routes, all, true))
}

fn routes_rows(routes: &[RouteRow], all: bool, header: bool) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    if header {
        rows.push(
            ["PREFIX", "NEXT HOPS", "AS PATH", "FROM", "SOURCE", "FIB"]
                .map(String::from)
                .to_vec(),
        );
    }
    for r in routes {
        let source = serde_json::to_value(r.source)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        rows.push(vec![
            r.prefix.clone(),
            if r.next_hops.is_empty() {
                "-".into()
            } else {
                r.next_hops.join(",")
            },
            match r.as_path.as_deref() {
                None => "-".into(),
                Some("") => "(local AS)".into(),
                Some(p) => p.into(),
            },
            r.learned_from.clone().unwrap_or_else(|| "-".into()),
            source,
            fib_cell(r),
        ]);
        if all {
            for p in &r.paths {
                let mark = if p.rejected.is_some() {
                    "  !"
                } else if p.best {
                    "  *"
                } else {
                    "   "
                };
                let why = match (&p.rejected, &p.reason_lost, p.best) {
                    (Some(r), _, _) => format!("rejected: {r}"),
                    (None, Some(l), _) => format!("lost: {l}"),
                    (None, None, true) => "best".into(),
                    (None, None, false) => "-".into(),
                };
                let path = p.path_id.map_or(String::new(), |id| format!(" path {id}"));
                rows.push(vec![
                    format!("{mark} from {}{path}", p.from),
                    p.next_hop.clone(),
                    if p.as_path.is_empty() {
                        "(local AS)".into()
                    } else {
                        p.as_path.clone()
                    },
                    format!(
                        "lp {} med {} {}",
                        p.local_pref.map_or("-".into(), |v| v.to_string()),
                        p.med.map_or("-".into(), |v| v.to_string()),
                        p.origin
                    ),
                    String::new(),
                    why,
                ]);
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::control::{PathRow, PeerRow, RouteSource, RoutesView};

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(since(1_764_290_000, 1_764_290_100), "00:33:20");
        assert_eq!(since(0, 1_764_290_100), "1970-01-01");
        assert_eq!(hms(3 * 86400 + 3661), "3d 01:01:01");
    }

    #[test]
    fn bfd_column_only_when_a_peer_runs_bfd() {
        let peer = |address: &str, bfd: Option<&str>| PeerRow {
            address: address.into(),
            asn: 65000,
            kind: "global".into(),
            state: "Established".into(),
            bfd: bfd.map(String::from),
            ..PeerRow::default()
        };
        let mut s = StatusView {
            peers: vec![peer("192.0.2.254", None)],
            ..StatusView::default()
        };
        assert!(!status_table(&s, 0).contains("BFD"));
        s.peers.push(peer("192.0.2.253", Some("Up")));
        let t = status_table(&s, 0);
        assert!(t.contains("STATE        BFD"), "{t}");
        assert!(
            t.contains("192.0.2.254  65000  global  Established  off"),
            "{t}"
        );
        assert!(
            t.contains("192.0.2.253  65000  global  Established  Up"),
            "{t}"
        );
    }

    #[test]
    fn status_and_routes_tables() {
        let s = StatusView {
            node_name: "host-a".into(),
            asn: 64512,
            router_id: "192.0.2.1".into(),
            peers: vec![PeerRow {
                address: "192.0.2.254".into(),
                asn: 65000,
                kind: "global".into(),
                state: "Active".into(),
                last_error: Some("connection refused".into()),
                ..PeerRow::default()
            }],
            ..StatusView::default()
        };
        let t = status_table(&s, 0);
        assert!(t.contains("PEER"), "{t}");
        assert!(t.contains("192.0.2.254  65000  global  Active"), "{t}");
        assert!(t.contains("connection refused"), "{t}");
        let r = RoutesView {
            next: None,
            rejected: Vec::new(),
            routes: vec![RouteRow {
                prefix: "10.244.2.0/24".into(),
                source: RouteSource::Bgp,
                next_hops: vec!["192.0.2.2".into(), "192.0.2.3".into()],
                as_path: Some(String::new()),
                learned_from: Some("192.0.2.2".into()),
                fib: "failed".into(),
                fib_reason: Some("next hop not directly reachable".into()),
                paths: vec![PathRow {
                    from: "192.0.2.254".into(),
                    path_id: None,
                    next_hop: "192.0.2.254".into(),
                    as_path: "65000".into(),
                    local_pref: None,
                    med: None,
                    origin: "IGP".into(),
                    best: false,
                    reason_lost: Some("longer AS_PATH".into()),
                    rejected: None,
                }],
            }],
        };
        let t = routes_table(&r, true);
        assert!(t.contains("192.0.2.2,192.0.2.3"), "{t}");
        assert!(t.contains("failed: next hop not directly reachable"), "{t}");
        assert!(t.contains("lost: longer AS_PATH"), "{t}");
    }

    fn row(p: &str) -> RouteRow {
        RouteRow {
            prefix: p.into(),
            source: RouteSource::Bgp,
            next_hops: vec!["192.0.2.2".into()],
            as_path: Some("65000".into()),
            learned_from: Some("192.0.2.2".into()),
            fib: "yes".into(),
            fib_reason: None,
            paths: vec![],
        }
    }

    /// The streamed `--json` document is the `RoutesView` a script parses, for no
    /// rows, one, and more than a print batch, with and without summary and cursor.
    #[test]
    fn streamed_json_is_one_document() {
        for n in [0, 1, PRINT_BATCH + 3] {
            for extras in [false, true] {
                let mut p = RoutesPrinter::new(true, false);
                let mut out = Vec::new();
                for i in 0..n {
                    p.row(row(&format!("10.{}.{}.0/24", i / 256, i % 256)));
                    p.write_ready(&mut out).unwrap();
                }
                if extras {
                    p.rejected(RejectedSummary {
                        reason: "prefix outside the pools".into(),
                        count: 1_000_000,
                        peer: Some("192.0.2.9".into()),
                    });
                    p.next = Some("10.9.0.0/24".into());
                }
                p.finish(&mut out).unwrap();
                let text = String::from_utf8(out).unwrap();
                let v: RoutesView =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
                assert_eq!(v.routes.len(), n);
                assert_eq!(v.rejected.len(), usize::from(extras));
                assert_eq!(v.next.is_some(), extras);
                // One route per line.
                assert_eq!(text.lines().filter(|l| l.contains("\"prefix\"")).count(), n);
            }
        }
        let mut p = RoutesPrinter::new(false, false);
        let mut out = Vec::new();
        p.row(row("10.0.0.0/24"));
        p.rejected(RejectedSummary {
            reason: "prefix outside the pools".into(),
            count: 5,
            peer: None,
        });
        p.next = Some("10.0.0.0/24".into());
        p.finish(&mut out).unwrap();
        let t = String::from_utf8(out).unwrap();
        assert!(t.starts_with("PREFIX"), "{t}");
        assert!(
            t.contains("5 paths rejected: prefix outside the pools"),
            "{t}"
        );
        assert!(t.contains("(more: --after 10.0.0.0/24)"), "{t}");
    }
}
