//! Nexthop objects (`ip nexthop`, Linux >= 5.3) for routes through gateways.
//!
//! With [`TableConfig::nexthop_objects`](crate::route::TableConfig), a route via one
//! gateway is installed as `nhid N` instead of `via G`: one object per (gateway,
//! interface, onlink), shared by every route through it; a route via several gateways
//! (ECMP) references a group object of theirs. The kernel then skips its per-route
//! next-hop work (allocating and checking a next hop, finding an equal shared one and
//! freeing the new one), about a quarter of its time per route insert.
//!
//! - An object needs its interface: the hop's `dev`, or the interface of the kernel's
//!   route to the gateway, which must be a connected route (no gateway of its own).
//! - A hop that cannot have an object (gateway behind another router, the kernel refuses
//!   it) is installed with `via` as without the option, and tried again after the next
//!   full dump; so is an ECMP route one of whose gateways cannot have one. A kernel
//!   without nexthop objects turns the option off, once, with a log line.
//! - The kernel deletes an object, and silently every route using it, when its
//!   interface goes down or away (it deletes `via` routes through that interface too),
//!   and drops it from the groups it is in. An add through an id that no longer exists
//!   fails with EINVAL: the id is forgotten and the operation retried once, with a new
//!   object.
//! - A full dump sees which of our objects (those with our protocol number) the routes of
//!   this table use: those are adopted (a restart keeps its routes and their objects).
//!   Objects this table created or adopted that no route uses any more are deleted; ids
//!   the kernel no longer has are forgotten; a group whose members the kernel changed is
//!   not given to new routes any more. An object used only by another table's routes is
//!   never adopted here, so never deleted here either.
//! - Routes carry the id and, unless `net.ipv4.nexthop_compat_mode` is 0, the gateways
//!   too; without them, the id is mapped back to the object's next hops.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use rtnetlink::packet_core::{Emitable, Parseable};
use rtnetlink::packet_route::route::{RouteAttribute, RouteMessage};

use super::{codec, NetlinkTable};
use crate::route::{NextHop, RouteKind};
use crate::table::{Action, Op, TableError};

const RTM_NEWNEXTHOP: u16 = 104;
const RTM_DELNEXTHOP: u16 = 105;
const RTM_GETNEXTHOP: u16 = 106;
const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_BLACKHOLE: u16 = 4;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
const NHA_FDB: u16 = 11;
const RTNH_F_ONLINK: u32 = 4;
/// First id tried for a new object; taken ids (another daemon's, an earlier run's) are
/// skipped, up to [`ID_TRIES`] per object.
const FIRST_ID: u32 = 0x1000_0000;
/// struct nexthop_grp: id, weight - 1, weight's high bits, reserved.
const GROUP_ENTRY: usize = 8;
const ID_TRIES: u32 = 64;

/// What an object is: where it sends packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Key {
    gw: IpAddr,
    oif: u32,
    onlink: bool,
}

/// A nexthop object: one gateway, or a group of gateway objects (ids sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Object {
    Gateway(Key),
    Group(Vec<u32>),
}

/// The nexthop objects of one table.
#[derive(Debug)]
pub(super) struct Nexthops {
    on: bool,
    /// Gateway objects new routes may use.
    by_key: HashMap<Key, u32>,
    /// Group objects new routes may use, by their members.
    groups: HashMap<Vec<u32>, u32>,
    /// Every object this table made or adopted, as the kernel last showed it.
    by_id: HashMap<u32, Object>,
    /// Object per next hop as routes ask for it (`dev` often unset).
    by_hop: HashMap<NextHop, u32>,
    /// Next hops installed with `via` until the next full dump.
    refused: HashSet<NextHop>,
    /// Member sets the kernel refused as a group, until the next full dump.
    refused_groups: HashSet<Vec<u32>>,
    next_id: u32,
}

impl Nexthops {
    pub(super) fn new(on: bool) -> Self {
        Nexthops {
            on,
            by_key: HashMap::new(),
            groups: HashMap::new(),
            by_id: HashMap::new(),
            by_hop: HashMap::new(),
            refused: HashSet::new(),
            refused_groups: HashSet::new(),
            next_id: FIRST_ID,
        }
    }

    fn insert(&mut self, id: u32, object: Object) {
        match &object {
            Object::Gateway(key) => self.by_key.insert(*key, id),
            Object::Group(members) => self.groups.insert(members.clone(), id),
        };
        self.by_id.insert(id, object);
    }

    /// Stop giving object `id` to new routes (nor a group with it in).
    fn unindex(&mut self, id: u32) {
        self.by_key.retain(|_, v| *v != id);
        self.groups
            .retain(|members, v| *v != id && !members.contains(&id));
        self.by_hop.retain(|_, v| *v != id);
    }

    fn forget(&mut self, id: u32) {
        self.unindex(id);
        self.by_id.remove(&id);
    }

    /// The next hops of object `id`, if it is one of ours.
    pub(super) fn hops(
        &self,
        id: u32,
        name_of: &mut dyn FnMut(u32) -> String,
    ) -> Option<Vec<NextHop>> {
        hops_of(&self.by_id, id, name_of)
    }
}

/// The next hops of object `id` in `objects`, sorted; `None` for an unknown id or a
/// group with an unknown member.
pub(super) fn hops_of(
    objects: &HashMap<u32, Object>,
    id: u32,
    name_of: &mut dyn FnMut(u32) -> String,
) -> Option<Vec<NextHop>> {
    match objects.get(&id)? {
        Object::Gateway(key) => Some(vec![hop_of(key, name_of)]),
        Object::Group(members) => {
            let mut hops = Vec::with_capacity(members.len());
            for m in members {
                match objects.get(m)? {
                    Object::Gateway(key) => hops.push(hop_of(key, name_of)),
                    Object::Group(_) => return None,
                }
            }
            hops.sort();
            Some(hops)
        }
    }
}

/// A nexthop object's next hop in the kernel's terms (the device the object names).
fn hop_of(key: &Key, name_of: &mut dyn FnMut(u32) -> String) -> NextHop {
    NextHop {
        address: key.gw,
        dev: Some(name_of(key.oif)),
        onlink: key.onlink,
    }
}

/// A message body given as bytes.
struct Body(Vec<u8>);

impl Emitable for Body {
    fn buffer_len(&self) -> usize {
        self.0.len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        if let Some(b) = buffer.get_mut(..self.0.len()) {
            b.copy_from_slice(&self.0);
        }
    }
}

fn push_attr(b: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    b.extend_from_slice(&(len as u16).to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(data);
    b.resize(b.len() + (4 - len % 4) % 4, 0);
}

/// struct nhmsg: family, scope, protocol, reserved, flags.
fn nhmsg(family: u8, protocol: u8, flags: u32) -> Vec<u8> {
    let mut b = vec![family, 0, protocol, 0];
    b.extend_from_slice(&flags.to_ne_bytes());
    b
}

fn family_of(a: IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

/// The attributes of an RTM_NEWNEXTHOP payload (after struct nhmsg).
fn object_attributes(payload: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    codec::attributes(payload.get(8..).unwrap_or_default())
}

/// The NHA_ID of an RTM_NEWNEXTHOP payload.
fn id_of(payload: &[u8]) -> Option<u32> {
    let (_, id) = object_attributes(payload).find(|(ty, _)| *ty == NHA_ID)?;
    codec::ne_u32(id, 0)
}

/// An RTM_NEWNEXTHOP payload, if it is a gateway or group object with protocol
/// `protocol`: (id, object). Blackholes and FDB objects are not tern's.
fn parse_object(payload: &[u8], protocol: u8) -> Option<(u32, Object)> {
    if payload.get(2) != Some(&protocol) {
        return None;
    }
    let flags = codec::ne_u32(payload, 4)?;
    let (mut id, mut oif, mut gw, mut group) = (None, None, None, None);
    for (ty, data) in object_attributes(payload) {
        match ty {
            NHA_ID => id = codec::ne_u32(data, 0),
            NHA_OIF => oif = codec::ne_u32(data, 0),
            NHA_GATEWAY => {
                gw = match data.len() {
                    4 => <[u8; 4]>::try_from(data).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(data).ok().map(IpAddr::from),
                    _ => None,
                }
            }
            NHA_GROUP => {
                let mut members: Vec<u32> = data
                    .chunks_exact(GROUP_ENTRY)
                    .filter_map(|e| codec::ne_u32(e, 0))
                    .collect();
                members.sort_unstable();
                group = Some(members);
            }
            NHA_BLACKHOLE | NHA_FDB => return None,
            _ => {}
        }
    }
    if let Some(members) = group {
        return Some((id?, Object::Group(members)));
    }
    Some((
        id?,
        Object::Gateway(Key {
            gw: gw?,
            oif: oif?,
            onlink: flags & RTNH_F_ONLINK != 0,
        }),
    ))
}

impl NetlinkTable {
    /// The object for each operation that installs a route via gateways (`None`: the
    /// route carries its gateways). Empty when the option is off. Creates the objects not
    /// made yet, one request each (a table has a handful of next hops).
    pub(super) fn nexthop_ids(&mut self, ops: &[Op<'_>]) -> Vec<Option<u32>> {
        if !self.nh.on {
            return Vec::new();
        }
        // Operations point at the reconciler's interned kinds: a batch has a few distinct
        // ones, so they are looked up once per batch by address (and the prefix's family:
        // an object is only for routes of its gateways' family).
        let mut seen: Vec<((*const RouteKind, u8), Option<u32>)> = Vec::new();
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            let kind = match op.action {
                Action::Add(k) | Action::Replace(k) => k,
                Action::Delete => {
                    out.push(None);
                    continue;
                }
            };
            let family = family_of(op.prefix.addr());
            let p = (kind as *const RouteKind, family);
            let id = match seen.iter().find(|(q, _)| *q == p) {
                Some((_, id)) => *id,
                None => {
                    let id = match kind {
                        RouteKind::Via(hops) => match hops.as_slice() {
                            _ if hops.iter().any(|h| family_of(h.address) != family) => None,
                            [] => None,
                            [one] => self.nexthop_for(one),
                            many => self.group_for(many),
                        },
                        _ => None,
                    };
                    seen.push((p, id));
                    id
                }
            };
            out.push(id);
        }
        out
    }

    fn nexthop_for(&mut self, hop: &NextHop) -> Option<u32> {
        if let Some(id) = self.nh.by_hop.get(hop) {
            return Some(*id);
        }
        if !self.nh.on || self.nh.refused.contains(hop) {
            return None;
        }
        let oif = match &hop.dev {
            Some(d) => self.ifindex(d).ok().flatten(),
            None => self.connected_oif(hop.address).ok().flatten(),
        };
        let Some(oif) = oif else {
            self.nh.refused.insert(hop.clone());
            return None;
        };
        let key = Key {
            gw: hop.address,
            oif,
            onlink: hop.onlink,
        };
        let id = match self.nh.by_key.get(&key) {
            Some(id) => *id,
            None => match self.create_nexthop(key) {
                Ok(id) => {
                    self.nh.insert(id, Object::Gateway(key));
                    id
                }
                Err(e) if e.is_errno(libc::EOPNOTSUPP) || e.is_errno(libc::EAFNOSUPPORT) => {
                    tracing::info!(error = %e, "the kernel has no nexthop objects; routes carry their gateways");
                    self.nh.on = false;
                    return None;
                }
                Err(e) => {
                    tracing::debug!(next_hop = %hop, error = %e, "no nexthop object; the route carries its gateway");
                    self.nh.refused.insert(hop.clone());
                    return None;
                }
            },
        };
        self.nh.by_hop.insert(hop.clone(), id);
        Some(id)
    }

    /// A group object of the gateways' objects (ECMP), made if needed; `None` when one of
    /// them cannot have an object or the kernel refuses the group.
    fn group_for(&mut self, hops: &[NextHop]) -> Option<u32> {
        let mut members = Vec::with_capacity(hops.len());
        for h in hops {
            members.push(self.nexthop_for(h)?);
        }
        members.sort_unstable();
        members.dedup();
        if members.len() < 2 {
            return None;
        }
        if let Some(id) = self.nh.groups.get(&members) {
            return Some(*id);
        }
        if self.nh.refused_groups.contains(&members) {
            return None;
        }
        let mut entries = Vec::with_capacity(members.len() * GROUP_ENTRY);
        for m in &members {
            entries.extend_from_slice(&m.to_ne_bytes());
            entries.extend_from_slice(&[0; GROUP_ENTRY - 4]); // weight 1
        }
        match self.create_object(0, 0, &[(NHA_GROUP, &entries)]) {
            Ok(id) => {
                self.nh.insert(id, Object::Group(members));
                Some(id)
            }
            Err(e) => {
                tracing::debug!(?members, error = %e, "no nexthop group; the route carries its gateways");
                self.nh.refused_groups.insert(members);
                None
            }
        }
    }

    /// The interface of the kernel's route to `gw`, if that route is a connected one.
    fn connected_oif(&mut self, gw: IpAddr) -> Result<Option<u32>, TableError> {
        let mut m = RouteMessage::default();
        let host = IpNet::from(gw);
        m.header.address_family = codec::family(&host);
        m.header.destination_prefix_length = host.prefix_len();
        m.attributes
            .push(RouteAttribute::Destination(codec::addr(gw)));
        self.exchange(codec::RTM_GETROUTE, 0, &m, &mut |msg| {
            if msg.ty == codec::NLMSG_ERROR {
                return Some(codec::check_ack(msg, "route get").map(|_| None));
            }
            let Ok(r) = RouteMessage::parse(msg.payload) else {
                return Some(Ok(None));
            };
            let mut oif = None;
            for a in &r.attributes {
                match a {
                    RouteAttribute::Oif(i) => oif = Some(*i),
                    RouteAttribute::Gateway(_) | RouteAttribute::MultiPath(_) => {
                        return Some(Ok(None))
                    }
                    _ => {}
                }
            }
            Some(Ok(oif))
        })
    }

    fn create_nexthop(&mut self, key: Key) -> Result<u32, TableError> {
        let flags = if key.onlink { RTNH_F_ONLINK } else { 0 };
        let oif = key.oif.to_ne_bytes();
        let gw = octets(key.gw);
        self.create_object(
            family_of(key.gw),
            flags,
            &[(NHA_OIF, &oif), (NHA_GATEWAY, &gw)],
        )
    }

    /// Make an object with a free id and these attributes; returns the id.
    fn create_object(
        &mut self,
        family: u8,
        flags: u32,
        attrs: &[(u16, &[u8])],
    ) -> Result<u32, TableError> {
        let mut last = None;
        for _ in 0..ID_TRIES {
            let id = self.nh.next_id;
            self.nh.next_id = self.nh.next_id.checked_add(1).unwrap_or(FIRST_ID);
            let mut b = nhmsg(family, self.cfg.protocol, flags);
            push_attr(&mut b, NHA_ID, &id.to_ne_bytes());
            for (ty, data) in attrs {
                push_attr(&mut b, *ty, data);
            }
            match self.request(
                RTM_NEWNEXTHOP,
                codec::NLM_F_CREATE | codec::NLM_F_EXCL,
                &Body(b),
            ) {
                Ok(()) => return Ok(id),
                Err(e) if e.is_errno(libc::EEXIST) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| TableError::Decode("no free nexthop id".into())))
    }

    /// The object routes of `kind` get now, without making one.
    fn object_of(&self, kind: &RouteKind) -> Option<u32> {
        let RouteKind::Via(hops) = kind else {
            return None;
        };
        match hops.as_slice() {
            [] => None,
            [one] => self.nh.by_hop.get(one).copied(),
            many => {
                let mut members = many
                    .iter()
                    .map(|h| self.nh.by_hop.get(h).copied())
                    .collect::<Option<Vec<u32>>>()?;
                members.sort_unstable();
                members.dedup();
                self.nh.groups.get(&members).copied()
            }
        }
    }

    /// [`RouteTable::delete_through_shared`](crate::table::RouteTable) with nexthop
    /// objects: one RTM_DELNEXTHOP, and the kernel deletes every route through the object
    /// with it (without a route event). The kernel cannot filter a route dump by object,
    /// so the check that the object's routes are exactly `prefixes` reads our whole table
    /// (both families); a route through a group that has the object as a member also
    /// stops it (the group would lose that member).
    pub(super) fn delete_through_object(
        &mut self,
        kind: &RouteKind,
        prefixes: &[IpNet],
        keep: &[&RouteKind],
    ) -> Result<bool, TableError> {
        if !self.nh.on || prefixes.is_empty() {
            return Ok(false);
        }
        let Some(id) = self.object_of(kind) else {
            return Ok(false);
        };
        let groups: Vec<u32> = self
            .nh
            .by_id
            .iter()
            .filter(|(_, o)| matches!(o, Object::Group(m) if m.contains(&id)))
            .map(|(g, _)| *g)
            .collect();
        for k in keep {
            if self
                .object_of(k)
                .is_some_and(|o| o == id || groups.contains(&o))
            {
                return Ok(false);
            }
        }
        let (protocol, table) = (self.cfg.protocol, self.cfg.table);
        let mut seen = vec![false; prefixes.len()];
        let mut found = 0usize;
        let mut exact = true;
        for v6 in [false, true] {
            let body = codec::dump_request(&self.cfg, v6);
            let interrupted = self.dump_raw(codec::RTM_GETROUTE, &body, &mut |m, _| {
                if m.ty != codec::RTM_NEWROUTE || !exact {
                    return Ok(());
                }
                let Some((prefix, Some(via))) = codec::read_route_nh(m.payload, protocol, table)
                else {
                    return Ok(());
                };
                if groups.contains(&via) {
                    exact = false;
                } else if via == id {
                    match prefixes.binary_search(&prefix) {
                        Ok(i) if !seen[i] => {
                            seen[i] = true;
                            found += 1;
                        }
                        _ => exact = false,
                    }
                }
                Ok(())
            })?;
            if interrupted {
                return Ok(false);
            }
        }
        if !exact || found != prefixes.len() {
            tracing::debug!(
                id,
                routes = prefixes.len(),
                found,
                "the object has other routes; deleting the routes one by one"
            );
            return Ok(false);
        }
        self.delete_object(id)?;
        self.nh.forget(id);
        Ok(true)
    }

    /// RTM_DELNEXTHOP for object `id`.
    fn delete_object(&mut self, id: u32) -> Result<(), TableError> {
        let mut b = nhmsg(0, 0, 0);
        push_attr(&mut b, NHA_ID, &id.to_ne_bytes());
        self.request(RTM_DELNEXTHOP, 0, &Body(b))
    }

    /// Forget object `id` (the kernel no longer has it, or it failed a route).
    pub(super) fn forget_nexthop(&mut self, id: u32) {
        self.nh.forget(id);
    }

    /// Objects this table made or adopted.
    pub(super) fn nexthop_count(&self) -> usize {
        self.nh.by_id.len()
    }

    /// Whether objects are in use (a full dump then also looks at them).
    pub(super) fn nexthops_on(&self) -> bool {
        self.nh.on
    }

    /// Our objects in the kernel (protocol ours; groups and others' left out). New ids
    /// are then taken above every id in use (an earlier run's objects, another daemon's),
    /// so that making one does not walk through taken ids.
    pub(super) fn dump_nexthops(&mut self) -> Result<HashMap<u32, Object>, TableError> {
        let protocol = self.cfg.protocol;
        let mut found = HashMap::new();
        let mut highest = None;
        let body = Body(nhmsg(0, 0, 0));
        self.dump_raw(RTM_GETNEXTHOP, &body, &mut |m, _| {
            if m.ty == RTM_NEWNEXTHOP {
                highest = highest.max(id_of(m.payload));
                if let Some((id, object)) = parse_object(m.payload, protocol) {
                    found.insert(id, object);
                }
            }
            Ok(())
        })?;
        if let Some(next) = highest.and_then(|h| h.checked_add(1)) {
            self.nh.next_id = self.nh.next_id.max(next);
        }
        Ok(found)
    }

    /// After a full dump: adopt our objects that routes of this table use (`used`, and
    /// the members of used groups), delete the ones of this table's that none uses
    /// (groups first), forget what the kernel no longer has, stop giving out groups the
    /// kernel changed, and give refused next hops another try.
    pub(super) fn collect_nexthops(
        &mut self,
        in_kernel: &HashMap<u32, Object>,
        used: &HashSet<u32>,
    ) {
        self.nh.refused.clear();
        self.nh.refused_groups.clear();
        let known: Vec<u32> = self.nh.by_id.keys().copied().collect();
        for id in known {
            match in_kernel.get(&id) {
                None => self.nh.forget(id),
                Some(now) if self.nh.by_id.get(&id) != Some(now) => {
                    // A group that lost a member: keep it ours (to delete once unused)
                    // but give it to no new route.
                    self.nh.unindex(id);
                    self.nh.by_id.insert(id, now.clone());
                }
                Some(_) => {}
            }
        }
        let mut used_all = used.clone();
        for id in used {
            if let Some(Object::Group(members)) = in_kernel.get(id) {
                used_all.extend(members.iter().copied());
            }
        }
        // Gateways before groups when adopting (a group's members are then known),
        // groups before gateways when deleting (a member leaves its group first).
        let mut ids: Vec<u32> = in_kernel.keys().copied().collect();
        ids.sort_unstable_by_key(|id| (matches!(in_kernel.get(id), Some(Object::Group(_))), *id));
        for &id in &ids {
            let Some(object) = in_kernel.get(&id) else {
                continue;
            };
            if used_all.contains(&id) && !self.nh.by_id.contains_key(&id) {
                let taken = match object {
                    Object::Gateway(key) => self.nh.by_key.contains_key(key),
                    Object::Group(members) => self.nh.groups.contains_key(members),
                };
                if !taken {
                    self.nh.insert(id, object.clone());
                }
            }
        }
        for &id in ids.iter().rev() {
            if used_all.contains(&id) || !self.nh.by_id.contains_key(&id) {
                continue;
            }
            match self.delete_object(id) {
                Ok(()) => {}
                Err(e) if e.is_errno(libc::ENOENT) => {}
                Err(e) => {
                    tracing::warn!(id, error = %e, "cannot delete an unused nexthop object");
                    continue;
                }
            }
            self.nh.forget(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Answers of the 6.18 kernel to an RTM_GETNEXTHOP dump (captured in a namespace where
    // d0 is ifindex 3) after `ip nexthop add id 7 via 10.0.0.2 dev d0 proto 201`,
    // `... id 8 via 10.0.0.9 dev d0 onlink proto 201`, `... id 9 group 7/8 proto 201`.
    const OBJECT: &[u8] = &[
        2, 253, 201, 0, 0, 0, 0, 0, 8, 0, 1, 0, 7, 0, 0, 0, 8, 0, 5, 0, 3, 0, 0, 0, 8, 0, 6, 0, 10,
        0, 0, 2,
    ];
    const ONLINK: &[u8] = &[
        2, 253, 201, 0, 4, 0, 0, 0, 8, 0, 1, 0, 8, 0, 0, 0, 8, 0, 5, 0, 3, 0, 0, 0, 8, 0, 6, 0, 10,
        0, 0, 9,
    ];
    const GROUP: &[u8] = &[
        0, 0, 201, 0, 0, 0, 0, 0, 8, 0, 1, 0, 9, 0, 0, 0, 6, 0, 3, 0, 0, 0, 0, 0, 20, 0, 2, 0, 7,
        0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 8, 0, 14, 0, 0, 0, 0, 128,
    ];

    #[test]
    fn parses_gateway_objects_and_skips_others() {
        let key = |gw: &str, onlink| {
            Object::Gateway(Key {
                gw: gw.parse().unwrap(),
                oif: 3,
                onlink,
            })
        };
        assert_eq!(parse_object(OBJECT, 201), Some((7, key("10.0.0.2", false))));
        assert_eq!(parse_object(ONLINK, 201), Some((8, key("10.0.0.9", true))));
        assert_eq!(parse_object(OBJECT, 200), None, "another protocol's");
        assert_eq!(
            parse_object(GROUP, 201),
            Some((9, Object::Group(vec![7, 8])))
        );
        assert_eq!(parse_object(&OBJECT[..20], 201), None, "truncated");
        assert_eq!(parse_object(&[], 201), None);
        assert_eq!(
            [OBJECT, ONLINK, GROUP].map(id_of),
            [Some(7), Some(8), Some(9)],
            "every object's id, groups' too"
        );
    }

    #[test]
    fn a_group_reads_back_its_members_next_hops() {
        let mut objects = HashMap::new();
        for raw in [OBJECT, ONLINK, GROUP] {
            let (id, o) = parse_object(raw, 201).unwrap();
            objects.insert(id, o);
        }
        let hops = hops_of(&objects, 9, &mut |i| format!("if{i}")).unwrap();
        let want = ["10.0.0.2", "10.0.0.9"].map(|a| a.parse::<IpAddr>().unwrap());
        assert_eq!(hops.iter().map(|h| h.address).collect::<Vec<_>>(), want);
        assert!(hops[1].onlink && hops.iter().all(|h| h.dev.as_deref() == Some("if3")));
        objects.remove(&8);
        assert_eq!(
            hops_of(&objects, 9, &mut |i| format!("if{i}")),
            None,
            "member unknown"
        );
    }

    #[test]
    fn encodes_what_it_parses() {
        let mut b = nhmsg(libc::AF_INET as u8, 201, RTNH_F_ONLINK);
        push_attr(&mut b, NHA_ID, &9u32.to_ne_bytes());
        push_attr(&mut b, NHA_OIF, &4u32.to_ne_bytes());
        push_attr(&mut b, NHA_GATEWAY, &[192, 0, 2, 1]);
        // Family, protocol and flags where the kernel has them (it fills in the scope).
        assert_eq!(
            (b[0], b[2], &b[4..8]),
            (ONLINK[0], ONLINK[2], &ONLINK[4..8])
        );
        let Some((9, Object::Gateway(key))) = parse_object(&b, 201) else {
            panic!("not read back")
        };
        assert_eq!((key.oif, key.onlink), (4, true));
    }
}
