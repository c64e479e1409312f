//! Calico `projectcalico.org/v3` `NetworkPolicy` and `GlobalNetworkPolicy`: the YAML
//! shape (unknown fields are errors) and its conversion to [`Policy`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::directions::directions;
use super::{
    child, index, parse_nets, parse_port, parse_selector, Action, Entity, FieldError, Icmp,
    IpVersion, PathSeg, Policy, PolicyId, PolicyKind, PortRange, Protocol, Rule,
};

/// Object metadata (the fields tern reads, plus the ones `kubectl get -o yaml` adds).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// Object name.
    pub name: String,
    /// Namespace (namespaced kinds).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels (unused by policy evaluation).
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations (ignored).
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Ignored.
    #[serde(default)]
    pub uid: Option<serde_yaml::Value>,
    /// Ignored.
    #[serde(default)]
    pub resource_version: Option<serde_yaml::Value>,
    /// Ignored.
    #[serde(default)]
    pub generation: Option<serde_yaml::Value>,
    /// Ignored.
    #[serde(default)]
    pub creation_timestamp: Option<serde_yaml::Value>,
    /// Ignored (server-set: which client wrote which field).
    #[serde(default)]
    pub managed_fields: Option<serde_yaml::Value>,
    /// Ignored (server-set).
    #[serde(default)]
    pub self_link: Option<serde_yaml::Value>,
    /// Ignored (server-set).
    #[serde(default)]
    pub deletion_timestamp: Option<serde_yaml::Value>,
    /// Ignored (server-set).
    #[serde(default)]
    pub deletion_grace_period_seconds: Option<serde_yaml::Value>,
    /// Ignored.
    #[serde(default)]
    pub finalizers: Option<serde_yaml::Value>,
    /// Ignored.
    #[serde(default)]
    pub owner_references: Option<serde_yaml::Value>,
    /// Ignored.
    #[serde(default)]
    pub generate_name: Option<serde_yaml::Value>,
}

/// A Calico policy document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CalicoPolicyDoc {
    /// `projectcalico.org/v3`.
    pub api_version: String,
    /// `NetworkPolicy` or `GlobalNetworkPolicy`.
    pub kind: String,
    /// Name and namespace.
    pub metadata: Metadata,
    /// The policy.
    #[serde(default)]
    pub spec: Spec,
    /// Ignored (server-set; `kubectl get -o yaml` prints it).
    #[serde(default)]
    pub status: Option<serde_yaml::Value>,
}

/// `spec` of a Calico policy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    /// Evaluation order (lower first): a number, or a string holding one (`"10"`, as
    /// some generators write it).
    #[serde(default)]
    pub order: Option<OrderValue>,
    /// The tier (`default` when absent); a `Tier` document must declare it.
    #[serde(default)]
    pub tier: Option<String>,
    /// Endpoints the policy applies to.
    #[serde(default)]
    pub selector: Option<String>,
    /// (GlobalNetworkPolicy) namespaces whose endpoints the policy applies to.
    #[serde(default)]
    pub namespace_selector: Option<String>,
    /// `Ingress`, `Egress`.
    #[serde(default)]
    pub types: Option<Vec<String>>,
    /// Ingress rules.
    #[serde(default)]
    pub ingress: Option<Vec<RawRule>>,
    /// Egress rules.
    #[serde(default)]
    pub egress: Option<Vec<RawRule>>,
    /// (GlobalNetworkPolicy) untracked policy of host endpoints (needs `applyOnForward`).
    #[serde(default)]
    pub do_not_track: Option<bool>,
    /// (GlobalNetworkPolicy) host endpoints' ingress policy before DNAT (needs
    /// `applyOnForward`, ingress only).
    #[serde(default, rename = "preDNAT")]
    pub pre_dnat: Option<bool>,
    /// (GlobalNetworkPolicy) host endpoints: also police forwarded traffic.
    #[serde(default)]
    pub apply_on_forward: Option<bool>,
    /// Endpoints whose service account matches (with `selector`).
    #[serde(default)]
    pub service_account_selector: Option<String>,
    /// Staged policies: `Set` (default) or `Delete`.
    #[serde(default)]
    pub staged_action: Option<String>,
    /// Refused: tern has no performance hints.
    #[serde(default)]
    pub performance_hints: Option<serde_yaml::Value>,
}

/// `spec.order` as written: a number or a string holding one.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OrderValue {
    /// `10`, `10.5`.
    Num(f64),
    /// `"10"`.
    Text(String),
}

impl OrderValue {
    /// The order, when it is a finite number.
    pub fn value(&self) -> Option<f64> {
        match self {
            OrderValue::Num(n) => Some(*n),
            OrderValue::Text(t) => t.trim().parse::<f64>().ok(),
        }
        .filter(|n| n.is_finite())
    }
}

/// A protocol given as a name or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ProtoValue {
    /// `6`.
    Num(u64),
    /// `TCP`.
    Name(String),
}

/// A port given as a number or a string (`"80"`, `"8000:8080"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PortValue {
    /// `80`.
    Num(u64),
    /// `"8000:8080"`.
    Text(String),
}

/// `icmp` / `notICMP`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIcmp {
    /// ICMP type.
    #[serde(default)]
    pub r#type: Option<u8>,
    /// ICMP code.
    #[serde(default)]
    pub code: Option<u8>,
}

/// A Calico rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRule {
    /// Allow, Deny, Log, Pass.
    pub action: String,
    /// Protocol.
    #[serde(default)]
    pub protocol: Option<ProtoValue>,
    /// Negated protocol.
    #[serde(default)]
    pub not_protocol: Option<ProtoValue>,
    /// ICMP match.
    #[serde(default)]
    pub icmp: Option<RawIcmp>,
    /// Negated ICMP match.
    #[serde(default, rename = "notICMP")]
    pub not_icmp: Option<RawIcmp>,
    /// 4 or 6.
    #[serde(default)]
    pub ip_version: Option<u8>,
    /// Source match.
    #[serde(default)]
    pub source: Option<RawEntity>,
    /// Destination match.
    #[serde(default)]
    pub destination: Option<RawEntity>,
    /// Rule annotations (ignored).
    #[serde(default)]
    pub metadata: Option<serde_yaml::Value>,
    /// Refused: HTTP matches need an L7 proxy.
    #[serde(default)]
    pub http: Option<serde_yaml::Value>,
}

/// `source` / `destination` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawEntity {
    /// CIDRs.
    #[serde(default)]
    pub nets: Option<Vec<String>>,
    /// Negated CIDRs.
    #[serde(default)]
    pub not_nets: Option<Vec<String>>,
    /// Endpoint selector.
    #[serde(default)]
    pub selector: Option<String>,
    /// Negated endpoint selector.
    #[serde(default)]
    pub not_selector: Option<String>,
    /// Namespace selector.
    #[serde(default)]
    pub namespace_selector: Option<String>,
    /// Ports.
    #[serde(default)]
    pub ports: Option<Vec<PortValue>>,
    /// Negated ports.
    #[serde(default)]
    pub not_ports: Option<Vec<PortValue>>,
    /// Endpoints running as these service accounts.
    #[serde(default)]
    pub service_accounts: Option<RawServiceAccounts>,
    /// Refused: Kubernetes Services need the service's endpoints (EndpointSlices).
    #[serde(default)]
    pub services: Option<serde_yaml::Value>,
    /// Refused: DNS-based policy needs DNS snooping.
    #[serde(default)]
    pub domains: Option<serde_yaml::Value>,
}

/// `serviceAccounts` of a rule's source or destination.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServiceAccounts {
    /// Service account names (any of them).
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// Selector over the service accounts' labels.
    #[serde(default)]
    pub selector: Option<String>,
}

/// The selector an endpoint matches when its service account is one of `names` and the
/// account's labels match `selector` (Calico's `serviceAccounts` and
/// `serviceAccountSelector`): service-account labels are the endpoint's `pcsa.`-prefixed
/// labels, the name its `projectcalico.org/serviceaccount` label.
pub(crate) fn service_account_selector(
    path: &[PathSeg],
    names: Option<&[String]>,
    selector: Option<&str>,
) -> Result<crate::selector::Selector, FieldError> {
    use crate::selector::Selector;
    let mut sel = Selector::All;
    if let Some(names) = names {
        let mut names = names.to_vec();
        names.sort();
        names.dedup();
        sel = sel.and(Selector::In(
            crate::endpoint::LABEL_SERVICE_ACCOUNT.to_string(),
            names,
        ));
    }
    if let Some(text) = selector {
        let s = parse_selector(&child(path, "selector"), text)?;
        sel = sel.and(s.prefixed(crate::endpoint::SERVICE_ACCOUNT_LABEL_PREFIX));
    }
    Ok(sel)
}

fn proto(path: &[PathSeg], v: &ProtoValue) -> Result<Protocol, FieldError> {
    match v {
        ProtoValue::Num(n) => u8::try_from(*n)
            .map(Protocol::from_number)
            .map_err(|_| FieldError::new(path, format!("bad protocol number {n}"))),
        ProtoValue::Name(s) => Protocol::parse(s).ok_or_else(|| {
            FieldError::new(
                path,
                format!(
                    "unknown protocol `{s}` (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number)"
                ),
            )
        }),
    }
}

/// Numbers and ranges, and names (`http`) when `names` is given.
fn ports(
    path: &[PathSeg],
    list: &Option<Vec<PortValue>>,
    mut names: Option<&mut Vec<String>>,
    where_: &str,
) -> Result<Vec<PortRange>, FieldError> {
    let mut out = Vec::new();
    for (i, p) in list.iter().flatten().enumerate() {
        let text = match p {
            PortValue::Num(n) => n.to_string(),
            PortValue::Text(s) => s.clone(),
        };
        if super::is_port_name(&text) {
            match names.as_deref_mut() {
                Some(n) => {
                    n.push(text);
                    continue;
                }
                None => {
                    return Err(FieldError::new(
                        &index(path, i),
                        format!("named port `{text}` in {where_} is not supported by tern (named ports resolve on the destination endpoint; use a number here)"),
                    ))
                }
            }
        }
        out.push(parse_port(&text).map_err(|m| FieldError::new(&index(path, i), m))?);
    }
    Ok(out)
}

fn entity(path: &[PathSeg], raw: &Option<RawEntity>, dest: bool) -> Result<Entity, FieldError> {
    let Some(e) = raw else {
        return Ok(Entity::default());
    };
    let sel = |key: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| parse_selector(&child(path, key), s))
            .transpose()
    };
    if e.services.is_some() {
        return Err(FieldError::new(
            &child(path, "services"),
            "not supported by tern: matching a Kubernetes Service needs its endpoints (EndpointSlices), which tern does not watch; select the pods with `selector` instead",
        ));
    }
    if e.domains.is_some() {
        return Err(FieldError::new(
            &child(path, "domains"),
            "not supported by tern: domain names in policy need DNS snooping, which tern does not do; use `nets` or a NetworkSet",
        ));
    }
    let mut named = Vec::new();
    let mut selector = sel("selector", &e.selector)?;
    if let Some(sa) = &e.service_accounts {
        let sap = child(path, "serviceAccounts");
        if sa.names.is_none() && sa.selector.is_none() {
            return Err(FieldError::new(
                &sap,
                "serviceAccounts needs `names` or `selector`",
            ));
        }
        let s = service_account_selector(&sap, sa.names.as_deref(), sa.selector.as_deref())?;
        selector = Some(match selector {
            Some(x) => x.and(s),
            None => s,
        });
    }
    Ok(Entity {
        nets: parse_nets(&child(path, "nets"), e.nets.as_deref().unwrap_or_default())?,
        not_nets: parse_nets(
            &child(path, "notNets"),
            e.not_nets.as_deref().unwrap_or_default(),
        )?,
        selector,
        not_selector: sel("notSelector", &e.not_selector)?,
        namespace_selector: sel("namespaceSelector", &e.namespace_selector)?,
        ports: ports(
            &child(path, "ports"),
            &e.ports,
            dest.then_some(&mut named),
            "source",
        )?,
        not_ports: ports(&child(path, "notPorts"), &e.not_ports, None, "notPorts")?,
        named_ports: named,
    })
}

fn icmp(raw: &Option<RawIcmp>) -> Option<Icmp> {
    raw.as_ref().and_then(|i| {
        i.r#type.map(|t| Icmp {
            r#type: t,
            code: i.code,
        })
    })
}

/// Converts one Calico rule (also used by tests).
pub fn convert_rule(path: &[PathSeg], r: &RawRule) -> Result<Rule, FieldError> {
    if r.http.is_some() {
        return Err(FieldError::new(
            &child(path, "http"),
            "not supported by tern: HTTP matches (methods, paths) need an L7 proxy in the data path, which tern does not run; tern enforces L3/L4 only",
        ));
    }
    let action = match r.action.as_str() {
        "Allow" => Action::Allow,
        "Deny" => Action::Deny,
        "Log" => Action::Log,
        "Pass" => Action::Pass,
        other => {
            return Err(FieldError::new(
                &child(path, "action"),
                format!("unknown action `{other}` (Allow, Deny, Log or Pass)"),
            ))
        }
    };
    let protocol = r
        .protocol
        .as_ref()
        .map(|p| proto(&child(path, "protocol"), p))
        .transpose()?;
    let not_protocol = r
        .not_protocol
        .as_ref()
        .map(|p| proto(&child(path, "notProtocol"), p))
        .transpose()?;
    let ip_version = match r.ip_version {
        None => None,
        Some(4) => Some(IpVersion::V4),
        Some(6) => Some(IpVersion::V6),
        Some(n) => {
            return Err(FieldError::new(
                &child(path, "ipVersion"),
                format!("ipVersion must be 4 or 6, not {n}"),
            ))
        }
    };
    let rule = Rule {
        action,
        protocol,
        not_protocol,
        icmp: icmp(&r.icmp),
        not_icmp: icmp(&r.not_icmp),
        ip_version,
        source: entity(&child(path, "source"), &r.source, false)?,
        destination: entity(&child(path, "destination"), &r.destination, true)?,
    };
    validate_rule(path, &rule)?;
    Ok(rule)
}

/// Checks the cross-field constraints Calico enforces.
pub(crate) fn validate_rule(path: &[PathSeg], r: &Rule) -> Result<(), FieldError> {
    let has_ports =
        |e: &Entity| !e.ports.is_empty() || !e.not_ports.is_empty() || !e.named_ports.is_empty();
    for (key, e) in [("source", &r.source), ("destination", &r.destination)] {
        if has_ports(e) && !r.protocol.is_some_and(Protocol::has_ports) {
            return Err(FieldError::new(
                &child(path, key),
                "ports need `protocol` TCP, UDP, SCTP or UDPLite",
            ));
        }
    }
    if (r.icmp.is_some() || r.not_icmp.is_some())
        && !matches!(r.protocol, Some(Protocol::Icmp | Protocol::Icmpv6))
    {
        return Err(FieldError::new(
            path,
            "icmp/notICMP need `protocol` ICMP or ICMPv6",
        ));
    }
    let v4 = matches!(r.protocol, Some(Protocol::Icmp));
    let v6 = matches!(r.protocol, Some(Protocol::Icmpv6));
    if (v4 && r.ip_version == Some(IpVersion::V6)) || (v6 && r.ip_version == Some(IpVersion::V4)) {
        return Err(FieldError::new(
            &child(path, "ipVersion"),
            "ipVersion contradicts the ICMP protocol",
        ));
    }
    Ok(())
}

fn rules(path: &[PathSeg], list: &Option<Vec<RawRule>>) -> Result<Vec<Rule>, FieldError> {
    list.iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| convert_rule(&index(path, i), r))
        .collect()
}

/// Converts a Calico policy document; `path` is empty (the document root).
pub fn convert(doc: &CalicoPolicyDoc) -> Result<Policy, FieldError> {
    if doc.kind.starts_with("Staged") || doc.spec.staged_action.is_some() {
        return Err(FieldError::new(
            &child(&child(&[], "spec"), "stagedAction"),
            "stagedAction is for StagedNetworkPolicy / StagedGlobalNetworkPolicy",
        ));
    }
    convert_any(doc)
}

/// Converts a `StagedNetworkPolicy` / `StagedGlobalNetworkPolicy` document: the policy
/// it stages (ids as the enforced kinds) and its `stagedAction`.
pub fn convert_staged(doc: &CalicoPolicyDoc) -> Result<super::StagedPolicy, FieldError> {
    let spec = child(&[], "spec");
    let action = super::StagedAction::parse(&spec, doc.spec.staged_action.as_deref())?;
    Ok(super::StagedPolicy {
        policy: convert_any(doc)?,
        action,
    })
}

fn convert_any(doc: &CalicoPolicyDoc) -> Result<Policy, FieldError> {
    let root: &[PathSeg] = &[];
    let spec_path = child(root, "spec");
    let global = match doc.kind.as_str() {
        "GlobalNetworkPolicy" | "StagedGlobalNetworkPolicy" => true,
        "NetworkPolicy" | "StagedNetworkPolicy" => false,
        k => {
            return Err(FieldError::new(
                &child(root, "kind"),
                format!("unknown kind `{k}`"),
            ))
        }
    };
    if doc.api_version != "projectcalico.org/v3" {
        return Err(FieldError::new(
            &child(root, "apiVersion"),
            "Calico policies need apiVersion projectcalico.org/v3",
        ));
    }
    let meta_path = child(root, "metadata");
    crate::names::check_metadata(
        &meta_path,
        &doc.metadata.name,
        doc.metadata.namespace.as_deref(),
    )?;
    crate::names::check_labels(&child(&meta_path, "labels"), doc.metadata.labels.as_ref())?;
    let namespace = if global {
        if doc.metadata.namespace.is_some() {
            return Err(FieldError::new(
                &child(&meta_path, "namespace"),
                "a GlobalNetworkPolicy has no namespace",
            ));
        }
        None
    } else {
        Some(
            doc.metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_string()),
        )
    };
    let s = &doc.spec;
    let tier = match s.tier.as_deref() {
        None | Some(crate::tier::DEFAULT_TIER) => None,
        Some(t) => {
            if !crate::names::is_dns1123_label(t) {
                return Err(FieldError::new(
                    &child(&spec_path, "tier"),
                    format!("invalid tier name `{}`", t.escape_debug()),
                ));
            }
            Some(t.to_string())
        }
    };
    super::host_hooks::check(&spec_path, s, global)?;
    if s.apply_on_forward == Some(true) && !global {
        return Err(FieldError::new(
            &child(&spec_path, "applyOnForward"),
            "applyOnForward is for host endpoints: only a GlobalNetworkPolicy has it",
        ));
    }
    let order = match &s.order {
        None => None,
        Some(o) => Some(o.value().ok_or_else(|| {
            FieldError::new(&child(&spec_path, "order"), "order must be a finite number")
        })?),
    };
    let mut selector = match &s.selector {
        Some(t) => parse_selector(&child(&spec_path, "selector"), t)?,
        None => crate::selector::Selector::All,
    };
    if let Some(t) = &s.service_account_selector {
        selector = selector.and(service_account_selector(&spec_path, None, Some(t)).map_err(
            |mut e| {
                e.path = child(&spec_path, "serviceAccountSelector");
                e
            },
        )?);
    }
    if s.performance_hints.is_some() {
        return Err(FieldError::new(
            &child(&spec_path, "performanceHints"),
            "not supported by tern (a hint for Calico's eBPF data plane)",
        ));
    }
    let namespace_selector = match &s.namespace_selector {
        Some(_) if !global => {
            return Err(FieldError::new(
                &child(&spec_path, "namespaceSelector"),
                "only a GlobalNetworkPolicy has spec.namespaceSelector",
            ))
        }
        Some(t) => Some(parse_selector(&child(&spec_path, "namespaceSelector"), t)?),
        None => None,
    };
    let ingress = rules(&child(&spec_path, "ingress"), &s.ingress)?;
    let egress = rules(&child(&spec_path, "egress"), &s.egress)?;
    let (has_in, has_out) = directions(
        &spec_path,
        "types",
        "type",
        s.types.as_deref(),
        s.egress.is_some(),
    )?;
    Ok(Policy {
        id: PolicyId {
            kind: if global {
                PolicyKind::CalicoGlobal
            } else {
                PolicyKind::Calico
            },
            namespace,
            name: doc.metadata.name.clone(),
        },
        tier,
        order,
        apply_on_forward: s.apply_on_forward == Some(true),
        pre_dnat: s.pre_dnat == Some(true),
        do_not_track: s.do_not_track == Some(true),
        selector,
        namespace_selector,
        ingress: has_in.then_some(ingress),
        egress: has_out.then_some(egress),
    })
}
