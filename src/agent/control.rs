//! The control socket: how `tern status` and `tern routes` read a running agent.
//!
//! # Protocol
//!
//! A unix stream socket (mode 0600, default `/run/tern/tern.sock`, `control.socket` in the
//! node config). The client writes one request as a single line of JSON, the agent
//! answers with one line of JSON, and the client may send further requests on the same
//! connection (or close it). Requests:
//!
//! ```text
//! {"request":"status"}
//! {"request":"routes","all":false}
//! ```
//!
//! Replies are externally tagged: `{"status":{…}}` ([`StatusView`]), `{"routes":{…}}`
//! ([`RoutesView`]) or `{"error":"message"}` for a request the agent cannot parse. The
//! views' fields are the `--json` output of the commands, so scripts see exactly what
//! the agent sent. New fields may be added; none are removed or change meaning.
//!
//! The server side is generic over a [`Source`] so that it can be tested without a
//! speaker; the agent's source (in `agent::view`) asks the speaker and the controller.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt as _, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Longest request line the server reads; anything longer closes the connection. A CNI
/// GC request lists every live attachment of the node, hence more than a few KiB.
const MAX_REQUEST: usize = 1 << 20;

/// A request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Peers and a summary of the node.
    Status,
    /// The routing table; `all` adds losing and rejected paths.
    Routes {
        /// Include losing and rejected paths.
        #[serde(default)]
        all: bool,
    },
    /// A CNI plugin call (`agent::workloads`).
    Cni(crate::cni::spec::CniCall),
    /// `tern endpoints`: the container workloads.
    Endpoints,
    /// `tern endpoint label`.
    EndpointLabel(super::workloads_net::LabelRequest),
}

/// A reply line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Answer to [`Request::Status`].
    Status(StatusView),
    /// Answer to [`Request::Routes`].
    Routes(RoutesView),
    /// Answer to [`Request::Cni`].
    Cni(crate::cni::spec::CniReply),
    /// Answer to [`Request::Endpoints`] and [`Request::EndpointLabel`].
    Endpoints(super::workloads_net::EndpointsView),
    /// The request could not be served.
    Error(String),
}

/// `tern status`: the node and its BGP peers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatusView {
    /// `nodeName`.
    pub node_name: String,
    /// Our AS number.
    pub asn: u32,
    /// Our BGP identifier.
    pub router_id: String,
    /// Seconds the agent has been running.
    pub uptime_secs: u64,
    /// One row per configured peer, in config order.
    pub peers: Vec<PeerRow>,
    /// Kernel FIB summary.
    pub fib: FibSummary,
    /// Network policy summary.
    pub policy: PolicySummary,
    /// Workload endpoints known to the agent.
    pub endpoints: usize,
}

/// One BGP peer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerRow {
    /// Peer address.
    pub address: String,
    /// The peer's AS.
    pub asn: u32,
    /// `mesh` or `global`.
    pub kind: String,
    /// Session state (RFC 4271 names: Idle, Connect, Active, OpenSent, OpenConfirm, Established).
    pub state: String,
    /// When the session entered its current state (seconds since the Unix epoch).
    pub since_unix: Option<u64>,
    /// Prefixes the peer sent us (in its Adj-RIB-In).
    pub received: u64,
    /// Of those, accepted by the import policy.
    pub accepted: u64,
    /// Prefixes we advertise to the peer.
    pub advertised: u64,
    /// The last error (NOTIFICATION sent or received, connection failure).
    pub last_error: Option<String>,
    /// `description` from the config.
    pub description: Option<String>,
}

/// FIB summary for `tern status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FibSummary {
    /// Routes tern wants in the kernel.
    pub desired: u64,
    /// Of those, confirmed installed.
    pub installed: u64,
    /// Of those, refused by the kernel or invalid.
    pub failed: u64,
}

/// Policy summary for `tern status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PolicySummary {
    /// Backend in use (`nftables` or `iptables`), or `none` without policy paths.
    pub backend: String,
    /// Rules in the ruleset in force.
    pub rules: u64,
    /// Whether the last load/apply succeeded.
    pub ok: bool,
    /// The last error (located, `FILE:LINE:COL: message`), if any.
    pub last_error: Option<String>,
}

/// `tern routes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RoutesView {
    /// One row per prefix, sorted by prefix.
    pub routes: Vec<RouteRow>,
}

/// Where a route comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteSource {
    /// Learned over BGP.
    Bgp,
    /// One of this node's blocks (originated, blackholed in the kernel).
    Block,
    /// A local workload endpoint's address (device route to its veth).
    Endpoint,
}

/// One prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteRow {
    /// The prefix.
    pub prefix: String,
    /// Where it comes from.
    pub source: RouteSource,
    /// The best next hops (several = ECMP); empty for blocks and endpoints.
    pub next_hops: Vec<String>,
    /// AS_PATH of the best path (`""` for a path from our own AS).
    pub as_path: Option<String>,
    /// The peer that the best path came from (BGP), or the endpoint name.
    pub learned_from: Option<String>,
    /// `yes`, `no` or `failed`; `-` when there is nothing to install.
    pub fib: String,
    /// Why the route is not in the FIB (`failed` or `no`).
    pub fib_reason: Option<String>,
    /// All paths with why they lost or were rejected (only with `all`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathRow>,
}

/// One path of a prefix (`--all`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathRow {
    /// The peer it came from (`local` for our own origination).
    pub from: String,
    /// NEXT_HOP.
    pub next_hop: String,
    /// AS_PATH.
    pub as_path: String,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// ORIGIN (`IGP`, `EGP`, `incomplete`).
    pub origin: String,
    /// Part of the best (ECMP) set.
    pub best: bool,
    /// Why it lost the decision process.
    pub reason_lost: Option<String>,
    /// Why the import policy rejected it.
    pub rejected: Option<String>,
}

/// What the control server reads the agent's state from.
pub trait Source: Clone + Send + Sync + 'static {
    /// The answer to `status`.
    fn status(&self) -> impl std::future::Future<Output = StatusView> + Send;
    /// The answer to `routes`.
    fn routes(&self, all: bool) -> impl std::future::Future<Output = RoutesView> + Send;
    /// The answer to a workload request (CNI, endpoints); none without a workload task.
    fn workload(&self, req: Request) -> impl std::future::Future<Output = Reply> + Send {
        let _ = req;
        async { Reply::Error("this agent serves no workload requests".into()) }
    }
}

/// Errors of the control socket.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Creating the socket's folder, binding or setting its mode failed.
    #[error("control socket {}: {source}", path.display())]
    Bind {
        /// Socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Another agent answers on this socket.
    #[error("control socket {}: another agent is running there", .0.display())]
    InUse(PathBuf),
}

/// A bound control socket; the file is removed on drop.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Creates the parent folder (mode 0755 when new), removes a stale socket file that no
    /// process answers on, binds and sets mode 0600.
    pub async fn bind(path: &Path) -> Result<ControlSocket, ControlError> {
        let err = |source| ControlError::Bind {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        if path.exists() {
            if UnixStream::connect(path).await.is_ok() {
                return Err(ControlError::InUse(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(err)?;
        }
        let listener = UnixListener::bind(path).map_err(err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        Ok(ControlSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// Serves connections until the future is dropped.
    pub async fn serve<S: Source>(&self, source: S) {
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    let source = source.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_conn(stream, source).await {
                            tracing::debug!("control connection: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("control socket accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve_conn<S: Source>(stream: UnixStream, source: S) -> io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = String::new();
    loop {
        line.clear();
        let n = (&mut rd)
            .take(MAX_REQUEST as u64 + 1)
            .read_line(&mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if n > MAX_REQUEST {
            let reply = Reply::Error(format!("request longer than {MAX_REQUEST} bytes"));
            write_line(&mut wr, &reply).await?;
            return Ok(());
        }
        match serde_json::from_str::<Request>(line.trim()) {
            Ok(Request::Status) => {
                write_line(&mut wr, &Reply::Status(source.status().await)).await?
            }
            Ok(Request::Routes { all }) => write_routes(&mut wr, &source.routes(all).await).await?,
            Ok(req) => write_line(&mut wr, &source.workload(req).await).await?,
            Err(e) => write_line(&mut wr, &Reply::Error(format!("bad request: {e}"))).await?,
        }
    }
}

/// Rows serialized per write: a full table's reply is streamed, never held as one buffer.
const ROWS_PER_WRITE: usize = 1024;

/// Writes `Reply::Routes(view)` exactly as serde would (`{"routes":{"routes":[…]}}`), in
/// chunks.
async fn write_routes<W: AsyncWriteExt + Unpin>(w: &mut W, view: &RoutesView) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    buf.extend_from_slice(b"{\"routes\":{\"routes\":[");
    for (i, chunk) in view.routes.chunks(ROWS_PER_WRITE).enumerate() {
        for (j, row) in chunk.iter().enumerate() {
            if i > 0 || j > 0 {
                buf.push(b',');
            }
            serde_json::to_writer(&mut buf, row).map_err(io::Error::other)?;
        }
        w.write_all(&buf).await?;
        buf.clear();
    }
    buf.extend_from_slice(b"]}}\n");
    w.write_all(&buf).await?;
    w.flush().await
}

async fn write_line<W: AsyncWriteExt + Unpin, T: Serialize>(w: &mut W, v: &T) -> io::Result<()> {
    let mut buf = serde_json::to_vec(v).map_err(io::Error::other)?;
    buf.push(b'\n');
    w.write_all(&buf).await?;
    w.flush().await
}

/// Client side: sends one request and reads one reply (blocking; for the CLI).
pub fn request(path: &Path, req: &Request) -> io::Result<Reply> {
    use std::io::{BufRead, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut line = serde_json::to_vec(req).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reader = std::io::BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer)?;
    if answer.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the agent closed the connection without answering",
        ));
    }
    serde_json::from_str(answer.trim()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unreadable answer from the agent: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Fixed;

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
        async fn routes(&self, all: bool) -> RoutesView {
            RoutesView {
                routes: vec![RouteRow {
                    prefix: if all { "all" } else { "best" }.into(),
                    source: RouteSource::Bgp,
                    next_hops: vec![],
                    as_path: None,
                    learned_from: None,
                    fib: "-".into(),
                    fib_reason: None,
                    paths: vec![],
                }],
            }
        }
    }

    #[test]
    fn request_lines_are_the_documented_ones() {
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#"{"request":"status"}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::Routes { all: true }).unwrap(),
            r#"{"request":"routes","all":true}"#
        );
        let r: Request = serde_json::from_str(r#"{"request":"routes"}"#).unwrap();
        assert_eq!(r, Request::Routes { all: false });
    }

    #[tokio::test]
    async fn streamed_routes_reply_is_the_serde_encoding() {
        let row = |p: &str| RouteRow {
            prefix: p.into(),
            source: RouteSource::Endpoint,
            next_hops: vec!["dev tw-a".into()],
            as_path: None,
            learned_from: Some("ns/a".into()),
            fib: "yes".into(),
            fib_reason: None,
            paths: vec![],
        };
        for n in [0, 1, ROWS_PER_WRITE, ROWS_PER_WRITE + 3] {
            let view = RoutesView {
                routes: (0..n)
                    .map(|i| row(&format!("10.0.{}.{}/32", i / 256, i % 256)))
                    .collect(),
            };
            let mut streamed = Vec::new();
            write_routes(&mut streamed, &view).await.unwrap();
            let mut whole = serde_json::to_vec(&Reply::Routes(view)).unwrap();
            whole.push(b'\n');
            assert_eq!(
                String::from_utf8(streamed).unwrap(),
                String::from_utf8(whole).unwrap()
            );
        }
    }

    #[tokio::test]
    async fn round_trip_over_a_socket_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("tern-control-test-{}", std::process::id()));
        let path = dir.join("sub/tern.sock");
        let sock = ControlSocket::bind(&path).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A second agent on the same path is refused while the first one answers.
        let server = tokio::spawn(async move {
            sock.serve(Fixed).await;
        });
        let p2 = path.clone();
        let (status, routes, bad) = tokio::task::spawn_blocking(move || {
            let s = request(&p2, &Request::Status).unwrap();
            let r = request(&p2, &Request::Routes { all: true }).unwrap();
            let bad = {
                use std::io::{BufRead, Write};
                let mut st = std::os::unix::net::UnixStream::connect(&p2).unwrap();
                st.write_all(b"{\"request\":\"reboot\"}\n").unwrap();
                let mut l = String::new();
                std::io::BufReader::new(st).read_line(&mut l).unwrap();
                l
            };
            (s, r, bad)
        })
        .await
        .unwrap();
        assert!(matches!(
            ControlSocket::bind(&path).await,
            Err(ControlError::InUse(_))
        ));
        match status {
            Reply::Status(s) => {
                assert_eq!(s.node_name, "host-a");
                assert_eq!(s.peers[0].state, "Established");
            }
            other => panic!("unexpected {other:?}"),
        }
        match routes {
            Reply::Routes(r) => assert_eq!(r.routes[0].prefix, "all"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(bad.starts_with("{\"error\":\"bad request"), "{bad}");
        server.abort();
        let _ = server.await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
