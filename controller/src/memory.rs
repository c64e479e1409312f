//! An in-memory FIB with the kernel's rules that matter to reconcile: one route per prefix,
//! other protocols' routes that must not be overwritten, next hops that must be on a
//! connected network, interfaces that must exist. For unit tests of the reconcile logic.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use crate::route::{NextHop, Route, RouteKind};
use crate::table::{Action, DumpInfo, Op, OpError, OpErrorKind, RouteTable, TableError};

/// Who owns a route in the [`MemoryTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Our protocol number.
    Us,
    /// Some other protocol number.
    Other(u8),
}

/// An in-memory route table (see the module docs).
#[derive(Debug, Default)]
pub struct MemoryTable {
    /// The routes, by prefix.
    pub routes: BTreeMap<IpNet, (Owner, RouteKind)>,
    /// Connected networks with their interface: a next hop must fall in one of them.
    pub connected: Vec<(IpNet, String)>,
    /// Interfaces that exist (for device routes); the interfaces in `connected` count too.
    pub interfaces: BTreeSet<String>,
    /// Every operation applied, in order (for asserting "no churn").
    pub log: Vec<String>,
    /// Batch size reported to the caller.
    pub batch: usize,
    /// Model shared objects: every distinct (resolved) kind is one, and
    /// [`RouteTable::delete_through_shared`] deletes its routes at once.
    pub shared: bool,
}

impl MemoryTable {
    /// An empty table with the given connected networks (e.g. `("10.0.0.0/24", "eth0")`).
    pub fn new(connected: &[(&str, &str)]) -> Self {
        let mut t = MemoryTable {
            batch: 4,
            ..Default::default()
        };
        for (net, dev) in connected {
            if let Ok(n) = net.parse() {
                t.connected.push((n, dev.to_string()));
                t.interfaces.insert(dev.to_string());
            }
        }
        t
    }

    /// Our routes as `(prefix, kind)` for assertions.
    pub fn ours(&self) -> Vec<Route> {
        self.routes
            .iter()
            .filter(|(_, (o, _))| *o == Owner::Us)
            .map(|(p, (_, k))| Route {
                prefix: *p,
                kind: k.clone(),
            })
            .collect()
    }

    fn resolve(&self, kind: &RouteKind) -> Result<RouteKind, OpError> {
        match kind {
            RouteKind::Via(hops) => {
                let mut out = Vec::new();
                for h in hops {
                    let dev = match &h.dev {
                        Some(d) if self.interfaces.contains(d) => d.clone(),
                        Some(d) => {
                            return Err(OpError {
                                kind: OpErrorKind::NoDevice,
                                reason: format!("interface {d} not found"),
                            })
                        }
                        None => match self.connected.iter().find(|(n, _)| n.contains(&h.address)) {
                            Some((_, d)) => d.clone(),
                            None => {
                                return Err(OpError {
                                    kind: OpErrorKind::Unreachable,
                                    reason: format!(
                                        "next hop {} not directly reachable",
                                        h.address
                                    ),
                                })
                            }
                        },
                    };
                    out.push(NextHop::with_dev(h.address, dev));
                }
                Ok(RouteKind::Via(out))
            }
            RouteKind::Device(d) if !self.interfaces.contains(d) => Err(OpError {
                kind: OpErrorKind::NoDevice,
                reason: format!("interface {d} not found"),
            }),
            k => Ok(k.clone()),
        }
    }

    fn apply_one(&mut self, op: &Op<'_>) -> Result<(), OpError> {
        let exists = self.routes.get(&op.prefix).map(|(o, _)| o.clone());
        match op.action {
            Action::Add(kind) => {
                if exists.is_some() {
                    return Err(OpError {
                        kind: OpErrorKind::Exists,
                        reason: "route exists".into(),
                    });
                }
                let k = self.resolve(kind)?;
                self.routes.insert(op.prefix, (Owner::Us, k));
            }
            Action::Replace(kind) => {
                let k = self.resolve(kind)?;
                self.routes.insert(op.prefix, (Owner::Us, k));
            }
            Action::Delete => {
                if exists != Some(Owner::Us) {
                    return Err(OpError {
                        kind: OpErrorKind::NotFound,
                        reason: "no such route".into(),
                    });
                }
                self.routes.remove(&op.prefix);
            }
        }
        Ok(())
    }
}

impl RouteTable for MemoryTable {
    fn dump(&mut self, each: &mut dyn FnMut(Route)) -> Result<DumpInfo, TableError> {
        for r in self.ours() {
            each(r);
        }
        Ok(DumpInfo::default())
    }

    fn apply(
        &mut self,
        ops: &[Op<'_>],
        results: &mut Vec<Result<(), OpError>>,
    ) -> Result<(), TableError> {
        for op in ops {
            let what = match op.action {
                Action::Add(k) => format!("add {} {k}", op.prefix),
                Action::Replace(k) => format!("replace {} {k}", op.prefix),
                Action::Delete => format!("delete {}", op.prefix),
            };
            self.log.push(what);
            let r = self.apply_one(op);
            results.push(r);
        }
        Ok(())
    }

    fn batch_size(&self) -> usize {
        self.batch.max(1)
    }

    fn delete_through_shared(
        &mut self,
        kind: &RouteKind,
        prefixes: &[IpNet],
        keep: &[&RouteKind],
    ) -> Result<bool, TableError> {
        let Ok(k) = self.resolve(kind) else {
            return Ok(false);
        };
        if !self.shared || keep.iter().any(|o| self.resolve(o).as_ref() == Ok(&k)) {
            return Ok(false);
        }
        let through: Vec<IpNet> = self
            .routes
            .iter()
            .filter(|(_, (o, rk))| *o == Owner::Us && *rk == k)
            .map(|(p, _)| *p)
            .collect();
        if through != prefixes {
            return Ok(false);
        }
        for p in &through {
            self.routes.remove(p);
        }
        self.log
            .push(format!("delete {} routes through {k}", through.len()));
        Ok(true)
    }
}
