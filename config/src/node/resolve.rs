//! From the file as written (`raw`) to a checked [`NodeConfig`]: defaults,
//! password files, relative paths, and every semantic check, each error located
//! at the offending value through the document's [`Positions`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use super::raw::{RawBackend, RawLimit, RawLimitAction, RawNode, RawPassword, RawPeer};
use super::values::{show_duration, TimeValue};
use super::*;
use crate::yaml::{LocatedErrors, Positions};

/// AS_TRANS (RFC 6793): stands in for 4-octet AS numbers towards old speakers.
const AS_TRANS: u64 = 23456;
/// Longest TCP-MD5 key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
const MD5_MAX_KEY: usize = 80;

/// Checks `raw` and fills in defaults; all errors found, sorted by position.
pub(crate) fn resolve(
    file: &Path,
    raw: RawNode,
    positions: &Positions,
) -> Result<NodeConfig, LocatedErrors> {
    let mut cx = Checker {
        positions,
        errors: LocatedErrors::new(),
        base: file.parent().map(Path::to_path_buf).unwrap_or_default(),
        passwords: HashMap::new(),
    };

    if raw.node_name.trim().is_empty() || raw.node_name.chars().any(char::is_whitespace) {
        cx.error(
            "nodeName",
            "must be a non-empty name without spaces (usually the host name)",
        );
    }
    let datastore = cx.datastore(raw.datastore.as_ref());
    let ipv6_address = raw.ipv6_address;
    if let Some(a) = ipv6_address {
        if a.is_unspecified() || a.is_multicast() || a.is_loopback() || a.is_unicast_link_local() {
            cx.error(
                "ipv6Address",
                format!("{a} is not a usable BGP address (a global or unique-local one)"),
            );
        }
    }
    let as_number_given = raw.as_number.is_some();
    let as_number = match raw.as_number {
        Some(n) => cx.as_number("asNumber", n).unwrap_or(0),
        None => {
            if datastore == Datastore::Files {
                let message = "asNumber: missing: set this node's AS number (only in etcd mode may it come from the cluster)";
                cx.errors.push(cx.positions.error("", message));
            }
            0
        }
    };
    let router_id = cx.router_id(raw.router_id);

    let listen = Listen {
        address: raw
            .listen
            .as_ref()
            .and_then(|l| l.address)
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        port: cx.port("listen.port", raw.listen.as_ref().and_then(|l| l.port)),
    };

    cx.at_most("blocks", raw.blocks.len(), MAX_PREFIXES);
    cx.at_most("pools", raw.pools.len(), MAX_PREFIXES);
    cx.at_most("peers", raw.peers.len(), MAX_PEERS);
    if let Some(mesh) = &raw.node_to_node_mesh {
        cx.at_most("nodeToNodeMesh.peers", mesh.peers.len(), MAX_PEERS);
    }
    let (blocks, _) = cx.prefixes("blocks", &raw.blocks);
    let pool_texts: Vec<(&str, &str)> = raw.pools.iter().map(|p| p.cidr()).collect();
    let (pools, pools_ok) = cx.prefixes_at("pools", &pool_texts);
    let overlay = super::pool_check::overlay(&mut cx, &raw, &pools);
    cx.overlaps("blocks", &blocks);
    cx.overlaps("pools", &pools);
    if pools_ok {
        cx.blocks_in_pools(&blocks, &pools);
    }

    let mut peers = Vec::new();
    let mut seen: HashMap<IpAddr, String> = HashMap::new();
    let own = Own {
        router_id,
        listen: listen.address,
    };
    let mut node_to_node_mesh = false;
    let mut mesh_template = None;
    if let Some(mesh) = &raw.node_to_node_mesh {
        node_to_node_mesh = mesh.enabled.unwrap_or(true);
        let p = "nodeToNodeMesh";
        let (hold_time, keepalive_time, connect_retry_time) = cx.timers(
            p,
            mesh.hold_time,
            mesh.keepalive_time,
            mesh.connect_retry_time,
        );
        let port = cx.port(&format!("{p}.port"), mesh.port);
        let password = cx.password(p, mesh.password.as_ref());
        let (import_limit, receive_limit) =
            cx.limits(p, mesh.max_prefixes, mesh.import_limit, mesh.receive_limit);
        let bfd = cx.bfd(p, mesh.bfd.as_ref());
        let template = Peer {
            kind: PeerKind::Mesh,
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
            as_number,
            password,
            hold_time,
            keepalive_time,
            connect_retry_time,
            passive: false,
            route_reflector_client: false,
            ttl_security: None,
            source_address: None,
            import_limit,
            receive_limit,
            description: None,
            bfd,
            add_paths: mesh.add_paths.unwrap_or_default(),
        };
        for (j, address) in mesh.peers.iter().enumerate() {
            let path = format!("{p}.peers[{j}]");
            // Like Calico's mesh, one list of every node can be shared by all nodes:
            // this node's own entry is skipped, not an error.
            if own.is_self(*address) {
                continue;
            }
            cx.peer_address(&path, *address, &own, &mut seen);
            if node_to_node_mesh {
                peers.push(Peer {
                    address: *address,
                    ..template.clone()
                });
            }
        }
        mesh_template = Some(template);
    }
    for (i, peer) in raw.peers.iter().enumerate() {
        if let Some(p) = cx.peer(i, peer, as_number, &own, &mut seen) {
            peers.push(p);
        }
    }

    let fib = cx.fib(raw.fib.as_ref());
    let policy = Policy {
        backend: match raw.policy.as_ref().and_then(|p| p.backend) {
            Some(RawBackend::Iptables) => Backend::Iptables,
            Some(RawBackend::Nftables) | None => Backend::Nftables,
        },
        paths: raw
            .policy
            .as_ref()
            .map(|p| p.paths.iter().map(|x| cx.path(x)).collect())
            .unwrap_or_default(),
        failsafe_inbound_host_ports: raw
            .policy
            .as_ref()
            .and_then(|p| p.failsafe_inbound_host_ports.clone())
            .map_or_else(|| DEFAULT_FAILSAFE_INBOUND.to_vec(), |v| v.0),
        failsafe_outbound_host_ports: raw
            .policy
            .as_ref()
            .and_then(|p| p.failsafe_outbound_host_ports.clone())
            .map_or_else(|| DEFAULT_FAILSAFE_OUTBOUND.to_vec(), |v| v.0),
    };
    let endpoints = raw.endpoints.iter().map(|x| cx.path(x)).collect();
    let metrics = raw.metrics.as_ref().map(|m| Metrics {
        listen: m.listen.unwrap_or(DEFAULT_METRICS_LISTEN),
    });
    let control = Control {
        socket: cx.path(
            raw.control
                .as_ref()
                .and_then(|c| c.socket.as_deref())
                .unwrap_or(Path::new(DEFAULT_CONTROL_SOCKET)),
        ),
    };
    let docker = raw.docker.as_ref().map(|d| {
        let name = &d.plugin_name;
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !name.starts_with('.');
        if !ok {
            cx.error(
                "docker.pluginName",
                format!(
                    "{name:?} is not a plugin name (1 to 64 letters, digits, '-', '_', '.'; not starting with '.')"
                ),
            );
        }
        Docker {
            plugin_name: name.clone(),
            plugin_socket: Path::new(DOCKER_PLUGIN_DIR).join(format!("{name}.sock")),
            docker_socket: cx.path(
                d.docker_socket
                    .as_deref()
                    .unwrap_or(Path::new(DEFAULT_DOCKER_SOCKET)),
            ),
        }
    });
    let route_reflector = raw.route_reflector.as_ref().map(|rr| {
        let cluster_id = rr.cluster_id.unwrap_or(router_id);
        if rr.cluster_id == Some(Ipv4Addr::UNSPECIFIED) {
            cx.error(
                "routeReflector.clusterId",
                "0.0.0.0 is not a valid cluster ID",
            );
        }
        RouteReflector { cluster_id }
    });

    let graceful_restart = cx.graceful_restart(raw.graceful_restart.as_ref());
    let state_dir = cx.path(
        raw.state_dir
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_STATE_DIR)),
    );

    let config = NodeConfig {
        file: file.to_path_buf(),
        node_name: raw.node_name,
        as_number,
        as_number_given,
        router_id,
        listen,
        blocks: blocks.into_iter().map(|(_, n)| n).collect(),
        pools: pools.into_iter().map(|(_, n)| n).collect(),
        node_to_node_mesh,
        mesh: mesh_template,
        peers,
        fib,
        endpoints,
        policy,
        metrics,
        control,
        docker,
        route_reflector,
        graceful_restart,
        state_dir,
        datastore,
        labels: raw.labels,
        ipv6_address,
        overlay,
    };
    let mut errors = cx.errors;
    errors.sort();
    errors.into_result(config)
}

/// Reads a TCP-MD5 key file: a regular file (a FIFO would block the agent, a device such
/// as /dev/zero never end), of which at most a key, a line end and one byte more are read.
fn read_key_file(file: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read password file {}: {e}", file.display());
    let meta = std::fs::metadata(file).map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!(
            "password file {} is not a regular file",
            file.display()
        ));
    }
    let mut bytes = Vec::new();
    let cap = MD5_MAX_KEY as u64 + 3;
    std::fs::File::open(file)
        .and_then(|f| f.take(cap).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 == cap {
        return Err(format!(
            "password file {} holds {} bytes; TCP-MD5 keys are at most {MD5_MAX_KEY}",
            file.display(),
            meta.len()
        ));
    }
    Ok(bytes)
}

/// What is wrong with a configured hold time, if anything.
fn hold_problem(hold: Duration) -> Option<String> {
    if hold.subsec_nanos() != 0 {
        Some("must be whole seconds".into())
    } else if (1..=2).contains(&hold.as_secs()) {
        Some(format!(
            "{} is not allowed: the hold time is 0 (no keepalives) or at least 3s (RFC 4271 §4.2)",
            show_duration(hold)
        ))
    } else if hold.as_secs() > u64::from(u16::MAX) {
        Some("is at most 65535s (it is a 16-bit field in OPEN)".into())
    } else {
        None
    }
}

/// This node's own addresses, which no peer may have.
struct Own {
    router_id: Ipv4Addr,
    listen: IpAddr,
}

impl Own {
    /// True when `address` is this node's routerId or listen address.
    fn is_self(&self, address: IpAddr) -> bool {
        address == IpAddr::V4(self.router_id) || address == self.listen
    }
}

pub(super) struct Checker<'a> {
    positions: &'a Positions,
    errors: LocatedErrors,
    /// Directory of the config file: base of relative paths.
    base: PathBuf,
    /// Password files already read, by resolved path.
    passwords: HashMap<PathBuf, Option<Password>>,
}

impl Checker<'_> {
    /// Records `path: message` at the value at `path`.
    pub(super) fn error(&mut self, path: &str, message: impl AsRef<str>) {
        let text = format!("{path}: {}", message.as_ref());
        self.errors.push(self.positions.error(path, text));
    }

    pub(super) fn path(&self, p: &Path) -> PathBuf {
        if p.is_relative() && !self.base.as_os_str().is_empty() {
            self.base.join(p)
        } else {
            p.to_path_buf()
        }
    }

    fn as_number(&mut self, path: &str, asn: u64) -> Option<u32> {
        let why = match asn {
            0 => "AS 0 is reserved (RFC 7607)",
            AS_TRANS => "AS 23456 is AS_TRANS (RFC 6793), which stands in for 4-octet AS numbers; use the real AS number",
            65535 | 4_294_967_295 => "this AS number is reserved (RFC 7300)",
            n if n > u64::from(u32::MAX) => "an AS number is a whole number from 1 to 4294967295",
            n => return u32::try_from(n).ok(),
        };
        self.error(path, format!("{asn}: {why}"));
        None
    }

    fn router_id(&mut self, raw: Option<IpAddr>) -> Ipv4Addr {
        match raw {
            None => {
                let message = "routerId: missing: set the BGP identifier, an IPv4 address (usually the node's own)";
                self.errors.push(self.positions.error("", message));
            }
            Some(IpAddr::V6(v6)) => self.error(
                "routerId",
                format!("must be an IPv4 address (the BGP identifier is 32 bits), not {v6}"),
            ),
            Some(IpAddr::V4(v4)) if v4.is_unspecified() => {
                self.error("routerId", "0.0.0.0 is not a valid BGP identifier");
            }
            Some(IpAddr::V4(v4)) => return v4,
        }
        Ipv4Addr::UNSPECIFIED
    }

    fn port(&mut self, path: &str, port: Option<u16>) -> u16 {
        match port {
            Some(0) => {
                self.error(path, "port 0 is not usable; BGP uses 179");
                DEFAULT_BGP_PORT
            }
            Some(p) => p,
            None => DEFAULT_BGP_PORT,
        }
    }

    /// Parses a list of CIDRs; returns the good ones with their index, and
    /// whether all were good.
    fn prefixes(&mut self, name: &str, texts: &[String]) -> (Vec<(usize, IpNet)>, bool) {
        let texts: Vec<(&str, &str)> = texts.iter().map(|t| (t.as_str(), "")).collect();
        self.prefixes_at(name, &texts)
    }

    /// [`Checker::prefixes`] of (text, path below `name[i]`) pairs.
    pub(super) fn prefixes_at(
        &mut self,
        name: &str,
        texts: &[(&str, &str)],
    ) -> (Vec<(usize, IpNet)>, bool) {
        let mut out = Vec::new();
        let mut ok = true;
        for (i, (text, below)) in texts.iter().enumerate() {
            // Named only in an error: a reload of a file with many blocks formats none.
            let path = || format!("{name}[{i}]{below}");
            match text.trim().parse::<IpNet>() {
                Ok(net) if net != net.trunc() => {
                    ok = false;
                    self.error(
                        &path(),
                        format!("{net} has host bits set; did you mean {}?", net.trunc()),
                    );
                }
                Ok(net) => out.push((i, net)),
                Err(_) => {
                    ok = false;
                    let hint = match text.trim().parse::<IpAddr>() {
                        Ok(IpAddr::V4(a)) => format!("; for one address write {a}/32"),
                        Ok(IpAddr::V6(a)) => format!("; for one address write {a}/128"),
                        Err(_) => String::new(),
                    };
                    self.error(
                        &path(),
                        format!("`{text}` is not a CIDR prefix like 10.244.0.0/16{hint}"),
                    );
                }
            }
        }
        (out, ok)
    }

    /// Each later prefix that overlaps an earlier one of the same list (an exact
    /// duplicate is named first, else the first overlapping prefix); O(n log n).
    fn overlaps(&mut self, name: &str, nets: &[(usize, IpNet)]) {
        let plain: Vec<IpNet> = nets.iter().map(|(_, n)| *n).collect();
        for (k, e) in super::overlap::overlaps(&plain) {
            let ((j, b), (i, a)) = (nets[k], nets[e]);
            let how = if a == b { "duplicates" } else { "overlaps" };
            self.error(
                &format!("{name}[{j}]"),
                format!("{b} {how} {name}[{i}] ({a})"),
            );
        }
    }

    /// Records an error when the list at `name` has more than `max` entries.
    fn at_most(&mut self, name: &str, len: usize, max: usize) {
        if len > max {
            self.error(
                &format!("{name}[{max}]"),
                format!("more than {max} entries in `{name}`"),
            );
        }
    }

    fn blocks_in_pools(&mut self, blocks: &[(usize, IpNet)], pools: &[(usize, IpNet)]) {
        for (i, b) in blocks {
            if !pools.iter().any(|(_, p)| p.contains(b)) {
                let why = if pools.is_empty() {
                    "`pools` is empty"
                } else {
                    "routes outside the pools are never installed"
                };
                self.error(
                    &format!("blocks[{i}]"),
                    format!("{b} is not inside any of the pools ({why})"),
                );
            }
        }
    }

    /// Hold, keepalive and connect-retry times under `prefix` (`peers[0]`).
    fn timers(
        &mut self,
        prefix: &str,
        hold: Option<TimeValue>,
        keepalive: Option<TimeValue>,
        retry: Option<TimeValue>,
    ) -> (Duration, Duration, Duration) {
        let hold_path = format!("{prefix}.holdTime");
        let ka_path = format!("{prefix}.keepaliveTime");
        let hold_time = match hold {
            None => DEFAULT_HOLD_TIME,
            Some(TimeValue(h)) => match hold_problem(h) {
                None => h,
                Some(problem) => {
                    // Checked further against the default, to avoid follow-on noise.
                    self.error(&hold_path, problem);
                    DEFAULT_HOLD_TIME
                }
            },
        };
        let keepalive_time = match keepalive {
            None if hold_time.is_zero() => Duration::ZERO,
            None => Duration::from_secs(hold_time.as_secs() / 3),
            Some(TimeValue(k)) => {
                if k.subsec_nanos() != 0 {
                    self.error(&ka_path, "must be whole seconds");
                } else if hold_time.is_zero() && !k.is_zero() {
                    self.error(
                        &ka_path,
                        "must be 0 when holdTime is 0 (no keepalives are sent)",
                    );
                } else if !hold_time.is_zero() && k.is_zero() {
                    self.error(
                        &ka_path,
                        format!(
                            "must be at least 1s with a hold time of {}",
                            show_duration(hold_time)
                        ),
                    );
                } else if !hold_time.is_zero() && k >= hold_time {
                    self.error(
                        &ka_path,
                        format!(
                            "{} must be less than the hold time ({}); a third of it is usual",
                            show_duration(k),
                            show_duration(hold_time)
                        ),
                    );
                }
                k
            }
        };
        let connect_retry_time = match retry {
            Some(TimeValue(r)) if r.is_zero() => {
                self.error(&format!("{prefix}.connectRetryTime"), "must be more than 0");
                DEFAULT_CONNECT_RETRY_TIME
            }
            Some(TimeValue(r))
                if !(MIN_CONNECT_RETRY_TIME..=MAX_CONNECT_RETRY_TIME).contains(&r) =>
            {
                self.error(
                    &format!("{prefix}.connectRetryTime"),
                    format!(
                        "{} is out of range: from {} to {} (RFC 4271 suggests 120s)",
                        show_duration(r),
                        show_duration(MIN_CONNECT_RETRY_TIME),
                        show_duration(MAX_CONNECT_RETRY_TIME)
                    ),
                );
                DEFAULT_CONNECT_RETRY_TIME
            }
            Some(TimeValue(r)) => r,
            None => DEFAULT_CONNECT_RETRY_TIME,
        };
        (hold_time, keepalive_time, connect_retry_time)
    }

    /// Reads the TCP-MD5 key of `prefix.password.file` (once per file).
    fn password(&mut self, prefix: &str, raw: Option<&RawPassword>) -> Option<Password> {
        let raw = raw?;
        let path = format!("{prefix}.password.file");
        let file = self.path(&raw.file);
        if let Some(known) = self.passwords.get(&file) {
            return known.clone();
        }
        let result = match read_key_file(&file) {
            Err(e) => Err(e),
            Ok(mut bytes) => {
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                    if bytes.last() == Some(&b'\r') {
                        bytes.pop();
                    }
                }
                if bytes.is_empty() {
                    Err(format!("password file {} is empty", file.display()))
                } else if bytes.len() > MD5_MAX_KEY {
                    Err(format!(
                        "password file {} holds {} bytes; TCP-MD5 keys are at most {MD5_MAX_KEY}",
                        file.display(),
                        bytes.len()
                    ))
                } else {
                    Ok(Password(bytes))
                }
            }
        };
        let password = match result {
            Ok(p) => Some(p),
            Err(message) => {
                self.error(&path, message);
                None
            }
        };
        self.passwords.insert(file, password.clone());
        password
    }

    /// Checks a peer address: usable, not ours, not listed before.
    fn peer_address(
        &mut self,
        path: &str,
        address: IpAddr,
        own: &Own,
        seen: &mut HashMap<IpAddr, String>,
    ) {
        let unusable = match address {
            IpAddr::V4(a) => a.is_unspecified() || a.is_multicast() || a.is_broadcast(),
            IpAddr::V6(a) => a.is_unspecified() || a.is_multicast(),
        };
        if unusable {
            self.error(path, format!("{address} is not a usable peer address"));
        } else if address == IpAddr::V4(own.router_id) {
            self.error(path, format!("{address} is this node's own routerId"));
        } else if address == own.listen {
            self.error(path, format!("{address} is this node's own listen.address"));
        }
        match seen.get(&address) {
            Some(first) => {
                let first = first.clone();
                self.error(path, format!("{address} is already a peer ({first})"));
            }
            None => {
                seen.insert(address, path.to_string());
            }
        }
    }

    fn peer(
        &mut self,
        i: usize,
        raw: &RawPeer,
        local_as: u32,
        own: &Own,
        seen: &mut HashMap<IpAddr, String>,
    ) -> Option<Peer> {
        let p = format!("peers[{i}]");
        self.peer_address(&format!("{p}.peerIP"), raw.peer_ip, own, seen);
        let as_number = self.as_number(&format!("{p}.asNumber"), raw.as_number);
        let (hold_time, keepalive_time, connect_retry_time) = self.timers(
            &p,
            raw.hold_time,
            raw.keepalive_time,
            raw.connect_retry_time,
        );
        let port = self.port(&format!("{p}.port"), raw.port);
        let password = self.password(&p, raw.password.as_ref());
        if raw.ttl_security == Some(0) {
            self.error(
                &format!("{p}.ttlSecurity"),
                "the hop count is a whole number from 1 to 255",
            );
        }
        if let Some(src) = raw.source_address {
            if src.is_ipv4() != raw.peer_ip.is_ipv4() {
                self.error(
                    &format!("{p}.sourceAddress"),
                    format!(
                        "{src} is not of the same address family as peerIP {}",
                        raw.peer_ip
                    ),
                );
            }
        }
        let (import_limit, receive_limit) =
            self.limits(&p, raw.max_prefixes, raw.import_limit, raw.receive_limit);
        if let Some(asn) = as_number {
            if raw.route_reflector_client && asn != local_as && local_as != 0 {
                self.error(
                    &format!("{p}.routeReflectorClient"),
                    format!("route reflection is for iBGP peers, and AS {asn} is not this node's AS {local_as}"),
                );
            }
        }
        let bfd = self.bfd(&p, raw.bfd.as_ref());
        Some(Peer {
            kind: PeerKind::Global,
            address: raw.peer_ip,
            port,
            as_number: as_number?,
            password,
            hold_time,
            keepalive_time,
            connect_retry_time,
            passive: raw.passive,
            route_reflector_client: raw.route_reflector_client,
            ttl_security: raw.ttl_security,
            source_address: raw.source_address,
            import_limit,
            receive_limit,
            description: raw.description.clone(),
            bfd,
            add_paths: raw.add_paths.unwrap_or_default(),
        })
    }

    /// `prefix.bfd`.
    fn bfd(&mut self, prefix: &str, raw: Option<&super::raw::RawBfd>) -> Option<Bfd> {
        let (bfd, errors) = super::bfd::resolve(raw);
        for (key, message) in errors {
            self.error(&format!("{prefix}.bfd.{key}"), message);
        }
        bfd
    }

    /// `maxPrefixes` (shorthand: import limit, action restart), `importLimit` and
    /// `receiveLimit` of a peer or the mesh at `p`.
    fn limits(
        &mut self,
        p: &str,
        max_prefixes: Option<u32>,
        import: Option<RawLimit>,
        receive: Option<RawLimit>,
    ) -> (Option<PrefixLimit>, Option<PrefixLimit>) {
        let one = |cx: &mut Self, field: &str, l: Option<RawLimit>| {
            let l = l?;
            if l.max_prefixes == 0 {
                cx.error(
                    &format!("{p}.{field}.maxPrefixes"),
                    "must be at least 1 (leave the limit out for none)",
                );
                return None;
            }
            Some(PrefixLimit {
                max_prefixes: l.max_prefixes,
                action: match l.action {
                    Some(RawLimitAction::Warn) => LimitAction::Warn,
                    Some(RawLimitAction::Block) => LimitAction::Block,
                    Some(RawLimitAction::Disable) => LimitAction::Disable,
                    Some(RawLimitAction::Restart) | None => LimitAction::Restart,
                },
            })
        };
        if max_prefixes == Some(0) {
            self.error(
                &format!("{p}.maxPrefixes"),
                "must be at least 1 (leave it out for no limit)",
            );
        }
        if max_prefixes.is_some() && import.is_some() {
            self.error(
                &format!("{p}.maxPrefixes"),
                "is the short form of importLimit; set one of them",
            );
        }
        let shorthand = max_prefixes.filter(|n| *n > 0).map(|n| RawLimit {
            max_prefixes: n,
            action: None,
        });
        let import = one(self, "importLimit", import.or(shorthand));
        let receive = one(self, "receiveLimit", receive);
        (import, receive)
    }

    fn graceful_restart(
        &mut self,
        raw: Option<&super::raw::RawGracefulRestart>,
    ) -> GracefulRestart {
        let mut gr = GracefulRestart::default();
        let Some(raw) = raw else {
            return gr;
        };
        gr.enabled = raw.enabled.unwrap_or(true);
        if let Some(TimeValue(t)) = raw.restart_time {
            if t.subsec_nanos() != 0 || !(1..=4095).contains(&t.as_secs()) {
                self.error(
                    "gracefulRestart.restartTime",
                    "must be whole seconds from 1s to 4095s (a 12-bit field, RFC 4724)",
                );
            } else {
                gr.restart_time = t;
            }
        }
        gr
    }

    fn fib(&mut self, raw: Option<&super::raw::RawFib>) -> Fib {
        let protocol = match raw.and_then(|f| f.protocol) {
            Some(n @ 0..=4) => {
                self.error(
                    "fib.protocol",
                    format!("{n} is one of the kernel's own (unspec, redirect, kernel, boot, static); pick an unused number such as {DEFAULT_FIB_PROTOCOL}"),
                );
                DEFAULT_FIB_PROTOCOL
            }
            Some(n) => n,
            None => DEFAULT_FIB_PROTOCOL,
        };
        Fib {
            table: raw.and_then(|f| f.table).map_or(MAIN_TABLE, |t| t.0),
            protocol,
            ecmp: raw.and_then(|f| f.ecmp).unwrap_or(true),
            enabled: raw.and_then(|f| f.enabled).unwrap_or(true),
            allow_default: raw.and_then(|f| f.allow_default).unwrap_or(false),
            metric: raw.and_then(|f| f.metric).unwrap_or(DEFAULT_FIB_METRIC),
            nexthop_objects: raw.and_then(|f| f.nexthop_objects).unwrap_or(true),
        }
    }
}
