//! The resource kinds tern knows: their Calico names, the names the CLI accepts
//! (singular, plural, short, any case), whether they live in a namespace, and the
//! segment they use in datastore keys.

use std::fmt;

/// `apiVersion` of Calico's resources.
pub const CALICO_API: &str = "projectcalico.org/v3";
/// `apiVersion` of Kubernetes NetworkPolicy.
pub const K8S_NETWORKING_API: &str = "networking.k8s.io/v1";
/// `apiVersion` of Kubernetes Namespace.
pub const K8S_CORE_API: &str = "v1";

/// A resource kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `Node`: a host, its BGP addresses and AS.
    Node,
    /// `IPPool`: where workload addresses come from.
    IpPool,
    /// `BGPConfiguration`: cluster-wide (`default`) or per node (`node.NAME`) BGP settings.
    BgpConfiguration,
    /// `BGPPeer`: a BGP neighbour for all nodes or some.
    BgpPeer,
    /// `NetworkSet` (namespaced): labelled CIDRs that selectors can match.
    NetworkSet,
    /// `GlobalNetworkSet`: labelled CIDRs, cluster-wide.
    GlobalNetworkSet,
    /// `HostEndpoint`: a host interface under policy.
    HostEndpoint,
    /// `WorkloadEndpoint` (namespaced): a container's interface (written by agents).
    WorkloadEndpoint,
    /// Calico `NetworkPolicy` (namespaced).
    NetworkPolicy,
    /// Calico `GlobalNetworkPolicy`.
    GlobalNetworkPolicy,
    /// Kubernetes `NetworkPolicy` (`networking.k8s.io/v1`, namespaced).
    KubernetesNetworkPolicy,
    /// Kubernetes `Namespace` (`v1`): labels for namespace selectors.
    Namespace,
    /// Calico `Tier`: an ordered group of policies with a default action.
    Tier,
}

impl Kind {
    /// Every kind, in the order `tern get all` would list them.
    pub const ALL: [Kind; 13] = [
        Kind::Node,
        Kind::IpPool,
        Kind::BgpConfiguration,
        Kind::BgpPeer,
        Kind::NetworkSet,
        Kind::GlobalNetworkSet,
        Kind::HostEndpoint,
        Kind::WorkloadEndpoint,
        Kind::NetworkPolicy,
        Kind::GlobalNetworkPolicy,
        Kind::KubernetesNetworkPolicy,
        Kind::Namespace,
        Kind::Tier,
    ];

    /// The `kind:` value in YAML.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Node => "Node",
            Kind::IpPool => "IPPool",
            Kind::BgpConfiguration => "BGPConfiguration",
            Kind::BgpPeer => "BGPPeer",
            Kind::NetworkSet => "NetworkSet",
            Kind::GlobalNetworkSet => "GlobalNetworkSet",
            Kind::HostEndpoint => "HostEndpoint",
            Kind::WorkloadEndpoint => "WorkloadEndpoint",
            Kind::NetworkPolicy | Kind::KubernetesNetworkPolicy => "NetworkPolicy",
            Kind::GlobalNetworkPolicy => "GlobalNetworkPolicy",
            Kind::Namespace => "Namespace",
            Kind::Tier => "Tier",
        }
    }

    /// The `apiVersion:` value in YAML.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::KubernetesNetworkPolicy => K8S_NETWORKING_API,
            Kind::Namespace => K8S_CORE_API,
            _ => CALICO_API,
        }
    }

    /// The kind of a document's `kind` and `apiVersion` (the API only tells the two
    /// `NetworkPolicy` kinds apart; `Namespace` takes `v1` or none).
    pub fn from_document(kind: &str, api_version: &str) -> Option<Kind> {
        if kind == "NetworkPolicy" && api_version == K8S_NETWORKING_API {
            return Some(Kind::KubernetesNetworkPolicy);
        }
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == kind && *k != Kind::KubernetesNetworkPolicy)
    }

    /// True for kinds whose objects live in a namespace.
    pub fn namespaced(self) -> bool {
        matches!(
            self,
            Kind::NetworkSet
                | Kind::WorkloadEndpoint
                | Kind::NetworkPolicy
                | Kind::KubernetesNetworkPolicy
        )
    }

    /// The lower-case plural used in datastore keys and accepted by the CLI.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Node => "nodes",
            Kind::IpPool => "ippools",
            Kind::BgpConfiguration => "bgpconfigurations",
            Kind::BgpPeer => "bgppeers",
            Kind::NetworkSet => "networksets",
            Kind::GlobalNetworkSet => "globalnetworksets",
            Kind::HostEndpoint => "hostendpoints",
            Kind::WorkloadEndpoint => "workloadendpoints",
            Kind::NetworkPolicy => "networkpolicies",
            Kind::GlobalNetworkPolicy => "globalnetworkpolicies",
            Kind::KubernetesNetworkPolicy => "kubernetesnetworkpolicies",
            Kind::Namespace => "namespaces",
            Kind::Tier => "tiers",
        }
    }

    /// Short names, as calicoctl and kubectl accept them.
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Node => &["no"],
            Kind::IpPool => &["ipp", "pool", "pools"],
            Kind::BgpConfiguration => &["bgpconfig", "bgpconfigs"],
            Kind::BgpPeer => &["bgpp", "peer", "peers"],
            Kind::NetworkSet => &["netset", "netsets"],
            Kind::GlobalNetworkSet => &["gns", "globalnetset", "globalnetsets"],
            Kind::HostEndpoint => &["hep", "heps"],
            Kind::WorkloadEndpoint => &["wep", "weps"],
            Kind::NetworkPolicy => &["np", "netpol", "policy", "policies"],
            Kind::GlobalNetworkPolicy => &["gnp", "gnps", "globalpolicy", "globalpolicies"],
            Kind::KubernetesNetworkPolicy => &["knp", "k8snetworkpolicy", "k8snetworkpolicies"],
            Kind::Namespace => &["ns"],
            Kind::Tier => &[],
        }
    }

    /// The kind a command-line word names: the kind (`IPPool`), its plural (`ippools`) or
    /// a short name (`gnp`), in any case.
    pub fn from_cli(word: &str) -> Option<Kind> {
        let w = word.to_ascii_lowercase();
        Kind::ALL.into_iter().find(|k| {
            (k.name().to_ascii_lowercase() == w && *k != Kind::KubernetesNetworkPolicy)
                || k.plural() == w
                || k.short_names().contains(&w.as_str())
        })
    }

    /// Every word [`Kind::from_cli`] accepts for this kind, for help and error texts.
    pub fn cli_words() -> String {
        Kind::ALL
            .iter()
            .map(|k| k.plural())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::KubernetesNetworkPolicy => f.write_str("NetworkPolicy (networking.k8s.io/v1)"),
            k => f.write_str(k.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_words_resolve() {
        assert_eq!(Kind::from_cli("nodes"), Some(Kind::Node));
        assert_eq!(Kind::from_cli("IPPool"), Some(Kind::IpPool));
        assert_eq!(Kind::from_cli("gnp"), Some(Kind::GlobalNetworkPolicy));
        assert_eq!(Kind::from_cli("bgppeers"), Some(Kind::BgpPeer));
        assert_eq!(Kind::from_cli("networkpolicy"), Some(Kind::NetworkPolicy));
        assert_eq!(Kind::from_cli("knp"), Some(Kind::KubernetesNetworkPolicy));
        assert_eq!(Kind::from_cli("frobs"), None);
        for k in Kind::ALL {
            assert_eq!(Kind::from_cli(k.plural()), Some(k));
            assert_eq!(Kind::from_document(k.name(), k.api_version()), Some(k));
        }
    }
}
