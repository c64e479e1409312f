//! Tests of the control socket: the request lines, the streamed `routes` answer, and the
//! bounds (connection limit, read and write time-outs) against a real unix socket.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A source with `n` routes, counting the pages it managed to hand over.
#[derive(Clone)]
struct Fixed {
    n: usize,
    pages: Arc<AtomicUsize>,
}

impl Fixed {
    fn new(n: usize) -> Fixed {
        Fixed {
            n,
            pages: Arc::new(AtomicUsize::new(0)),
        }
    }
}

fn row(i: usize) -> RouteRow {
    RouteRow {
        prefix: format!("10.{}.{}.0/24", i / 256 % 256, i % 256),
        source: RouteSource::Bgp,
        next_hops: vec!["192.0.2.2".into()],
        as_path: Some("65000".into()),
        learned_from: Some("192.0.2.2".into()),
        fib: "yes".into(),
        fib_reason: None,
        paths: vec![],
    }
}

impl Source for Fixed {
    async fn status(&self) -> StatusView {
        StatusView {
            node_name: "host-a".into(),
            asn: 64512,
            peers: vec![PeerRow {
                address: "192.0.2.2".into(),
                state: "Established".into(),
                ..PeerRow::default()
            }],
            ..StatusView::default()
        }
    }
    async fn routes(&self, q: RoutesQuery, out: RoutesSink) -> Option<IpNet> {
        let limit = q.limit.unwrap_or(usize::MAX).min(self.n);
        let mut i = 0;
        while i < limit {
            let end = (i + ROUTES_PAGE).min(limit);
            let mut page: Vec<RouteRow> = (i..end).map(row).collect();
            if q.all {
                page[0].prefix = format!("all-{}", page[0].prefix);
            }
            if out.send(RoutesItem::Rows(page)).await.is_err() {
                return None;
            }
            self.pages.fetch_add(1, Ordering::SeqCst);
            i = end;
        }
        let _ = out
            .send(RoutesItem::Rejected(RejectedSummary {
                reason: "prefix outside the pools".into(),
                count: 7,
                peer: None,
            }))
            .await;
        (limit < self.n).then(|| "10.255.0.0/24".parse().unwrap())
    }
}

#[test]
fn request_lines_are_the_documented_ones() {
    assert_eq!(
        serde_json::to_string(&Request::Status).unwrap(),
        r#"{"request":"status"}"#
    );
    let q = RoutesQuery {
        all: true,
        ..RoutesQuery::default()
    };
    assert_eq!(
        serde_json::to_string(&Request::Routes(q)).unwrap(),
        r#"{"request":"routes","all":true}"#
    );
    assert_eq!(
        parse_request(r#"{"request":"routes"}"#).unwrap(),
        Request::Routes(RoutesQuery::default())
    );
    let full = parse_request(
        r#"{"request":"routes","all":true,"prefix":"10.244.0.0/16","match":"covered","peer":"192.0.2.2","limit":1000,"after":"10.244.3.0/24"}"#,
    )
    .unwrap();
    assert_eq!(
        full,
        Request::Routes(RoutesQuery {
            all: true,
            prefix: Some("10.244.0.0/16".parse().unwrap()),
            match_: PrefixMatch::Covered,
            peer: Some("192.0.2.2".parse().unwrap()),
            limit: Some(1000),
            after: Some("10.244.3.0/24".parse().unwrap()),
        })
    );
    for bad in [
        "",
        "{",
        r#"{"request":"reboot"}"#,
        r#"{"request":"routes","prefix":"10.0.0.0/33"}"#,
        r#"{"request":"routes","match":"fuzzy"}"#,
        r#"{"request":"routes","limit":-1}"#,
        r#"{"request":"routes","colour":"red"}"#,
    ] {
        let e = parse_request(bad).unwrap_err();
        assert!(e.starts_with("bad request"), "{bad}: {e}");
    }
}

/// The socket path of a test and the guard of its scratch folder, removed when the guard
/// is dropped (also when an assertion fails); the socket's parent is created by the server.
fn sock_path(tag: &str) -> (PathBuf, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("tern-control-{tag}-"))
        .tempdir()
        .expect("scratch dir");
    (dir.path().join("sub/tern.sock"), dir)
}

/// Reads lines from `s` until an `end` or `error` line; returns them.
async fn read_answer(rd: &mut BufReader<tokio::net::unix::OwnedReadHalf>) -> Vec<Reply> {
    let mut out = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if rd.read_line(&mut line).await.unwrap() == 0 {
            return out;
        }
        let r: Reply = serde_json::from_str(line.trim()).unwrap();
        let last = matches!(r, Reply::End(_) | Reply::Error(_) | Reply::Status(_));
        out.push(r);
        if last {
            return out;
        }
    }
}

#[tokio::test]
async fn routes_are_streamed_as_lines_with_an_end_line() {
    let (path, dir) = sock_path("stream");
    let sock = ControlSocket::bind(&path).await.unwrap();
    let src = Fixed::new(ROUTES_PAGE * 2 + 5);
    let server = tokio::spawn(async move { sock.serve(src).await });
    let st = UnixStream::connect(&path).await.unwrap();
    let (rd, mut wr) = st.into_split();
    let mut rd = BufReader::new(rd);
    wr.write_all(b"{\"request\":\"routes\",\"all\":true}\n")
        .await
        .unwrap();
    let lines = read_answer(&mut rd).await;
    let rows: Vec<&RouteRow> = lines
        .iter()
        .filter_map(|l| match l {
            Reply::Route(r) => Some(&**r),
            _ => None,
        })
        .collect();
    assert_eq!(rows.len(), ROUTES_PAGE * 2 + 5);
    assert!(rows[0].prefix.starts_with("all-"));
    assert_eq!(rows[1].prefix, "10.0.1.0/24");
    assert!(matches!(&lines[lines.len() - 2], Reply::Rejected(r) if r.count == 7));
    assert!(
        matches!(lines.last(), Some(Reply::End(e)) if *e == RoutesEnd {
            routes: (ROUTES_PAGE * 2 + 5) as u64,
            next: None
        }),
        "{:?}",
        lines.last()
    );
    // Same connection, a limited page: the end line names where to go on.
    wr.write_all(b"{\"request\":\"routes\",\"limit\":3}\n")
        .await
        .unwrap();
    let lines = read_answer(&mut rd).await;
    assert_eq!(lines.len(), 3 + 2);
    assert!(
        matches!(lines.last(), Some(Reply::End(e)) if *e == RoutesEnd {
            routes: 3,
            next: Some("10.255.0.0/24".into())
        }),
        "{:?}",
        lines.last()
    );
    // And a status on it too; a bad request gets an error line, not a closed socket.
    wr.write_all(b"{\"request\":\"reboot\"}\n{\"request\":\"status\"}\n")
        .await
        .unwrap();
    let bad = read_answer(&mut rd).await;
    assert!(matches!(&bad[0], Reply::Error(e) if e.starts_with("bad request")));
    let status = read_answer(&mut rd).await;
    assert!(matches!(&status[0], Reply::Status(s) if s.node_name == "host-a"));
    server.abort();
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn round_trip_over_a_socket_with_mode_0600() {
    let (path, dir) = sock_path("mode");
    let sock = ControlSocket::bind(&path).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let server = tokio::spawn(async move { sock.serve(Fixed::new(2)).await });
    let p2 = path.clone();
    let (status, routes) = tokio::task::spawn_blocking(move || {
        let s = request(&p2, &Request::Status).unwrap();
        let mut lines = request_lines(&p2, &Request::Routes(RoutesQuery::default())).unwrap();
        let mut got = Vec::new();
        while let Some(l) = lines.next_reply().unwrap() {
            let end = matches!(l, Reply::End(_));
            got.push(l);
            if end {
                break;
            }
        }
        (s, got)
    })
    .await
    .unwrap();
    // A second agent on the same path is refused while the first one answers.
    assert!(matches!(
        ControlSocket::bind(&path).await,
        Err(ControlError::InUse(_))
    ));
    match status {
        Reply::Status(s) => assert_eq!(s.peers[0].state, "Established"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(routes.len(), 2 + 2, "{routes:?}");
    server.abort();
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// More idle clients than the bound: the extra ones are refused at once, the idle ones
/// are closed after the read time-out, and then a client is served again.
#[tokio::test(start_paused = true)]
async fn idle_connections_are_bounded_and_time_out() {
    let (path, dir) = sock_path("idle");
    let sock = ControlSocket::bind(&path).await.unwrap();
    let server = tokio::spawn(async move { sock.serve(Fixed::new(1)).await });
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        idle.push(UnixStream::connect(&path).await.unwrap());
    }
    // Let the server accept them all.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let extra = UnixStream::connect(&path).await.unwrap();
    let (rd, _wr) = extra.into_split();
    let refused = read_answer(&mut BufReader::new(rd)).await;
    assert!(
        matches!(&refused[..], [Reply::Error(e)] if e.contains("busy")),
        "{refused:?}"
    );
    // The idle ones are closed by the agent after READ_TIMEOUT (the clock is paused and
    // jumps ahead while everyone waits).
    tokio::time::sleep(READ_TIMEOUT + Duration::from_secs(1)).await;
    for s in &mut idle {
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(1), s.read(&mut b))
            .await
            .expect("closed by the agent")
            .unwrap();
        assert_eq!(n, 0);
    }
    let st = UnixStream::connect(&path).await.unwrap();
    let (rd, mut wr) = st.into_split();
    wr.write_all(b"{\"request\":\"status\"}\n").await.unwrap();
    let answer = read_answer(&mut BufReader::new(rd)).await;
    assert!(matches!(&answer[..], [Reply::Status(_)]), "{answer:?}");
    server.abort();
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client that asks for a huge table and stops reading: the agent gives up after the
/// write time-out, and the producer stops after the few pages the channel holds instead
/// of building the whole answer.
#[tokio::test(start_paused = true)]
async fn a_stalled_reader_stops_the_producer() {
    let (path, dir) = sock_path("stall");
    let sock = ControlSocket::bind(&path).await.unwrap();
    let src = Fixed::new(1_000_000);
    let pages = src.pages.clone();
    let server = tokio::spawn(async move { sock.serve(src).await });
    let mut st = UnixStream::connect(&path).await.unwrap();
    st.write_all(b"{\"request\":\"routes\",\"all\":true}\n")
        .await
        .unwrap();
    tokio::time::sleep(WRITE_TIMEOUT * 3).await;
    let produced = pages.load(Ordering::SeqCst);
    // What fits in the socket buffers plus the channel: far from the 977 pages asked.
    assert!(
        produced < 100,
        "{produced} pages produced for a stalled client"
    );
    // The agent closed the connection: reading now drains and then sees EOF.
    let mut sink = Vec::new();
    let drained = tokio::time::timeout(Duration::from_secs(5), st.read_to_end(&mut sink)).await;
    assert!(drained.is_ok(), "connection still open");
    server.abort();
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[path = "../../fuzz/fuzz_targets/control_request_check.rs"]
mod control_request_check;

/// The `control_request` fuzz target's corpus (seeds and what the fuzzer kept) replayed
/// through the same property: no input panics the parser, every parsed request round
/// trips.
#[test]
fn fuzz_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/control_request");
    let mut inputs = 0;
    let mut parsed = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus folder") {
        let data = std::fs::read(entry.expect("entry").path()).expect("corpus file");
        inputs += 1;
        if control_request_check::check(&data, MAX_REQUEST, parse_request) {
            parsed += 1;
        }
    }
    assert!(inputs >= 20, "{inputs} inputs in {}", dir.display());
    assert!(parsed >= 10, "only {parsed} of {inputs} parse");
}
