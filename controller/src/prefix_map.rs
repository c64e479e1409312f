//! A map keyed by prefix, compact for a full IPv4 table: IPv4 keys live in one hash map
//! per prefix length keyed by the 4-octet network address, so a key costs 4 bytes
//! (`IpNet` costs 18, `Ipv4Net` 5 plus padding) and each length's map grows on its own
//! (a doubling copies one length's entries, not the whole table). IPv6 keys are few and
//! stay `Ipv6Net`.
//!
//! The maps are hashbrown's with its default hasher (foldhash, seeded at random per
//! process), the one the BGP RIB's prefix table uses for the same prefixes: SipHash was
//! a third of the time of a full-table load's desired-table work (`benches/reconcile.rs`).

use std::hash::{BuildHasher, Hash};
use std::net::Ipv4Addr;

use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

#[derive(Debug)]
pub(crate) struct PrefixMap<V> {
    /// Index = prefix length; key = network address (host bits zero).
    v4: Vec<HashMap<u32, V>>,
    v6: HashMap<Ipv6Net, V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: (0..=32).map(|_| HashMap::new()).collect(),
            v6: HashMap::new(),
        }
    }
}

/// The per-length map index and key of an IPv4 prefix (host bits dropped).
fn k4(n: &Ipv4Net) -> (usize, u32) {
    (usize::from(n.prefix_len()), u32::from(n.network()))
}

fn net4(len: usize, key: u32) -> IpNet {
    // Lengths are indices 0..=32 of `v4`; the fallback is never taken.
    let len = u8::try_from(len).unwrap_or(32);
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(key), len).unwrap_or_default())
}

fn or_insert<K: Hash, V, S: BuildHasher>(
    e: Entry<'_, K, V, S>,
    make: impl FnOnce() -> V,
) -> (&mut V, bool) {
    match e {
        Entry::Occupied(o) => (o.into_mut(), false),
        Entry::Vacant(v) => (v.insert(make()), true),
    }
}

impl<V> PrefixMap<V> {
    fn map4(&self, n: &Ipv4Net) -> (Option<&HashMap<u32, V>>, u32) {
        let (l, k) = k4(n);
        (self.v4.get(l), k)
    }

    fn map4_mut(&mut self, n: &Ipv4Net) -> (Option<&mut HashMap<u32, V>>, u32) {
        let (l, k) = k4(n);
        (self.v4.get_mut(l), k)
    }

    pub(crate) fn len(&self) -> usize {
        self.v4.iter().map(HashMap::len).sum::<usize>() + self.v6.len()
    }

    pub(crate) fn get(&self, k: &IpNet) -> Option<&V> {
        match k {
            IpNet::V4(n) => {
                let (m, k) = self.map4(n);
                m?.get(&k)
            }
            IpNet::V6(n) => self.v6.get(&n.trunc()),
        }
    }

    pub(crate) fn get_mut(&mut self, k: &IpNet) -> Option<&mut V> {
        match k {
            IpNet::V4(n) => {
                let (m, k) = self.map4_mut(n);
                m?.get_mut(&k)
            }
            IpNet::V6(n) => self.v6.get_mut(&n.trunc()),
        }
    }

    pub(crate) fn contains_key(&self, k: &IpNet) -> bool {
        self.get(k).is_some()
    }

    pub(crate) fn insert(&mut self, k: IpNet, v: V) -> Option<V> {
        match k {
            IpNet::V4(n) => {
                let (m, k) = self.map4_mut(&n);
                m?.insert(k, v)
            }
            IpNet::V6(n) => self.v6.insert(n.trunc(), v),
        }
    }

    pub(crate) fn remove(&mut self, k: &IpNet) -> Option<V> {
        match k {
            IpNet::V4(n) => {
                let (m, k) = self.map4_mut(n);
                // A removal from an empty map would still hash the key (a new route looks
                // in the map of adopted routes, empty but after a restart).
                m.filter(|m| !m.is_empty())?.remove(&k)
            }
            IpNet::V6(n) => self.v6.remove(&n.trunc()),
        }
    }

    /// The value at `k`, with `make()` inserted first if there was none (then `true`):
    /// one probe of the table, where `get_mut` and then `insert` make two.
    pub(crate) fn get_or_insert_with(
        &mut self,
        k: IpNet,
        make: impl FnOnce() -> V,
    ) -> Option<(&mut V, bool)> {
        Some(match k {
            IpNet::V4(n) => {
                let (m, k) = self.map4_mut(&n);
                or_insert(m?.entry(k), make)
            }
            IpNet::V6(n) => or_insert(self.v6.entry(n.trunc()), make),
        })
    }

    /// Insert `make()` unless the key is present.
    pub(crate) fn insert_with(&mut self, k: IpNet, make: impl FnOnce() -> V) {
        let _ = self.get_or_insert_with(k, make);
    }

    pub(crate) fn clear(&mut self) {
        *self = PrefixMap::default();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpNet, &V)> {
        let a = self
            .v4
            .iter()
            .enumerate()
            .flat_map(|(l, m)| m.iter().map(move |(k, v)| (net4(l, *k), v)));
        a.chain(self.v6.iter().map(|(k, v)| (IpNet::V6(*k), v)))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (IpNet, &mut V)> {
        let a = self
            .v4
            .iter_mut()
            .enumerate()
            .flat_map(|(l, m)| m.iter_mut().map(move |(k, v)| (net4(l, *k), v)));
        a.chain(self.v6.iter_mut().map(|(k, v)| (IpNet::V6(*k), v)))
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        let a = self.v4.iter_mut().flat_map(|m| m.values_mut());
        a.chain(self.v6.values_mut())
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(IpNet, &mut V) -> bool) {
        for (l, m) in self.v4.iter_mut().enumerate() {
            m.retain(|k, v| keep(net4(l, *k), v));
        }
        self.v6.retain(|k, v| keep(IpNet::V6(*k), v));
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (IpNet, V)> + '_ {
        let a = self
            .v4
            .iter_mut()
            .enumerate()
            .flat_map(|(l, m)| m.drain().map(move |(k, v)| (net4(l, k), v)));
        a.chain(self.v6.drain().map(|(k, v)| (IpNet::V6(k), v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_families_apart_and_round_trips_keys() {
        let mut m = PrefixMap::default();
        let a: IpNet = "10.0.0.0/8".parse().unwrap();
        let b: IpNet = "fd00::/8".parse().unwrap();
        m.insert(a, 1);
        m.insert(b, 2);
        m.insert_with(a, || 9);
        assert_eq!((m.len(), m.get(&a), m.get(&b)), (2, Some(&1), Some(&2)));
        assert_eq!(m.get_or_insert_with(b, || 7), Some((&mut 2, false)));
        let c: IpNet = "10.1.0.0/16".parse().unwrap();
        assert_eq!(m.get_or_insert_with(c, || 7), Some((&mut 7, true)));
        assert_eq!(m.remove(&c), Some(7));
        let mut keys: Vec<IpNet> = m.iter().map(|(k, _)| k).collect();
        keys.sort();
        assert_eq!(keys, [a, b]);
        m.retain(|k, _| k == b);
        assert!(!m.contains_key(&a));
        assert_eq!(m.drain().collect::<Vec<_>>(), [(b, 2)]);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn ipv4_keys_of_every_length_are_distinct_and_come_back_whole() {
        let mut m = PrefixMap::default();
        let keys: Vec<IpNet> = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.0.0.0/24",
            "10.0.0.1/32",
            "255.255.255.255/32",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.insert(*k, i), None);
        }
        // Host bits of a lookup key are ignored, as the kernel does.
        assert_eq!(m.get(&"10.0.0.7/24".parse().unwrap()), Some(&2));
        let mut back: Vec<IpNet> = m.iter().map(|(k, _)| k).collect();
        back.sort();
        let mut want = keys.clone();
        want.sort();
        assert_eq!(back, want);
        assert_eq!(m.remove(&keys[1]), Some(1));
        assert_eq!(m.len(), 4);
        // A length with no entries at all (its map is empty) and a missing key.
        assert_eq!(m.remove(&"10.0.0.0/9".parse().unwrap()), None);
        assert_eq!(m.remove(&"10.9.0.0/24".parse().unwrap()), None);
        assert_eq!(m.len(), 4);
    }
}
