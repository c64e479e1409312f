//! Helpers shared by the store's test binaries.

use ipam::AttachmentKey;
use ipnet::IpNet;

pub fn key(c: &str) -> AttachmentKey {
    AttachmentKey::new(c, "eth0").unwrap()
}

/// One IPv4 and one IPv6 block of 64 addresses each.
pub fn blocks() -> Vec<IpNet> {
    vec![
        "10.0.0.0/26".parse().unwrap(),
        "fd00::/122".parse().unwrap(),
    ]
}
