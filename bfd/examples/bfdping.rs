//! `bfdping`: runs the BFD driver for one neighbour and prints what happens as JSON lines
//! on stdout: `{"event":"ready"}` once listening, then `up` / `down` events and, with
//! `--status-ms N`, the session's status every N ms. Each line carries `unix_ms`.
//!
//! ```text
//! bfdping --local 10.0.0.1 --peer 10.0.0.2 [--interval-ms 100] [--multiplier 3]
//!         [--ifindex N] [--status-ms N]
//! ```
//! Runs until killed. Needs CAP_NET_BIND_SERVICE for port 3784.

use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bfd::{BfdEvent, Driver, DriverConfig, PeerKey, SessionParams, SessionStatus};
use serde_json::{json, Value};

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn emit(mut v: Value) {
    v["unix_ms"] = json!(unix_ms() as u64);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn status_json(s: &SessionStatus) -> Value {
    let n = &s.session;
    json!({
        "event": "status",
        "peer": s.peer.peer.to_string(),
        "state": n.state.as_str(),
        "remote_state": n.remote_state.as_str(),
        "diag": n.local_diag.as_str(),
        "remote_diag": n.remote_diag.as_str(),
        "local_discr": n.local_discr,
        "remote_discr": n.remote_discr,
        "tx_interval_us": n.tx_interval.map(|d| d.as_micros() as u64),
        "detection_time_us": n.detection_time.map(|d| d.as_micros() as u64),
        "source_port": s.source_port,
        "packets_in": n.packets_in,
        "packets_out": n.packets_out,
        "up_transitions": n.up_transitions,
        "down_transitions": n.down_transitions,
    })
}

struct Args {
    key: PeerKey,
    params: SessionParams,
    status_ms: u64,
}

fn parse() -> Result<Args, String> {
    let mut local: Option<IpAddr> = None;
    let mut peer: Option<IpAddr> = None;
    let (mut interval, mut mult, mut ifindex, mut status_ms) = (100u64, 3u8, None, 0u64);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {val}: {e}");
        match flag.as_str() {
            "--local" => local = Some(val.parse().map_err(|e| bad(&e))?),
            "--peer" => peer = Some(val.parse().map_err(|e| bad(&e))?),
            "--interval-ms" => interval = val.parse().map_err(|e| bad(&e))?,
            "--multiplier" => mult = val.parse().map_err(|e| bad(&e))?,
            "--ifindex" => ifindex = Some(val.parse().map_err(|e| bad(&e))?),
            "--status-ms" => status_ms = val.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let key = PeerKey {
        peer: peer.ok_or("--peer is required")?,
        local: local.ok_or("--local is required")?,
        ifindex,
    };
    let params = SessionParams::new(Duration::from_millis(interval), mult);
    Ok(Args {
        key,
        params,
        status_ms,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bfdping: {e}");
            std::process::exit(2);
        }
    };
    let (handle, mut events) = match Driver::spawn(DriverConfig::default()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("bfdping: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = handle.add_peer(args.key, args.params).await {
        eprintln!("bfdping: {e}");
        std::process::exit(1);
    }
    emit(json!({"event": "ready", "peer": args.key.peer.to_string()}));
    let period = Duration::from_millis(args.status_ms.max(1));
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(BfdEvent::Up { peer }) => emit(json!({"event": "up", "peer": peer.peer.to_string()})),
                Some(BfdEvent::Down { peer, diag, remote_state }) => emit(json!({
                    "event": "down",
                    "peer": peer.peer.to_string(),
                    "diag": diag.as_str(),
                    "diag_code": diag.code(),
                    "remote_state": remote_state.as_str(),
                })),
                None => break,
            },
            _ = tick.tick(), if args.status_ms > 0 => {
                if let Ok(all) = handle.status().await {
                    for s in &all {
                        emit(status_json(s));
                    }
                }
            }
        }
    }
}
