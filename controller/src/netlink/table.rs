//! [`NetlinkTable`]: the kernel FIB as a [`RouteTable`]. Requests are written back to back
//! into one buffer and sent with one `send`; only the last carries NLM_F_ACK. The kernel
//! processes a send's messages in order and answers every failure with an error message
//! anyway, so after the last ack every error has arrived, each matched to its route by
//! sequence number. Dumps are filtered by the kernel (strict checking) to our table and
//! protocol, and again here.

use std::collections::{HashMap, HashSet};
use std::io;
use std::time::Duration;

use ipnet::IpNet;

use rtnetlink::packet_core::Emitable;
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket};

use super::codec::{self, Ifindex, RawMsg};
use super::sys;
use crate::netns;
use crate::route::{Route, RouteKind, TableConfig};
use crate::table::{Action, DumpInfo, Op, OpError, OpErrorKind, RouteTable, TableError};

mod events;
mod nexthop;

pub use events::{EventRead, EventSocket};

const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV6_ROUTE: u32 = 11;
const RECV_BUF: usize = 128 * 1024;
/// Requests per send; 1024 route messages are ~100 KiB, well under the send buffer.
const BATCH: usize = 1024;

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> TableError {
    move |source| TableError::Io { what, source }
}

/// Interface names and indexes of the namespace, from RTM_GETLINK dumps.
#[derive(Debug, Default)]
struct Links {
    by_name: HashMap<String, u32>,
    by_index: HashMap<u32, String>,
    missed: bool,
}

impl Ifindex for Links {
    fn index_of(&mut self, name: &str) -> Option<u32> {
        let i = self.by_name.get(name).copied();
        if i.is_none() {
            self.missed = true;
        }
        i
    }
}

impl Links {
    fn name(&self, index: u32) -> Option<String> {
        self.by_index.get(&index).cloned()
    }
}

/// The kernel FIB of one network namespace, seen through tern's table and protocol.
pub struct NetlinkTable {
    cfg: TableConfig,
    sock: Socket,
    events: Option<Socket>,
    seq: u32,
    sendbuf: Vec<u8>,
    recvbuf: Vec<u8>,
    links: Links,
    nh: nexthop::Nexthops,
}

/// The socket for our requests, and its netlink port.
fn request_socket() -> io::Result<(Socket, u32)> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    let port = s.bind_auto()?.port_number();
    s.set_cap_ack(true)?;
    s.set_ext_ack(true)?;
    // Kernel-side dump filtering (Linux >= 4.20); without it we filter everything here.
    let _ = s.set_netlink_get_strict_chk(true);
    sys::set_rcvbuf(&s, 8 << 20)?;
    sys::set_sndbuf(&s, 4 << 20)?;
    sys::set_rcv_timeout(&s, Duration::from_secs(30))?;
    Ok((s, port))
}

/// The socket for route and link events, without the echoes of requests from `ours`.
fn event_socket(ours: u32) -> io::Result<Socket> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind_auto()?;
    sys::drop_echoes_of(&s, ours)?;
    s.add_membership(RTNLGRP_IPV4_ROUTE)?;
    s.add_membership(RTNLGRP_IPV6_ROUTE)?;
    s.add_membership(RTNLGRP_LINK)?;
    s.set_non_blocking(true)?;
    sys::set_rcvbuf(&s, 16 << 20)?;
    Ok(s)
}

impl NetlinkTable {
    /// Open the sockets in network namespace `netns` (a name under /run/netns), or in the
    /// current one for `None`. With `subscribe`, also an event socket for route changes
    /// (see [`NetlinkTable::take_events`]).
    pub fn open(
        cfg: TableConfig,
        netns: Option<&str>,
        subscribe: bool,
    ) -> Result<Self, TableError> {
        let socks = netns::run_in_opt(netns, move || -> io::Result<(Socket, Option<Socket>)> {
            let (sock, port) = request_socket()?;
            let ev = if subscribe {
                Some(event_socket(port)?)
            } else {
                None
            };
            Ok((sock, ev))
        });
        let (sock, events) = match socks {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(TableError::Io {
                    what: "socket",
                    source: e,
                })
            }
            Err(source) => {
                return Err(TableError::Netns {
                    name: netns.unwrap_or("").to_string(),
                    source,
                })
            }
        };
        let mut t = NetlinkTable {
            cfg,
            sock,
            events,
            seq: 1,
            sendbuf: Vec::with_capacity(256 * 1024),
            recvbuf: Vec::with_capacity(RECV_BUF),
            links: Links::default(),
            nh: nexthop::Nexthops::new(cfg.nexthop_objects),
        };
        t.refresh_links()?;
        Ok(t)
    }

    /// The table settings.
    pub fn config(&self) -> &TableConfig {
        &self.cfg
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn recv(&mut self) -> Result<(), TableError> {
        self.recvbuf.clear();
        match self.sock.recv(&mut self.recvbuf, 0) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Err(TableError::Overrun),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(TableError::Io {
                what: "recv (no answer within 30 s)",
                source: e,
            }),
            Err(e) => Err(TableError::Io {
                what: "recv",
                source: e,
            }),
        }
    }

    /// Run a dump request and call `each` for every message of type `ty`; returns whether
    /// the kernel flagged the dump as interrupted.
    fn dump_raw(
        &mut self,
        ty: u16,
        body: &dyn Emitable,
        each: &mut dyn FnMut(&RawMsg<'_>, &Links) -> Result<(), TableError>,
    ) -> Result<bool, TableError> {
        let seq = self.next_seq();
        self.sendbuf.clear();
        codec::push_msg(
            &mut self.sendbuf,
            ty,
            codec::NLM_F_REQUEST | codec::NLM_F_DUMP,
            seq,
            body,
        );
        self.sock
            .send(&self.sendbuf, 0)
            .map_err(io_err("send dump"))?;
        let mut interrupted = false;
        for _ in 0..usize::MAX {
            self.recv()?;
            for m in codec::messages(&self.recvbuf) {
                let m = m?;
                if m.seq != seq {
                    continue;
                }
                if m.flags & codec::NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match m.ty {
                    codec::NLMSG_DONE => return Ok(interrupted),
                    codec::NLMSG_ERROR => {
                        codec::check_ack(&m, "dump")?;
                        return Ok(interrupted);
                    }
                    codec::NLMSG_NOOP => {}
                    _ => each(&m, &self.links)?,
                }
                if m.flags & codec::NLM_F_MULTI == 0 {
                    return Ok(interrupted);
                }
            }
        }
        Ok(interrupted)
    }

    fn refresh_links(&mut self) -> Result<(), TableError> {
        let mut fresh = Links::default();
        let body = codec::link_dump_request();
        self.dump_raw(codec::RTM_GETLINK, &body, &mut |m, _| {
            if m.ty == codec::RTM_NEWLINK {
                if let Some((i, name)) = codec::parse_link(m.payload) {
                    fresh.by_name.insert(name.clone(), i);
                    fresh.by_index.insert(i, name);
                }
            }
            Ok(())
        })?;
        self.links = fresh;
        Ok(())
    }

    /// Send one request with NLM_F_ACK and wait for its answer.
    pub(crate) fn request(
        &mut self,
        ty: u16,
        flags: u16,
        body: &dyn Emitable,
    ) -> Result<(), TableError> {
        self.exchange(ty, codec::NLM_F_ACK | flags, body, &mut |m| {
            (m.ty == codec::NLMSG_ERROR).then(|| codec::check_ack(m, "request"))
        })
    }

    /// Send one request and hand the answers with its sequence number to `answer` until
    /// it returns `Some`.
    fn exchange<T>(
        &mut self,
        ty: u16,
        flags: u16,
        body: &dyn Emitable,
        answer: &mut dyn FnMut(&RawMsg<'_>) -> Option<Result<T, TableError>>,
    ) -> Result<T, TableError> {
        let seq = self.next_seq();
        self.sendbuf.clear();
        codec::push_msg(
            &mut self.sendbuf,
            ty,
            codec::NLM_F_REQUEST | flags,
            seq,
            body,
        );
        self.sock.send(&self.sendbuf, 0).map_err(io_err("send"))?;
        for _ in 0..64 {
            self.recv()?;
            for m in codec::messages(&self.recvbuf) {
                let m = m?;
                if m.seq != seq {
                    continue;
                }
                if let Some(r) = answer(&m) {
                    return r;
                }
            }
        }
        Err(TableError::Decode("no answer to request".into()))
    }

    /// Run a dump request; returns the payloads of the messages of type `ty`.
    pub(crate) fn dump_payloads(
        &mut self,
        req: u16,
        ty: u16,
        body: &dyn Emitable,
    ) -> Result<Vec<Vec<u8>>, TableError> {
        let mut out = Vec::new();
        self.dump_raw(req, body, &mut |m, _| {
            if m.ty == ty {
                out.push(m.payload.to_vec());
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Forget the cached interface list (after creating, renaming or deleting links).
    pub(crate) fn forget_links(&mut self) {
        self.links = Links::default();
    }

    /// The index of interface `name` (re-reading the interface list once if unknown).
    pub(crate) fn ifindex(&mut self, name: &str) -> Result<Option<u32>, TableError> {
        if let Some(i) = self.links.by_name.get(name) {
            return Ok(Some(*i));
        }
        self.refresh_links()?;
        Ok(self.links.by_name.get(name).copied())
    }

    /// Take the event socket (opened with `subscribe`) to wait on it; see [`EventSocket`].
    pub fn take_events(&mut self) -> Option<EventSocket> {
        self.events.take().map(EventSocket::new)
    }

    /// Encode `ops` into the send buffer, recording ops that cannot be encoded in `pre`;
    /// returns the sequence number of the first op and the index of the last one encoded.
    /// `nh`: the nexthop object of each op, if it has one ([`NetlinkTable::nexthop_ids`]).
    fn encode(
        &mut self,
        ops: &[Op<'_>],
        nh: &[Option<u32>],
        pre: &mut [Option<OpError>],
    ) -> (u32, Option<usize>) {
        self.sendbuf.clear();
        let first = self.seq.wrapping_add(1);
        // The last op encoded, and where its message starts.
        let mut last = None;
        for (i, op) in ops.iter().enumerate() {
            let seq = first.wrapping_add(i as u32);
            let at = self.sendbuf.len();
            match op.action {
                Action::Add(k) | Action::Replace(k) => {
                    let flags = if matches!(op.action, Action::Add(_)) {
                        codec::NLM_F_CREATE | codec::NLM_F_EXCL
                    } else {
                        codec::NLM_F_CREATE | codec::NLM_F_REPLACE
                    };
                    if let Some(id) = nh.get(i).copied().flatten() {
                        codec::push_new_route_nh(
                            &mut self.sendbuf,
                            &self.cfg,
                            &op.prefix,
                            id,
                            flags,
                            seq,
                        );
                    } else {
                        match codec::new_route(&self.cfg, &op.prefix, k, &mut self.links) {
                            Ok(m) => codec::push_msg(
                                &mut self.sendbuf,
                                codec::RTM_NEWROUTE,
                                codec::NLM_F_REQUEST | flags,
                                seq,
                                &m,
                            ),
                            Err(e) => {
                                if let Some(p) = pre.get_mut(i) {
                                    *p = Some(e);
                                }
                                continue;
                            }
                        }
                    }
                }
                Action::Delete => codec::push_msg(
                    &mut self.sendbuf,
                    codec::RTM_DELROUTE,
                    codec::NLM_F_REQUEST,
                    seq,
                    &codec::del_route(&self.cfg, &op.prefix),
                ),
            }
            last = Some((i, at));
        }
        self.seq = first.wrapping_add(ops.len() as u32);
        if let Some((_, last_at)) = last {
            // Only the last request asks for an ack (flags are at bytes 6..8 of its header).
            if let Some(b) = self.sendbuf.get_mut(last_at + 6..last_at + 8) {
                let f = u16::from_ne_bytes([b[0], b[1]]) | codec::NLM_F_ACK;
                b.copy_from_slice(&f.to_ne_bytes());
            }
        }
        (first, last.map(|(i, _)| i))
    }
}

impl RouteTable for NetlinkTable {
    fn dump(&mut self, each: &mut dyn FnMut(Route)) -> Result<DumpInfo, TableError> {
        self.refresh_links()?;
        let cfg = self.cfg;
        let mut interrupted = false;
        // Routes of ours at another metric (installed with an earlier `metric`): they
        // would shadow or duplicate ours, and nothing else removes them.
        let mut other_metric: Vec<(IpNet, u32)> = Vec::new();
        // Our nexthop objects before the routes, so that an id the kernel sends alone
        // reads as its next hop; which ones the routes use decides what is kept.
        let objects = if self.nexthops_on() {
            self.dump_nexthops()?
        } else {
            HashMap::new()
        };
        let mut used = HashSet::new();
        for v6 in [false, true] {
            let body = codec::dump_request(&cfg, v6);
            let want = cfg.priority(v6);
            interrupted |= self.dump_raw(codec::RTM_GETROUTE, &body, &mut |m, links| {
                if m.ty != codec::RTM_NEWROUTE {
                    return Ok(());
                }
                let mut name_of = |i: u32| links.name(i).unwrap_or_else(|| format!("if{i}"));
                let mut object = |id: u32| {
                    used.insert(id);
                    nexthop::hops_of(&objects, id, &mut |i| {
                        links.name(i).unwrap_or_else(|| format!("if{i}"))
                    })
                };
                match codec::parse_route_metric(m.payload, &cfg, &mut name_of, &mut object) {
                    Ok(Some((r, p))) if p == want => each(r),
                    Ok(Some((r, p))) => other_metric.push((r.prefix, p)),
                    Ok(None) => {}
                    // One route we cannot read must not stop the reconcile of the others.
                    Err(e) => tracing::warn!(error = %e, "skipping unreadable route in dump"),
                }
                Ok(())
            })?;
        }
        if self.nexthops_on() && !interrupted {
            self.collect_nexthops(&objects, &used);
        }
        if !other_metric.is_empty() {
            tracing::info!(
                routes = other_metric.len(),
                metric = cfg.metric,
                "removing routes of ours installed with another metric"
            );
        }
        for (prefix, p) in other_metric {
            let body = codec::del_route_at(&cfg, &prefix, p);
            if let Err(e) = self.request(codec::RTM_DELROUTE, 0, &body) {
                tracing::warn!(%prefix, metric = p, error = %e, "cannot remove route of ours");
            }
        }
        Ok(DumpInfo { interrupted })
    }

    fn apply(
        &mut self,
        ops: &[Op<'_>],
        results: &mut Vec<Result<(), OpError>>,
    ) -> Result<(), TableError> {
        let start = results.len();
        let (refreshed, objects) = self.apply_once(ops, results)?;
        // The kernel's ENODEV for a name we knew: the index is stale, the interface was
        // deleted and made again under the same name (a container re-added with the same
        // id, a veth recreated). Learn the names once and retry just those operations; an
        // interface that is really gone fails again and is reported as before. Likewise
        // EINVAL for a route through a nexthop object: the kernel deleted the object (its
        // interface went down); forget it and retry, making a new one.
        let mut stale = Vec::new();
        let mut dead = Vec::new();
        let mut no_device = false;
        for (i, r) in results.get(start..).unwrap_or_default().iter().enumerate() {
            let Err(e) = r else { continue };
            if e.kind == OpErrorKind::NoDevice && !refreshed {
                no_device = true;
                stale.push(i);
            } else if e.kind == OpErrorKind::Other(libc::EINVAL) {
                if let Some(Some(id)) = objects.get(i) {
                    dead.push(*id);
                    stale.push(i);
                }
            }
        }
        if stale.is_empty() {
            return Ok(());
        }
        if no_device {
            self.refresh_links()?;
        }
        for id in dead {
            self.forget_nexthop(id);
        }
        let again: Vec<Op<'_>> = stale.iter().filter_map(|&i| ops.get(i).copied()).collect();
        let mut retried = Vec::with_capacity(again.len());
        let r = self.apply_once(&again, &mut retried);
        for (&i, res) in stale.iter().zip(retried) {
            if let Some(slot) = results.get_mut(start + i) {
                *slot = res;
            }
        }
        r.map(|_| ())
    }

    fn batch_size(&self) -> usize {
        BATCH
    }

    fn shared_objects(&self) -> usize {
        self.nexthop_count()
    }

    fn delete_through_shared(
        &mut self,
        kind: &RouteKind,
        prefixes: &[IpNet],
        keep: &[&RouteKind],
    ) -> Result<bool, TableError> {
        self.delete_through_object(kind, prefixes, keep)
    }
}

impl NetlinkTable {
    /// One pass of [`RouteTable::apply`]: encode (learning the interface names again
    /// when one is unknown), send, collect the answers. Returns whether the names were
    /// learnt again, and the nexthop object each operation used.
    fn apply_once(
        &mut self,
        ops: &[Op<'_>],
        results: &mut Vec<Result<(), OpError>>,
    ) -> Result<(bool, Vec<Option<u32>>), TableError> {
        let mut pre: Vec<Option<OpError>> = vec![None; ops.len()];
        let objects = self.nexthop_ids(ops);
        self.links.missed = false;
        let (mut first, mut last) = self.encode(ops, &objects, &mut pre);
        let refreshed = self.links.missed;
        if refreshed {
            // An interface we did not know: maybe new. Learn the names once and re-encode.
            self.refresh_links()?;
            pre.iter_mut().for_each(|p| *p = None);
            (first, last) = self.encode(ops, &objects, &mut pre);
        }
        if let Some(last) = last {
            let last_seq = first.wrapping_add(last as u32);
            self.sock.send(&self.sendbuf, 0).map_err(io_err("send"))?;
            let mut done = false;
            for _ in 0..=ops.len() {
                if let Err(e) = self.recv() {
                    results.clear();
                    return Err(e);
                }
                for m in codec::messages(&self.recvbuf) {
                    let m = m?;
                    if m.ty != codec::NLMSG_ERROR {
                        continue;
                    }
                    let idx = m.seq.wrapping_sub(first) as usize;
                    let Some(op) = ops.get(idx) else { continue };
                    let (code, text) = codec::parse_error(&m)?;
                    if code != 0 {
                        let kind = match op.action {
                            Action::Add(k) | Action::Replace(k) => Some(k),
                            Action::Delete => None,
                        };
                        if let Some(p) = pre.get_mut(idx) {
                            *p = Some(codec::op_error(
                                code.saturating_neg(),
                                text,
                                op.prefix,
                                kind,
                            ));
                        }
                    }
                    if m.seq == last_seq {
                        done = true;
                    }
                }
                if done {
                    break;
                }
            }
            if !done {
                results.clear();
                return Err(TableError::Decode(
                    "no acknowledgement for the last request".into(),
                ));
            }
        }
        results.extend(pre.into_iter().map(|p| match p {
            None => Ok(()),
            Some(e) => Err(e),
        }));
        Ok((refreshed, objects))
    }
}

impl std::fmt::Debug for NetlinkTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetlinkTable")
            .field("cfg", &self.cfg)
            .field("seq", &self.seq)
            .finish()
    }
}
