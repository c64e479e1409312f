//! Port numbers and `a:b` ranges as Calico writes them.

use std::fmt;

/// An inclusive port range (a single port has `first == last`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (inclusive).
    pub last: u16,
}

impl PortRange {
    /// True when `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

impl fmt::Display for PortRange {
    /// `80` or `8000-8080` (nftables form).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// Parses `80`, `"80"` or `"8000:8080"`; named ports are not supported.
pub fn parse_port(text: &str) -> Result<PortRange, String> {
    let num = |s: &str| -> Result<u16, String> {
        s.trim().parse::<u16>().map_err(|_| {
            if s.chars().any(|c| c.is_ascii_alphabetic()) {
                format!("named port `{text}` is not supported (use a number or a:b range)")
            } else {
                format!("bad port `{text}` (expected 0-65535 or a:b)")
            }
        })
    };
    let r = match text.split_once(':') {
        Some((a, b)) => PortRange {
            first: num(a)?,
            last: num(b)?,
        },
        None => {
            let p = num(text)?;
            PortRange { first: p, last: p }
        }
    };
    if r.first > r.last {
        return Err(format!(
            "bad port range `{text}`: first port is above the last"
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ports_and_ranges() {
        assert_eq!(
            parse_port("80").unwrap(),
            PortRange {
                first: 80,
                last: 80
            }
        );
        assert_eq!(
            parse_port("8000:8080").unwrap(),
            PortRange {
                first: 8000,
                last: 8080
            }
        );
        assert!(parse_port("http").unwrap_err().contains("named port"));
        assert!(parse_port("9:1").is_err());
        assert!(parse_port("70000").is_err());
    }
}
