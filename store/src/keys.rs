//! Datastore keys: `/tern/v1/<kind plural>/<namespace>/<name>` (namespaced kinds) or
//! `/tern/v1/<kind plural>/<name>`, and `/tern/v1/ipam/…` for raw IPAM keys. Names
//! and namespaces are DNS-1123, so they never hold a `/`.

use resources::{Kind, ResourceKey};

/// Prefix of every tern key.
pub const ROOT: &str = "/tern/v1/";
/// Prefix of IPAM's raw keys (blocks, affinities, handles).
pub const IPAM: &str = "/tern/v1/ipam/";

/// The prefix of every key of `kind` (with its trailing `/`).
pub fn kind_prefix(kind: Kind) -> String {
    format!("{ROOT}{}/", kind.plural())
}

/// The key of a resource.
pub fn key_of(k: &ResourceKey) -> String {
    match &k.namespace {
        Some(ns) if k.kind.namespaced() => format!("{}{ns}/{}", kind_prefix(k.kind), k.name),
        _ => format!("{}{}", kind_prefix(k.kind), k.name),
    }
}

/// The resource key a datastore key names, if it is one of `kind`'s.
pub fn parse(kind: Kind, key: &str) -> Option<ResourceKey> {
    let rest = key.strip_prefix(&kind_prefix(kind))?;
    let (namespace, name) = if kind.namespaced() {
        let (ns, name) = rest.split_once('/')?;
        (Some(ns.to_string()), name)
    } else {
        (None, rest)
    };
    (!name.is_empty() && !name.contains('/')).then(|| ResourceKey {
        kind,
        namespace,
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let k = ResourceKey {
            kind: Kind::NetworkSet,
            namespace: Some("shop".into()),
            name: "partners".into(),
        };
        assert_eq!(key_of(&k), "/tern/v1/networksets/shop/partners");
        assert_eq!(parse(Kind::NetworkSet, &key_of(&k)), Some(k));
        let p = ResourceKey {
            kind: Kind::IpPool,
            namespace: None,
            name: "pool-a".into(),
        };
        assert_eq!(key_of(&p), "/tern/v1/ippools/pool-a");
        assert_eq!(parse(Kind::IpPool, "/tern/v1/ippools/pool-a"), Some(p));
        assert_eq!(parse(Kind::IpPool, "/tern/v1/ippools/a/b"), None);
        assert_eq!(parse(Kind::Node, "/tern/v1/ippools/a"), None);
    }
}
