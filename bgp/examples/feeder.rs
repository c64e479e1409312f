//! Full-table feeder: a minimal BGP speaker that sends a synthetic Internet-sized
//! IPv4 table as fast as the socket takes it.
//!
//! It pre-encodes the whole table with `bgp::wire` (1,000,000 prefixes by default,
//! realistic prefix-length mix, ~30 per UPDATE, ~5,000 attribute sets, AS paths of 2–6
//! hops; see `benches/rib/table.rs`), then connects to the peer (or listens for it),
//! exchanges OPEN/KEEPALIVE, writes every UPDATE and End-of-RIB in large writes, and
//! keeps the session up with KEEPALIVEs for `--stay` seconds (bounded) before a Cease.
//!
//! With `--replay FILE` it sends, instead of its own table, the UPDATE messages in FILE
//! byte for byte (e.g. what BIRD or GoBGP sent, recorded by
//! `bench/ingest_feeders/capture.py`): a real router's packing at the feeder's speed.
//! FILE must hold whole messages encoded for a 4-octet-AS session from `--as`.
//!
//! Prints one JSON object per line on stdout: `encoded`, `established`, `sent`, `done`,
//! with `t` in milliseconds since the Unix epoch, so a script can time the receiver.
//!
//! ```text
//! cargo run --release -p bgp --example feeder -- --connect 127.0.0.1:179 --bind 127.0.0.2 \
//!     --as 65001 --router-id 10.255.0.1 --next-hop 127.0.0.2 --stay 60
//! ```

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bgp::wire::{
    decode_message, encode_message, AddressFamily, Capability, DecodeContext, DecodeError,
    EncodeContext, Message, Notification, Open, Update,
};
use bytes::BytesMut;

#[path = "../benches/rib/table.rs"]
mod table;

struct Args {
    connect: Option<SocketAddr>,
    bind: Option<Ipv4Addr>,
    listen: Option<SocketAddr>,
    shape: table::Shape,
    router_id: Ipv4Addr,
    hold: u16,
    stay: u64,
    timeout: u64,
    replay: Option<std::path::PathBuf>,
}

const USAGE: &str = "usage: feeder (--connect ADDR:PORT [--bind IP] | --listen ADDR:PORT) \
[--as N] [--router-id IP] [--next-hop IP] [--prefixes N] [--per-update N] [--attrs N] \
[--seed N] [--hold SECS] [--stay SECS (<= 3600)] [--timeout SECS (<= 600)] [--replay FILE]";

fn parse() -> Result<Args, String> {
    let mut a = Args {
        connect: None,
        bind: None,
        listen: None,
        shape: table::Shape::default(),
        router_id: Ipv4Addr::new(10, 255, 0, 1),
        hold: 240,
        stay: 10,
        timeout: 60,
        replay: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let bad = |e: &dyn std::fmt::Display| format!("bad value for {flag}: {e}");
        match flag.as_str() {
            "--connect" => a.connect = Some(val()?.parse().map_err(|e| bad(&e))?),
            "--bind" => a.bind = Some(val()?.parse().map_err(|e| bad(&e))?),
            "--listen" => a.listen = Some(val()?.parse().map_err(|e| bad(&e))?),
            "--as" => a.shape.feeder_as = val()?.parse().map_err(|e| bad(&e))?,
            "--router-id" => a.router_id = val()?.parse().map_err(|e| bad(&e))?,
            "--next-hop" => a.shape.next_hop = val()?.parse().map_err(|e| bad(&e))?,
            "--prefixes" => a.shape.prefixes = val()?.parse().map_err(|e| bad(&e))?,
            "--per-update" => a.shape.per_update = val()?.parse().map_err(|e| bad(&e))?,
            "--attrs" => a.shape.attribute_sets = val()?.parse().map_err(|e| bad(&e))?,
            "--seed" => a.shape.seed = val()?.parse().map_err(|e| bad(&e))?,
            "--hold" => a.hold = val()?.parse().map_err(|e| bad(&e))?,
            "--stay" => a.stay = val()?.parse::<u64>().map_err(|e| bad(&e))?.min(3600),
            "--timeout" => a.timeout = val()?.parse::<u64>().map_err(|e| bad(&e))?.min(600),
            "--replay" => a.replay = Some(val()?.into()),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if a.connect.is_none() == a.listen.is_none() {
        return Err(format!("exactly one of --connect and --listen\n{USAGE}"));
    }
    if a.shape.per_update == 0 || a.shape.attribute_sets == 0 {
        return Err("--per-update and --attrs must be positive".into());
    }
    Ok(a)
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn event(name: &str, extra: &str) {
    println!("{{\"event\":\"{name}\",\"t\":{}{extra}}}", now_ms());
}

fn encode(msg: &Message, ctx: &EncodeContext, out: &mut BytesMut) -> Result<(), String> {
    encode_message(msg, ctx, out).map_err(|e| format!("encode: {e}"))
}

/// Reads one message, blocking; `buf` keeps what was read beyond it.
fn read_message(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    ctx: &DecodeContext,
) -> Result<Message, String> {
    loop {
        match decode_message(buf, ctx) {
            Ok((m, n)) => {
                buf.drain(..n);
                return Ok(m);
            }
            Err(DecodeError::Incomplete { .. }) => {}
            Err(e) => return Err(format!("peer sent a malformed message: {e}")),
        }
        let mut chunk = [0u8; 65536];
        let n = s.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("peer closed the connection".into());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

fn connect(a: &Args) -> Result<TcpStream, String> {
    if let Some(addr) = a.listen {
        let l = TcpListener::bind(addr).map_err(|e| format!("listen {addr}: {e}"))?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(a.timeout);
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).map_err(|e| e.to_string())?;
                    return Ok(s);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err("no peer connected before --timeout".into());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(format!("accept: {e}")),
            }
        }
    }
    let Some(addr) = a.connect else {
        return Err(USAGE.into());
    };
    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    loop {
        let attempt = match a.bind {
            Some(src) => bind_connect(src, addr),
            None => {
                TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())
            }
        };
        match attempt {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() > deadline => return Err(format!("connect {addr}: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Connects from a chosen source address (std has no bind-before-connect).
fn bind_connect(src: Ipv4Addr, dst: SocketAddr) -> Result<TcpStream, String> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(dst) = dst else {
        return Err("--bind supports IPv4 only".into());
    };
    let sin = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket/bind/connect syscalls on a descriptor we own; the
    // sockaddr_in values live across the calls; the descriptor is closed on error
    // and otherwise handed to TcpStream, which owns it from then on.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        let s = sin(src, 0);
        let d = sin(*dst.ip(), dst.port());
        if libc::bind(fd, std::ptr::addr_of!(s).cast(), len) != 0
            || libc::connect(fd, std::ptr::addr_of!(d).cast(), len) != 0
        {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(e.to_string());
        }
        Ok(TcpStream::from_raw_fd(fd))
    }
}

fn run(a: Args) -> Result<(), String> {
    let ctx = EncodeContext {
        four_octet_as: true,
        ..EncodeContext::default()
    };
    let wire = match &a.replay {
        Some(path) => replayed(path)?,
        None => {
            let updates = table::updates(&a.shape);
            let mut wire = BytesMut::with_capacity(a.shape.prefixes * 7);
            for u in &updates {
                encode(&Message::Update(u.clone()), &ctx, &mut wire)?;
            }
            encode(
                &Message::Update(Update::end_of_rib_marker(AddressFamily::IPV4_UNICAST)),
                &ctx,
                &mut wire,
            )?;
            event(
                "encoded",
                &format!(
                    ",\"prefixes\":{},\"updates\":{},\"bytes\":{}",
                    a.shape.prefixes,
                    updates.len(),
                    wire.len()
                ),
            );
            wire
        }
    };

    let mut s = connect(&a)?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let open = Open::new(
        a.shape.feeder_as,
        a.hold,
        a.router_id,
        vec![
            Capability::Multiprotocol(AddressFamily::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(a.shape.feeder_as),
        ],
    );
    let mut out = BytesMut::new();
    encode(&Message::Open(open), &EncodeContext::default(), &mut out)?;
    encode(&Message::Keepalive, &ctx, &mut out)?;
    s.write_all(&out).map_err(|e| format!("write OPEN: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(a.timeout)))
        .map_err(|e| e.to_string())?;
    let dctx = DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    };
    let mut buf = Vec::new();
    match read_message(&mut s, &mut buf, &DecodeContext::default())? {
        Message::Open(o) => {
            if o.four_octet_as().is_none() {
                return Err(
                    "peer lacks 4-octet AS support; this feeder encodes 4-octet AS_PATHs".into(),
                );
            }
        }
        Message::Notification(n) => return Err(format!("peer refused: {n}")),
        other => return Err(format!("expected OPEN, got {:?}", other.kind())),
    }
    loop {
        match read_message(&mut s, &mut buf, &dctx)? {
            Message::Keepalive => break,
            Message::Notification(n) => return Err(format!("peer refused: {n}")),
            _ => {}
        }
    }
    let established = Instant::now();
    event("established", "");

    // Drain whatever the peer sends from now on, so it never blocks on us.
    let stop = Arc::new(AtomicBool::new(false));
    let mut reader = s.try_clone().map_err(|e| e.to_string())?;
    reader
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let stop_r = Arc::clone(&stop);
    let drain = std::thread::spawn(move || {
        let mut chunk = vec![0u8; 65536];
        let mut tail: Vec<u8> = buf;
        while !stop_r.load(Ordering::Relaxed) {
            match reader.read(&mut chunk) {
                Ok(0) => return Some("peer closed the connection".to_string()),
                Ok(n) => {
                    tail.extend_from_slice(chunk.get(..n).unwrap_or_default());
                    while let Ok((m, used)) = decode_message(&tail, &dctx) {
                        tail.drain(..used);
                        if let Message::Notification(n) = m {
                            return Some(format!("peer sent NOTIFICATION: {n}"));
                        }
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Some(format!("read: {e}")),
            }
        }
        None
    });

    for chunk in wire.chunks(1 << 20) {
        s.write_all(chunk)
            .map_err(|e| format!("write UPDATEs: {e}"))?;
    }
    let sent = established.elapsed();
    event(
        "sent",
        &format!(
            ",\"bytes\":{},\"ms_since_established\":{}",
            wire.len(),
            sent.as_millis()
        ),
    );

    let keepalive = Duration::from_secs(u64::from(a.hold / 3).max(1));
    let until = Instant::now() + Duration::from_secs(a.stay);
    let mut next_ka = Instant::now() + keepalive;
    let mut ka = BytesMut::new();
    encode(&Message::Keepalive, &ctx, &mut ka)?;
    let mut failure = None;
    while Instant::now() < until {
        if drain.is_finished() {
            failure = Some("peer ended the session".to_string());
            break;
        }
        if Instant::now() >= next_ka {
            s.write_all(&ka)
                .map_err(|e| format!("write KEEPALIVE: {e}"))?;
            next_ka += keepalive;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let mut bye = BytesMut::new();
    encode(
        &Message::Notification(Notification::shutdown("feeder done", false)),
        &ctx,
        &mut bye,
    )?;
    let _ = s.write_all(&bye);
    let _ = s.shutdown(Shutdown::Both);
    let reason = drain.join().ok().flatten();
    event("done", "");
    match failure {
        Some(f) => Err(format!("{f}: {}", reason.unwrap_or_default())),
        None => Ok(()),
    }
}

/// The recorded messages of `path`, checked to be whole messages (every one is decoded
/// once, so a bad file fails here and not in the receiver), plus End-of-RIB when the
/// recording lacks it.
fn replayed(path: &std::path::Path) -> Result<BytesMut, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dctx = DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    };
    let (mut at, mut updates, mut prefixes, mut eor) = (0usize, 0usize, 0usize, false);
    while at < bytes.len() {
        let rest = bytes.get(at..).unwrap_or_default();
        match decode_message(rest, &dctx) {
            Ok((Message::Update(u), n)) => {
                eor = u.nlri.is_empty() && u.withdrawn.is_empty() && n == 23;
                prefixes += u.nlri.len();
                updates += 1;
                at += n;
            }
            Ok((m, _)) => {
                return Err(format!(
                    "{}: a {:?} at octet {at}",
                    path.display(),
                    m.kind()
                ))
            }
            Err(e) => return Err(format!("{}: octet {at}: {e}", path.display())),
        }
    }
    let mut wire = BytesMut::from(&bytes[..]);
    if !eor {
        let ctx = EncodeContext {
            four_octet_as: true,
            ..EncodeContext::default()
        };
        encode(
            &Message::Update(Update::end_of_rib_marker(AddressFamily::IPV4_UNICAST)),
            &ctx,
            &mut wire,
        )?;
    }
    event(
        "encoded",
        &format!(
            ",\"prefixes\":{prefixes},\"updates\":{updates},\"bytes\":{},\"replay\":true",
            wire.len()
        ),
    );
    Ok(wire)
}

fn main() -> ExitCode {
    match parse() {
        Ok(a) => match run(a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("feeder: {e}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
