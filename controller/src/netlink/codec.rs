//! Netlink framing and route messages: append requests to one send buffer, walk the
//! messages of a received buffer, read acks/errors (with extended-ack text), and convert
//! between rtnetlink route messages (netlink-packet-route) and tern's [`Route`].

use std::net::IpAddr;

use ipnet::IpNet;
use rtnetlink::packet_core::{Emitable, Parseable};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop,
    RouteNextHopFlags, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::AddressFamily;

use crate::route::{NextHop, Route, RouteKind, TableConfig};
use crate::table::{OpError, OpErrorKind, TableError};

mod nh_route;
pub(crate) use nh_route::{push_new_route_nh, read_route_nh};

pub(crate) const NLMSG_HDRLEN: usize = 16;
pub(crate) const NLMSG_NOOP: u16 = 1;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_NEWNEIGH: u16 = 28;
pub(crate) const RTM_DELROUTE: u16 = 25;
pub(crate) const RTM_GETROUTE: u16 = 26;

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_MULTI: u16 = 0x2;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP_INTR: u16 = 0x10;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_REPLACE: u16 = 0x100;
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Append one netlink message with `payload` to `buf`.
pub(crate) fn push_msg(buf: &mut Vec<u8>, ty: u16, flags: u16, seq: u32, payload: &dyn Emitable) {
    let start = buf.len();
    let plen = payload.buffer_len();
    let len = NLMSG_HDRLEN + plen;
    buf.resize(start + align4(len), 0);
    buf[start..start + 4].copy_from_slice(&(len as u32).to_ne_bytes());
    buf[start + 4..start + 6].copy_from_slice(&ty.to_ne_bytes());
    buf[start + 6..start + 8].copy_from_slice(&flags.to_ne_bytes());
    buf[start + 8..start + 12].copy_from_slice(&seq.to_ne_bytes());
    buf[start + 12..start + 16].copy_from_slice(&0u32.to_ne_bytes());
    payload.emit(&mut buf[start + NLMSG_HDRLEN..start + len]);
}

/// One received netlink message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawMsg<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

pub(crate) fn ne_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn ne_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The netlink attributes (type without its flag bits, value) packed in `buf`; stops at
/// the first one that is malformed or runs past the end.
pub(crate) fn attributes(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let len = usize::from(ne_u16(buf, at)?);
        let ty = ne_u16(buf, at + 2)? & 0x3fff;
        let value = buf.get(at + 4..at + len.max(4))?;
        if len < 4 {
            return None;
        }
        at += align4(len);
        Some((ty, value))
    })
}

/// Split a received buffer into messages; a truncated or malformed header is an error.
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = Result<RawMsg<'_>, TableError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let len = ne_u32(rest, 0)? as usize;
            if len < NLMSG_HDRLEN || len > rest.len() {
                return None;
            }
            let m = RawMsg {
                ty: ne_u16(rest, 4)?,
                flags: ne_u16(rest, 6)?,
                seq: ne_u32(rest, 8)?,
                payload: rest.get(NLMSG_HDRLEN..len)?,
            };
            Some((m, align4(len).min(rest.len())))
        })();
        match parsed {
            Some((m, used)) => {
                rest = rest.get(used..).unwrap_or_default();
                Some(Ok(m))
            }
            None => {
                rest = &[];
                Some(Err(TableError::Decode(
                    "malformed netlink message header".into(),
                )))
            }
        }
    })
}

/// An NLMSG_ERROR payload: errno (0 = ack) and the kernel's extended-ack text if any.
pub(crate) fn parse_error(msg: &RawMsg<'_>) -> Result<(i32, Option<String>), TableError> {
    let code = ne_u32(msg.payload, 0)
        .ok_or_else(|| TableError::Decode("short NLMSG_ERROR".into()))? as i32;
    let mut text = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        // nlmsgerr = error code + the request: only its header when NLM_F_CAPPED (our
        // sockets set NETLINK_CAP_ACK), else the whole request; then the TLVs.
        let orig_len = ne_u32(msg.payload, 4).unwrap_or(0) as usize;
        let echoed = if msg.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            align4(orig_len.max(NLMSG_HDRLEN))
        };
        let tlvs = msg.payload.get(4 + echoed..).unwrap_or_default();
        for (ty, b) in attributes(tlvs) {
            if ty == NLMSGERR_ATTR_MSG {
                let s = String::from_utf8_lossy(b)
                    .trim_end_matches('\0')
                    .to_string();
                text = Some(s);
            }
        }
    }
    Ok((code, text))
}

/// An NLMSG_ERROR answer to a request or dump: `Ok` for an ack (errno 0), else
/// [`TableError::Kernel`] with the errno as a number and the extended-ack text beside it.
pub(crate) fn check_ack(msg: &RawMsg<'_>, what: &'static str) -> Result<(), TableError> {
    let (code, text) = parse_error(msg)?;
    if code == 0 {
        return Ok(());
    }
    Err(TableError::Kernel {
        what,
        errno: code.saturating_neg(),
        text,
    })
}

/// Turn a kernel error for one route operation into an [`OpError`] with a useful reason.
pub(crate) fn op_error(
    errno: i32,
    extack: Option<String>,
    prefix: IpNet,
    kind: Option<&RouteKind>,
) -> OpError {
    let os = std::io::Error::from_raw_os_error(errno);
    let detail = match &extack {
        Some(t) => format!("{os}: {t}"),
        None => os.to_string(),
    };
    let gateways = || match kind {
        Some(RouteKind::Via(h)) => h
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    let invalid_gw = extack
        .as_deref()
        .is_some_and(|t| t.contains("invalid gateway"));
    let (k, reason) = match errno {
        libc::EEXIST => (
            OpErrorKind::Exists,
            format!("a route for {prefix} already exists"),
        ),
        libc::ESRCH | libc::ENOENT => (
            OpErrorKind::NotFound,
            format!("no route for {prefix}: {detail}"),
        ),
        libc::ENETUNREACH | libc::EHOSTUNREACH => (
            OpErrorKind::Unreachable,
            format!("next hop {} not directly reachable", gateways()),
        ),
        libc::EINVAL if invalid_gw => (
            OpErrorKind::Unreachable,
            format!("next hop {} not directly reachable", gateways()),
        ),
        libc::ENODEV => (
            OpErrorKind::NoDevice,
            format!("interface not found: {detail}"),
        ),
        e => (OpErrorKind::Other(e), detail),
    };
    OpError { kind: k, reason }
}

pub(crate) fn family(prefix: &IpNet) -> AddressFamily {
    match prefix {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    }
}

fn header(cfg: &TableConfig, prefix: &IpNet) -> RouteHeader {
    RouteHeader {
        address_family: family(prefix),
        destination_prefix_length: prefix.prefix_len(),
        table: if cfg.table < 256 { cfg.table as u8 } else { 0 },
        protocol: RouteProtocol::from(cfg.protocol),
        ..Default::default()
    }
}

/// A route message for `prefix` in our table with our protocol, before its kind.
fn base(cfg: &TableConfig, prefix: &IpNet) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header = header(cfg, prefix);
    m.attributes
        .push(RouteAttribute::Destination(addr(prefix.addr())));
    m.attributes.push(RouteAttribute::Table(cfg.table));
    m
}

/// Resolves interface names to indexes for a request.
pub(crate) trait Ifindex {
    fn index_of(&mut self, name: &str) -> Option<u32>;
}

/// The RTM_NEWROUTE body for installing `kind` at `prefix`. `Err` when a named interface
/// does not exist.
pub(crate) fn new_route(
    cfg: &TableConfig,
    prefix: &IpNet,
    kind: &RouteKind,
    links: &mut dyn Ifindex,
) -> Result<RouteMessage, OpError> {
    let mut m = base(cfg, prefix);
    if cfg.metric != 0 {
        m.attributes.push(RouteAttribute::Priority(cfg.metric));
    }
    let mut index = |name: &str| {
        links.index_of(name).ok_or_else(|| OpError {
            kind: OpErrorKind::NoDevice,
            reason: format!("interface {name} not found"),
        })
    };
    match kind {
        RouteKind::Blackhole => {
            m.header.kind = RouteType::BlackHole;
            m.header.scope = RouteScope::Universe;
        }
        RouteKind::Device(dev) => {
            m.header.kind = RouteType::Unicast;
            m.header.scope = RouteScope::Link;
            m.attributes.push(RouteAttribute::Oif(index(dev)?));
        }
        RouteKind::Via(hops) => {
            m.header.kind = RouteType::Unicast;
            m.header.scope = RouteScope::Universe;
            match hops.as_slice() {
                [one] => {
                    m.attributes
                        .push(RouteAttribute::Gateway(addr(one.address)));
                    if let Some(d) = &one.dev {
                        m.attributes.push(RouteAttribute::Oif(index(d)?));
                    }
                    if one.onlink {
                        m.header.flags = RouteFlags::Onlink;
                    }
                }
                many => {
                    let mut nhs = Vec::with_capacity(many.len());
                    for h in many {
                        let mut nh = RouteNextHop::default();
                        if let Some(d) = &h.dev {
                            nh.interface_index = index(d)?;
                        }
                        if h.onlink {
                            nh.flags = RouteNextHopFlags::Onlink;
                        }
                        nh.attributes.push(RouteAttribute::Gateway(addr(h.address)));
                        nhs.push(nh);
                    }
                    m.attributes.push(RouteAttribute::MultiPath(nhs));
                }
            }
        }
    }
    Ok(m)
}

/// The RTM_DELROUTE body: prefix, table, our protocol and our metric only, so that the
/// kernel deletes our route for the prefix whatever its next hops, and never another
/// protocol's.
pub(crate) fn del_route(cfg: &TableConfig, prefix: &IpNet) -> RouteMessage {
    del_route_at(cfg, prefix, cfg.priority(matches!(prefix, IpNet::V6(_))))
}

/// [`del_route`] for our route at metric `priority`.
pub(crate) fn del_route_at(cfg: &TableConfig, prefix: &IpNet, priority: u32) -> RouteMessage {
    let mut m = base(cfg, prefix);
    m.header.scope = RouteScope::NoWhere;
    m.header.kind = RouteType::Unspec;
    m.attributes.push(RouteAttribute::Priority(priority));
    m
}

/// The RTM_GETROUTE dump request for one family, filtered by the kernel (strict checking)
/// to our table and protocol.
pub(crate) fn dump_request(cfg: &TableConfig, v6: bool) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.header.table = if cfg.table < 256 { cfg.table as u8 } else { 0 };
    m.header.protocol = RouteProtocol::from(cfg.protocol);
    m.attributes.push(RouteAttribute::Table(cfg.table));
    m
}

pub(crate) fn addr(a: IpAddr) -> RouteAddress {
    match a {
        IpAddr::V4(v) => RouteAddress::Inet(v),
        IpAddr::V6(v) => RouteAddress::Inet6(v),
    }
}

fn ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

/// Parse a route message and keep it only if it is ours (protocol and table) and a plain
/// destination route (no source prefix, not a cache clone). `name_of` maps an ifindex to
/// its name. A route of ours that tern cannot express (e.g. type unreachable) reads as a
/// `Via` with no next hop, which no desired route matches, so it gets replaced or deleted.
/// `nh` is told the nexthop object id of every route of ours that has one and returns the
/// object's next hops (sorted), used when the kernel sends the id alone
/// (`net.ipv4.nexthop_compat_mode = 0`).
pub(crate) fn parse_route(
    payload: &[u8],
    cfg: &TableConfig,
    name_of: &mut dyn FnMut(u32) -> String,
    nh: &mut dyn FnMut(u32) -> Option<Vec<NextHop>>,
) -> Result<Option<Route>, TableError> {
    Ok(parse_route_metric(payload, cfg, name_of, nh)?
        .filter(|(r, p)| *p == cfg.priority(matches!(r.prefix, IpNet::V6(_))))
        .map(|(r, _)| r))
}

/// [`parse_route`] for a route of ours at any metric, with its metric.
pub(crate) fn parse_route_metric(
    payload: &[u8],
    cfg: &TableConfig,
    name_of: &mut dyn FnMut(u32) -> String,
    nh: &mut dyn FnMut(u32) -> Option<Vec<NextHop>>,
) -> Result<Option<(Route, u32)>, TableError> {
    // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags. Look at the
    // protocol before decoding the rest: other protocols' routes are none of our business.
    match payload.get(5) {
        Some(p) if *p == cfg.protocol => {}
        _ => return Ok(None),
    }
    let m = RouteMessage::parse(payload).map_err(|e| TableError::Decode(e.to_string()))?;
    let h = &m.header;
    if u8::from(h.protocol) != cfg.protocol {
        return Ok(None);
    }
    let af_v6 = match h.address_family {
        AddressFamily::Inet => false,
        AddressFamily::Inet6 => true,
        _ => return Ok(None),
    };
    if h.source_prefix_length != 0 || h.flags.contains(RouteFlags::Cloned) {
        return Ok(None);
    }
    let mut table = h.table as u32;
    let mut dst = None;
    let mut gateway = None;
    let mut oif = None;
    let mut multipath = None;
    let mut nh_id = None;
    // Absent: the family's default (the kernel leaves out an IPv4 priority of 0).
    let mut priority = if af_v6 { 1024 } else { 0 };
    for a in &m.attributes {
        match a {
            RouteAttribute::Priority(p) => priority = *p,
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => dst = ip(d),
            RouteAttribute::Gateway(g) => gateway = ip(g),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::MultiPath(n) => multipath = Some(n),
            RouteAttribute::NhId(i) => nh_id = Some(*i),
            _ => {}
        }
    }
    if table != cfg.table {
        return Ok(None);
    }
    let dst = dst.unwrap_or(if af_v6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    });
    let prefix = IpNet::new(dst, h.destination_prefix_length)
        .map_err(|e| TableError::Decode(format!("route prefix: {e}")))?;
    // Told even when the gateway is in the message too (compat mode): the caller counts
    // which objects are in use.
    let object = nh_id.and_then(&mut *nh);
    let kind = match h.kind {
        RouteType::BlackHole => RouteKind::Blackhole,
        RouteType::Unicast => {
            if let (None, None, Some(hops)) = (&multipath, gateway, object) {
                RouteKind::Via(hops)
            } else if let Some(nhs) = multipath {
                let mut hops = Vec::with_capacity(nhs.len());
                for nh in nhs {
                    let gw = nh.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => ip(g),
                        _ => None,
                    });
                    if let Some(gw) = gw {
                        hops.push(NextHop::with_dev(gw, name_of(nh.interface_index)));
                    }
                }
                hops.sort();
                RouteKind::Via(hops)
            } else if let Some(gw) = gateway {
                let dev = oif.map(&mut *name_of);
                RouteKind::Via(vec![NextHop {
                    address: gw,
                    dev,
                    onlink: false,
                }])
            } else if let Some(i) = oif {
                RouteKind::Device(name_of(i))
            } else {
                RouteKind::Via(vec![])
            }
        }
        _ => RouteKind::Via(vec![]),
    };
    Ok(Some((Route { prefix, kind }, priority)))
}

/// Parse an RTM_NEWLINK payload into (ifindex, name).
pub(crate) fn parse_link(payload: &[u8]) -> Option<(u32, String)> {
    use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
    let m = LinkMessage::parse(payload).ok()?;
    let name = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })?;
    Some((m.header.index, name))
}

/// The RTM_GETLINK dump request body.
pub(crate) fn link_dump_request() -> impl Emitable {
    rtnetlink::packet_route::link::LinkMessage::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Links;
    impl Ifindex for Links {
        fn index_of(&mut self, name: &str) -> Option<u32> {
            (name == "eth0").then_some(7)
        }
    }

    fn roundtrip(route: &Route) -> Route {
        let cfg = TableConfig::default();
        let m = new_route(&cfg, &route.prefix, &route.kind, &mut Links).unwrap();
        let mut buf = vec![0; m.buffer_len()];
        m.emit(&mut buf);
        let mut name = |i: u32| {
            if i == 7 {
                "eth0".to_string()
            } else {
                format!("if{i}")
            }
        };
        parse_route(&buf, &cfg, &mut name, &mut |_| None)
            .unwrap()
            .expect("ours")
    }

    #[test]
    fn route_messages_round_trip() {
        let p: IpNet = "10.1.0.0/16".parse().unwrap();
        let r = Route::blackhole(p);
        assert_eq!(roundtrip(&r), r);
        let r = Route::device("10.1.2.3/32".parse().unwrap(), "eth0");
        assert_eq!(roundtrip(&r), r);
        let r = Route::via(p, [NextHop::with_dev("10.0.0.1".parse().unwrap(), "eth0")]);
        assert_eq!(roundtrip(&r), r);
        let r = Route::via(
            "fd00:1::/64".parse().unwrap(),
            [
                NextHop::with_dev("fd00::1".parse().unwrap(), "eth0"),
                NextHop::with_dev("fd00::2".parse().unwrap(), "eth0"),
            ],
        );
        assert_eq!(roundtrip(&r), r);
    }

    #[test]
    fn unknown_interface_is_an_op_error() {
        let cfg = TableConfig::default();
        let e = new_route(
            &cfg,
            &"10.0.0.1/32".parse().unwrap(),
            &RouteKind::Device("nope".into()),
            &mut Links,
        )
        .unwrap_err();
        assert_eq!(e.kind, OpErrorKind::NoDevice);
    }

    #[test]
    fn other_protocol_or_table_is_not_ours() {
        let mut cfg = TableConfig::default();
        let m = new_route(
            &cfg,
            &"10.0.0.0/8".parse().unwrap(),
            &RouteKind::Blackhole,
            &mut Links,
        )
        .unwrap();
        let mut buf = vec![0; m.buffer_len()];
        m.emit(&mut buf);
        let mut name = |i: u32| format!("if{i}");
        cfg.protocol = 4;
        assert!(parse_route(&buf, &cfg, &mut name, &mut |_| None)
            .unwrap()
            .is_none());
        cfg.protocol = crate::DEFAULT_PROTOCOL;
        cfg.table = 100;
        assert!(parse_route(&buf, &cfg, &mut name, &mut |_| None)
            .unwrap()
            .is_none());
    }

    #[test]
    fn framing_and_error_parsing() {
        let mut buf = Vec::new();
        let body = del_route(&TableConfig::default(), &"10.0.0.0/8".parse().unwrap());
        push_msg(&mut buf, RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, 42, &body);
        push_msg(&mut buf, RTM_DELROUTE, NLM_F_REQUEST, 43, &body);
        let msgs: Vec<_> = messages(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            (msgs[0].seq, msgs[1].seq, msgs[0].ty),
            (42, 43, RTM_DELROUTE)
        );
        // A real ENETUNREACH answer with extended ack, as the kernel sends it
        // (NETLINK_CAP_ACK + NETLINK_EXT_ACK): errno, echoed header, NLMSGERR_ATTR_MSG.
        let mut err = Vec::new();
        err.extend_from_slice(&(-101i32).to_ne_bytes());
        err.extend_from_slice(&buf[..16]);
        let text = b"Nexthop has invalid gateway\0";
        err.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        err.extend_from_slice(&1u16.to_ne_bytes());
        err.extend_from_slice(text);
        let raw = RawMsg {
            ty: NLMSG_ERROR,
            flags: 0x100 | 0x200,
            seq: 42,
            payload: &err,
        };
        let (code, t) = parse_error(&raw).unwrap();
        assert_eq!(code, -101);
        assert_eq!(t.as_deref(), Some("Nexthop has invalid gateway"));
        assert!(messages(&buf[..10]).next().unwrap().is_err());
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A whole answer as this machine's kernel (6.18, x86_64) sent it, captured from a
    /// socket with NETLINK_EXT_ACK and NETLINK_CAP_ACK: the first NLMSG_ERROR in `answer`.
    fn kernel_answer(answer: &[u8], what: &'static str) -> Result<(), TableError> {
        let m = messages(answer).next().unwrap().unwrap();
        assert_eq!(m.ty, NLMSG_ERROR);
        check_ack(&m, what)
    }

    #[test]
    fn kernel_errno_survives_the_extended_ack_text() {
        // RTM_NEWLINK of kind "nokind": EOPNOTSUPP with the text "Unknown device type".
        let b = hex(
            "3c0000000200000303000000b32e0000a1ffffff3c00000010000506030000000000000018000100\
             556e6b6e6f776e20646576696365207479706500",
        );
        let e = kernel_answer(&b, "request").unwrap_err();
        assert_eq!(e.code(), Some(libc::EOPNOTSUPP));
        assert!(e.is_errno(libc::EOPNOTSUPP) && !e.is_errno(libc::EEXIST));
        let shown = e.to_string();
        assert!(shown.starts_with("netlink request: "), "{shown}");
        assert!(shown.ends_with(": Unknown device type"), "{shown}");
        assert!(shown.contains("os error 95"), "{shown}");

        // RTM_NEWLINK (CREATE|EXCL) of an existing name: EEXIST without a text.
        let b = hex("240000000200000102000000b32e0000efffffff38000000100005060200000000000000");
        let e = kernel_answer(&b, "request").unwrap_err();
        assert!(e.is_errno(libc::EEXIST));
        assert!(e.to_string().ends_with("(os error 17)"), "{e}");

        // RTM_DELLINK of a missing name: ENODEV.
        let b = hex("240000000200000101000000b32e0000edffffff30000000110005000100000000000000");
        assert!(kernel_answer(&b, "request")
            .unwrap_err()
            .is_errno(libc::ENODEV));

        // An ack (errno 0) is not an error; a socket error keeps its errno too.
        let mut ack = b.clone();
        ack[16..20].copy_from_slice(&0i32.to_ne_bytes());
        assert!(kernel_answer(&ack, "request").is_ok());
        let io = TableError::Io {
            what: "send",
            source: std::io::Error::from_raw_os_error(libc::ENOBUFS),
        };
        assert_eq!(io.code(), Some(libc::ENOBUFS));
        assert_eq!(TableError::Decode("x".into()).code(), None);
    }

    #[test]
    fn hostile_errno_does_not_overflow() {
        let mut b = hex("240000000200000101000000b32e0000edffffff30000000110005000100000000000000");
        b[16..20].copy_from_slice(&i32::MIN.to_ne_bytes());
        let e = kernel_answer(&b, "request").unwrap_err();
        assert_eq!(e.code(), Some(i32::MAX));
    }
}
