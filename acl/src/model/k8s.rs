//! Kubernetes `networking.k8s.io/v1` `NetworkPolicy`: the YAML shape and its conversion
//! to [`Policy`] the way Calico converts it (order 1000, allow rules only, one rule per
//! peer and protocol).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::calico::{validate_rule, Metadata};
use super::directions::directions;
use super::{
    child, index, parse_net, parse_nets, Action, Entity, FieldError, PathSeg, Policy, PolicyId,
    PolicyKind, PortRange, Protocol, Rule,
};
use crate::selector::Selector;

/// Order given to Kubernetes policies (as Calico).
pub const K8S_ORDER: f64 = 1000.0;

/// A Kubernetes NetworkPolicy document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct K8sPolicyDoc {
    /// `networking.k8s.io/v1`.
    pub api_version: String,
    /// `NetworkPolicy`.
    pub kind: String,
    /// Name and namespace.
    pub metadata: Metadata,
    /// The policy.
    pub spec: K8sSpec,
    /// Ignored (server-set; `kubectl get -o yaml` prints `status: {}`).
    #[serde(default)]
    pub status: Option<serde_yaml::Value>,
}

/// `spec`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct K8sSpec {
    /// Pods the policy applies to.
    pub pod_selector: LabelSelector,
    /// `Ingress`, `Egress`.
    #[serde(default)]
    pub policy_types: Option<Vec<String>>,
    /// Ingress rules.
    #[serde(default)]
    pub ingress: Option<Vec<IngressRule>>,
    /// Egress rules.
    #[serde(default)]
    pub egress: Option<Vec<EgressRule>>,
    /// `StagedKubernetesNetworkPolicy`: `Set` (default) or `Delete`.
    #[serde(default)]
    pub staged_action: Option<String>,
}

/// A Kubernetes label selector.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    /// Exact label matches.
    #[serde(default)]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Set-based requirements.
    #[serde(default)]
    pub match_expressions: Option<Vec<Requirement>>,
}

/// One `matchExpressions` item.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// In, NotIn, Exists, DoesNotExist.
    pub operator: String,
    /// Values for In/NotIn.
    #[serde(default)]
    pub values: Option<Vec<String>>,
}

/// An ingress rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// Sources (any when absent or empty).
    #[serde(default)]
    pub from: Option<Vec<Peer>>,
    /// Destination ports (any when absent or empty).
    #[serde(default)]
    pub ports: Option<Vec<K8sPort>>,
}

/// An egress rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRule {
    /// Destinations (any when absent or empty).
    #[serde(default)]
    pub to: Option<Vec<Peer>>,
    /// Destination ports (any when absent or empty).
    #[serde(default)]
    pub ports: Option<Vec<K8sPort>>,
}

/// A peer of a rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Peer {
    /// CIDR with exceptions.
    #[serde(default)]
    pub ip_block: Option<IpBlock>,
    /// Pods (in the policy's namespace unless `namespaceSelector` is set).
    #[serde(default)]
    pub pod_selector: Option<LabelSelector>,
    /// Namespaces.
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
}

/// `ipBlock`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpBlock {
    /// Allowed CIDR.
    pub cidr: String,
    /// CIDRs carved out of `cidr`.
    #[serde(default)]
    pub except: Option<Vec<String>>,
}

/// A port entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct K8sPort {
    /// TCP (default), UDP or SCTP.
    #[serde(default)]
    pub protocol: Option<String>,
    /// Port number (named ports are not supported); all ports when absent.
    #[serde(default)]
    pub port: Option<super::calico::PortValue>,
    /// Last port of a range starting at `port`.
    #[serde(default)]
    pub end_port: Option<u16>,
}

/// Converts a Kubernetes label selector to a Calico selector.
pub fn convert_selector(path: &[PathSeg], ls: &LabelSelector) -> Result<Selector, FieldError> {
    let mut sel = Selector::All;
    crate::names::check_labels(&child(path, "matchLabels"), ls.match_labels.as_ref())?;
    for (k, v) in ls.match_labels.iter().flatten() {
        sel = sel.and(Selector::Eq(k.clone(), v.clone()));
    }
    let exprs_path = child(path, "matchExpressions");
    for (i, r) in ls.match_expressions.iter().flatten().enumerate() {
        let p = index(&exprs_path, i);
        crate::names::check_label_key(&child(&p, "key"), &r.key)?;
        for (j, v) in r.values.iter().flatten().enumerate() {
            crate::names::check_label_value(&index(&child(&p, "values"), j), v)?;
        }
        let mut values = r.values.clone().unwrap_or_default();
        values.sort();
        values.dedup();
        let need_values = |values: &Vec<String>| {
            if values.is_empty() {
                Err(FieldError::new(
                    &child(&p, "values"),
                    format!("operator {} needs values", r.operator),
                ))
            } else {
                Ok(())
            }
        };
        let s = match r.operator.as_str() {
            "In" => {
                need_values(&values)?;
                Selector::In(r.key.clone(), values)
            }
            "NotIn" => {
                need_values(&values)?;
                Selector::NotIn(r.key.clone(), values)
            }
            "Exists" => Selector::Has(r.key.clone()),
            "DoesNotExist" => Selector::Not(Box::new(Selector::Has(r.key.clone()))),
            other => {
                return Err(FieldError::new(
                    &child(&p, "operator"),
                    format!("unknown operator `{other}` (In, NotIn, Exists, DoesNotExist)"),
                ))
            }
        };
        sel = sel.and(s);
    }
    Ok(sel)
}

fn peer(path: &[PathSeg], p: &Peer) -> Result<Entity, FieldError> {
    let mut e = Entity::default();
    if let Some(b) = &p.ip_block {
        if p.pod_selector.is_some() || p.namespace_selector.is_some() {
            return Err(FieldError::new(
                path,
                "ipBlock cannot be combined with podSelector or namespaceSelector",
            ));
        }
        let bp = child(path, "ipBlock");
        let cidr = parse_net(&child(&bp, "cidr"), &b.cidr)?;
        let except = parse_nets(
            &child(&bp, "except"),
            b.except.as_deref().unwrap_or_default(),
        )?;
        for (i, x) in except.iter().enumerate() {
            if !cidr.contains(x) {
                return Err(FieldError::new(
                    &index(&child(&bp, "except"), i),
                    format!("except {x} is not inside cidr {cidr}"),
                ));
            }
        }
        e.nets = vec![cidr];
        e.not_nets = except;
        return Ok(e);
    }
    if p.pod_selector.is_none() && p.namespace_selector.is_none() {
        return Err(FieldError::new(
            path,
            "a peer needs ipBlock, podSelector or namespaceSelector",
        ));
    }
    e.selector = Some(match &p.pod_selector {
        Some(ls) => convert_selector(&child(path, "podSelector"), ls)?,
        None => Selector::All,
    });
    if let Some(ls) = &p.namespace_selector {
        e.namespace_selector = Some(convert_selector(&child(path, "namespaceSelector"), ls)?);
    }
    Ok(e)
}

/// Numeric ports and named ports of one protocol.
type Ports = (Vec<PortRange>, Vec<String>);
/// `(protocol, ports, named ports)`.
type PortGroup = (Protocol, Vec<PortRange>, Vec<String>);

/// Groups port entries by protocol: `(protocol, ports, named ports)`; no ports and no
/// names = every port.
fn port_groups(path: &[PathSeg], ports: &[K8sPort]) -> Result<Vec<PortGroup>, FieldError> {
    // None: every port of the protocol.
    let mut groups: BTreeMap<Protocol, Option<Ports>> = BTreeMap::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = index(path, i);
        let proto = match p.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            other => {
                return Err(FieldError::new(
                    &child(&pp, "protocol"),
                    format!("unknown protocol `{other}` (TCP, UDP or SCTP)"),
                ))
            }
        };
        let mut name = None;
        let range = match &p.port {
            None => {
                if p.end_port.is_some() {
                    return Err(FieldError::new(
                        &child(&pp, "endPort"),
                        "endPort needs port",
                    ));
                }
                None
            }
            Some(super::calico::PortValue::Text(t)) if super::is_port_name(t) => {
                if p.end_port.is_some() {
                    return Err(FieldError::new(
                        &child(&pp, "endPort"),
                        "endPort needs a numeric port",
                    ));
                }
                name = Some(t.clone());
                None
            }
            Some(v) => {
                let text = match v {
                    super::calico::PortValue::Num(n) => n.to_string(),
                    super::calico::PortValue::Text(s) => s.clone(),
                };
                if text.contains(':') {
                    return Err(FieldError::new(
                        &child(&pp, "port"),
                        "use endPort for a range",
                    ));
                }
                let mut r = super::parse_port(&text)
                    .map_err(|m| FieldError::new(&child(&pp, "port"), m))?;
                if let Some(end) = p.end_port {
                    if end < r.first {
                        return Err(FieldError::new(
                            &child(&pp, "endPort"),
                            "endPort is below port",
                        ));
                    }
                    r.last = end;
                }
                Some(r)
            }
        };
        let slot = groups
            .entry(proto)
            .or_insert_with(|| Some((Vec::new(), Vec::new())));
        match (slot.as_mut(), range, name) {
            (Some((list, _)), Some(r), _) => list.push(r),
            (Some((_, names)), None, Some(n)) => names.push(n),
            (_, None, None) => *slot = None,
            (None, _, _) => {}
        }
    }
    Ok(groups
        .into_iter()
        .map(|(p, g)| {
            let (r, n) = g.unwrap_or_default();
            (p, r, n)
        })
        .collect())
}

fn expand(
    path: &[PathSeg],
    peers_key: &str,
    peers: &Option<Vec<Peer>>,
    ports: &Option<Vec<K8sPort>>,
    ingress: bool,
) -> Result<Vec<Rule>, FieldError> {
    let peer_path = child(path, peers_key);
    let entities: Vec<Entity> = match peers.as_deref() {
        None | Some([]) => vec![Entity::default()],
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, p)| peer(&index(&peer_path, i), p))
            .collect::<Result<_, _>>()?,
    };
    let groups = port_groups(&child(path, "ports"), ports.as_deref().unwrap_or_default())?;
    let mut out = Vec::new();
    for e in &entities {
        let push = |protocol: Option<Protocol>, ports: Vec<PortRange>, named: Vec<String>| {
            let mut r = Rule::any(Action::Allow);
            r.protocol = protocol;
            if !ingress {
                r.destination = e.clone();
            } else {
                r.source = e.clone();
            }
            r.destination.ports = ports;
            r.destination.named_ports = named;
            r
        };
        if groups.is_empty() {
            out.push(push(None, Vec::new(), Vec::new()));
        }
        for (proto, ports, named) in &groups {
            out.push(push(Some(*proto), ports.clone(), named.clone()));
        }
    }
    for r in &out {
        validate_rule(path, r)?;
    }
    Ok(out)
}

/// Converts a `StagedKubernetesNetworkPolicy` (`projectcalico.org/v3`, a Kubernetes
/// NetworkPolicy spec plus `stagedAction`): the policy it stages and the action.
pub fn convert_staged(doc: &K8sPolicyDoc) -> Result<super::StagedPolicy, FieldError> {
    let spec = child(&[], "spec");
    let action = super::StagedAction::parse(&spec, doc.spec.staged_action.as_deref())?;
    if doc.api_version != "projectcalico.org/v3" {
        return Err(FieldError::new(
            &child(&[], "apiVersion"),
            "a StagedKubernetesNetworkPolicy needs apiVersion projectcalico.org/v3",
        ));
    }
    Ok(super::StagedPolicy {
        policy: convert_inner(doc)?,
        action,
    })
}

/// Converts a Kubernetes NetworkPolicy document.
pub fn convert(doc: &K8sPolicyDoc) -> Result<Policy, FieldError> {
    let root: &[PathSeg] = &[];
    if doc.spec.staged_action.is_some() {
        return Err(FieldError::new(
            &child(&child(root, "spec"), "stagedAction"),
            "stagedAction is for StagedKubernetesNetworkPolicy",
        ));
    }
    convert_inner(doc)
}

fn convert_inner(doc: &K8sPolicyDoc) -> Result<Policy, FieldError> {
    let root: &[PathSeg] = &[];
    if doc.api_version != "networking.k8s.io/v1" && doc.kind != "StagedKubernetesNetworkPolicy" {
        return Err(FieldError::new(
            &child(root, "apiVersion"),
            "Kubernetes NetworkPolicy needs apiVersion networking.k8s.io/v1",
        ));
    }
    crate::names::check_metadata(
        &child(root, "metadata"),
        &doc.metadata.name,
        doc.metadata.namespace.as_deref(),
    )?;
    crate::names::check_labels(
        &child(&child(root, "metadata"), "labels"),
        doc.metadata.labels.as_ref(),
    )?;
    let sp = child(root, "spec");
    let s = &doc.spec;
    let selector = convert_selector(&child(&sp, "podSelector"), &s.pod_selector)?;
    let mut ingress = Vec::new();
    for (i, r) in s.ingress.iter().flatten().enumerate() {
        ingress.extend(expand(
            &index(&child(&sp, "ingress"), i),
            "from",
            &r.from,
            &r.ports,
            true,
        )?);
    }
    let mut egress = Vec::new();
    for (i, r) in s.egress.iter().flatten().enumerate() {
        egress.extend(expand(
            &index(&child(&sp, "egress"), i),
            "to",
            &r.to,
            &r.ports,
            false,
        )?);
    }
    let (has_in, has_out) = directions(
        &sp,
        "policyTypes",
        "policy type",
        s.policy_types.as_deref(),
        s.egress.is_some(),
    )?;
    Ok(Policy {
        id: PolicyId {
            kind: PolicyKind::Kubernetes,
            namespace: Some(
                doc.metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_string()),
            ),
            name: doc.metadata.name.clone(),
        },
        tier: None,
        apply_on_forward: false,
        pre_dnat: false,
        do_not_track: false,
        order: Some(K8S_ORDER),
        selector,
        namespace_selector: None,
        ingress: has_in.then_some(ingress),
        egress: has_out.then_some(egress),
    })
}
