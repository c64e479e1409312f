//! From the node config to what each part is started with: the speaker's peers and
//! policies, the controller's table settings, the policy compiler's options. Pure.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bgp::policy::ImportPolicy;
use bgp::rib::{LimitAction, PrefixLimit};
use bgp::session::GracefulRestartConfig;
use bgp::speaker::{PeerConfig, PeerKind, SpeakerConfig};
use bgp::wire::AddPathMode;
use config::node::{self, NodeConfig};
use controller::{ControllerConfig, TableConfig};

/// One configured peer as the speaker takes it (the `nodeToNodeMesh` section's settings
/// too, for etcd mode's mesh).
pub fn peer_config(p: &node::Peer) -> Result<PeerConfig, String> {
    let password =
        match &p.password {
            None => None,
            Some(pw) => Some(String::from_utf8(pw.as_bytes().to_vec()).map_err(|_| {
                format!("peer {}: the TCP-MD5 password is not UTF-8 text", p.address)
            })?),
        };
    // The config fills keepaliveTime with a third of holdTime when it is not set; the
    // speaker then derives it from the *negotiated* hold time, which is what RFC 4271
    // asks when the peer offers a shorter hold time than ours.
    let keepalive = if p.keepalive_time == p.hold_time / 3 {
        None
    } else {
        Some(p.keepalive_time)
    };
    Ok(PeerConfig {
        address: p.address,
        port: p.port,
        asn: p.as_number,
        kind: match p.kind {
            node::PeerKind::Mesh => PeerKind::Mesh,
            node::PeerKind::Global => PeerKind::Global,
        },
        passive: p.passive,
        hold_time: p.hold_time,
        keepalive,
        connect_retry: p.connect_retry_time,
        password,
        ttl_security: p.ttl_security,
        route_reflector_client: p.route_reflector_client,
        source_address: p.source_address,
        import_limit: p.import_limit.map(prefix_limit),
        receive_limit: p.receive_limit.map(prefix_limit),
        description: p.description.clone(),
        add_path: match p.add_paths {
            node::AddPaths::Off => None,
            node::AddPaths::Receive => Some(AddPathMode::Receive),
            node::AddPaths::Send => Some(AddPathMode::Send),
            node::AddPaths::Both => Some(AddPathMode::Both),
        },
    })
}

/// The speaker's configuration: our blocks originated, import = pools minus own blocks,
/// mesh peers (our AS) then global peers. A peer at one of our own addresses is skipped
/// and named in the returned notes.
pub fn speaker_config(cfg: &NodeConfig) -> Result<(SpeakerConfig, Vec<String>), String> {
    let mut peers = Vec::new();
    let mut notes = Vec::new();
    for p in &cfg.peers {
        if p.address == IpAddr::V4(cfg.router_id) || p.address == cfg.listen.address {
            notes.push(format!(
                "peer {} is this node's own address; skipped",
                p.address
            ));
            continue;
        }
        peers.push(peer_config(p)?);
    }
    Ok((
        SpeakerConfig {
            asn: cfg.as_number,
            router_id: cfg.router_id,
            listen: Some(SocketAddr::new(cfg.listen.address, cfg.listen.port)),
            cluster_id: cfg.route_reflector.map(|r| r.cluster_id),
            peers,
            originate: cfg.blocks.clone(),
            import: ImportPolicy {
                pools: cfg.pools.clone(),
                own_blocks: cfg.blocks.clone(),
            },
            graceful_restart: cfg.graceful_restart.enabled.then(|| GracefulRestartConfig {
                restart_time: cfg.graceful_restart.restart_time,
                ..GracefulRestartConfig::default()
            }),
        },
        notes,
    ))
}

/// What learned routes may not take over, without the host's subnets (read at run
/// time): the configured peers and `fib.allowDefault`.
pub fn guard(cfg: &NodeConfig) -> super::guard::Guard {
    super::guard::Guard {
        connected: Vec::new(),
        peers: {
            let mut v: Vec<IpAddr> = cfg.peers.iter().map(|p| p.address.to_canonical()).collect();
            v.sort_unstable();
            v.dedup();
            v
        },
        allow_default: cfg.fib.allow_default,
    }
}

/// A peer's prefix limit for the RIB.
fn prefix_limit(l: node::PrefixLimit) -> PrefixLimit {
    PrefixLimit {
        max: l.max_prefixes,
        action: match l.action {
            node::LimitAction::Warn => LimitAction::Warn,
            node::LimitAction::Block => LimitAction::Block,
            node::LimitAction::Restart => LimitAction::Restart,
            node::LimitAction::Disable => LimitAction::Disable,
        },
    }
}

/// The controller's settings (`fib` section); it programs the namespace the agent runs in.
pub fn controller_config(cfg: &NodeConfig) -> ControllerConfig {
    ControllerConfig {
        table: TableConfig {
            table: cfg.fib.table,
            protocol: cfg.fib.protocol,
            ecmp: cfg.fib.ecmp,
            metric: cfg.fib.metric,
            nexthop_objects: cfg.fib.nexthop_objects,
        },
        netns: None,
        resync_interval: Duration::from_secs(30),
        ..ControllerConfig::default()
    }
}

/// The policy compiler's options (failsafe ports from the `policy` section).
pub fn compile_options(cfg: &NodeConfig) -> acl::compile::CompileOptions {
    let conv = |ports: &[node::FailsafePort]| {
        ports
            .iter()
            .map(|p| acl::ir::FailsafePort {
                protocol: match p.protocol {
                    node::Protocol::Tcp => acl::model::Protocol::Tcp,
                    node::Protocol::Udp => acl::model::Protocol::Udp,
                },
                port: p.port,
            })
            .collect()
    };
    acl::compile::CompileOptions {
        failsafe_in: conv(&cfg.policy.failsafe_inbound_host_ports),
        failsafe_out: conv(&cfg.policy.failsafe_outbound_host_ports),
        ..acl::compile::CompileOptions::default()
    }
}

/// The ACL backend named in the config.
pub fn backend(cfg: &NodeConfig) -> acl::render::Backend {
    match cfg.policy.backend {
        node::Backend::Nftables => acl::render::Backend::Nftables,
        node::Backend::Iptables => acl::render::Backend::Iptables,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn graceful_restart_follows_the_config() {
        let head = "nodeName: a\nasNumber: 64512\nrouterId: 10.0.0.1\n";
        let cfg = NodeConfig::from_str(Path::new("n.yaml"), head).unwrap();
        let (s, _) = speaker_config(&cfg).unwrap();
        let gr = s.graceful_restart.expect("on by default");
        assert_eq!(gr.restart_time, Duration::from_secs(120));
        assert!(gr.forwarding_preserved);

        let text = format!("{head}gracefulRestart: {{restartTime: 30s}}\n");
        let cfg = NodeConfig::from_str(Path::new("n.yaml"), &text).unwrap();
        let (s, _) = speaker_config(&cfg).unwrap();
        assert_eq!(
            s.graceful_restart.map(|g| g.restart_time),
            Some(Duration::from_secs(30))
        );

        let text = format!("{head}gracefulRestart: {{enabled: false}}\n");
        let cfg = NodeConfig::from_str(Path::new("n.yaml"), &text).unwrap();
        let (s, _) = speaker_config(&cfg).unwrap();
        assert_eq!(s.graceful_restart, None);
    }

    #[test]
    fn mesh_and_global_peers_and_import_policy() {
        let text = "nodeName: a\nasNumber: 64512\nrouterId: 10.0.0.1\nlisten: {address: 10.0.0.1}\n\
                    blocks: [10.244.1.0/24]\npools: [10.244.0.0/16]\n\
                    nodeToNodeMesh: {peers: [10.0.0.2], holdTime: 9s}\n\
                    peers:\n  - {peerIP: 10.0.0.254, asNumber: 65000, keepaliveTime: 5s, holdTime: 30s}\n";
        let cfg = NodeConfig::from_str(Path::new("n.yaml"), text).unwrap();
        let (s, notes) = speaker_config(&cfg).unwrap();
        assert!(notes.is_empty());
        assert_eq!(s.peers.len(), 2);
        assert_eq!(s.peers[0].kind, PeerKind::Mesh);
        assert_eq!(s.peers[0].asn, 64512);
        assert_eq!(s.peers[0].keepalive, None);
        assert_eq!(s.peers[0].hold_time, Duration::from_secs(9));
        assert_eq!(s.peers[1].kind, PeerKind::Global);
        assert_eq!(s.peers[1].keepalive, Some(Duration::from_secs(5)));
        assert_eq!(s.originate, cfg.blocks);
        assert_eq!(s.import.own_blocks, cfg.blocks);
        assert_eq!(s.import.pools, cfg.pools);
        assert_eq!(s.listen, Some("10.0.0.1:179".parse().unwrap()));
        let c = controller_config(&cfg);
        assert_eq!(c.table.protocol, 201);
        assert!(c.table.ecmp);
        assert_eq!(c.table.metric, 2048);
        assert_eq!(
            (s.peers[0].import_limit, s.peers[0].receive_limit),
            (None, None)
        );
    }

    #[test]
    fn prefix_limits_of_the_mesh_and_of_peers() {
        let text = "nodeName: a\nasNumber: 64512\nrouterId: 10.0.0.1\n\
                    nodeToNodeMesh: {peers: [10.0.0.2], maxPrefixes: 500, receiveLimit: {maxPrefixes: 2000, action: disable}}\n\
                    peers:\n  - {peerIP: 10.0.0.254, asNumber: 65000, importLimit: {maxPrefixes: 10, action: warn}}\n";
        let cfg = NodeConfig::from_str(Path::new("n.yaml"), text).unwrap();
        let (s, _) = speaker_config(&cfg).unwrap();
        assert_eq!(s.peers[0].import_limit, Some(PrefixLimit::restart(500)));
        assert_eq!(
            s.peers[0].receive_limit,
            Some(PrefixLimit {
                max: 2000,
                action: LimitAction::Disable
            })
        );
        assert_eq!(
            s.peers[1].import_limit,
            Some(PrefixLimit {
                max: 10,
                action: LimitAction::Warn
            })
        );
        assert_eq!(s.peers[1].receive_limit, None);
    }
}
