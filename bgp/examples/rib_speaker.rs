//! tern's BGP speaker alone (`bgp::speaker` with its RIB, no kernel): the ingest
//! benchmark's stand-in for `tern agent` while the agent has no switch to turn the
//! FIB off. It peers with one (passive) neighbour, accepts every prefix, drains the
//! best-path change stream as the agent would, and polls its Loc-RIB size every
//! `--poll-ms` (50 by default), printing one JSON line per poll:
//! `{"t":MS_SINCE_EPOCH,"loc_rib":N,"paths":N}`. It exits once `--expect` prefixes
//! are in the Loc-RIB (after `--linger` seconds) or after `--timeout`.
//!
//! ```text
//! rib_speaker --listen 127.0.0.1:179 --asn 64512 --router-id 10.255.0.2 \
//!     --peer 127.0.0.2 --peer-as 65001 --expect 1000000
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bgp::policy::ImportPolicy;
use bgp::speaker::{PeerConfig, Speaker, SpeakerConfig};

struct Args {
    listen: SocketAddr,
    asn: u32,
    router_id: Ipv4Addr,
    peer: IpAddr,
    peer_as: u32,
    expect: usize,
    poll: Duration,
    linger: Duration,
    timeout: Duration,
    drop_changes: bool,
    exit_fast: bool,
}

/// Best-path changes pulled per batch (as `tern agent` does).
const CHANGE_BATCH: usize = 4096;

const USAGE: &str = "usage: rib_speaker --listen ADDR:PORT --peer IP --peer-as N [--asn N] \
[--router-id IP] [--expect N] [--poll-ms N] [--linger SECS] [--timeout SECS (<= 600)] \
[--drop-changes (drop the change stream: measures the speaker without a consumer)] \
[--exit-fast (exit without the Cease/peer-down shutdown, for heap profiles)]";

fn parse() -> Result<Args, String> {
    let mut a = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 179)),
        asn: 64512,
        router_id: Ipv4Addr::new(10, 255, 0, 2),
        peer: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        peer_as: 65001,
        expect: 1_000_000,
        poll: Duration::from_millis(50),
        linger: Duration::from_secs(1),
        timeout: Duration::from_secs(120),
        drop_changes: false,
        exit_fast: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let bad = |e: &dyn std::fmt::Display| format!("bad value for {flag}: {e}");
        match flag.as_str() {
            "--listen" => a.listen = val()?.parse().map_err(|e| bad(&e))?,
            "--asn" => a.asn = val()?.parse().map_err(|e| bad(&e))?,
            "--router-id" => a.router_id = val()?.parse().map_err(|e| bad(&e))?,
            "--peer" => a.peer = val()?.parse().map_err(|e| bad(&e))?,
            "--peer-as" => a.peer_as = val()?.parse().map_err(|e| bad(&e))?,
            "--expect" => a.expect = val()?.parse().map_err(|e| bad(&e))?,
            "--poll-ms" => {
                a.poll = Duration::from_millis(val()?.parse::<u64>().map_err(|e| bad(&e))?.max(1))
            }
            "--linger" => a.linger = Duration::from_secs(val()?.parse().map_err(|e| bad(&e))?),
            "--timeout" => {
                a.timeout =
                    Duration::from_secs(val()?.parse::<u64>().map_err(|e| bad(&e))?.min(600))
            }
            "--drop-changes" => a.drop_changes = true,
            "--exit-fast" => a.exit_fast = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

async fn run(a: Args) -> Result<(), String> {
    let mut peer = PeerConfig::new(a.peer, a.peer_as);
    peer.passive = true;
    peer.hold_time = Duration::from_secs(240);
    let cfg = SpeakerConfig {
        asn: a.asn,
        router_id: a.router_id,
        listen: Some(a.listen),
        cluster_id: None,
        peers: vec![peer],
        originate: Vec::new(),
        import: ImportPolicy::accept_all(),
        graceful_restart: SpeakerConfig::default_graceful_restart(),
    };
    let (handle, mut changes) = Speaker::start(cfg).await.map_err(|e| e.to_string())?;
    // The agent's role: pull the best-path changes in batches (here: count them).
    // Without a consumer the speaker drops them itself.
    let drop_changes = a.drop_changes;
    let drain = tokio::spawn(async move {
        let mut n = 0u64;
        if drop_changes {
            drop(changes);
            return n;
        }
        while let Some(batch) = changes.next(CHANGE_BATCH).await {
            n += batch.len() as u64;
        }
        n
    });
    let start = Instant::now();
    let mut reached: Option<Instant> = None;
    let mut ticker = tokio::time::interval(a.poll);
    loop {
        ticker.tick().await;
        let (loc, paths) = handle.rib_size().await;
        println!("{{\"t\":{},\"loc_rib\":{loc},\"paths\":{paths}}}", now_ms());
        if loc >= a.expect && reached.is_none() {
            reached = Some(Instant::now());
        }
        if reached.is_some_and(|r| r.elapsed() >= a.linger) {
            if a.exit_fast {
                std::process::exit(0);
            }
            break;
        }
        if start.elapsed() > a.timeout {
            handle.shutdown().await;
            return Err(format!("timeout with {loc} prefixes in the Loc-RIB"));
        }
    }
    handle.shutdown().await;
    drop(handle);
    drain.abort();
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rib_speaker: runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rib_speaker: {e}");
            ExitCode::from(1)
        }
    }
}
