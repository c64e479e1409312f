//! `tern bgp decode`: raw BGP messages on stdin → one JSON object per line.
//!
//! Reads the payload bytes of one direction of a BGP session (as a capture gives them;
//! hex text with `--hex`) and prints each message as it appears on the wire: with
//! `--as2`, AS_PATH holds 2-octet AS numbers (AS_TRANS included) and AS4_PATH /
//! AS4_AGGREGATOR are printed beside it, as tshark does. On the first malformed message
//! it prints what it decoded so far, then a final `{"type":"error",…}` line (also on
//! stderr) naming the byte offset and the NOTIFICATION or RFC 7606 action, and exits 2.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use bgp::wire::{
    decode_as_path, AddressFamily, Afi, AsPath, Capability, DecodeContext, DecodeError,
    ErrorAction, FamilySet, Message, Nlri, Notification, Open, PathAttributes, Safi, Update,
};
use serde_json::{json, Map, Value};

use super::{EXIT_BAD_INPUT, EXIT_RUNTIME};

/// Arguments of `tern bgp decode`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input is hex text (whitespace ignored) instead of raw bytes.
    #[arg(long)]
    pub hex: bool,
    /// Decode AS numbers as 2 octets (4-octet AS not negotiated).
    #[arg(long)]
    pub as2: bool,
    /// ADD-PATH path identifiers were negotiated (receive) for IPv4/IPv6 unicast.
    #[arg(long)]
    pub add_path: bool,
}

/// Runs `tern bgp decode`.
pub fn run(args: Args) -> ExitCode {
    let mut raw = Vec::new();
    if let Err(e) = io::stdin().lock().read_to_end(&mut raw) {
        eprintln!("tern: reading stdin: {e}");
        return ExitCode::from(EXIT_RUNTIME);
    }
    let bytes = if args.hex {
        let text: String = String::from_utf8_lossy(&raw).split_whitespace().collect();
        match hex::decode(&text) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("tern: stdin is not hex text: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    } else {
        raw
    };
    let ctx = DecodeContext {
        four_octet_as: !args.as2,
        add_path: if args.add_path {
            FamilySet::UNICAST
        } else {
            FamilySet::EMPTY
        },
        // Accept anything up to 65535: a capture may come from a session that
        // negotiated Extended Message.
        extended_message: true,
        keep_as4_attributes: true,
        external: false,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let code = decode_stream(&bytes, &ctx, &mut out);
    if let Err(e) = out.flush() {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("tern: writing stdout: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    }
    code
}

fn print(out: &mut impl Write, v: &Value) -> io::Result<()> {
    writeln!(out, "{v}")
}

/// Decodes `bytes` message by message, printing each; returns the exit code.
fn decode_stream(bytes: &[u8], ctx: &DecodeContext, out: &mut impl Write) -> ExitCode {
    let mut offset = 0usize;
    while let Some(rest) = bytes.get(offset..).filter(|r| !r.is_empty()) {
        let (msg, used) = match bgp::wire::decode_message(rest, ctx) {
            Ok(ok) => ok,
            Err(e) => return fail(out, error_json(&e, offset)),
        };
        let mut v = message_json(&msg, ctx);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("offset".into(), json!(offset));
            obj.insert("length".into(), json!(used));
        }
        if print(out, &v).is_err() {
            return ExitCode::from(EXIT_RUNTIME);
        }
        if let Message::Update(u) = &msg {
            if let Some(first) = u.errors.first() {
                let err = json!({
                    "type": "error",
                    "offset": offset + first.offset,
                    "action": first.action.name(),
                    "attribute": first.type_code,
                    "reason": first.reason,
                    "message": format!(
                        "byte {}: {} (attribute type {}): RFC 7606 {}",
                        offset + first.offset, first.reason, first.type_code, first.action.name()
                    ),
                });
                return fail(out, err);
            }
        }
        offset += used;
    }
    ExitCode::SUCCESS
}

fn fail(out: &mut impl Write, err: Value) -> ExitCode {
    // Best effort: the exit code says it anyway.
    let _ = print(out, &err);
    let _ = out.flush();
    eprintln!(
        "tern: {}",
        err["message"].as_str().unwrap_or("malformed input")
    );
    ExitCode::from(EXIT_BAD_INPUT)
}

fn error_json(e: &DecodeError, base: usize) -> Value {
    match e {
        DecodeError::Incomplete { needed } => json!({
            "type": "error",
            "offset": base,
            "reason": "truncated message",
            "needed": needed,
            "message": format!("byte {base}: truncated message: {needed} more octets needed"),
        }),
        DecodeError::Malformed {
            offset,
            reason,
            notification,
        } => json!({
            "type": "error",
            "offset": base + offset,
            "action": ErrorAction::SessionReset(notification.clone()).name(),
            "reason": reason,
            "notification": notification_fields(notification),
            "message": format!("byte {}: {reason}: NOTIFICATION {notification}", base + offset),
        }),
    }
}

fn notification_fields(n: &Notification) -> Value {
    let mut v = json!({
        "code": n.code(),
        "subcode": n.subcode(),
        "code_name": n.error.code_name(),
        "subcode_name": n.error.subcode_name(),
        "data": hex::encode(&n.data),
    });
    if let (Some(text), Some(obj)) = (n.shutdown_communication(), v.as_object_mut()) {
        obj.insert("shutdown_communication".into(), json!(text));
    }
    v
}

fn afi(a: Afi) -> Value {
    a.name().map_or_else(|| json!(u16::from(a)), |n| json!(n))
}

fn safi(s: Safi) -> Value {
    s.name().map_or_else(|| json!(u8::from(s)), |n| json!(n))
}

fn family(f: AddressFamily) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("afi".into(), afi(f.afi));
    m.insert("safi".into(), safi(f.safi));
    m
}

fn message_json(msg: &Message, ctx: &DecodeContext) -> Value {
    match msg {
        Message::Open(o) => open_json(o),
        Message::Update(u) => update_json(u, ctx),
        Message::Notification(n) => {
            let mut v = notification_fields(n);
            if let Some(obj) = v.as_object_mut() {
                obj.insert("type".into(), json!("notification"));
            }
            v
        }
        Message::Keepalive => json!({ "type": "keepalive" }),
        Message::RouteRefresh(r) => {
            let mut m = family(r.family);
            m.insert("type".into(), json!("route_refresh"));
            m.insert("subtype".into(), json!(r.subtype.to_string()));
            Value::Object(m)
        }
    }
}

fn open_json(o: &Open) -> Value {
    json!({
        "type": "open",
        "version": o.version,
        "as": o.asn(),
        "my_as": o.my_as,
        "hold_time": o.hold_time,
        "bgp_id": o.bgp_id.to_string(),
        "capabilities": o.capabilities.iter().map(capability_json).collect::<Vec<_>>(),
    })
}

fn capability_json(c: &Capability) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(c.name()));
    m.insert("code".into(), json!(c.code()));
    match c {
        Capability::Multiprotocol(f) => m.extend(family(*f)),
        Capability::FourOctetAs(asn) => {
            m.insert("asn".into(), json!(asn));
        }
        Capability::GracefulRestart(gr) => {
            m.insert("restart_state".into(), json!(gr.restart_state()));
            m.insert("notification".into(), json!(gr.notification()));
            m.insert("restart_time".into(), json!(gr.restart_time));
            let fams: Vec<Value> = gr
                .families
                .iter()
                .map(|f| {
                    let mut e = family(f.family);
                    e.insert(
                        "forwarding_preserved".into(),
                        json!(f.forwarding_preserved()),
                    );
                    Value::Object(e)
                })
                .collect();
            m.insert("families".into(), json!(fams));
        }
        Capability::AddPath(list) => {
            let fams: Vec<Value> = list
                .iter()
                .map(|e| {
                    let mut f = family(e.family);
                    let mode = match (e.mode.send(), e.mode.receive()) {
                        (true, true) => json!("both"),
                        (true, false) => json!("send"),
                        (false, true) => json!("receive"),
                        (false, false) => json!(u8::from(e.mode)),
                    };
                    f.insert("mode".into(), mode);
                    Value::Object(f)
                })
                .collect();
            m.insert("families".into(), json!(fams));
        }
        Capability::ExtendedNextHop(list) => {
            let fams: Vec<Value> = list
                .iter()
                .map(|e| {
                    let mut f = family(e.nlri);
                    f.insert("next_hop_afi".into(), afi(e.next_hop_afi));
                    Value::Object(f)
                })
                .collect();
            m.insert("families".into(), json!(fams));
        }
        Capability::Fqdn { hostname, domain } => {
            m.insert("hostname".into(), json!(hostname));
            m.insert("domain".into(), json!(domain));
        }
        Capability::Unknown { value, .. } => {
            m.insert("value".into(), json!(hex::encode(value)));
        }
        Capability::RouteRefresh
        | Capability::EnhancedRouteRefresh
        | Capability::ExtendedMessage => {}
    }
    Value::Object(m)
}

fn prefix_json(n: &Nlri) -> Value {
    match n.path_id {
        Some(id) => json!({ "prefix": n.prefix.to_string(), "path_id": id }),
        None => json!(n.prefix.to_string()),
    }
}

fn as_path_json(p: &AsPath) -> Value {
    json!(p
        .segments
        .iter()
        .map(|s| json!({ "type": s.kind.name(), "asns": s.asns.as_slice() }))
        .collect::<Vec<_>>())
}

fn update_json(u: &Update, ctx: &DecodeContext) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!("update"));
    m.insert(
        "withdrawn".into(),
        json!(u.withdrawals().map(prefix_json).collect::<Vec<_>>()),
    );
    let mut attrs = attributes_json(&u.attributes, ctx);
    if let Some(reach) = &u.mp_reach {
        let mut r = family(reach.family);
        r.insert("next_hop".into(), json!(reach.next_hop.global.to_string()));
        if let Some(ll) = reach.next_hop.link_local {
            r.insert("link_local".into(), json!(ll.to_string()));
        }
        attrs.insert("mp_reach".into(), Value::Object(r));
    }
    if let Some(unreach) = &u.mp_unreach {
        attrs.insert("mp_unreach".into(), Value::Object(family(unreach.family)));
    }
    m.insert("attributes".into(), Value::Object(attrs));
    m.insert(
        "nlri".into(),
        json!(u.announced().map(prefix_json).collect::<Vec<_>>()),
    );
    if let Some(f) = u.end_of_rib() {
        m.insert("end_of_rib".into(), Value::Object(family(f)));
    }
    if !u.errors.is_empty() {
        let errors: Vec<Value> = u
            .errors
            .iter()
            .map(|e| json!({ "action": e.action.name(), "attribute": e.type_code, "reason": e.reason }))
            .collect();
        m.insert("errors".into(), json!(errors));
    }
    Value::Object(m)
}

fn strings<T: ToString>(items: &[T]) -> Value {
    json!(items.iter().map(ToString::to_string).collect::<Vec<_>>())
}

fn attributes_json(a: &PathAttributes, ctx: &DecodeContext) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(o) = a.origin {
        m.insert("origin".into(), json!(o.name()));
    }
    if let Some(p) = &a.as_path {
        m.insert("as_path".into(), as_path_json(p));
    }
    if let Some(nh) = a.next_hop {
        m.insert("next_hop".into(), json!(nh.to_string()));
    }
    if let Some(med) = a.med {
        m.insert("med".into(), json!(med));
    }
    if let Some(lp) = a.local_pref {
        m.insert("local_pref".into(), json!(lp));
    }
    if a.atomic_aggregate {
        m.insert("atomic_aggregate".into(), json!(true));
    }
    if let Some(ag) = a.aggregator {
        m.insert(
            "aggregator".into(),
            json!({ "asn": ag.asn, "address": ag.address.to_string() }),
        );
    }
    if !a.communities.is_empty() {
        m.insert("communities".into(), strings(&a.communities));
    }
    if let Some(id) = a.originator_id {
        m.insert("originator_id".into(), json!(id.to_string()));
    }
    if !a.cluster_list.is_empty() {
        m.insert("cluster_list".into(), strings(&a.cluster_list));
    }
    if !a.extended_communities.is_empty() {
        m.insert(
            "extended_communities".into(),
            strings(&a.extended_communities),
        );
    }
    if !a.large_communities.is_empty() {
        m.insert("large_communities".into(), strings(&a.large_communities));
    }
    let mut unknown = Vec::new();
    for raw in &a.unknown {
        match raw.type_code {
            bgp::wire::attributes::type_code::AS4_PATH if ctx.keep_as4_attributes => {
                match decode_as_path(&raw.value, true) {
                    Some(p) => m.insert("as4_path".into(), as_path_json(&p)),
                    None => m.insert(
                        "as4_path".into(),
                        json!({ "malformed": hex::encode(&raw.value) }),
                    ),
                };
            }
            bgp::wire::attributes::type_code::AS4_AGGREGATOR if raw.value.len() == 8 => {
                let v = &raw.value;
                let asn = v
                    .get(..4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes);
                let addr = v
                    .get(4..8)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(std::net::Ipv4Addr::from);
                m.insert(
                    "as4_aggregator".into(),
                    json!({ "asn": asn, "address": addr.map(|a| a.to_string()) }),
                );
            }
            _ => unknown.push(json!({
                "type": raw.type_code,
                "flags": raw.flags,
                "value": hex::encode(&raw.value),
            })),
        }
    }
    if !unknown.is_empty() {
        m.insert("unknown".into(), json!(unknown));
    }
    m
}
