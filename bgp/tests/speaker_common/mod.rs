//! Shared helpers of the speaker tests: run a tokio runtime inside a lab namespace,
//! build speaker configs, poll for a state.

#![allow(dead_code)]

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use bgp::policy::ImportPolicy;
use bgp::speaker::{
    PeerConfig, PeerStatus, RouteChanges, Speaker, SpeakerConfig, SpeakerError, SpeakerHandle,
};
use bgp::wire::codec::{decode_message, encode_message};
use bgp::wire::{
    AddressFamily, Capability, DecodeContext, EncodeContext, Message, Notification, Open,
};
use bytes::BytesMut;
use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Runs `f` on a fresh thread that first joins the network namespace `ns`, inside a
/// multi-threaded tokio runtime created there (its threads inherit the namespace).
pub fn in_netns<F, Fut, R>(ns: &testlab::Netns, f: F) -> R
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = R>,
    R: Send,
{
    let path = format!("/var/run/netns/{}", ns.name());
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let file = std::fs::File::open(&path).expect("open netns");
                // SAFETY: setns(2) with a valid namespace fd, affecting only this thread
                // (and the threads it creates afterwards).
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(f())
            })
            .join()
            .expect("test thread panicked")
    })
}

/// Starts a speaker on the address a speaker of the same test has just shut down.
/// The old instance's accepted connections may still hold the port for up to
/// the readers' 2-s linger while they drain them (so the peer reads the
/// NOTIFICATION before a reset), and `listen()` refuses a port that any socket is
/// bound to (EADDRINUSE): retried for 5 s, every other error is returned at once.
pub async fn restart(cfg: SpeakerConfig) -> Result<(SpeakerHandle, RouteChanges), SpeakerError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match Speaker::start(cfg.clone()).await {
            Err(SpeakerError::Listen { source, .. })
                if source.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// A lab namespace with `addrs` on its loopback.
pub fn lab_with_loopback(name: &str, addrs: &[&str]) -> (testlab::Lab, testlab::Netns) {
    let mut lab = testlab::Lab::new(name);
    let ns = lab.netns("s");
    for a in addrs {
        // `nodad`: an IPv6 address must be usable at once, not tentative.
        if a.contains(':') {
            ns.ok(&["ip", "addr", "add", a, "dev", "lo", "nodad"]);
        } else {
            ns.ok(&["ip", "addr", "add", a, "dev", "lo"]);
        }
    }
    (lab, ns)
}

/// A speaker config listening on `addr`:179 with one peer.
pub fn speaker(asn: u32, addr: &str, peer: PeerConfig, originate: &[&str]) -> SpeakerConfig {
    let ip: IpAddr = addr.parse().expect("addr");
    let router_id = match ip {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => "192.0.2.99".parse().expect("id"),
    };
    SpeakerConfig {
        asn,
        router_id,
        listen: Some(SocketAddr::new(ip, 179)),
        cluster_id: None,
        peers: vec![peer],
        originate: originate
            .iter()
            .map(|p| p.parse::<IpNet>().expect("prefix"))
            .collect(),
        import: ImportPolicy::accept_all(),
        graceful_restart: SpeakerConfig::default_graceful_restart(),
    }
}

/// Speakers a (10.0.0.1, AS 65001, connecting) and b (10.0.0.2, AS 65002, passive) peered
/// with each other, originating these prefixes.
pub async fn pair(
    a_originates: &[&str],
    b_originates: &[&str],
) -> ((SpeakerHandle, RouteChanges), (SpeakerHandle, RouteChanges)) {
    let a = Speaker::start(speaker(
        65001,
        "10.0.0.1",
        peer("10.0.0.2", 65002, "10.0.0.1"),
        a_originates,
    ))
    .await
    .expect("a");
    let b = Speaker::start(speaker(
        65002,
        "10.0.0.2",
        passive(peer("10.0.0.1", 65001, "10.0.0.2")),
        b_originates,
    ))
    .await
    .expect("b");
    (a, b)
}

/// A peer at `addr` in `asn`, connecting from `source`, with short timers.
pub fn peer(addr: &str, asn: u32, source: &str) -> PeerConfig {
    let mut p = PeerConfig::new(addr.parse().expect("addr"), asn);
    p.source_address = Some(source.parse().expect("source"));
    p.connect_retry = Duration::from_secs(1);
    p.hold_time = Duration::from_secs(9);
    p
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `limit`.
pub async fn wait_for<T, Fut>(limit: Duration, what: &str, mut check: impl FnMut() -> Fut) -> T
where
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The status of the only peer.
pub async fn the_peer(h: &SpeakerHandle) -> PeerStatus {
    h.peers().await.into_iter().next().expect("one peer")
}

/// A passive peer (only accepts): with one passive end there is exactly one connection,
/// so no collision can make a session flap.
pub fn passive(mut p: PeerConfig) -> PeerConfig {
    p.passive = true;
    p
}

/// Waits until the only peer is Established.
pub async fn established(h: &SpeakerHandle, what: &str) -> PeerStatus {
    wait_for(Duration::from_secs(30), what, || async {
        let p = the_peer(h).await;
        (p.state == "Established").then_some(p)
    })
    .await
}

// ---- a scripted BGP feeder on raw TCP (bytes through bgp::wire) ----

/// A scripted feeder: connects from `from` (AS `feeder_as`) to the speaker at `to`:179 (OPEN with Extended Message when
/// `extended`), returns once the speaker's OPEN has arrived.
pub async fn feeder_session(
    feeder_as: u32,
    from: &str,
    to: &str,
    extended: bool,
) -> (OwnedReadHalf, OwnedWriteHalf, BytesMut) {
    feeder_session_with_hold(feeder_as, from, to, extended, 90).await
}

/// [`feeder_session`] with the hold time its OPEN offers.
pub async fn feeder_session_with_hold(
    feeder_as: u32,
    from: &str,
    to: &str,
    extended: bool,
    hold_time: u16,
) -> (OwnedReadHalf, OwnedWriteHalf, BytesMut) {
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.bind(format!("{from}:0").parse().expect("addr"))
        .expect("bind");
    let s = sock
        .connect(format!("{to}:179").parse().expect("addr"))
        .await
        .expect("connect");
    let (mut rd, mut wr) = s.into_split();
    let mut caps = vec![Capability::Multiprotocol(AddressFamily::IPV4_UNICAST)];
    if extended {
        caps.push(Capability::ExtendedMessage);
    }
    let id: Ipv4Addr = from.parse().expect("id");
    let open = Open::new(feeder_as, hold_time, id, caps);
    let mut hello = BytesMut::new();
    encode_message(&Message::Open(open), &EncodeContext::default(), &mut hello).expect("open");
    encode_message(&Message::Keepalive, &EncodeContext::default(), &mut hello).expect("ka");
    wr.write_all(&hello).await.expect("write open");
    let mut buf = BytesMut::new();
    loop {
        if let Ok((Message::Open(_), used)) = decode_message(&buf, &DecodeContext::default()) {
            let _ = buf.split_to(used);
            return (rd, wr, buf);
        }
        assert!(
            rd.read_buf(&mut buf).await.expect("read") > 0,
            "speaker closed"
        );
    }
}

/// Reads until the speaker closes; the NOTIFICATIONs it sent.
pub async fn drain(mut rd: OwnedReadHalf, mut buf: BytesMut) -> Vec<Notification> {
    let ctx = DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    };
    let mut seen = Vec::new();
    loop {
        while let Ok((msg, used)) = decode_message(&buf, &ctx) {
            let _ = buf.split_to(used);
            if let Message::Notification(n) = msg {
                seen.push(n);
            }
        }
        if !rd.read_buf(&mut buf).await.map(|k| k > 0).unwrap_or(false) {
            break;
        }
    }
    seen
}

// Helpers of the run-time reconfiguration tests (speaker_reconfig, speaker_reconfig_fds).

pub const LONG: Duration = Duration::from_secs(30);

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

pub async fn status_of(h: &SpeakerHandle, addr: &str) -> Option<bgp::speaker::PeerStatus> {
    h.peers().await.into_iter().find(|p| p.address == ip(addr))
}

pub async fn established_with(
    h: &SpeakerHandle,
    addr: &str,
    what: &str,
) -> bgp::speaker::PeerStatus {
    wait_for(LONG, what, || async {
        status_of(h, addr)
            .await
            .filter(|p| p.state == "Established")
    })
    .await
}

pub async fn has_route(h: &SpeakerHandle, prefix: &str) -> bool {
    let want: ipnet::IpNet = prefix.parse().expect("prefix");
    h.routes(false)
        .await
        .iter()
        .any(|r| r.prefix == want && r.best.is_some())
}

/// A peer of the speaker under test at 10.0.0.1: another speaker at `addr` that only
/// accepts (so no collision can make a session flap) and originates `originate`.
pub async fn neighbour(addr: &str, asn: u32, originate: &[&str]) -> SpeakerHandle {
    let (h, _) = Speaker::start(speaker(
        asn,
        addr,
        passive(peer("10.0.0.1", 65001, addr)),
        originate,
    ))
    .await
    .expect("neighbour");
    h
}

pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("fds").count()
}
