//! The message summary both sides reduce to, and canonical address/prefix text.

use std::collections::BTreeSet;
use std::net::IpAddr;

/// An AS_PATH / AS4_PATH segment: type name and ASNs.
pub type Segment = (String, Vec<u64>);

/// One BGP message, reduced to what tshark and tern must agree on.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Msg {
    pub kind: String,
    pub withdrawn: BTreeSet<String>,
    pub nlri: BTreeSet<String>,
    pub origin: Option<String>,
    pub as_path: Option<Vec<Segment>>,
    pub as4_path: Option<Vec<Segment>>,
    pub next_hop: Option<String>,
    pub mp_next_hop: Option<String>,
    pub mp_link_local: Option<String>,
    pub med: Option<u64>,
    pub local_pref: Option<u64>,
    pub communities: BTreeSet<String>,
    pub large_communities: BTreeSet<String>,
    /// AGGREGATOR: ASN (as on the wire) and address.
    pub aggregator: Option<(u64, String)>,
    pub as4_aggregator: Option<(u64, String)>,
    /// OPEN: My AS (2 octets, as on the wire), hold time, BGP identifier.
    pub open: Option<(u64, u64, String)>,
    /// NOTIFICATION: code, subcode, RFC 8203 shutdown communication.
    pub notification: Option<(u64, u64, Option<String>)>,
}

/// Canonical prefix text: address as Rust prints it, `/len`.
pub fn prefix(addr: &str, len: u64) -> String {
    let ip: IpAddr = addr
        .parse()
        .unwrap_or_else(|e| panic!("bad address {addr:?}: {e}"));
    format!("{ip}/{len}")
}

/// Canonical NLRI text: `PREFIX` or, with ADD-PATH, `PREFIX path-id N`.
pub fn canonical_prefix(s: &str) -> String {
    let (net, path_id) = match s.split_once(" path-id ") {
        Some((net, id)) => (net, Some(id)),
        None => (s, None),
    };
    let (addr, len) = net
        .split_once('/')
        .unwrap_or_else(|| panic!("not a prefix: {s:?}"));
    let p = prefix(
        addr,
        len.parse()
            .unwrap_or_else(|e| panic!("bad length in {s:?}: {e}")),
    );
    match path_id {
        Some(id) => {
            let id: u32 = id
                .parse()
                .unwrap_or_else(|e| panic!("bad path id in {s:?}: {e}"));
            format!("{p} path-id {id}")
        }
        None => p,
    }
}

/// The prefix of a canonical NLRI text, without its ADD-PATH path identifier.
pub fn without_path_id(s: &str) -> &str {
    s.split_once(" path-id ").map_or(s, |(net, _)| net)
}

pub fn canonical_addr(s: &str) -> String {
    let ip: IpAddr = s
        .parse()
        .unwrap_or_else(|e| panic!("bad address {s:?}: {e}"));
    ip.to_string()
}
