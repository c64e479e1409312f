//! `addPaths` of a peer or the mesh: ADD-PATH (RFC 7911), several paths per prefix on
//! one session. The words are BIRD's meaning (`add paths rx | tx | on | off`), which
//! are also accepted.

use serde::Deserialize;

/// `addPaths`: what we advertise in the ADD-PATH capability for each family of the
/// session. Each direction is used only when the peer agrees (it must advertise the
/// opposite one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddPaths {
    /// `off` (the default): one path per prefix each way.
    #[default]
    Off,
    /// `receive` (BIRD `rx`): the peer may send us several paths per prefix (a route
    /// reflector's ECMP paths); they form one ECMP route in the FIB.
    #[serde(alias = "rx")]
    Receive,
    /// `send` (BIRD `tx`): we send the peer every path of a prefix's ECMP set, each
    /// with a path identifier, instead of the best path alone.
    #[serde(alias = "tx")]
    Send,
    /// `both` (BIRD `on`): receive and send.
    #[serde(alias = "on")]
    Both,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::NodeConfig;
    use super::AddPaths;

    const HEAD: &str = "\
nodeName: a
asNumber: 64512
routerId: 192.0.2.1
listen: { address: 192.0.2.1 }
";

    #[test]
    fn peers_and_the_mesh_take_our_words_and_birds() {
        let text = format!(
            "{HEAD}nodeToNodeMesh: {{ enabled: true, peers: [192.0.2.2], addPaths: receive }}
peers:
  - {{ peerIP: 10.0.0.1, asNumber: 64512, addPaths: both }}
  - {{ peerIP: 10.0.0.2, asNumber: 64512, addPaths: tx }}
  - {{ peerIP: 10.0.0.3, asNumber: 64512 }}
"
        );
        let c = NodeConfig::from_str(Path::new("n.yaml"), &text).unwrap();
        let modes: Vec<AddPaths> = c.peers.iter().map(|p| p.add_paths).collect();
        use AddPaths::*;
        assert_eq!(modes, [Receive, Both, Send, Off]);
    }

    #[test]
    fn a_bad_word_is_a_located_error() {
        let text = format!("{HEAD}peers: [{{ peerIP: 10.0.0.1, asNumber: 1, addPaths: all }}]\n");
        let errs: Vec<String> = NodeConfig::from_str(Path::new("n.yaml"), &text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("n.yaml:5:"), "{errs:?}");
        assert!(
            errs[0].contains("addPaths") || errs[0].contains("receive"),
            "{errs:?}"
        );
    }
}
