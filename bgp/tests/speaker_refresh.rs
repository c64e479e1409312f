//! ROUTE-REFRESH against the running speaker: a peer (raw bytes, built by hand from
//! RFC 4271 §4 and RFC 2918) sends 2,000 ROUTE-REFRESH messages in one burst against a
//! large table. The table is re-advertised once (twice at most, when the burst is split
//! across reads and the first run has already started), another peer with a 3 s hold
//! time stays Established throughout, and the speaker's CPU time for the burst is
//! printed (`--nocapture`; table size from `TERN_REFRESH_TABLE`, default 100,000).

mod speaker_common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bgp::speaker::Speaker;
use bgp::wire::{decode_message, AddressFamily, DecodeContext, DecodeError, Message};
use ipnet::{IpNet, Ipv4Net};
use speaker_common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const BURST: usize = 2000;

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xffu8; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// OPEN of AS 65001, hold 90 s, identifier 10.0.0.2: IPv4 unicast, route refresh,
/// 4-octet AS.
fn open() -> Vec<u8> {
    let caps = [1, 4, 0, 1, 0, 1, 2, 0, 65, 4, 0, 0, 0xfd, 0xe9];
    let mut body = vec![4, 0xfd, 0xe9, 0, 90, 10, 0, 0, 2, caps.len() as u8 + 2, 2];
    body.push(caps.len() as u8);
    body.extend_from_slice(&caps);
    message(1, &body)
}

struct RawPeer {
    stream: TcpStream,
    buf: Vec<u8>,
    ctx: DecodeContext,
}

impl RawPeer {
    async fn connect() -> RawPeer {
        let stream = wait_for(Duration::from_secs(30), "raw peer connects", || async {
            let s = TcpSocket::new_v4().ok()?;
            s.bind(SocketAddr::from(([10, 0, 0, 2], 0))).ok()?;
            s.connect(SocketAddr::from(([10, 0, 0, 1], 179))).await.ok()
        })
        .await;
        let ctx = DecodeContext {
            four_octet_as: true,
            ..DecodeContext::default()
        };
        RawPeer {
            stream,
            buf: Vec::new(),
            ctx,
        }
    }

    /// The next message; `None` on a 1 s silence. Panics when the speaker closes.
    async fn next(&mut self) -> Option<Message> {
        loop {
            match decode_message(&self.buf, &self.ctx) {
                Ok((m, used)) => {
                    self.buf.drain(..used);
                    return Some(m);
                }
                Err(DecodeError::Incomplete { .. }) => {}
                Err(e) => panic!("speaker sent a malformed message: {e}"),
            }
            let mut chunk = vec![0u8; 256 * 1024];
            let read = tokio::time::timeout(Duration::from_secs(1), self.stream.read(&mut chunk));
            match read.await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => panic!("the speaker closed the session"),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }
}

fn table(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0b00_0000 + i), 32).expect("prefix")))
        .collect()
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage(2) fills the struct we pass; nothing else is touched.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    assert_eq!(rc, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

#[test]
fn a_refresh_burst_is_one_re_advertisement_and_other_sessions_stay_up() {
    let n: u32 = std::env::var("TERN_REFRESH_TABLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (_lab, ns) = lab_with_loopback("spk-rr", &["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"]);
    in_netns(&ns, || async move {
        let mut cfg = speaker(
            64512,
            "10.0.0.1",
            passive(peer("10.0.0.2", 65001, "10.0.0.1")),
            &[],
        );
        let mut to_c = passive(peer("10.0.0.3", 65003, "10.0.0.1"));
        to_c.hold_time = Duration::from_secs(3);
        cfg.peers.push(to_c);
        cfg.originate = table(n);
        let (s, _changes) = Speaker::start(cfg).await.expect("speaker");
        let mut c_peer = peer("10.0.0.1", 64512, "10.0.0.3");
        c_peer.hold_time = Duration::from_secs(3);
        let (c, _c_changes) = Speaker::start(speaker(65003, "10.0.0.3", c_peer, &[]))
            .await
            .expect("peer c");

        let mut b = RawPeer::connect().await;
        b.send(&open()).await;
        let mut initial = 0usize;
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < Duration::from_secs(300), "no End-of-RIB");
            match b.next().await {
                Some(Message::Open(_)) => b.send(&message(4, &[])).await,
                Some(Message::Update(u)) if u.end_of_rib() == Some(AddressFamily::IPV4_UNICAST) => {
                    break
                }
                Some(Message::Update(u)) => initial += u.announced().count(),
                Some(Message::Notification(m)) => panic!("NOTIFICATION {m}"),
                _ => b.send(&message(4, &[])).await,
            }
        }
        assert_eq!(initial, n as usize);
        let c_up = established(&c, "peer c established").await;
        assert_eq!(c_up.established_transitions, 1);

        // The burst: 2,000 ROUTE-REFRESH (AFI 1, reserved, SAFI 1) in one write.
        let refresh = message(5, &[0, 1, 0, 1]);
        let cpu0 = cpu_time();
        let t0 = Instant::now();
        b.send(&refresh.repeat(BURST)).await;
        let (mut again, mut done_at, mut quiet) = (0usize, None, Instant::now());
        while done_at.is_none() || quiet.elapsed() < Duration::from_secs(3) {
            assert!(
                t0.elapsed() < Duration::from_secs(300),
                "re-advertised {again}"
            );
            match b.next().await {
                Some(Message::Update(u)) => {
                    again += u.announced().count();
                    quiet = Instant::now();
                    if again >= n as usize && done_at.is_none() {
                        done_at = Some((cpu_time() - cpu0, t0.elapsed()));
                    }
                }
                Some(Message::Notification(m)) => panic!("NOTIFICATION {m}"),
                _ => b.send(&message(4, &[])).await,
            }
        }
        let (cpu, wall) = done_at.expect("re-advertised");
        eprintln!(
            "{BURST} ROUTE-REFRESH vs {n} prefixes: {again} re-announced, process CPU {:.3} s, \
             wall {:.3} s to the full table",
            cpu.as_secs_f64(),
            wall.as_secs_f64()
        );
        assert!(
            again == n as usize || again == 2 * n as usize,
            "one re-advertisement (two when the burst was split after the first started): {again}"
        );
        // The other session never went down, on either side.
        let c_now = the_peer(&c).await;
        assert_eq!(
            (c_now.state, c_now.established_transitions),
            ("Established", 1)
        );
        let s_view = s.peers().await;
        let s_c = s_view.iter().find(|p| p.asn == 65003).expect("c at s");
        assert_eq!((s_c.state, s_c.established_transitions), ("Established", 1));
    });
}
