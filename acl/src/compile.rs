//! Compilation: policies + endpoints → [`Ir`]. Decides which policies apply to which
//! endpoint and direction (Calico order: `order`, then name), resolves rule selectors to
//! address sets of endpoint IPs, splits rules by IP family, and names sets by content.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use ipnet::IpNet;

use crate::endpoint::{HostEndpoint, NamedPort, Namespace, WorkloadEndpoint};
use crate::ir::{
    short_hash, AddrPortSet, AddrSet, Direction, EndpointKind, EndpointPolicy, FailsafePort,
    Family, Ir, IrRule, Marks, Match, PolicyChain, PolicyKey, PortRef, Side,
};
use crate::loader::Bundle;
use crate::model::{Entity, IpVersion, Policy, PolicyKind, PortRange, Protocol, Rule};
use crate::netset::NetworkSet;
use crate::selector::{Labels, Selector, Target};

/// Knobs of compilation.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Host endpoints: inbound ports always allowed.
    pub failsafe_in: Vec<FailsafePort>,
    /// Host endpoints: outbound ports always allowed.
    pub failsafe_out: Vec<FailsafePort>,
    /// Packet-mark bits used between chains (must not collide with other users).
    pub marks: Marks,
}

impl Default for CompileOptions {
    fn default() -> Self {
        let fs = |protocol, port| FailsafePort { protocol, port };
        CompileOptions {
            failsafe_in: vec![
                fs(Protocol::Tcp, 22),
                fs(Protocol::Udp, 68),
                fs(Protocol::Tcp, 179),
                fs(Protocol::Tcp, 2379),
                fs(Protocol::Tcp, 2380),
                fs(Protocol::Tcp, 6443),
            ],
            failsafe_out: vec![
                fs(Protocol::Udp, 53),
                fs(Protocol::Udp, 67),
                fs(Protocol::Tcp, 179),
                fs(Protocol::Tcp, 2379),
                fs(Protocol::Tcp, 2380),
                fs(Protocol::Tcp, 6443),
            ],
            marks: Marks {
                accept: 0x0010_0000,
                pass: 0x0020_0000,
            },
        }
    }
}

/// An endpoint as the compiler sees it.
struct Ep<'a> {
    key: String,
    interface: &'a str,
    kind: EndpointKind,
    namespace: Option<&'a str>,
    labels: Labels,
    ips: Vec<IpNet>,
    /// On this host: policy applies to it. Remote endpoints only fill selector sets.
    local: bool,
}

impl Ep<'_> {
    fn workload(w: &WorkloadEndpoint, local: bool) -> Ep<'_> {
        Ep {
            key: w.key(),
            interface: &w.interface,
            kind: EndpointKind::Workload,
            namespace: Some(&w.namespace),
            labels: w.effective_labels(),
            ips: w.ips.clone(),
            local,
        }
    }

    /// A network set: selectable like an endpoint whose addresses are its nets (a
    /// global set outside every namespace), never policed.
    fn network_set(s: &NetworkSet) -> Ep<'_> {
        Ep {
            key: s.key(),
            interface: "",
            kind: EndpointKind::Workload,
            namespace: s.namespace.as_deref(),
            labels: s.effective_labels(),
            ips: s.nets.clone(),
            local: false,
        }
    }

    fn host(h: &HostEndpoint, local: bool) -> Ep<'_> {
        Ep {
            key: h.name.clone(),
            interface: &h.interface,
            kind: EndpointKind::Host,
            namespace: None,
            labels: h.labels.clone(),
            ips: h.expected_ips.iter().map(|a| IpNet::from(*a)).collect(),
            local,
        }
    }
}

struct Compiler<'a> {
    eps: Vec<Ep<'a>>,
    namespaces: BTreeMap<String, Labels>,
    addr_sets: BTreeMap<String, AddrSet>,
    port_sets: BTreeMap<String, Vec<PortRange>>,
    addr_port_sets: BTreeMap<String, AddrPortSet>,
    named_ports: &'a BTreeMap<String, Vec<NamedPort>>,
}

/// Sorts policies as Calico does: by order (unset last), then name, then namespace.
pub fn sort_policies(policies: &mut [&Policy]) {
    policies.sort_by(|a, b| {
        let oa = a.order.unwrap_or(f64::INFINITY);
        let ob = b.order.unwrap_or(f64::INFINITY);
        oa.total_cmp(&ob)
            .then_with(|| a.id.name.cmp(&b.id.name))
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// Sorts policies as Calico evaluates them with tiers: by tier (order, unset last, then
/// name; the `default` tier has order 1,000,000), then as [`sort_policies`].
pub fn sort_policies_in_tiers(policies: &mut [&Policy], tiers: &[crate::tier::Tier]) {
    let key = |p: &Policy| {
        let name = p.tier.as_deref().unwrap_or(crate::tier::DEFAULT_TIER);
        let order = if name == crate::tier::DEFAULT_TIER {
            crate::tier::DEFAULT_TIER_ORDER
        } else {
            tiers
                .iter()
                .find(|t| t.name == name)
                .and_then(|t| t.order)
                .unwrap_or(f64::INFINITY)
        };
        (order, name.to_string())
    };
    sort_policies(policies);
    policies.sort_by(|a, b| {
        let (oa, na) = key(a);
        let (ob, nb) = key(b);
        oa.total_cmp(&ob).then_with(|| na.cmp(&nb))
    });
}

/// Policies that may apply to an endpoint, in order, each with its id and its index in
/// its group.
type Candidates<'a> = Vec<(&'a Policy, String, usize)>;

/// Whether a policy may apply to an endpoint of namespace `ns` (None: a host endpoint):
/// a global policy anywhere, a namespaced one in its own namespace only.
fn in_scope(p: &Policy, ns: Option<&str>) -> bool {
    match p.id.kind {
        PolicyKind::CalicoGlobal => true,
        PolicyKind::Calico | PolicyKind::Kubernetes => {
            ns.is_some() && p.id.namespace.as_deref() == ns
        }
    }
}

/// Compiles a bundle.
pub fn compile(bundle: &Bundle, opts: &CompileOptions) -> Ir {
    compile_with(bundle, opts, None).0
}

/// [`compile`] for bundle after bundle (the agent's reloads): the chains of a policy
/// compiled last time are taken from the last result when the policy is the same (the
/// same shared value, or an equal one) and so is everything else a chain depends on: the
/// endpoints (local and remote), network sets, namespaces and named ports. One changed
/// policy among 2,000 then builds one policy's chains instead of all of them. The result
/// is always what [`compile`] gives for the bundle.
#[derive(Debug, Default)]
pub struct Incremental {
    last: Option<Last>,
    reused: usize,
}

/// What [`Incremental`] keeps of the last compile.
#[derive(Debug)]
struct Last {
    world: World,
    policies: HashMap<String, Arc<Policy>>,
    chains: BTreeMap<PolicyKey, Arc<PolicyChain>>,
    addr_sets: BTreeMap<String, AddrSet>,
    port_sets: BTreeMap<String, Vec<PortRange>>,
    addr_port_sets: BTreeMap<String, AddrPortSet>,
}

/// Everything but the policy that a policy's chains are made from.
#[derive(Debug, PartialEq)]
struct World {
    workloads: Vec<WorkloadEndpoint>,
    hosts: Vec<HostEndpoint>,
    remote_workloads: Vec<WorkloadEndpoint>,
    remote_hosts: Vec<HostEndpoint>,
    network_sets: Vec<NetworkSet>,
    namespaces: Vec<crate::endpoint::Namespace>,
    named_ports: BTreeMap<String, Vec<NamedPort>>,
}

impl World {
    fn of(b: &Bundle) -> World {
        World {
            workloads: b.workloads.clone(),
            hosts: b.hosts.clone(),
            remote_workloads: b.remote_workloads.clone(),
            remote_hosts: b.remote_hosts.clone(),
            network_sets: b.network_sets.clone(),
            namespaces: b.namespaces.clone(),
            named_ports: b.named_ports.clone(),
        }
    }
}

impl Incremental {
    /// Nothing compiled yet: the first compile builds every chain.
    pub fn new() -> Incremental {
        Incremental::default()
    }

    /// Compiles `bundle`, reusing what the last compile built where it can.
    pub fn compile(&mut self, bundle: &Bundle, opts: &CompileOptions) -> Ir {
        let world = World::of(bundle);
        let last = self.last.take().filter(|l| l.world == world);
        let (ir, reused) = compile_with(bundle, opts, last.as_ref());
        self.reused = reused;
        self.last = Some(Last {
            world,
            policies: bundle
                .policies
                .iter()
                .map(|p| (p.id.to_string(), Arc::clone(p)))
                .collect(),
            chains: ir.chains.clone(),
            addr_sets: ir.addr_sets.clone(),
            port_sets: ir.port_sets.clone(),
            addr_port_sets: ir.addr_port_sets.clone(),
        });
        ir
    }

    /// How many chains the last compile took from the one before.
    pub fn reused(&self) -> usize {
        self.reused
    }
}

/// The sets a chain's rules name.
fn sets_of(chain: &PolicyChain) -> impl Iterator<Item = &String> {
    chain
        .rules
        .iter()
        .flat_map(|r| r.matches.iter())
        .filter_map(|m| match m {
            Match::Addr { set, .. }
            | Match::AddrPort { set, .. }
            | Match::Port {
                ports: PortRef::Set(set),
                ..
            } => Some(set),
            _ => None,
        })
}

/// [`compile`], taking the chains of unchanged policies from `last` (whose world is the
/// bundle's); also says how many it took.
fn compile_with(bundle: &Bundle, opts: &CompileOptions, last: Option<&Last>) -> (Ir, usize) {
    let mut namespaces: BTreeMap<String, Labels> = BTreeMap::new();
    for w in bundle.workloads.iter().chain(&bundle.remote_workloads) {
        namespaces.insert(
            w.namespace.clone(),
            Namespace::implicit(&w.namespace).effective_labels(),
        );
    }
    for n in &bundle.namespaces {
        namespaces.insert(n.name.clone(), n.effective_labels());
    }
    let mut eps: Vec<Ep<'_>> = bundle
        .workloads
        .iter()
        .map(|w| Ep::workload(w, true))
        .chain(bundle.hosts.iter().map(|h| Ep::host(h, true)))
        .chain(
            bundle
                .remote_workloads
                .iter()
                .map(|w| Ep::workload(w, false)),
        )
        .chain(bundle.remote_hosts.iter().map(|h| Ep::host(h, false)))
        .chain(bundle.network_sets.iter().map(Ep::network_set))
        .collect();
    eps.sort_by(|a, b| a.interface.cmp(b.interface));
    let mut c = Compiler {
        eps,
        namespaces,
        addr_sets: BTreeMap::new(),
        port_sets: BTreeMap::new(),
        addr_port_sets: BTreeMap::new(),
        named_ports: &bundle.named_ports,
    };

    let mut policies: Vec<&Policy> = bundle.policies.iter().map(|p| &**p).collect();
    sort_policies_in_tiers(&mut policies, &bundle.tiers);

    // Staged policies that would add or replace a policy: counted and logged at the
    // endpoints they would apply to (the filter hooks only; staged preDNAT / doNotTrack
    // policies are for `explain`).
    let mut staged: Vec<&Policy> = bundle
        .staged
        .iter()
        .filter(|s| s.action == crate::model::StagedAction::Set)
        .map(|s| &s.policy)
        .filter(|p| !p.pre_dnat && !p.do_not_track)
        .collect();
    sort_policies_in_tiers(&mut staged, &bundle.tiers);

    let mut endpoints = Vec::new();
    // Per group (policies, staged) and policy index: whether some endpoint's ingress and
    // egress lists name it (the chains to build); made into sets of ids at the end.
    let mut used_dirs: [Vec<[bool; 2]>; 2] = [
        vec![[false; 2]; policies.len()],
        vec![[false; 2]; staged.len()],
    ];
    let forwarding: BTreeSet<String> = policies
        .iter()
        .filter(|p| p.apply_on_forward)
        .map(|p| p.id.to_string())
        .collect();
    // Per namespace of a local endpoint (None: host endpoints), the policies of each
    // group that can apply there, in order, with their ids: the global ones and that
    // namespace's. A namespaced policy never applies in another namespace, so an endpoint
    // is compared with these only, not with every policy of the cluster (2,000 policies
    // in 10 namespaces: a tenth of the selector checks).
    let mut candidates: BTreeMap<Option<&str>, [Candidates<'_>; 2]> = BTreeMap::new();
    for ep in c.eps.iter().filter(|e| e.local) {
        let groups = candidates.entry(ep.namespace).or_insert_with(|| {
            [&policies, &staged].map(|group| {
                group
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| in_scope(p, ep.namespace))
                    .map(|(i, p)| (*p, p.id.to_string(), i))
                    .collect()
            })
        });
        // (filter hooks, preDNAT, doNotTrack) x (ingress, egress), and staged.
        let mut lists: [(Vec<PolicyKey>, Vec<PolicyKey>); 4] = Default::default();
        for (i, group) in groups.iter().enumerate() {
            for (p, id, at) in group {
                let slot = match (i, p.pre_dnat, p.do_not_track) {
                    (1, _, _) => 3,
                    (_, true, _) => 1,
                    (_, _, true) => 2,
                    _ => 0,
                };
                // preDNAT and doNotTrack policies apply to host endpoints only.
                if (slot == 1 || slot == 2) && ep.kind != EndpointKind::Host {
                    continue;
                }
                // In scope: the candidates are this namespace's.
                if !c.selects(p, ep) {
                    continue;
                }
                let dirs = &mut used_dirs[i][*at];
                if p.ingress.is_some() {
                    lists[slot].0.push((id.clone(), Direction::Ingress));
                    dirs[0] = true;
                }
                if p.egress.is_some() && slot != 1 {
                    lists[slot].1.push((id.clone(), Direction::Egress));
                    dirs[1] = true;
                }
            }
        }
        let [(ingress, egress), prednat, untracked, (staged_in, staged_out)] = lists;
        for (kind, (i, e)) in [
            (EndpointKind::HostPreDnat, prednat),
            (EndpointKind::HostUntracked, untracked),
        ] {
            if !(i.is_empty() && e.is_empty()) {
                endpoints.push(EndpointPolicy {
                    interface: ep.interface.to_string(),
                    endpoint: ep.key.clone(),
                    kind,
                    ingress: (!i.is_empty()).then_some(i),
                    egress: (!e.is_empty()).then_some(e),
                    staged_ingress: Vec::new(),
                    staged_egress: Vec::new(),
                });
            }
        }
        if ingress.is_empty() && egress.is_empty() && staged_in.is_empty() && staged_out.is_empty()
        {
            continue;
        }
        // A host endpoint's applyOnForward policies also police traffic forwarded
        // through its interface (the same policies' chains, in the same order).
        let forward = |list: &Vec<PolicyKey>| -> Vec<PolicyKey> {
            list.iter()
                .filter(|(id, _)| forwarding.contains(id.as_str()))
                .cloned()
                .collect()
        };
        let (fwd_in, fwd_out) = (forward(&ingress), forward(&egress));
        endpoints.push(EndpointPolicy {
            interface: ep.interface.to_string(),
            endpoint: ep.key.clone(),
            kind: ep.kind,
            ingress: (!ingress.is_empty()).then_some(ingress),
            egress: (!egress.is_empty()).then_some(egress),
            staged_ingress: staged_in,
            staged_egress: staged_out,
        });
        if ep.kind == EndpointKind::Host && !(fwd_in.is_empty() && fwd_out.is_empty()) {
            endpoints.push(EndpointPolicy {
                interface: ep.interface.to_string(),
                endpoint: ep.key.clone(),
                kind: EndpointKind::HostForward,
                ingress: (!fwd_in.is_empty()).then_some(fwd_in),
                egress: (!fwd_out.is_empty()).then_some(fwd_out),
                staged_ingress: Vec::new(),
                staged_egress: Vec::new(),
            });
        }
    }
    // Sorted by interface, then kind (the order renderers dispatch in).
    endpoints.sort_by(|a, b| (&a.interface, a.kind).cmp(&(&b.interface, b.kind)));

    let [used, staged_used] = [(&policies, &used_dirs[0]), (&staged, &used_dirs[1])].map(
        |(group, dirs)| -> BTreeSet<PolicyKey> {
            group
                .iter()
                .zip(dirs)
                .flat_map(|(p, d)| {
                    [(d[0], Direction::Ingress), (d[1], Direction::Egress)]
                        .into_iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, dir)| (p.id.to_string(), dir))
                })
                .collect()
        },
    );
    let (chains, reused) = c.chains(&policies, &used, last);
    let (staged_chains, _) = c.chains(&staged, &staged_used, None);
    // Keep only the sets some rule refers to.
    let used_sets: BTreeSet<&String> = chains
        .values()
        .chain(staged_chains.values())
        .flat_map(|c| sets_of(c))
        .collect();
    c.addr_sets.retain(|k, _| used_sets.contains(k));
    c.port_sets.retain(|k, _| used_sets.contains(k));
    c.addr_port_sets.retain(|k, _| used_sets.contains(k));
    drop(used_sets);
    let mut failsafe_in = opts.failsafe_in.clone();
    failsafe_in.sort();
    failsafe_in.dedup();
    let mut failsafe_out = opts.failsafe_out.clone();
    failsafe_out.sort();
    failsafe_out.dedup();
    let policy_tiers = tier_refs(bundle, &chains);
    let untracked = policies
        .iter()
        .filter(|p| p.do_not_track)
        .map(|p| p.id.to_string())
        .filter(|id| chains.keys().any(|(k, _)| k == id))
        .collect();
    let ir = Ir {
        addr_sets: c.addr_sets,
        port_sets: c.port_sets,
        addr_port_sets: c.addr_port_sets,
        chains,
        staged_chains,
        untracked,
        endpoints,
        failsafe_in,
        failsafe_out,
        marks: opts.marks,
        policy_tiers,
    };
    (ir, reused)
}

impl Compiler<'_> {
    /// The chains of `policies` in use, by (policy, direction).
    /// The chains of `policies` in use, by (policy, direction), and how many of them
    /// were taken from `last` (see [`Incremental`]).
    fn chains(
        &mut self,
        policies: &[&Policy],
        used: &BTreeSet<PolicyKey>,
        last: Option<&Last>,
    ) -> (BTreeMap<PolicyKey, Arc<PolicyChain>>, usize) {
        let mut chains = BTreeMap::new();
        let mut reused = 0;
        for p in policies {
            let id = p.id.to_string();
            // Compiled last time from this very policy (shared, or equal).
            let seen = last.filter(|l| {
                l.policies
                    .get(&id)
                    .is_some_and(|old| std::ptr::eq(&**old, *p) || **old == **p)
            });
            for (dir, rules) in [
                (Direction::Ingress, &p.ingress),
                (Direction::Egress, &p.egress),
            ] {
                let key = (id.clone(), dir);
                let Some(rules) = rules else { continue };
                if !used.contains(&key) {
                    continue;
                }
                if let Some((l, chain)) = seen.and_then(|l| Some((l, l.chains.get(&key)?))) {
                    for set in sets_of(chain) {
                        self.copy_set(l, set);
                    }
                    chains.insert(key, Arc::clone(chain));
                    reused += 1;
                    continue;
                }
                let mut out = Vec::new();
                for (i, r) in rules.iter().enumerate() {
                    for matches in self.rule(p, r) {
                        out.push(IrRule {
                            index: i,
                            matches,
                            action: r.action,
                        });
                    }
                }
                chains.insert(
                    key,
                    Arc::new(PolicyChain {
                        policy: id.clone(),
                        direction: dir,
                        rules: out,
                    }),
                );
            }
        }
        (chains, reused)
    }

    /// Takes set `name` from the last compile (its members are the same: a set is named
    /// by what selects its members, and the world is the same).
    fn copy_set(&mut self, last: &Last, name: &String) {
        // Most sets are named by several chains: each is copied once (no key cloned to
        // find it there already).
        fn copy<V: Clone>(to: &mut BTreeMap<String, V>, from: &BTreeMap<String, V>, name: &String) {
            if !to.contains_key(name) {
                if let Some(v) = from.get(name) {
                    to.insert(name.clone(), v.clone());
                }
            }
        }
        copy(&mut self.addr_sets, &last.addr_sets, name);
        copy(&mut self.port_sets, &last.port_sets, name);
        copy(&mut self.addr_port_sets, &last.addr_port_sets, name);
    }

    /// Does a namespace selector select this endpoint's namespace?
    fn ns_selects(&self, sel: &Selector, ep: &Ep<'_>) -> bool {
        match ep.namespace {
            Some(ns) => match self.namespaces.get(ns) {
                Some(labels) => sel.matches(Target {
                    labels,
                    global: false,
                }),
                None => sel.matches(Target {
                    labels: &Namespace::implicit(ns).effective_labels(),
                    global: false,
                }),
            },
            None => {
                sel.mentions_global()
                    && sel.matches(Target {
                        labels: &Labels::new(),
                        global: true,
                    })
            }
        }
    }

    /// Whether a policy in scope for the endpoint's namespace ([`in_scope`]) selects it.
    fn selects(&self, p: &Policy, ep: &Ep<'_>) -> bool {
        let target = Target {
            labels: &ep.labels,
            global: ep.namespace.is_none(),
        };
        p.selector.matches(target)
            && match p.id.kind {
                PolicyKind::Calico | PolicyKind::Kubernetes => true,
                PolicyKind::CalicoGlobal => p
                    .namespace_selector
                    .as_ref()
                    .is_none_or(|ns| self.ns_selects(ns, ep)),
            }
    }

    /// Endpoints an entity selector refers to, in the policy's scope.
    /// Endpoints (not network sets) an entity selector refers to, in the policy's scope.
    fn select_eps(&self, p: &Policy, sel: &Selector, ns_sel: Option<&Selector>) -> Vec<&Ep<'_>> {
        self.eps
            .iter()
            .filter(|ep| !ep.interface.is_empty())
            .filter(|ep| {
                let in_scope = match (ns_sel, p.id.namespace.as_deref()) {
                    (Some(nss), _) => self.ns_selects(nss, ep),
                    (None, Some(ns)) => ep.namespace == Some(ns),
                    (None, None) => true,
                };
                in_scope
                    && sel.matches(Target {
                        labels: &ep.labels,
                        global: ep.namespace.is_none(),
                    })
            })
            .collect()
    }

    fn select(&self, p: &Policy, sel: &Selector, ns_sel: Option<&Selector>) -> Vec<IpNet> {
        let mut ips = Vec::new();
        for ep in &self.eps {
            let in_scope = match (ns_sel, p.id.namespace.as_deref()) {
                (Some(nss), _) => self.ns_selects(nss, ep),
                (None, Some(ns)) => ep.namespace == Some(ns),
                (None, None) => true,
            };
            let target = Target {
                labels: &ep.labels,
                global: ep.namespace.is_none(),
            };
            if in_scope && sel.matches(target) {
                ips.extend(ep.ips.iter().copied());
            }
        }
        ips
    }

    fn set_name(family: Family, selector: bool, key: &str) -> String {
        let tag = match family {
            Family::V4 => '4',
            Family::V6 => '6',
        };
        format!(
            "{}{tag}-{}",
            if selector { 's' } else { 'n' },
            short_hash(key)
        )
    }

    /// Names the set for `key`, computing its members only the first time.
    fn addr_set(
        &mut self,
        family: Family,
        selector: bool,
        key: &str,
        members: impl FnOnce(&Self) -> (Vec<IpNet>, String),
    ) -> String {
        let name = Self::set_name(family, selector, key);
        if !self.addr_sets.contains_key(&name) {
            let (nets, origin) = members(self);
            let nets: Vec<IpNet> = nets
                .into_iter()
                .filter(|n| Family::of(n) == family)
                .collect();
            let nets = IpNet::aggregate(&nets);
            self.addr_sets.insert(
                name.clone(),
                AddrSet {
                    family,
                    nets,
                    origin,
                },
            );
        }
        name
    }

    fn ports(&mut self, ports: &[PortRange]) -> PortRef {
        let mut list = ports.to_vec();
        list.sort();
        list.dedup();
        if let [one] = list.as_slice() {
            return PortRef::Inline(*one);
        }
        let key: Vec<String> = list.iter().map(ToString::to_string).collect();
        let name = format!("p-{}", short_hash(&key.join(",")));
        self.port_sets.entry(name.clone()).or_insert(list);
        PortRef::Set(name)
    }

    /// Address matches of one side for one family; false when the side cannot match
    /// in this family (a selector that selects no endpoint with such an address).
    fn side(
        &mut self,
        p: &Policy,
        e: &Entity,
        side: Side,
        f: Family,
        out: &mut Vec<Match>,
    ) -> bool {
        let nets_key = |nets: &[IpNet]| {
            let mut v: Vec<String> = nets
                .iter()
                .filter(|n| Family::of(n) == f)
                .map(ToString::to_string)
                .collect();
            v.sort();
            v.join(",")
        };
        if !e.nets.is_empty() {
            let k = nets_key(&e.nets);
            let set = self.addr_set(f, false, &k, |_| (e.nets.clone(), format!("nets {k}")));
            out.push(Match::Addr {
                side,
                set,
                negate: false,
            });
        }
        let fam_not: Vec<IpNet> = e
            .not_nets
            .iter()
            .filter(|n| Family::of(n) == f)
            .copied()
            .collect();
        if !fam_not.is_empty() {
            let k = nets_key(&fam_not);
            let set = self.addr_set(f, false, &k, |_| (fam_not.clone(), format!("nets {k}")));
            out.push(Match::Addr {
                side,
                set,
                negate: true,
            });
        }
        let scope =
            p.id.namespace
                .clone()
                .map_or("global".to_string(), |n| format!("ns:{n}"));
        if e.selector.is_some() || e.namespace_selector.is_some() {
            let sel = e.selector.clone().unwrap_or(Selector::All);
            let nss = e.namespace_selector.as_ref();
            let key = format!(
                "{scope}|{sel}|{}",
                nss.map(ToString::to_string).unwrap_or_default()
            );
            let set = self.addr_set(f, true, &key, |c| {
                let origin = match nss {
                    Some(n) => format!("selector {sel} in namespaces {n}"),
                    None => format!("selector {sel} ({scope})"),
                };
                (c.select(p, &sel, nss), origin)
            });
            if self.addr_sets.get(&set).is_none_or(|s| s.nets.is_empty()) {
                return false;
            }
            out.push(Match::Addr {
                side,
                set,
                negate: false,
            });
        }
        if let Some(ns) = &e.not_selector {
            let key = format!("{scope}|{ns}|");
            let set = self.addr_set(f, true, &key, |c| {
                (c.select(p, ns, None), format!("selector {ns} ({scope})"))
            });
            // Not in an empty set: always true, no match needed.
            if self.addr_sets.get(&set).is_some_and(|s| !s.nets.is_empty()) {
                out.push(Match::Addr {
                    side,
                    set,
                    negate: true,
                });
            }
        }
        true
    }

    /// A rule's match lists. Named destination ports make their own lists (an
    /// (address, port) set per family), beside the numeric ports' lists.
    fn rule(&mut self, p: &Policy, r: &Rule) -> Vec<Vec<Match>> {
        if r.destination.named_ports.is_empty() {
            return self.rule_lists(p, r);
        }
        let mut out = Vec::new();
        if !r.destination.ports.is_empty() {
            let mut numeric = r.clone();
            numeric.destination.named_ports.clear();
            out.extend(self.rule_lists(p, &numeric));
        }
        let Some(protocol) = r.protocol else {
            return out;
        };
        let mut named = r.clone();
        named.destination.named_ports.clear();
        named.destination.ports.clear();
        for m in self.rule_lists(p, &named) {
            let fam = m.iter().find_map(|x| match x {
                Match::Family(f) => Some(*f),
                Match::Addr { set, .. } => self.addr_sets.get(set).map(|s| s.family),
                _ => None,
            });
            let fams = match fam {
                Some(f) => vec![f],
                None => vec![Family::V4, Family::V6],
            };
            for f in fams {
                let Some(set) = self.addr_port_set(p, &r.destination, protocol, f) else {
                    continue;
                };
                let mut list = m.clone();
                if fam.is_none() {
                    list.insert(0, Match::Family(f));
                }
                list.push(Match::AddrPort {
                    side: Side::Destination,
                    set,
                });
                out.push(list);
            }
        }
        out
    }

    /// The (address, port) set of the destination's named ports in family `f`: every
    /// endpoint in the rule's scope (its destination selector, or the policy's namespace)
    /// with a port of that name and protocol. None when empty (the rule cannot match).
    fn addr_port_set(
        &mut self,
        p: &Policy,
        e: &Entity,
        protocol: Protocol,
        f: Family,
    ) -> Option<String> {
        let sel = e.selector.clone().unwrap_or(Selector::All);
        let nss = e.namespace_selector.as_ref();
        let scope =
            p.id.namespace
                .clone()
                .map_or("global".to_string(), |n| format!("ns:{n}"));
        let mut names = e.named_ports.clone();
        names.sort();
        names.dedup();
        let key = format!(
            "{scope}|{sel}|{}|{}|{:?}|{f:?}",
            nss.map(ToString::to_string).unwrap_or_default(),
            names.join(","),
            protocol
        );
        let name = format!(
            "a{}-{}",
            if f == Family::V4 { '4' } else { '6' },
            short_hash(&key)
        );
        if !self.addr_port_sets.contains_key(&name) {
            let mut members = Vec::new();
            for ep in self.select_eps(p, &sel, nss) {
                let Some(ports) = self.named_ports.get(&ep.key) else {
                    continue;
                };
                for np in ports
                    .iter()
                    .filter(|np| np.protocol == protocol && names.contains(&np.name))
                {
                    for ip in ep.ips.iter().filter(|n| Family::of(n) == f) {
                        members.push((ip.addr(), np.port));
                    }
                }
            }
            members.sort();
            members.dedup();
            self.addr_port_sets.insert(
                name.clone(),
                AddrPortSet {
                    family: f,
                    protocol,
                    members,
                    origin: format!(
                        "named ports {} of selector {sel} ({scope})",
                        names.join(",")
                    ),
                },
            );
        }
        (!self.addr_port_sets[&name].members.is_empty()).then_some(name)
    }

    /// A rule's match lists: one family-neutral list, or one per IP family.
    fn rule_lists(&mut self, p: &Policy, r: &Rule) -> Vec<Vec<Match>> {
        let mut fams = vec![Family::V4, Family::V6];
        match r.ip_version {
            Some(IpVersion::V4) => fams.retain(|f| *f == Family::V4),
            Some(IpVersion::V6) => fams.retain(|f| *f == Family::V6),
            None => {}
        }
        match r.protocol {
            Some(Protocol::Icmp) => fams.retain(|f| *f == Family::V4),
            Some(Protocol::Icmpv6) => fams.retain(|f| *f == Family::V6),
            _ => {}
        }
        for e in [&r.source, &r.destination] {
            if !e.nets.is_empty() {
                fams.retain(|f| e.nets.iter().any(|n| Family::of(n) == *f));
            }
        }
        let addr_free = |e: &Entity| {
            e.nets.is_empty()
                && e.not_nets.is_empty()
                && e.selector.is_none()
                && e.not_selector.is_none()
                && e.namespace_selector.is_none()
        };
        let neutral = fams.len() == 2 && addr_free(&r.source) && addr_free(&r.destination);
        let mut common = Vec::new();
        if let Some(pr) = r.protocol {
            common.push(Match::Protocol {
                protocol: pr,
                negate: false,
            });
        }
        if let Some(pr) = r.not_protocol {
            common.push(Match::Protocol {
                protocol: pr,
                negate: true,
            });
        }
        let mut port_matches = Vec::new();
        if let Some(pr) = r.protocol {
            for (side, e) in [
                (Side::Source, &r.source),
                (Side::Destination, &r.destination),
            ] {
                if !e.ports.is_empty() {
                    port_matches.push(Match::Port {
                        side,
                        protocol: pr,
                        ports: self.ports(&e.ports),
                        negate: false,
                    });
                }
                if !e.not_ports.is_empty() {
                    port_matches.push(Match::Port {
                        side,
                        protocol: pr,
                        ports: self.ports(&e.not_ports),
                        negate: true,
                    });
                }
            }
        }
        if neutral {
            let mut m = common;
            m.extend(port_matches);
            return vec![m];
        }
        let mut out = Vec::new();
        for f in fams {
            let mut m = vec![Match::Family(f)];
            m.extend(common.iter().cloned());
            for (icmp, negate) in [(r.icmp, false), (r.not_icmp, true)] {
                if let Some(icmp) = icmp {
                    m.push(Match::Icmp {
                        family: f,
                        icmp,
                        negate,
                    });
                }
            }
            if !self.side(p, &r.source, Side::Source, f, &mut m)
                || !self.side(p, &r.destination, Side::Destination, f, &mut m)
            {
                continue;
            }
            m.extend(port_matches.iter().cloned());
            out.push(m);
        }
        out
    }
}

/// The tier of each compiled policy, when tiers are declared.
fn tier_refs(
    bundle: &Bundle,
    chains: &BTreeMap<PolicyKey, Arc<PolicyChain>>,
) -> BTreeMap<String, crate::ir::TierRef> {
    let mut out = BTreeMap::new();
    // Tiers are in use when declared, or when a policy names one (a datastore may hold
    // policies of tiers it has no Tier for: order last, default action Deny).
    if bundle.tiers.is_empty() && bundle.policies.iter().all(|p| p.tier.is_none()) {
        return out;
    }
    let used: BTreeSet<&str> = chains.keys().map(|(k, _)| k.as_str()).collect();
    for p in &bundle.policies {
        let id = p.id.to_string();
        if !used.contains(id.as_str()) {
            continue;
        }
        let name = p
            .tier
            .clone()
            .unwrap_or_else(|| crate::tier::DEFAULT_TIER.to_string());
        let default_action = bundle
            .tiers
            .iter()
            .find(|t| t.name == name)
            .map_or(crate::tier::TierAction::Deny, |t| t.default_action);
        out.insert(
            id,
            crate::ir::TierRef {
                name,
                default_action,
            },
        );
    }
    out
}
