//! Scalar value types of the node config with their own YAML syntax:
//! durations (`90s`, `1m30s`, `500ms`, or plain seconds), routing tables
//! (`main` or a number) and failsafe ports (`{protocol: tcp, port: 22}`, `tcp:22`, `22`).

use std::fmt;
use std::time::Duration;

use ipnet::IpNet;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// A duration as written in the config: an integer (seconds) or a string of
/// number-unit pairs with units `h`, `m`, `s`, `ms` (`90s`, `1m30s`, `250ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeValue(pub Duration);

/// Parses `90s`, `1m30s`, `1h`, `250ms`, `0` or `0s`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("invalid duration `{text}`: expected a number with a unit (h, m, s, ms), like `90s` or `1m30s`")
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "h" => n.checked_mul(3600).map(Duration::from_secs),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "s" => Some(Duration::from_secs(n)),
            "ms" => Some(Duration::from_millis(n)),
            _ => None,
        };
        total = part.and_then(|p| total.checked_add(p)).ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Formats a duration the way the config writes it (`90s`, `1500ms`).
pub(crate) fn show_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl<'de> Deserialize<'de> for TimeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TimeValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like `90s`, `1m30s` or `500ms`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TimeValue, E> {
                Ok(TimeValue(Duration::from_secs(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TimeValue, E> {
                parse_duration(v).map(TimeValue).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A kernel routing table: `main` (254), `default` (253) or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RouteTable(pub u32);

impl RouteTable {
    fn from_number(n: u64) -> Result<Self, String> {
        match n {
            0 => Err(
                "table 0 is RT_TABLE_UNSPEC; use `main` or a whole number from 1 to 4294967295"
                    .into(),
            ),
            255 => Err(Self::LOCAL.into()),
            n => u32::try_from(n).map(RouteTable).map_err(|_| {
                format!("table {n} is out of range: a whole number from 1 to 4294967295")
            }),
        }
    }

    const LOCAL: &'static str =
        "table `local` (255) holds the kernel's own local routes; use `main` or another number";
}

impl<'de> Deserialize<'de> for RouteTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RouteTable;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a routing table: `main`, `default` or a number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RouteTable, E> {
                RouteTable::from_number(v).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RouteTable, E> {
                match v {
                    "main" => Ok(RouteTable(254)),
                    "default" => Ok(RouteTable(253)),
                    "local" => Err(E::custom(RouteTable::LOCAL)),
                    _ => match v.parse::<u64>() {
                        Ok(n) => RouteTable::from_number(n).map_err(E::custom),
                        Err(_) => Err(E::custom(format!(
                            "unknown routing table `{v}`: use `main`, `default` or a number"
                        ))),
                    },
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Transport protocol of a failsafe port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// A host port that policy never blocks on host endpoints (Calico's
/// `failsafeInboundHostPorts` / `failsafeOutboundHostPorts` entries).
///
/// Written as `{protocol: tcp, port: 22}` (Calico's form; `net` optional, limiting
/// the remote side), as `tcp:22` / `udp:68`, or as a bare number (TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailsafePort {
    /// `tcp` or `udp`; TCP when left out.
    #[serde(default = "tcp")]
    pub protocol: Protocol,
    /// The port number.
    pub port: u16,
    /// The remote network it is open to (any when unset).
    #[serde(default)]
    pub net: Option<IpNet>,
}

fn tcp() -> Protocol {
    Protocol::Tcp
}

impl FailsafePort {
    /// A TCP port open to anyone.
    pub const fn tcp(port: u16) -> Self {
        FailsafePort {
            protocol: Protocol::Tcp,
            port,
            net: None,
        }
    }

    /// A UDP port open to anyone.
    pub const fn udp(port: u16) -> Self {
        FailsafePort {
            protocol: Protocol::Udp,
            port,
            net: None,
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        let (proto, port) = text.split_once(':').unwrap_or(("tcp", text));
        let protocol = match proto.trim().to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            other => {
                return Err(format!(
                    "unknown protocol `{other}` in failsafe port `{text}` (tcp or udp)"
                ))
            }
        };
        let port = port.trim().parse::<u16>().map_err(|_| {
            format!("invalid failsafe port `{text}`: expected `tcp:22`, `udp:68` or a number")
        })?;
        Ok(FailsafePort {
            protocol,
            port,
            net: None,
        })
    }
}

/// Deserializes the three written forms of [`FailsafePort`].
pub(crate) fn failsafe_port<'de, D: Deserializer<'de>>(d: D) -> Result<FailsafePort, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = FailsafePort;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a port: `{protocol: tcp, port: 22}`, `tcp:22` or a number")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<FailsafePort, E> {
            u16::try_from(v).map(FailsafePort::tcp).map_err(|_| {
                E::custom(format!(
                    "port {v} is out of range: a whole number from 0 to 65535"
                ))
            })
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<FailsafePort, E> {
            FailsafePort::parse(v).map_err(E::custom)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FailsafePort, A::Error> {
            FailsafePort::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V)
}

/// A list of failsafe ports in any of the written forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailsafePorts(pub Vec<FailsafePort>);

impl<'de> Deserialize<'de> for FailsafePorts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct One(#[serde(deserialize_with = "failsafe_port")] FailsafePort);
        Vec::<One>::deserialize(d).map(|v| FailsafePorts(v.into_iter().map(|o| o.0).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("90").is_ok());
        for bad in ["", "s", "90x", "1.5s", "-3s", "9999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(show_duration(Duration::from_secs(90)), "90s");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn failsafe_forms() {
        let v: FailsafePorts = serde_yaml::from_str(
            "[22, 'udp:68', {protocol: tcp, port: 179}, {port: 6443, net: 10.0.0.0/8}]",
        )
        .unwrap();
        assert_eq!(v.0[0], FailsafePort::tcp(22));
        assert_eq!(v.0[1], FailsafePort::udp(68));
        assert_eq!(v.0[2], FailsafePort::tcp(179));
        assert_eq!(v.0[3].net, Some("10.0.0.0/8".parse().unwrap()));
        assert!(serde_yaml::from_str::<FailsafePorts>("['sctp:1']").is_err());
        assert!(serde_yaml::from_str::<FailsafePorts>("[70000]").is_err());
    }

    #[test]
    fn tables() {
        let t = |s: &str| serde_yaml::from_str::<RouteTable>(s).map(|t| t.0).ok();
        assert_eq!(t("main"), Some(254));
        assert_eq!(t("default"), Some(253));
        assert_eq!(t("100"), Some(100));
        assert_eq!(t("'100'"), Some(100));
        assert_eq!(t("local"), None);
        assert_eq!(t("0"), None);
        assert_eq!(t("mian"), None);
    }
}
