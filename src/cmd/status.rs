//! `tern status` and `tern routes`: read the agent's state over its control socket
//! (protocol in `agent::control`) and print it as a table, or as the agent's JSON with
//! `--json`. Exit 1 when the agent cannot be reached.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::agent::control::{self, Reply, Request, RouteRow, RoutesView, StatusView};

use super::EXIT_RUNTIME;

/// Arguments of `tern status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Control socket of the agent.
    #[arg(long, default_value = "/run/tern/tern.sock")]
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
    /// Control socket of the agent.
    #[arg(long, default_value = "/run/tern/tern.sock")]
    pub socket: PathBuf,
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
    match ask(&args.socket, &Request::Routes { all: args.all }) {
        Ok(Reply::Routes(r)) if args.json => print_json(&r),
        Ok(Reply::Routes(r)) => {
            print!("{}", routes_table(&r, args.all));
            ExitCode::SUCCESS
        }
        Ok(other) => unexpected(other),
        Err(code) => code,
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
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
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
    out.push_str(&table(&rows));
    out.push_str(&format!(
        "\nFIB: {} routes desired, {} installed, {} failed. Endpoints: {}.\n",
        s.fib.desired, s.fib.installed, s.fib.failed, s.endpoints
    ));
    let p = &s.policy;
    match (&p.last_error, p.ok) {
        _ if p.backend == "none" => {
            out.push_str("Policy: none configured (policy.paths is empty).\n")
        }
        (_, true) => out.push_str(&format!(
            "Policy: {}, {} rules in force.\n",
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
    out
}

fn fib_cell(r: &RouteRow) -> String {
    match &r.fib_reason {
        Some(reason) => format!("{}: {reason}", r.fib),
        None => r.fib.clone(),
    }
}

fn routes_table(v: &RoutesView, all: bool) -> String {
    let mut rows = vec![["PREFIX", "NEXT HOPS", "AS PATH", "FROM", "SOURCE", "FIB"]
        .map(String::from)
        .to_vec()];
    for r in &v.routes {
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
                rows.push(vec![
                    format!("{mark} from {}", p.from),
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
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::control::{PathRow, PeerRow, RouteSource};

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(since(1_764_290_000, 1_764_290_100), "00:33:20");
        assert_eq!(since(0, 1_764_290_100), "1970-01-01");
        assert_eq!(hms(3 * 86400 + 3661), "3d 01:01:01");
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
}
