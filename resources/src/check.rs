//! Small shared checks for resource fields: CIDRs, addresses, AS numbers, selectors,
//! and fields that Calico has and tern refuses.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::Problem;

/// Parses a CIDR with no host bits, or a bare address (a /32 or /128).
pub fn net(path: &str, text: &str) -> Result<IpNet, Problem> {
    if let Ok(a) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(a));
    }
    let n: IpNet = text
        .parse()
        .map_err(|_| Problem::new(path, format!("bad CIDR `{}`", text.escape_debug())))?;
    if n.trunc() != n {
        return Err(Problem::new(
            path,
            format!("`{n}` has host bits set (did you mean `{}`?)", n.trunc()),
        ));
    }
    Ok(n)
}

/// Parses an address with an optional prefix length (`192.0.2.1/24`, as Calico's Node
/// writes it) and returns the address and the network it names.
pub fn address_in_net(path: &str, text: &str) -> Result<(IpAddr, IpNet), Problem> {
    if let Ok(a) = text.parse::<IpAddr>() {
        return Ok((a, IpNet::from(a)));
    }
    let n: IpNet = text.parse().map_err(|_| {
        Problem::new(
            path,
            format!(
                "bad address `{}` (ADDRESS or ADDRESS/LEN)",
                text.escape_debug()
            ),
        )
    })?;
    Ok((n.addr(), n.trunc()))
}

/// Checks an AS number: not 0, 23456 (AS_TRANS), 65535 or 4294967295 (reserved).
pub fn as_number(path: &str, asn: u32) -> Result<u32, Problem> {
    match asn {
        0 | 23456 | 65535 | 4294967295 => Err(Problem::new(
            path,
            format!("AS {asn} is reserved (0, 23456, 65535 and 4294967295 cannot be used)"),
        )),
        a => Ok(a),
    }
}

/// Parses a Calico selector with acl's parser.
pub fn selector(path: &str, text: &str) -> Result<acl::selector::Selector, Problem> {
    acl::selector::parse(text).map_err(|e| Problem {
        path: path.to_string(),
        message: format!("bad selector: {}", e.message),
        offset: Some(e.column.saturating_sub(1)),
    })
}

/// Refuses a Calico field that tern does not implement.
pub fn refused<T>(path: &str, value: &Option<T>, why: &str) -> Result<(), Problem> {
    match value {
        Some(_) => Err(Problem::new(path, format!("not supported by tern: {why}"))),
        None => Ok(()),
    }
}
