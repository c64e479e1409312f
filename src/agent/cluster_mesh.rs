//! etcd mode: the node file's `nodeToNodeMesh` section applied to the mesh that the
//! cluster task builds from the `Node` list — its port and timers (for every peer from
//! resources), password and prefix limits (mesh peers), and `bfd`: a BFD session beside
//! every mesh session from the datastore, kept in step with the peers as nodes come and
//! go. The file's own BFD peers stay as at start (or as the last reload set them).
//!
//! A mesh peer whose `Node` left the datastore while its BFD session is Up stays
//! ([`keep_bfd_up`]): the node is alive and only its datastore connection is gone (its
//! lease expired), so its routes stay and its blocks are not swept. Once BFD says Down
//! the peer goes as any other. Without BFD a vanished `Node` ends its mesh session.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use bgp::speaker::{PeerConfig, PeerKind};
use cluster::PeerDefaults;
use config::node::{Bfd, NodeConfig, Peer};

use super::bfd::{bfd_peers, BfdHandle, BfdPeer, BfdState};

/// Puts back into `want` each mesh peer of `applied` that `want` lost (its `Node` is
/// gone from the datastore) while its BFD session is Up; `kept` holds those peers'
/// node names by address, from one round to the next. Returns what to log: each newly
/// kept peer, and each one let go.
pub fn keep_bfd_up(
    applied: &BTreeMap<IpAddr, PeerConfig>,
    want: &mut BTreeMap<IpAddr, PeerConfig>,
    bfd: &HashMap<IpAddr, BfdState>,
    kept: &mut BTreeMap<IpAddr, String>,
) -> Vec<String> {
    let mut said = Vec::new();
    let up = |a: &IpAddr| bfd.get(a).is_some_and(|s| s.state == "Up");
    let mut now = BTreeMap::new();
    for (a, p) in applied {
        if p.kind != PeerKind::Mesh || want.contains_key(a) || !up(a) {
            continue;
        }
        let node = p
            .description
            .as_deref()
            .and_then(cluster::mesh::mesh_node)
            .unwrap_or("?")
            .to_string();
        if !kept.contains_key(a) {
            said.push(format!(
                "mesh peer {a} (Node {node}) is gone from the datastore but its BFD session is Up: kept (the node is alive, its datastore connection is not)"
            ));
        }
        want.insert(*a, p.clone());
        now.insert(*a, node);
    }
    for (a, node) in kept.iter() {
        if !now.contains_key(a) && !want.contains_key(a) {
            said.push(format!(
                "mesh peer {a} (Node {node}) no longer kept: its BFD session is not Up"
            ));
        }
    }
    *kept = now;
    said
}

/// What the node file says about sessions the datastore brings.
#[derive(Debug, Clone)]
pub struct MeshSettings {
    /// Port, timers, password and limits of the peers from resources.
    pub defaults: PeerDefaults,
    /// `nodeToNodeMesh.bfd`.
    bfd: Option<Bfd>,
    /// `listen.address`: our BFD address when it is one of the peer's family.
    listen: IpAddr,
    /// BFD of the file's own peers.
    file_bfd: Vec<BfdPeer>,
    /// What BFD was last given.
    applied: Option<Vec<BfdPeer>>,
}

/// The peer defaults of a `nodeToNodeMesh` section (the defaults without one).
fn defaults_of(mesh: Option<&Peer>) -> PeerDefaults {
    match mesh.map(super::plan::peer_config) {
        Some(Ok(p)) => PeerDefaults::from_mesh(&p),
        Some(Err(e)) => {
            tracing::warn!("nodeToNodeMesh: {e}; the mesh from the datastore uses the defaults");
            PeerDefaults::default()
        }
        None => PeerDefaults::default(),
    }
}

impl MeshSettings {
    /// From the node config at start.
    pub fn new(cfg: &NodeConfig) -> MeshSettings {
        MeshSettings {
            defaults: defaults_of(cfg.mesh.as_ref()),
            bfd: cfg.mesh.as_ref().and_then(|m| m.bfd),
            listen: cfg.listen.address,
            file_bfd: bfd_peers(&cfg.peers, cfg.listen.address),
            applied: None,
        }
    }

    /// A reload's `nodeToNodeMesh` section and the file's BFD peers.
    pub fn reload(&mut self, mesh: Option<&Peer>, file_bfd: Vec<BfdPeer>) {
        self.defaults = defaults_of(mesh);
        self.bfd = mesh.and_then(|m| m.bfd);
        self.file_bfd = file_bfd;
    }

    /// The BFD peers for `peers` (what the speaker runs): the file's, then every mesh
    /// peer from the datastore (not one of `file`'s addresses) when the mesh has `bfd`.
    pub fn bfd_for(
        &self,
        peers: &BTreeMap<IpAddr, PeerConfig>,
        file: &[PeerConfig],
    ) -> Vec<BfdPeer> {
        let mut v = self.file_bfd.clone();
        let Some(bfd) = self.bfd else {
            return v;
        };
        for p in peers.values() {
            let from_file = file.iter().any(|f| f.address == p.address);
            if p.kind != PeerKind::Mesh || from_file || v.iter().any(|b| b.address == p.address) {
                continue;
            }
            let listen = self.listen;
            let local = (!listen.is_unspecified() && listen.is_ipv4() == p.address.is_ipv4())
                .then_some(listen);
            v.push(BfdPeer {
                address: p.address,
                local,
                bfd,
            });
        }
        v
    }

    /// Gives BFD the peers for `peers` when they differ from the last ones given.
    pub async fn sync_bfd(
        &mut self,
        bfd: &BfdHandle,
        peers: &BTreeMap<IpAddr, PeerConfig>,
        file: &[PeerConfig],
    ) {
        let want = self.bfd_for(peers, file);
        if self.applied.as_ref() != Some(&want) {
            bfd.set_peers(want.clone()).await;
            self.applied = Some(want);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    fn cfg(text: &str) -> NodeConfig {
        NodeConfig::from_str(Path::new("n.yaml"), text).expect("valid node file")
    }

    fn peer(a: &str, kind: PeerKind) -> (IpAddr, PeerConfig) {
        let mut p = PeerConfig::new(a.parse().expect("address"), 64512);
        p.kind = kind;
        (p.address, p)
    }

    #[test]
    fn the_mesh_sections_bfd_and_timers_reach_the_datastores_mesh() {
        let c = cfg(
            "nodeName: a\nrouterId: 10.1.0.1\ndatastore: { type: etcd, endpoints: [http://10.0.0.1:2379] }\n\
             nodeToNodeMesh: { holdTime: 9s, keepaliveTime: 2s, bfd: { interval: 50ms, multiplier: 5 } }\n\
             peers: [{ peerIP: 10.1.0.9, asNumber: 65000, bfd: {} }]\n",
        );
        let m = MeshSettings::new(&c);
        assert_eq!(m.defaults.hold_time, Duration::from_secs(9));
        assert_eq!(m.defaults.keepalive, Some(Duration::from_secs(2)));
        let peers: BTreeMap<_, _> = [
            peer("10.1.0.2", PeerKind::Mesh),
            peer("10.1.0.3", PeerKind::Mesh),
            peer("192.0.2.1", PeerKind::Global),
            peer("10.1.0.9", PeerKind::Global),
        ]
        .into_iter()
        .collect();
        let file = [peers[&"10.1.0.9".parse::<IpAddr>().expect("address")].clone()];
        let b = m.bfd_for(&peers, &file);
        let addrs: Vec<String> = b.iter().map(|p| p.address.to_string()).collect();
        // The file's own BFD peer first, then the datastore's mesh peers (not BGPPeers).
        assert_eq!(addrs, ["10.1.0.9", "10.1.0.2", "10.1.0.3"]);
        assert_eq!(b[1].bfd.interval, Duration::from_millis(50));
        assert_eq!(b[1].bfd.multiplier, 5);
        assert_eq!(b[0].bfd.interval, config::node::DEFAULT_BFD_INTERVAL);

        // Without the section: default timers, BFD only for the file's peers.
        let c = cfg(
            "nodeName: a\nrouterId: 10.1.0.1\ndatastore: { type: etcd, endpoints: [http://10.0.0.1:2379] }\n",
        );
        let m = MeshSettings::new(&c);
        assert_eq!(m.defaults.hold_time, PeerDefaults::default().hold_time);
        assert!(m.bfd_for(&peers, &[]).is_empty());
    }

    #[test]
    fn a_reload_that_changes_only_the_mesh_section_is_a_peer_change() {
        let head = "nodeName: a\nrouterId: 10.1.0.1\ndatastore: { type: etcd, endpoints: [http://10.0.0.1:2379] }\n";
        let old = cfg(head);
        let new = cfg(&format!(
            "{head}nodeToNodeMesh: {{ bfd: {{ interval: 100ms }} }}\n"
        ));
        let plan = super::super::reload::diff(&old, &new).expect("allowed at run time");
        assert!(plan.peers);
        assert!(super::super::reload::diff(&new, &new)
            .expect("same")
            .is_empty());
    }

    #[test]
    fn a_vanished_nodes_mesh_peer_stays_while_its_bfd_is_up() {
        let state = |s: &str| BfdState {
            state: s.into(),
            note: None,
        };
        let named = |a: &str, kind| {
            let (a, mut p) = peer(a, kind);
            let last = a.to_string().rsplit('.').next().unwrap_or("").to_string();
            p.description = Some(cluster::mesh::mesh_description(&format!("n{last}")));
            (a, p)
        };
        let applied: BTreeMap<_, _> = [
            named("10.1.0.2", PeerKind::Mesh),
            named("10.1.0.3", PeerKind::Mesh),
            named("10.1.0.4", PeerKind::Mesh),
            named("192.0.2.1", PeerKind::Global),
        ]
        .into_iter()
        .collect();
        let ip = |s: &str| -> IpAddr { s.parse().expect("address") };
        // n2's Node is still there; n3's and n4's are gone, and so is the global peer.
        let mut want: BTreeMap<_, _> = [named("10.1.0.2", PeerKind::Mesh)].into_iter().collect();
        let bfd: HashMap<IpAddr, BfdState> = [
            (ip("10.1.0.3"), state("Up")),
            (ip("10.1.0.4"), state("Down")),
            (ip("192.0.2.1"), state("Up")),
        ]
        .into_iter()
        .collect();
        let mut kept = BTreeMap::new();
        let said = keep_bfd_up(&applied, &mut want, &bfd, &mut kept);
        // Only the mesh peer with BFD Up is kept.
        let addrs: Vec<String> = want.keys().map(ToString::to_string).collect();
        assert_eq!(addrs, ["10.1.0.2", "10.1.0.3"]);
        assert_eq!(kept.get(&ip("10.1.0.3")).map(String::as_str), Some("n3"));
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].contains("10.1.0.3 (Node n3)"), "{said:?}");
        // Next round, still Up: kept, nothing said again.
        let mut want2: BTreeMap<_, _> = [named("10.1.0.2", PeerKind::Mesh)].into_iter().collect();
        assert!(keep_bfd_up(&applied, &mut want2, &bfd, &mut kept).is_empty());
        assert!(want2.contains_key(&ip("10.1.0.3")));
        // BFD goes Down: let go, and said.
        let down: HashMap<IpAddr, BfdState> =
            [(ip("10.1.0.3"), state("Down"))].into_iter().collect();
        let mut want3: BTreeMap<_, _> = [named("10.1.0.2", PeerKind::Mesh)].into_iter().collect();
        let said = keep_bfd_up(&applied, &mut want3, &down, &mut kept);
        assert!(!want3.contains_key(&ip("10.1.0.3")));
        assert!(kept.is_empty());
        assert!(
            said.len() == 1 && said[0].contains("no longer kept"),
            "{said:?}"
        );
    }
}
