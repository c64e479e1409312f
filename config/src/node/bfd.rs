//! `bfd: { interval: 100ms, multiplier: 3 }` on a peer or on `nodeToNodeMesh`: checks the
//! values as written and gives the resolved [`Bfd`] (RFC 5880 timers as BIRD's
//! `bfd { interval …; multiplier …; }` takes them).

use std::time::Duration;

use super::raw::RawBfd;
use super::values::{show_duration, TimeValue};
use super::{Bfd, DEFAULT_BFD_INTERVAL, DEFAULT_BFD_MULTIPLIER};

/// Shortest `bfd.interval` accepted (BIRD's default minimum is 10 ms as well; shorter
/// intervals are not meaningful for a user-space daemon).
pub const MIN_BFD_INTERVAL: Duration = Duration::from_millis(10);
/// Longest `bfd.interval` accepted.
pub const MAX_BFD_INTERVAL: Duration = Duration::from_secs(60);

/// Resolves `raw` (`None`: BFD off). Errors are (key under `bfd`, message).
pub(crate) fn resolve(raw: Option<&RawBfd>) -> (Option<Bfd>, Vec<(&'static str, String)>) {
    let Some(raw) = raw else {
        return (None, Vec::new());
    };
    let mut errors = Vec::new();
    if raw.enabled == Some(false) {
        return (None, errors);
    }
    let interval = match raw.interval {
        None => DEFAULT_BFD_INTERVAL,
        Some(TimeValue(i)) if (MIN_BFD_INTERVAL..=MAX_BFD_INTERVAL).contains(&i) => i,
        Some(TimeValue(i)) => {
            errors.push((
                "interval",
                format!(
                    "{} is out of range: from {} to {}",
                    show_duration(i),
                    show_duration(MIN_BFD_INTERVAL),
                    show_duration(MAX_BFD_INTERVAL)
                ),
            ));
            DEFAULT_BFD_INTERVAL
        }
    };
    let multiplier = match raw.multiplier {
        None => DEFAULT_BFD_MULTIPLIER,
        Some(m @ 1..=255) => m as u8,
        Some(m) => {
            errors.push((
                "multiplier",
                format!("{m} is out of range: a whole number from 1 to 255"),
            ));
            DEFAULT_BFD_MULTIPLIER
        }
    };
    (
        Some(Bfd {
            interval,
            multiplier,
        }),
        errors,
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::node::{Bfd, NodeConfig};

    const HEAD: &str = "nodeName: a\nasNumber: 64512\nrouterId: 192.0.2.1\n";

    fn load(rest: &str) -> Result<NodeConfig, Vec<String>> {
        NodeConfig::from_str(Path::new("n.yaml"), &format!("{HEAD}{rest}"))
            .map_err(|e| e.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn peer_and_mesh_bfd_resolve_with_defaults() {
        let c = load(
            "nodeToNodeMesh: { enabled: true, peers: [192.0.2.2], bfd: { interval: 50ms } }\n\
             peers:\n\
             \x20 - { peerIP: 192.0.2.254, asNumber: 65000, bfd: {} }\n\
             \x20 - { peerIP: 192.0.2.253, asNumber: 65000, bfd: { multiplier: 5, interval: 1s } }\n\
             \x20 - { peerIP: 192.0.2.252, asNumber: 65000 }\n\
             \x20 - { peerIP: 192.0.2.251, asNumber: 65000, bfd: { enabled: false } }\n",
        )
        .unwrap();
        let bfd: Vec<Option<Bfd>> = c.peers.iter().map(|p| p.bfd).collect();
        let b = |ms, multiplier| {
            Some(Bfd {
                interval: Duration::from_millis(ms),
                multiplier,
            })
        };
        assert_eq!(bfd, [b(50, 3), b(100, 3), b(1000, 5), None, None]);
    }

    #[test]
    fn bad_bfd_values_are_located_errors() {
        let e = load(
            "peers:\n\
             \x20 - { peerIP: 192.0.2.254, asNumber: 65000, bfd: { interval: 5ms, multiplier: 0 } }\n\
             \x20 - { peerIP: 192.0.2.253, asNumber: 65000, bfd: { interval: 2m } }\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            [
                "n.yaml:5:62: peers[0].bfd.interval: 5ms is out of range: from 10ms to 60s",
                "n.yaml:5:79: peers[0].bfd.multiplier: 0 is out of range: a whole number from 1 to 255",
                "n.yaml:6:62: peers[1].bfd.interval: 120s is out of range: from 10ms to 60s",
            ]
        );
        let e = load("peers:\n  - { peerIP: 192.0.2.254, asNumber: 65000, bfd: { rx: 1s } }\n")
            .unwrap_err();
        assert!(e[0].starts_with("n.yaml:5:"), "{e:?}");
        assert!(e[0].contains("unknown field `rx`"), "{e:?}");
    }
}
