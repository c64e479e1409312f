//! Fan-in in process, no sockets: PEERS eBGP peers (AS 65001.., next hops
//! 10.255.0.1..) each send the same synthetic table (`benches/rib/table.rs`, ~30
//! prefixes per UPDATE), interleaved one UPDATE per peer per turn, the peers of a turn in a
//! random (seeded) order, as live feeders arrive. Every 4,096 UPDATEs the best-path changes are pulled and every peer's
//! Adj-RIB-Out is drained with `take_updates`, as the speaker's flush does; the
//! table is then re-advertised to the other peers, as `tern agent` does.
//!
//! ```text
//! fanin [PREFIXES] [PEERS] [ROUNDS] [SKEW] [DOWN]     (defaults: 200000 10 3 0 1)
//! ```
//!
//! SKEW > 0 starts each peer's feed a random number of turns (up to SKEW) late, as
//! live feeders that connect up to 100 ms apart run that far apart through the table:
//! a prefix's next path then finds its entry out of the cache.
//!
//! DOWN = 0 leaves out the peers going down (e.g. to profile the load alone).
//!
//! Prints, per round, the thread CPU time of `receive`, `take_route_changes` and
//! `take_updates`, and the minimum total (the least disturbed by other load); then of
//! the peers going down one after another (`peer_down` and the flush after each, also
//! per peer).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::rib::{LocalSettings, PeerId, PeerSettings, PeerUp, Rib};
use bgp::wire::Update;

#[path = "../benches/rib/table.rs"]
mod table;

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn peer_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, 0, 1 + i as u8)
}

fn fresh_rib(peers: usize) -> Rib {
    let mut rib = Rib::new(LocalSettings {
        asn: 64512,
        router_id: Ipv4Addr::new(10, 255, 1, 1),
        cluster_id: None,
    });
    for i in 0..peers {
        let id = PeerId(i as u32 + 1);
        rib.add_peer(
            id,
            PeerSettings::new(IpAddr::V4(peer_addr(i)), 65001 + i as u32),
        )
        .expect("new peer");
        rib.peer_up(
            id,
            PeerUp::new(peer_addr(i), IpAddr::V4(Ipv4Addr::new(10, 255, 1, 1))),
        )
        .expect("peer up");
    }
    rib
}

#[derive(Default, Clone, Copy)]
struct Times {
    receive: Duration,
    changes: Duration,
    export: Duration,
    /// The peers going down one after another after the load, flushes included.
    down: Duration,
}

fn round(feeds: &[Vec<Update>], skew: usize, down: bool) -> (Times, usize, usize) {
    let peers = feeds.len();
    let mut rng = table::Rng::new(0xfa17);
    let late: Vec<usize> = (0..peers)
        .map(|i| {
            if i == 0 || skew == 0 {
                0
            } else {
                rng.below(skew as u64 + 1) as usize
            }
        })
        .collect();
    let mut rib = fresh_rib(peers);
    let mut t = Times::default();
    let (mut changes, mut sent) = (0usize, 0usize);
    let longest = feeds
        .iter()
        .zip(&late)
        .map(|(f, l)| f.len() + l)
        .max()
        .unwrap_or(0);
    let mut since = 0usize;
    let flush = |rib: &mut Rib, t: &mut Times, changes: &mut usize, sent: &mut usize| {
        let c0 = thread_cpu();
        *changes += rib.take_route_changes().len();
        let c1 = thread_cpu();
        for i in 0..peers {
            let id = PeerId(i as u32 + 1);
            while rib.has_pending_updates(id) {
                *sent += rib.take_updates(id, 1 << 20).len();
            }
        }
        let c2 = thread_cpu();
        t.changes += c1 - c0;
        t.export += c2 - c1;
    };
    let mut turn: Vec<usize> = (0..peers).collect();
    let mut c0 = thread_cpu();
    for k in 0..longest {
        // The peers' UPDATEs of one turn arrive in a random order.
        for j in (1..turn.len()).rev() {
            turn.swap(j, rng.below(j as u64 + 1) as usize);
        }
        for &i in &turn {
            let Some(u) = k
                .checked_sub(late[i])
                .and_then(|k| feeds.get(i).and_then(|f| f.get(k)))
            else {
                continue;
            };
            rib.receive(PeerId(i as u32 + 1), u).expect("no limit");
            since += 1;
            if since == 4096 {
                since = 0;
                t.receive += thread_cpu() - c0;
                flush(&mut rib, &mut t, &mut changes, &mut sent);
                c0 = thread_cpu();
            }
        }
    }
    t.receive += thread_cpu() - c0;
    flush(&mut rib, &mut t, &mut changes, &mut sent);
    // Then every peer goes down, one after another, each followed by a flush (the
    // first leaves nine paths a prefix, the last none): timed apart from the load.
    let c0 = thread_cpu();
    let (mut down_t, mut down_changes, mut down_sent) = (Times::default(), 0usize, 0usize);
    for i in (0..peers).take_while(|_| down) {
        let c = thread_cpu();
        rib.peer_down(PeerId(i as u32 + 1));
        let d = thread_cpu() - c;
        flush(&mut rib, &mut down_t, &mut down_changes, &mut down_sent);
        println!(
            "  peer {} down: peer_down {:.3} s, then route changes {:.3} s, take_updates {:.3} s",
            i + 1,
            d.as_secs_f64(),
            down_t.changes.as_secs_f64(),
            down_t.export.as_secs_f64()
        );
        down_t = Times::default();
    }
    t.down = thread_cpu() - c0;
    (t, changes, sent)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (prefixes, peers, rounds, skew) = (arg(1, 200_000), arg(2, 10), arg(3, 3), arg(4, 0));
    let down = arg(5, 1) != 0;
    let feeds: Vec<Vec<Update>> = (0..peers)
        .map(|i| {
            table::updates(&table::Shape {
                prefixes,
                feeder_as: 65001 + i as u32,
                next_hop: peer_addr(i),
                ..table::Shape::default()
            })
        })
        .collect();
    println!(
        "fan-in: {peers} peers x {prefixes} prefixes, {rounds} rounds, skew {skew} (thread CPU time)"
    );
    let mut best: Option<Duration> = None;
    for r in 1..=rounds {
        let (t, changes, sent) = round(&feeds, skew, down);
        let total = t.receive + t.changes + t.export;
        println!(
            "round {r}: total {:.3} s = receive {:.3} s + route changes {:.3} s + \
             take_updates {:.3} s ({changes} FIB changes, {sent} UPDATEs out); \
             then the peers down {:.3} s",
            total.as_secs_f64(),
            t.receive.as_secs_f64(),
            t.changes.as_secs_f64(),
            t.export.as_secs_f64(),
            t.down.as_secs_f64(),
        );
        best = Some(best.map_or(total, |b| b.min(total)));
    }
    if let Some(b) = best {
        println!("min total {:.3} s", b.as_secs_f64());
    }
}
