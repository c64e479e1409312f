//! A map keyed by prefix, one hash table per family with packed keys.
//!
//! Every peer's Adj-RIB-Out keeps one entry per prefix it was sent, so with ten peers
//! and a full table these maps are most of the RIB's memory after the paths. An
//! `IpNet` key takes 18 octets (24 with an `AttrId` beside it); an IPv4 entry here is
//! the address and length, 8 octets, 12 with the `AttrId`. Keys go in and come out as
//! `IpNet`, unchanged (host bits included).

use hashbrown::HashMap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Packed IPv4 key: address and prefix length.
type Key4 = (u32, u8);

fn key4(n: &Ipv4Net) -> Key4 {
    (u32::from(n.addr()), n.prefix_len())
}

fn net4((addr, len): Key4) -> IpNet {
    IpNet::V4(Ipv4Net::new(addr.into(), len).unwrap_or_default())
}

/// A map from prefix to `V`, per family.
#[derive(Debug)]
pub(crate) struct PrefixMap<V> {
    v4: HashMap<Key4, V>,
    v6: HashMap<Ipv6Net, V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        Self {
            v4: HashMap::new(),
            v6: HashMap::new(),
        }
    }
}

impl<V> PrefixMap<V> {
    pub fn get(&self, p: &IpNet) -> Option<&V> {
        match p {
            IpNet::V4(n) => self.v4.get(&key4(n)),
            IpNet::V6(n) => self.v6.get(n),
        }
    }

    pub fn contains_key(&self, p: &IpNet) -> bool {
        self.get(p).is_some()
    }

    pub fn insert(&mut self, p: IpNet, v: V) -> Option<V> {
        match p {
            IpNet::V4(n) => self.v4.insert(key4(&n), v),
            IpNet::V6(n) => self.v6.insert(n, v),
        }
    }

    pub fn remove(&mut self, p: &IpNet) -> Option<V> {
        match p {
            IpNet::V4(n) => self.v4.remove(&key4(n)),
            IpNet::V6(n) => self.v6.remove(n),
        }
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Empties the map, handing out its entries.
    pub fn drain(&mut self) -> impl Iterator<Item = (IpNet, V)> + '_ {
        let v4 = self.v4.drain().map(|(k, v)| (net4(k), v));
        v4.chain(self.v6.drain().map(|(n, v)| (IpNet::V6(n), v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn keys_come_back_unchanged_and_families_do_not_mix() {
        let mut m = PrefixMap::default();
        for (i, p) in [
            "10.0.0.0/8",
            "10.0.0.0/16",
            "10.0.0.1/32",
            "fd00::/8",
            "::/0",
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(m.insert(net(p), i), None);
        }
        // Same address, another length; host bits are part of the key.
        assert_eq!(m.get(&net("10.0.0.0/8")), Some(&0));
        assert_eq!(m.get(&net("10.0.0.0/16")), Some(&1));
        assert!(!m.contains_key(&net("10.0.0.1/8")));
        assert!(!m.contains_key(&net("0.0.0.0/0")));
        assert_eq!(m.insert(net("::/0"), 9), Some(4));
        assert_eq!(m.len(), 5);
        assert_eq!(m.remove(&net("10.0.0.1/32")), Some(2));
        assert_eq!(m.remove(&net("10.0.0.1/32")), None);
        let mut drained: Vec<(IpNet, usize)> = m.drain().collect();
        drained.sort_unstable();
        let want: Vec<(IpNet, usize)> = vec![
            (net("10.0.0.0/8"), 0),
            (net("10.0.0.0/16"), 1),
            (net("::/0"), 9),
            (net("fd00::/8"), 3),
        ];
        assert_eq!(drained, want);
        assert!(m.is_empty());
    }

    #[test]
    fn an_ipv4_entry_with_an_attribute_id_is_twelve_octets() {
        assert_eq!(std::mem::size_of::<(Key4, u32)>(), 12);
    }
}
