//! The control socket: how `tern status` and `tern routes` read a running agent.
//!
//! # Protocol
//!
//! A unix stream socket (mode 0600, default `/run/tern/tern.sock`, `control.socket` in the
//! node config). The client writes one request as a single line of JSON, the agent
//! answers with one line of JSON (or, for `routes`, a stream of lines ending with an
//! `end` line), and the client may send further requests on the same connection (or
//! close it). Requests:
//!
//! ```text
//! {"request":"status"}
//! {"request":"peer","peer":"192.0.2.2"}
//! {"request":"routes","all":false}
//! {"request":"routes","all":true,"prefix":"10.244.0.0/16","match":"covered","peer":"192.0.2.2","limit":1000,"after":"10.244.3.0/24"}
//! {"request":"reload"}
//! ```
//!
//! `reload` re-reads the node config as SIGHUP does and is answered with
//! `{"reload":{…}}` ([`super::reload::ReloadView`]) once the reload is done.
//!
//! Replies are externally tagged: `{"status":{…}}` ([`StatusView`]), `{"peer":{…}}`
//! ([`PeerDetail`]: one peer named by address or description) or `{"error":"message"}`
//! for a request the agent cannot parse or serve. A `routes` request is answered with one line per
//! route, `{"route":{…}}` ([`RouteRow`], sorted by prefix, IPv4 first), possibly lines
//! `{"rejected":{"reason":"…","count":N}}` ([`RejectedSummary`]: paths the RIB keeps only
//! as a count), and a last line `{"end":{"routes":N,"next":"PREFIX"}}` ([`RoutesEnd`];
//! `next` is present when `limit` cut the listing short: ask again with `after` set to it).
//! The agent never holds a whole table's reply: it reads the RIB a page at a time and
//! writes each page before reading the next. The views' fields are the `--json` output
//! of the commands, so scripts see exactly what the agent sent. New fields may be added;
//! none are removed or change meaning.
//!
//! # Bounds
//!
//! At most [`MAX_CONNECTIONS`] connections are served at once (more are answered with an
//! error line and closed); a connection that sends no complete request line within
//! [`READ_TIMEOUT`] is closed, and so is one that does not take a reply line within
//! [`WRITE_TIMEOUT`], so an idle or stalled client pins neither a file descriptor nor
//! memory for long.
//!
//! The server side is generic over a [`Source`] so that it can be tested without a
//! speaker; the agent's source (in `agent::view`) asks the speaker and the controller.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt as _, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use super::limits::ConnLimit;
pub use super::peer_detail::PeerDetail;

/// Longest request line the server reads; anything longer closes the connection. A CNI
/// GC request lists every live attachment of the node, hence more than a few KiB.
pub const MAX_REQUEST: usize = 1 << 20;

/// Connections served at once; more are refused (an error line, then closed).
pub const MAX_CONNECTIONS: usize = 64;

/// Time a client has to send a complete request line (also between requests).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a client has to take one write of a reply.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Route rows per page: the agent reads the RIB and writes the socket a page at a time.
pub const ROUTES_PAGE: usize = 1024;

/// A request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Peers and a summary of the node.
    Status,
    /// One peer in detail (`tern status PEER`).
    Peer {
        /// The peer's address or its `description`.
        peer: String,
    },
    /// The routing table (streamed, see the module's documentation).
    Routes(RoutesQuery),
    /// A CNI plugin call (`agent::workloads`).
    Cni(crate::cni::spec::CniCall),
    /// `tern endpoints`: the container workloads.
    Endpoints,
    /// `tern endpoint label`.
    EndpointLabel(super::workloads_net::LabelRequest),
    /// A Docker plugin call (`agent::docker`); never read from the control socket.
    #[serde(skip)]
    Docker(super::workloads::docker_ops::DockerOp),
    /// `tern reload`: re-read the node config (as SIGHUP does); answered when done.
    Reload,
}

/// What a `routes` request asks for. Every field is optional on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutesQuery {
    /// Include losing and rejected paths.
    #[serde(default)]
    pub all: bool,
    /// Only routes for this prefix (how: [`RoutesQuery::match_`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<IpNet>,
    /// How `prefix` selects routes.
    #[serde(
        default,
        rename = "match",
        skip_serializing_if = "PrefixMatch::is_default"
    )]
    pub match_: PrefixMatch,
    /// Only routes with a path from this peer (with `all`: any path; without: a best or
    /// ECMP path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpAddr>,
    /// At most this many routes; the `end` line then names the next prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Only routes sorting after this prefix (paging: the previous `end` line's `next`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<IpNet>,
}

/// How [`RoutesQuery::prefix`] selects routes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrefixMatch {
    /// The most specific route that covers the prefix (as a forwarding lookup).
    #[default]
    Longest,
    /// The route for exactly this prefix.
    Exact,
    /// Every route inside the prefix (the prefix itself and more specifics).
    Covered,
}

impl PrefixMatch {
    fn is_default(&self) -> bool {
        *self == PrefixMatch::Longest
    }
}

/// A reply line.
// One reply exists per line written; the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Answer to [`Request::Status`].
    Status(StatusView),
    /// Answer to [`Request::Peer`].
    Peer(Box<PeerDetail>),
    /// One row of the answer to [`Request::Routes`].
    Route(Box<RouteRow>),
    /// Paths of the answer to [`Request::Routes`] that the RIB keeps only as a count.
    Rejected(RejectedSummary),
    /// The last line of the answer to [`Request::Routes`].
    End(RoutesEnd),
    /// Answer to [`Request::Cni`].
    Cni(crate::cni::spec::CniReply),
    /// Answer to [`Request::Endpoints`] and [`Request::EndpointLabel`].
    Endpoints(super::workloads_net::EndpointsView),
    /// Answer to [`Request::Docker`]; never written to the control socket.
    #[serde(skip)]
    Docker(super::workloads::docker_ops::DockerAnswer),
    /// Answer to [`Request::Reload`].
    Reload(super::reload::ReloadView),
    /// The request could not be served.
    Error(String),
}

/// "N paths rejected for reason X", for paths that are counted rather than stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedSummary {
    /// Why they were rejected.
    pub reason: String,
    /// How many.
    pub count: u64,
    /// The peer they came from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
}

/// The end of a `routes` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutesEnd {
    /// Route lines sent.
    pub routes: u64,
    /// Present when `limit` cut the answer short: pass it as `after` for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
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
    /// The last config reload (SIGHUP or `tern reload`); `None` before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_reload: Option<super::reload::ReloadView>,
    /// The cluster datastore's health (etcd mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore: Option<super::cluster::DatastoreHealth>,
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
    /// Prefixes the peer sent us in this session: its routes in the RIB plus every
    /// rejected announcement (rejected routes are counted, not stored).
    pub received: u64,
    /// Prefixes accepted by the import policy.
    pub accepted: u64,
    /// Announcements rejected in this session (by reason: `tern routes --all`).
    #[serde(default)]
    pub rejected: u64,
    /// Prefixes we advertise to the peer.
    pub advertised: u64,
    /// Prefixes not advertised to the peer because their attributes do not fit in one
    /// UPDATE of its maximum message size (4096 octets without Extended Message).
    #[serde(default)]
    pub oversized: u64,
    /// The last error (NOTIFICATION sent or received, connection failure).
    pub last_error: Option<String>,
    /// `description` from the config.
    pub description: Option<String>,
    /// BFD session state (`Up`, `Init`, `Down`, `AdminDown`, `-` not started); `None`
    /// when the peer has no `bfd`.
    #[serde(default)]
    pub bfd: Option<String>,
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
    /// etcd mode: what the datastore added to the last ruleset applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore: Option<DatastorePolicy>,
}

/// What the datastore adds to a node's policy (`tern status`, etcd mode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatastorePolicy {
    /// Policies (Calico, Calico global, Kubernetes) from the datastore.
    pub policies: u64,
    /// Other nodes' workload and host endpoints (addresses for selectors).
    pub remote_endpoints: u64,
    /// Network sets from the datastore.
    pub network_sets: u64,
}

/// `tern routes --json`: what the CLI prints (it writes this document row by row as the
/// lines arrive; nothing here is held whole on either side). Its schema, for tests and
/// for programs that read the CLI's output.
#[allow(dead_code)]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RoutesView {
    /// One row per prefix, sorted by prefix.
    pub routes: Vec<RouteRow>,
    /// Paths counted rather than stored, by reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedSummary>,
    /// The next page's `after`, when `--limit` cut the listing short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One item a [`Source`] produces for a `routes` answer.
#[derive(Debug, Clone)]
pub enum RoutesItem {
    /// Rows, in order.
    Rows(Vec<RouteRow>),
    /// A summary line.
    Rejected(RejectedSummary),
}

/// Where a [`Source`] puts a `routes` answer: a bounded channel to the connection's
/// writer, so at most a few pages are in memory and a client that stops reading stops
/// the producer (sends fail once the writer gave up).
pub type RoutesSink = mpsc::Sender<RoutesItem>;

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
    /// The peer's ADD-PATH path identifier (RFC 7911), when it sends them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_id: Option<u32>,
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
    /// Produces the answer to `routes` into `out` page by page; returns the `next` prefix
    /// when `limit` cut it short. Stops early when `out` is closed.
    fn routes(
        &self,
        query: RoutesQuery,
        out: RoutesSink,
    ) -> impl std::future::Future<Output = Option<IpNet>> + Send;
    /// The answer to `peer`: the peer's detail, or an error naming the peers there are.
    fn peer(&self, peer: String) -> impl std::future::Future<Output = Reply> + Send {
        let _ = peer;
        async { Reply::Error("this agent shows no peer details".into()) }
    }
    /// The answer to a workload request (CNI, endpoints); none without a workload task.
    fn workload(&self, req: Request) -> impl std::future::Future<Output = Reply> + Send {
        let _ = req;
        async { Reply::Error("this agent serves no workload requests".into()) }
    }
    /// The answer to `reload` (`agent::reload`); none without a reload task.
    fn reload(&self) -> impl std::future::Future<Output = Reply> + Send {
        async { Reply::Error("this agent does not reload its config".into()) }
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

    /// Serves connections until the future is dropped: at most [`MAX_CONNECTIONS`] at
    /// once, each with the read and write time-outs of the module's documentation.
    pub async fn serve<S: Source>(&self, source: S) {
        let limit = Arc::new(ConnLimit::new("control socket", MAX_CONNECTIONS));
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    let Some(permit) = limit.try_admit() else {
                        // Best effort, never waits: the client learns why it was closed.
                        let _ = stream.try_write(b"{\"error\":\"busy: too many connections\"}\n");
                        continue;
                    };
                    let source = source.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_conn(stream, source).await {
                            tracing::debug!("control connection: {e}");
                        }
                        drop(permit);
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
        let mut limited = (&mut rd).take(MAX_REQUEST as u64 + 1);
        let n = match tokio::time::timeout(READ_TIMEOUT, limited.read_line(&mut line)).await {
            Ok(n) => n?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "no request")),
        };
        if n == 0 {
            return Ok(());
        }
        if n > MAX_REQUEST {
            let reply = Reply::Error(format!("request longer than {MAX_REQUEST} bytes"));
            write_line(&mut wr, &reply).await?;
            return Ok(());
        }
        match parse_request(&line) {
            Ok(Request::Status) => {
                write_line(&mut wr, &Reply::Status(source.status().await)).await?
            }
            Ok(Request::Routes(q)) => write_routes(&mut wr, &source, q).await?,
            Ok(Request::Peer { peer }) => write_line(&mut wr, &source.peer(peer).await).await?,
            Ok(Request::Reload) => write_line(&mut wr, &source.reload().await).await?,
            Ok(req) => write_line(&mut wr, &source.workload(req).await).await?,
            Err(e) => write_line(&mut wr, &Reply::Error(e)).await?,
        }
    }
}

/// Parses one request line (without or with its newline); the error is the message the
/// client gets.
pub fn parse_request(line: &str) -> Result<Request, String> {
    serde_json::from_str::<Request>(line.trim()).map_err(|e| format!("bad request: {e}"))
}

/// Pages the source's answer may run ahead of the socket.
const PAGES_AHEAD: usize = 2;

/// Streams the answer to a `routes` request: a `route` line per row, `rejected` lines,
/// then the `end` line. The producer runs beside the writer with a bounded channel
/// between them; a client that stops reading hits [`WRITE_TIMEOUT`], which ends both.
async fn write_routes<W: AsyncWriteExt + Unpin, S: Source>(
    w: &mut W,
    source: &S,
    query: RoutesQuery,
) -> io::Result<()> {
    let (tx, rx) = mpsc::channel(PAGES_AHEAD);
    let produce = source.routes(query, tx);
    let write = async {
        // Owned here: when the writer gives up, the receiver goes and the producer's
        // next send fails.
        let mut rx = rx;
        let mut sent = 0u64;
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        while let Some(item) = rx.recv().await {
            buf.clear();
            match item {
                RoutesItem::Rows(rows) => {
                    for row in rows {
                        sent += 1;
                        encode_line(&mut buf, &Reply::Route(Box::new(row)))?;
                    }
                }
                RoutesItem::Rejected(r) => encode_line(&mut buf, &Reply::Rejected(r))?,
            }
            write_timed(w, &buf).await?;
        }
        Ok::<u64, io::Error>(sent)
    };
    // The writer ends when the producer drops its sender (done) or on an error, which
    // drops the receiver and so stops the producer.
    let (next, sent) = tokio::join!(produce, write);
    let sent = sent?;
    let end = Reply::End(RoutesEnd {
        routes: sent,
        next: next.map(|p| p.to_string()),
    });
    write_line(w, &end).await
}

fn encode_line<T: Serialize>(buf: &mut Vec<u8>, v: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *buf, v).map_err(io::Error::other)?;
    buf.push(b'\n');
    Ok(())
}

async fn write_timed<W: AsyncWriteExt + Unpin>(w: &mut W, buf: &[u8]) -> io::Result<()> {
    match tokio::time::timeout(WRITE_TIMEOUT, async {
        w.write_all(buf).await?;
        w.flush().await
    })
    .await
    {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "client does not read its reply",
        )),
    }
}

async fn write_line<W: AsyncWriteExt + Unpin, T: Serialize>(w: &mut W, v: &T) -> io::Result<()> {
    let mut buf = Vec::new();
    encode_line(&mut buf, v)?;
    write_timed(w, &buf).await
}

/// Client side: sends one request and reads one reply (blocking; for the CLI).
pub fn request(path: &Path, req: &Request) -> io::Result<Reply> {
    let mut lines = request_lines(path, req)?;
    lines.next_reply()?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the agent closed the connection without answering",
        )
    })
}

/// Client side: sends one request and returns the reply lines as they come (blocking;
/// for the CLI's streamed `routes`).
pub fn request_lines(path: &Path, req: &Request) -> io::Result<ReplyLines> {
    use std::io::Write;
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut line = serde_json::to_vec(req).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    Ok(ReplyLines {
        reader: std::io::BufReader::new(stream),
        line: String::new(),
    })
}

/// Reply lines read one at a time from the agent.
pub struct ReplyLines {
    reader: std::io::BufReader<std::os::unix::net::UnixStream>,
    line: String,
}

impl ReplyLines {
    /// The next reply line; `None` when the agent closed the connection.
    pub fn next_reply(&mut self) -> io::Result<Option<Reply>> {
        use std::io::BufRead;
        self.line.clear();
        if self.reader.read_line(&mut self.line)? == 0 {
            return Ok(None);
        }
        serde_json::from_str(self.line.trim())
            .map(Some)
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unreadable answer from the agent: {e}"),
                )
            })
    }
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
