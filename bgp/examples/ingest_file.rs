//! Replays a recorded BGP UPDATE stream into the RIB in process, no sockets: how much
//! CPU tern's decode and RIB spend on a real router's packing (e.g. BIRD's ~1 prefix
//! per UPDATE, recorded by `bench/ingest_feeders/capture.py`).
//!
//! ```text
//! ingest_file FILE [ROUNDS]
//! ```
//!
//! Per round: decode every message (timed alone, with and without the session's attribute
//! cache), then decode batches of up to 64 KiB
//! of messages as a connection's reader does (with the session's attribute cache; a clean
//! one-prefix UPDATE of a list seen before as the list's number and its prefix, given to
//! `Rib::receive_one`) and `Rib::receive` each other UPDATE of a batch (their index buckets loaded ahead with
//! `Rib::warm_upcoming`, as the speaker does)
//! into a fresh RIB, pulling the best-path changes every 4,096 UPDATEs as the speaker
//! does. Prints the rounds and the minimum of each phase (the least disturbed by other
//! load on the machine).

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp::rib::{LocalSettings, PeerId, PeerSettings, PeerUp, Rib, RibError, SetHint, Upcoming};
use bgp::wire::{
    decode_message, decode_message_cached, decode_one_cached, AttrCache, DecodeContext, Message,
    Nlri, PathAttributes,
};

const PEER: PeerId = PeerId(1);

fn fresh_rib() -> Result<Rib, String> {
    let mut rib = Rib::new(LocalSettings {
        asn: 64512,
        router_id: Ipv4Addr::new(10, 255, 0, 9),
        cluster_id: None,
    });
    let feeder = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    rib.add_peer(PEER, PeerSettings::new(feeder, 65001))
        .map_err(|e| e.to_string())?;
    rib.peer_up(
        PEER,
        PeerUp::new(
            Ipv4Addr::new(10, 255, 0, 1),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        ),
    )
    .map_err(|e| e.to_string())?;
    Ok(rib)
}

fn ctx() -> DecodeContext {
    DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    }
}

/// Decodes every message (with the session's attribute cache, as the reader does; without
/// it with `cached` false); returns (messages, time).
fn decode_only(mut bytes: &[u8], cached: bool) -> Result<(usize, Duration), String> {
    let ctx = ctx();
    let mut cache = AttrCache::new();
    let mut one = Vec::with_capacity(1);
    let t = Instant::now();
    let mut n = 0;
    while !bytes.is_empty() {
        let used = if cached {
            decode_message_cached(bytes, &ctx, &mut one, Some(&mut cache))
        } else {
            decode_message(bytes, &ctx).map(|(m, used)| {
                one.push(m);
                used
            })
        }
        .map_err(|e| e.to_string())?;
        std::hint::black_box(&one);
        one.clear();
        n += 1;
        bytes = bytes.get(used..).unwrap_or_default();
    }
    Ok((n, t.elapsed()))
}

/// Decodes and ingests everything into a fresh RIB; returns (Loc-RIB size, time).
fn ingest(mut bytes: &[u8]) -> Result<(usize, Duration), String> {
    let ctx = ctx();
    let mut rib = fresh_rib()?;
    let mut cache = AttrCache::new();
    // The sets by list number with where the RIB interned them, as the speaker keeps
    // them per connection.
    let mut sets: Vec<Option<(Arc<PathAttributes>, SetHint)>> = Vec::new();
    let mut generation = cache.generation();
    let t = Instant::now();
    let mut since_take = 0;
    let mut changes = 0;
    while !bytes.is_empty() {
        // Batches as the connection's reader makes them (up to 64 KiB of messages, a
        // clean one-prefix UPDATE of a known list as its list number and prefix), then
        // ingested by reference as the speaker does.
        let mut batch = Vec::with_capacity(1024);
        let mut batch_bytes = 0;
        while !bytes.is_empty() && batch_bytes < 64 * 1024 {
            let used = match decode_one_cached(bytes, &ctx, &mut cache) {
                Some((no, nlri, used)) => {
                    let i = no as usize;
                    if sets.len() <= i {
                        sets.resize(i + 1, None);
                    }
                    if let (Some(e @ None), Some(set)) = (sets.get_mut(i), cache.set(no)) {
                        *e = Some((Arc::clone(set), SetHint::default()));
                    }
                    batch.push(Item::One(no, nlri));
                    used
                }
                None => {
                    let mut one = Vec::with_capacity(1);
                    let used = decode_message_cached(bytes, &ctx, &mut one, Some(&mut cache))
                        .map_err(|e| e.to_string())?;
                    batch.extend(one.into_iter().map(Item::Msg));
                    used
                }
            };
            if cache.generation() != generation {
                // Not reached with fewer than 8,192 lists (the cache's size).
                return Err("the attribute cache started over: not modelled here".into());
            }
            batch_bytes += used;
            bytes = bytes.get(used..).unwrap_or_default();
        }
        // The index buckets of the next few hundred prefixes loaded ahead, as the
        // speaker does.
        let mut warmed = 0;
        for (i, item) in batch.iter().enumerate() {
            if i == warmed {
                let ahead = batch.get(i..).unwrap_or_default().iter().map(|m| match m {
                    Item::Msg(Message::Update(u)) => Upcoming::Update(u),
                    Item::One(_, n) => Upcoming::Prefix(*n),
                    Item::Msg(_) => Upcoming::Other,
                });
                warmed = i + rib.warm_upcoming(ahead);
            }
            match item {
                Item::Msg(Message::Update(u)) => rib.receive(PEER, u),
                Item::One(no, n) => match sets.get_mut(*no as usize) {
                    Some(Some((set, hint))) => rib.receive_one(PEER, set, hint, n),
                    _ => Err(RibError::UnknownPeer(PEER)),
                },
                Item::Msg(_) => continue,
            }
            .map_err(|e| e.to_string())?;
            since_take += 1;
            if since_take == 4096 {
                changes += rib.take_route_changes().len();
                since_take = 0;
            }
        }
        generation = cache.generation();
    }
    changes += rib.take_route_changes().len();
    let took = t.elapsed();
    std::hint::black_box(changes);
    Ok((changes, took))
}

/// A decoded message, or a one-prefix UPDATE as its list's number and prefix.
enum Item {
    Msg(Message),
    One(u32, Nlri),
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: ingest_file FILE [ROUNDS]")?;
    let rounds: usize = match args.next() {
        Some(r) => r.parse().map_err(|e| format!("ROUNDS: {e}"))?,
        None => 5,
    };
    let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (mut best_plain, mut best_dec, mut best_all) =
        (Duration::MAX, Duration::MAX, Duration::MAX);
    for r in 1..=rounds.max(1) {
        let (msgs, plain) = decode_only(&bytes, false)?;
        let (_, dec) = decode_only(&bytes, true)?;
        let (routes, all) = ingest(&bytes)?;
        println!(
            "round {r}: {msgs} messages, {} octets; decode {:.0} ms (no attribute cache {:.0} ms); decode + RIB {:.0} ms ({routes} route changes)",
            bytes.len(),
            ms(dec),
            ms(plain),
            ms(all)
        );
        best_plain = best_plain.min(plain);
        best_dec = best_dec.min(dec);
        best_all = best_all.min(all);
    }
    println!(
        "min: decode {:.0} ms (no attribute cache {:.0} ms), decode + RIB {:.0} ms, RIB alone ~{:.0} ms",
        ms(best_dec),
        ms(best_plain),
        ms(best_all),
        ms(best_all.saturating_sub(best_dec))
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingest_file: {e}");
            ExitCode::from(1)
        }
    }
}
