//! Which documents the loader reads, skips or refuses, by `kind` and `apiVersion`: the
//! kinds tern enforces, the kinds other tools keep in the same files (`kubectl get -o
//! yaml` dumps, Helm charts) that are skipped with a warning, retired API versions and
//! Calico's internal CRD form, refused with a message that says what to write instead.

/// What to do with one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Class {
    /// Kubernetes `NetworkPolicy` (`networking.k8s.io/v1`).
    K8sPolicy,
    /// Calico `NetworkPolicy` / `GlobalNetworkPolicy` (`projectcalico.org/v3`).
    CalicoPolicy,
    /// tern's flat `WorkloadEndpoint`.
    Workload,
    /// tern's flat `HostEndpoint`.
    Host,
    /// Calico's `HostEndpoint` (`projectcalico.org/v3`: metadata + spec).
    CalicoHost,
    /// Calico's `WorkloadEndpoint` (`projectcalico.org/v3`: metadata + spec).
    CalicoWorkload,
    /// `Namespace` (flat or `v1`).
    Namespace,
    /// `NetworkSet` / `GlobalNetworkSet` (`projectcalico.org/v3`).
    NetworkSet,
    /// `StagedNetworkPolicy` / `StagedGlobalNetworkPolicy`: evaluated, not enforced.
    StagedCalico,
    /// `StagedKubernetesNetworkPolicy`: evaluated, not enforced.
    StagedK8s,
    /// Calico `Tier`.
    Tier,
    /// Kubernetes `ServiceAccount` (`v1`): labels for service-account selectors.
    ServiceAccount,
    /// A kind tern does not enforce: skipped, with this warning.
    Skip(String),
    /// Refused: this message, at `apiVersion`.
    RefuseApi(String),
    /// Refused: this message, at `kind`.
    RefuseKind(String),
}

/// The kinds tern reads, for error messages.
pub(crate) const KNOWN: &str = "NetworkPolicy, GlobalNetworkPolicy, Tier, NetworkSet, GlobalNetworkSet, WorkloadEndpoint, HostEndpoint or Namespace";

/// Calico v3 kinds that configure something other than policy enforcement in files.
const CALICO_OTHER: &[&str] = &[
    "BGPConfiguration",
    "BGPFilter",
    "BGPPeer",
    "BlockAffinity",
    "CalicoNodeStatus",
    "ClusterInformation",
    "FelixConfiguration",
    "IPAMConfiguration",
    "IPPool",
    "IPReservation",
    "KubeControllersConfiguration",
    "Node",
    "Profile",
];

/// Kubernetes kinds of `v1` and of the common API groups that hold no network policy.
const K8S_OTHER: &[&str] = &[
    "ConfigMap",
    "CronJob",
    "DaemonSet",
    "Deployment",
    "Endpoints",
    "EndpointSlice",
    "Ingress",
    "IngressClass",
    "Job",
    "LimitRange",
    "Pod",
    "PodDisruptionBudget",
    "ReplicaSet",
    "ReplicationController",
    "ResourceQuota",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "Secret",
    "Service",
    "StatefulSet",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "HorizontalPodAutoscaler",
    "CustomResourceDefinition",
];

/// API versions of Kubernetes NetworkPolicy that the API server no longer serves.
const RETIRED_POLICY_APIS: &[&str] = &["extensions/v1beta1", "networking.k8s.io/v1beta1"];

/// Classifies a document by its `kind` and `apiVersion` (either may be empty).
pub(crate) fn classify(kind: &str, api: &str) -> Class {
    let calico = api == "projectcalico.org/v3";
    if api.starts_with("crd.projectcalico.org/") {
        return Class::RefuseApi(format!(
            "`{api}` is Calico's internal storage form (what `kubectl get` of Calico's CRDs prints); \
             tern reads `projectcalico.org/v3`, as `calicoctl get -o yaml` prints it"
        ));
    }
    match (kind, api) {
        ("NetworkPolicy", "networking.k8s.io/v1") => Class::K8sPolicy,
        ("NetworkPolicy", a) if RETIRED_POLICY_APIS.contains(&a) => Class::RefuseApi(format!(
            "API version {a} is retired; use networking.k8s.io/v1 (the spec is the same)"
        )),
        // A policy's apiVersion decides how it is read: a missing or unknown one is said
        // so, not reported as a field error of a guessed shape.
        ("NetworkPolicy" | "GlobalNetworkPolicy", "") => Class::RefuseApi(format!(
            "missing apiVersion: a {kind} needs `projectcalico.org/v3`{}",
            if kind == "NetworkPolicy" {
                " (Calico) or `networking.k8s.io/v1` (Kubernetes)"
            } else {
                ""
            }
        )),
        ("NetworkPolicy" | "GlobalNetworkPolicy", a) if !calico => Class::RefuseApi(format!(
            "unknown apiVersion `{a}` for a {kind}: use `projectcalico.org/v3`{}",
            if kind == "NetworkPolicy" {
                " (Calico) or `networking.k8s.io/v1` (Kubernetes)"
            } else {
                ""
            }
        )),
        ("NetworkPolicy" | "GlobalNetworkPolicy", _) => Class::CalicoPolicy,
        ("NetworkSet" | "GlobalNetworkSet", _) => Class::NetworkSet,
        ("WorkloadEndpoint", _) if calico => Class::CalicoWorkload,
        ("WorkloadEndpoint", _) => Class::Workload,
        ("HostEndpoint", _) if calico => Class::CalicoHost,
        ("HostEndpoint", _) => Class::Host,
        ("Namespace", "" | "v1") => Class::Namespace,
        ("ServiceAccount", "v1") => Class::ServiceAccount,
        ("", _) => Class::RefuseKind(format!("missing `kind` ({KNOWN})")),
        (k, _) if calico && CALICO_OTHER.contains(&k) => Class::Skip(format!(
            "{k} skipped: not a policy kind tern enforces from policy files"
        )),
        ("Tier", _) if calico => Class::Tier,
        ("StagedKubernetesNetworkPolicy", _) if calico => Class::StagedK8s,
        ("StagedNetworkPolicy" | "StagedGlobalNetworkPolicy", _) if calico => Class::StagedCalico,
        (k, _) if !calico && !api.is_empty() && K8S_OTHER.contains(&k) => {
            Class::Skip(format!("{k} ({api}) skipped: not a policy kind"))
        }
        // Any other API group (not Calico's, not tern's flat form): another tool's
        // object in the same file.
        (k, a) if !calico && !a.is_empty() && !a.starts_with("networking.k8s.io/") => {
            Class::Skip(format!("{k} ({a}) skipped: not a policy kind"))
        }
        (k, _) => Class::RefuseKind(format!("unknown kind `{k}` ({KNOWN})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_unknown_policy_api_versions_are_named() {
        for (kind, api, want) in [
            ("NetworkPolicy", "", "missing apiVersion: a NetworkPolicy needs `projectcalico.org/v3` (Calico) or `networking.k8s.io/v1` (Kubernetes)"),
            ("GlobalNetworkPolicy", "", "missing apiVersion: a GlobalNetworkPolicy needs `projectcalico.org/v3`"),
            ("NetworkPolicy", "networking.k8s.io/v2", "unknown apiVersion `networking.k8s.io/v2` for a NetworkPolicy: use `projectcalico.org/v3` (Calico) or `networking.k8s.io/v1` (Kubernetes)"),
            ("GlobalNetworkPolicy", "projectcalico.org/v2", "unknown apiVersion `projectcalico.org/v2` for a GlobalNetworkPolicy: use `projectcalico.org/v3`"),
        ] {
            assert_eq!(classify(kind, api), Class::RefuseApi(want.to_string()), "{kind} {api}");
        }
    }

    #[test]
    fn policy_api_version_errors_are_located() {
        let text = "apiVersion: networking.k8s.io/v2\nkind: NetworkPolicy\nmetadata: { name: a, namespace: x }\nspec: { podSelector: {} }\n---\nkind: GlobalNetworkPolicy\nmetadata: { name: b }\nspec: { selector: all() }\n";
        let e = crate::loader::load_str(std::path::Path::new("p.yaml"), text)
            .expect_err("refused")
            .located();
        let e: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("p.yaml:1:13: apiVersion: unknown apiVersion `networking.k8s.io/v2`"),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("p.yaml:6:1: apiVersion: missing apiVersion: a GlobalNetworkPolicy"),
            "{e:?}"
        );
    }

    #[test]
    fn classes() {
        assert_eq!(
            classify("NetworkPolicy", "networking.k8s.io/v1"),
            Class::K8sPolicy
        );
        assert!(matches!(
            classify("Deployment", "apps/v1"),
            Class::Skip(m) if m.starts_with("Deployment (apps/v1) skipped")
        ));
        assert!(matches!(classify("Service", "v1"), Class::Skip(_)));
        assert!(matches!(
            classify("FelixConfiguration", "projectcalico.org/v3"),
            Class::Skip(_)
        ));
        // A typo in a Calico kind is an error, not silently skipped.
        assert!(matches!(
            classify("GlobalNetworkPolcy", "projectcalico.org/v3"),
            Class::RefuseKind(_)
        ));
        assert!(matches!(
            classify("NetworkPolicy", "extensions/v1beta1"),
            Class::RefuseApi(m) if m.contains("retired")
        ));
        assert!(matches!(
            classify("NetworkPolicy", "crd.projectcalico.org/v1"),
            Class::RefuseApi(m) if m.contains("projectcalico.org/v3")
        ));
        assert_eq!(
            classify("HostEndpoint", "projectcalico.org/v3"),
            Class::CalicoHost
        );
        assert_eq!(classify("HostEndpoint", ""), Class::Host);
        assert!(matches!(classify("Frob", ""), Class::RefuseKind(_)));
    }
}
