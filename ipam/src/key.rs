//! The allocation key: which (container ID, interface) an allocation belongs to, and the
//! validation of both parts as the CNI spec defines them.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::IpamError;

/// Longest container ID tern accepts. The CNI spec sets no limit; runtimes use 64 hex
/// characters. The cap keeps one file name per attachment under `NAME_MAX` (255).
pub const MAX_CONTAINER_ID_LEN: usize = 200;

/// Longest interface name (the kernel's `IFNAMSIZ` minus the NUL).
pub const MAX_IFNAME_LEN: usize = 15;

/// What an allocation is for: one interface of one container. CNI calls it an attachment
/// (`cni.dev/valid-attachments` lists these pairs).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentKey {
    /// The runtime's container ID (`CNI_CONTAINERID`).
    pub container_id: String,
    /// The interface inside the container (`CNI_IFNAME`), e.g. `eth0`.
    pub ifname: String,
}

impl AttachmentKey {
    /// A key from its parts, validated (see [`AttachmentKey::validate`]).
    pub fn new(
        container_id: impl Into<String>,
        ifname: impl Into<String>,
    ) -> Result<Self, IpamError> {
        let key = AttachmentKey {
            container_id: container_id.into(),
            ifname: ifname.into(),
        };
        key.validate()?;
        Ok(key)
    }

    /// Checks both parts: the container ID as the CNI spec (libcni's `ValidateContainerID`):
    /// non-empty, starts with a letter or digit, then letters, digits, `_`, `.`, `-`, at most
    /// [`MAX_CONTAINER_ID_LEN`] bytes; the interface name as libcni's `ValidateInterfaceName`:
    /// 1 to 15 bytes, not `.` or `..`, no `/`, `:`, whitespace or control characters.
    pub fn validate(&self) -> Result<(), IpamError> {
        validate_container_id(&self.container_id)?;
        validate_ifname(&self.ifname)
    }
}

impl fmt::Display for AttachmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.container_id, self.ifname)
    }
}

/// Validates a container ID (see [`AttachmentKey::validate`]).
pub fn validate_container_id(id: &str) -> Result<(), IpamError> {
    let bad = |reason: &'static str| {
        Err(IpamError::InvalidContainerId {
            id: id.escape_debug().to_string(),
            reason,
        })
    };
    let mut bytes = id.bytes();
    match bytes.next() {
        None => return bad("empty"),
        Some(b) if !b.is_ascii_alphanumeric() => return bad("must start with a letter or digit"),
        Some(_) => {}
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return bad("only letters, digits, '_', '.' and '-' are allowed");
    }
    if id.len() > MAX_CONTAINER_ID_LEN {
        return bad("longer than 200 bytes");
    }
    Ok(())
}

/// Validates an interface name (see [`AttachmentKey::validate`]).
pub fn validate_ifname(name: &str) -> Result<(), IpamError> {
    let bad = |reason: &'static str| {
        Err(IpamError::InvalidIfname {
            ifname: name.escape_debug().to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_IFNAME_LEN {
        return bad("longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not interface names");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return bad("'/', ':', whitespace and control characters are not allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_as_the_cni_spec() {
        for ok in [
            "a",
            "0123abcdef",
            "pod_1.ctr-2",
            &"f".repeat(64),
            &"x".repeat(200),
        ] {
            assert!(validate_container_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../etc",
            "a/b",
            "a\0b",
            "-a",
            "_a",
            ".a",
            "a b",
            "a\n",
            "ä",
            &"x".repeat(201),
        ] {
            let err = validate_container_id(bad).unwrap_err();
            assert!(
                matches!(err, IpamError::InvalidContainerId { .. }),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn interface_names_as_libcni() {
        for ok in ["eth0", "net1", "a", "x.y-z_0@1", "123456789012345"] {
            assert!(validate_ifname(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "a\tb",
            "a\0",
            "1234567890123456",
        ] {
            let err = validate_ifname(bad).unwrap_err();
            assert!(
                matches!(err, IpamError::InvalidIfname { .. }),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn new_validates_and_displays() {
        let key = AttachmentKey::new("abc", "eth0").unwrap();
        assert_eq!(key.to_string(), "abc/eth0");
        assert!(AttachmentKey::new("../x", "eth0").is_err());
        assert!(AttachmentKey::new("abc", "").is_err());
    }
}
