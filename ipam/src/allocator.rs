//! The sans-IO allocator: this node's blocks, who holds which address, and the rules for
//! handing out, releasing, collecting and restoring allocations. No I/O, no clock.

use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

use crate::block::Block;
use crate::{Allocation, Attachment, AttachmentKey, Family, IpamError, Record, Request};

/// Allocates addresses from this node's blocks, one IPv4 and one IPv6 address per
/// [`AttachmentKey`] (one per family that has a block).
///
/// New addresses come round-robin: the lowest free address after the last one handed out
/// in that family (wrapping to the start, and on to the family's next block), so an
/// address just released is not handed out again until the others have been used — a new
/// container does not receive traffic meant for the one that just went away.
#[derive(Debug, Clone)]
pub struct Allocator {
    blocks: Vec<Block>,
    /// Per family (V4, V6): (block index, offset) of the last address handed out.
    cursor: [Option<(usize, u128)>; 2],
    allocs: BTreeMap<AttachmentKey, Allocation>,
    owners: HashMap<IpAddr, AttachmentKey>,
}

/// Use of one block, for status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockUsage {
    /// The block.
    pub block: IpNet,
    /// Addresses handed out.
    pub allocated: u128,
    /// Addresses that can be handed out (the block minus its reserved addresses).
    pub capacity: u128,
}

/// A record [`Allocator::restore`] kept out of the allocator, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreProblem {
    /// The record as it was given.
    pub record: Record,
    /// What is wrong with it.
    pub kind: ProblemKind,
}

/// Why a record could not be restored.
#[derive(Debug, Clone, PartialEq)]
pub enum ProblemKind {
    /// The key is not valid (container ID or interface name).
    InvalidKey(String),
    /// An earlier record already has this key.
    DuplicateKey,
    /// The record holds no address at all.
    NoAddress,
    /// An address is in none of the current blocks (a block was removed or changed).
    OutsideBlocks(IpAddr),
    /// An address is the network or broadcast address of its block.
    Reserved(IpAddr),
    /// An earlier record already holds this address.
    AddressTaken {
        /// The address.
        addr: IpAddr,
        /// The record that keeps it.
        holder: AttachmentKey,
    },
}

impl fmt::Display for RestoreProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.record.key;
        match &self.kind {
            ProblemKind::InvalidKey(why) => write!(f, "{}: {why}", key.container_id.escape_debug()),
            ProblemKind::DuplicateKey => {
                write!(f, "{key}: a second allocation for the same attachment")
            }
            ProblemKind::NoAddress => write!(f, "{key}: the allocation holds no address"),
            ProblemKind::OutsideBlocks(a) => {
                write!(f, "{key}: {a} is in none of this node's blocks")
            }
            ProblemKind::Reserved(a) => {
                write!(f, "{key}: {a} is a reserved (network or broadcast) address")
            }
            ProblemKind::AddressTaken { addr, holder } => {
                write!(f, "{key}: {addr} is already held by {holder}")
            }
        }
    }
}

fn family_of(net: &IpNet) -> Family {
    match net {
        IpNet::V4(_) => Family::V4,
        IpNet::V6(_) => Family::V6,
    }
}

fn slot(f: Family) -> usize {
    match f {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

impl Allocator {
    /// An empty allocator over `blocks` (IPv4 and IPv6 in any order; host bits are
    /// ignored; a block inside another one, or given twice, is dropped since CIDR blocks
    /// either nest or are disjoint, this leaves disjoint blocks).
    pub fn new(blocks: impl IntoIterator<Item = IpNet>) -> Self {
        let given: Vec<IpNet> = blocks.into_iter().map(|b| b.trunc()).collect();
        let mut kept: Vec<IpNet> = Vec::new();
        for b in &given {
            let inside_other = given.iter().any(|o| o != b && o.contains(b));
            if !inside_other && !kept.contains(b) {
                kept.push(*b);
            }
        }
        Allocator {
            blocks: kept.into_iter().map(Block::new).collect(),
            cursor: [None, None],
            allocs: BTreeMap::new(),
            owners: HashMap::new(),
        }
    }

    /// An allocator over `blocks` holding `records` (as loaded from the store). Records
    /// that cannot be held — an invalid key, a key seen before, an address outside every
    /// block, a reserved address, an address an earlier record holds, no address at all —
    /// are left out whole and returned, so the caller can log them and clean up what
    /// they describe. The round-robin cursor of each family starts after the highest
    /// restored address.
    pub fn restore(
        blocks: impl IntoIterator<Item = IpNet>,
        records: impl IntoIterator<Item = Record>,
    ) -> (Self, Vec<RestoreProblem>) {
        let mut a = Allocator::new(blocks);
        let mut problems = Vec::new();
        for record in records {
            if let Err(kind) = a.adopt(&record) {
                problems.push(RestoreProblem { record, kind });
            }
        }
        (a, problems)
    }

    /// Takes in one restored record, or says why not (and then changes nothing).
    fn adopt(&mut self, record: &Record) -> Result<(), ProblemKind> {
        let key = &record.key;
        key.validate()
            .map_err(|e| ProblemKind::InvalidKey(e.to_string()))?;
        if self.allocs.contains_key(key) {
            return Err(ProblemKind::DuplicateKey);
        }
        let addrs: Vec<IpAddr> = record.allocation.addrs().collect();
        if addrs.is_empty() {
            return Err(ProblemKind::NoAddress);
        }
        let mut spots = Vec::new();
        for &addr in &addrs {
            let (bi, off) = self.locate(addr).ok_or(ProblemKind::OutsideBlocks(addr))?;
            let block = &self.blocks[bi];
            if block.is_reserved(off) {
                return Err(ProblemKind::Reserved(addr));
            }
            if let Some(holder) = self.owners.get(&addr) {
                return Err(ProblemKind::AddressTaken {
                    addr,
                    holder: holder.clone(),
                });
            }
            spots.push((bi, off, addr));
        }
        for (bi, off, addr) in spots {
            self.blocks[bi].take(off);
            self.owners.insert(addr, key.clone());
            let s = slot(family_of(&self.blocks[bi].net()));
            if !matches!(self.cursor[s], Some(c) if c >= (bi, off)) {
                self.cursor[s] = Some((bi, off));
            }
        }
        self.allocs.insert(key.clone(), record.allocation.clone());
        Ok(())
    }

    /// The block index and offset of `addr`, if it is in one of the blocks.
    fn locate(&self, addr: IpAddr) -> Option<(usize, u128)> {
        self.blocks
            .iter()
            .enumerate()
            .find_map(|(i, b)| b.offset_of(addr).map(|o| (i, o)))
    }

    /// The allocation for `key`: the existing one if the key already holds one (ADD is
    /// idempotent; `req.attachment` is then not applied), else new addresses, one per
    /// family that has a block, or the specific addresses `req` names. All or nothing:
    /// if any family fails, nothing is allocated.
    pub fn allocate(
        &mut self,
        key: &AttachmentKey,
        req: &Request,
    ) -> Result<Allocation, IpamError> {
        self.allocate_families(key, req, &[Family::V4, Family::V6])
    }

    /// As [`Allocator::allocate`], but a new allocation takes addresses only in
    /// `families` (Docker's IPAM asks for one family at a time); an address `req` names
    /// is taken whatever its family.
    pub fn allocate_families(
        &mut self,
        key: &AttachmentKey,
        req: &Request,
        families: &[Family],
    ) -> Result<Allocation, IpamError> {
        key.validate()?;
        if let Some(existing) = self.allocs.get(key) {
            let wanted = [
                (existing.ipv4.map(IpAddr::V4), req.ipv4.map(IpAddr::V4)),
                (existing.ipv6.map(IpAddr::V6), req.ipv6.map(IpAddr::V6)),
            ];
            for (held, requested) in wanted {
                if let (Some(held), Some(requested)) = (held, requested) {
                    if held != requested {
                        return Err(IpamError::Conflict {
                            key: key.clone(),
                            held,
                            requested,
                        });
                    }
                }
            }
            return Ok(existing.clone());
        }
        if self.blocks.is_empty() {
            return Err(IpamError::NoBlock);
        }
        let cursors = self.cursor;
        let wants = |f: Family, requested: bool| requested || families.contains(&f);
        let v4 = if wants(Family::V4, req.ipv4.is_some()) {
            self.take_for(Family::V4, req.ipv4.map(IpAddr::V4))?
        } else {
            None
        };
        let v6 = if !wants(Family::V6, req.ipv6.is_some()) {
            Ok(None)
        } else {
            self.take_for(Family::V6, req.ipv6.map(IpAddr::V6))
        };
        let v6 = match v6 {
            Ok(v6) => v6,
            Err(e) => {
                if let Some((bi, off)) = v4 {
                    self.blocks[bi].free(off);
                }
                self.cursor = cursors;
                return Err(e);
            }
        };
        let mut alloc = Allocation {
            ipv4: None,
            ipv6: None,
            attachment: req.attachment.clone(),
        };
        for (bi, off) in v4.into_iter().chain(v6) {
            let addr = self.blocks[bi].addr_at(off);
            match addr {
                IpAddr::V4(a) => alloc.ipv4 = Some(a),
                IpAddr::V6(a) => alloc.ipv6 = Some(a),
            }
            self.owners.insert(addr, key.clone());
        }
        self.allocs.insert(key.clone(), alloc.clone());
        Ok(alloc)
    }

    /// Takes the requested address, or the next free one of `family` if the node has a
    /// block of that family (None when it has none and none was requested).
    fn take_for(
        &mut self,
        family: Family,
        requested: Option<IpAddr>,
    ) -> Result<Option<(usize, u128)>, IpamError> {
        if let Some(addr) = requested {
            let (bi, off) = self.locate(addr).ok_or(IpamError::OutsideBlocks { addr })?;
            let block = &mut self.blocks[bi];
            if block.is_reserved(off) {
                return Err(IpamError::Reserved {
                    addr,
                    block: block.net(),
                });
            }
            if let Some(holder) = self.owners.get(&addr) {
                return Err(IpamError::InUse {
                    addr,
                    holder: holder.clone(),
                });
            }
            block.take(off);
            return Ok(Some((bi, off)));
        }
        let family_blocks: Vec<usize> = (0..self.blocks.len())
            .filter(|&i| family_of(&self.blocks[i].net()) == family)
            .collect();
        if family_blocks.is_empty() {
            return Ok(None);
        }
        // Search order: the cursor's block after the cursor, the family's other blocks
        // (cyclically after it) from their start, then the cursor's block from its start.
        let (start_pos, after) = match self.cursor[slot(family)] {
            Some((bi, off)) => (
                family_blocks.iter().position(|&i| i == bi).unwrap_or(0),
                off.checked_add(1),
            ),
            None => (0, Some(0)),
        };
        let n = family_blocks.len();
        let mut tries: Vec<(usize, Option<u128>)> = vec![(family_blocks[start_pos], after)];
        tries.extend((1..n).map(|k| (family_blocks[(start_pos + k) % n], Some(0))));
        tries.push((family_blocks[start_pos], Some(0)));
        for (bi, from) in tries {
            if self.blocks[bi].is_full() {
                continue;
            }
            if let Some(off) = from.and_then(|f| self.blocks[bi].first_free_from(f)) {
                self.blocks[bi].take(off);
                self.cursor[slot(family)] = Some((bi, off));
                return Ok(Some((bi, off)));
            }
        }
        let mut full = family_blocks.iter().map(|&i| self.blocks[i].net());
        let block = full.next().expect("family_blocks is not empty");
        Err(IpamError::Exhausted {
            block,
            also_full: full.collect(),
        })
    }

    /// Frees what `key` holds and returns it (None when it held nothing: DEL of
    /// something unknown is not an error).
    pub fn release(&mut self, key: &AttachmentKey) -> Option<Allocation> {
        let alloc = self.allocs.remove(key)?;
        for addr in alloc.addrs() {
            self.owners.remove(&addr);
            if let Some((bi, off)) = self.locate(addr) {
                self.blocks[bi].free(off);
            }
        }
        Some(alloc)
    }

    /// The allocation `key` holds.
    pub fn get(&self, key: &AttachmentKey) -> Option<&Allocation> {
        self.allocs.get(key)
    }

    /// Who holds `addr`.
    pub fn owner(&self, addr: IpAddr) -> Option<&AttachmentKey> {
        self.owners.get(&addr)
    }

    /// All allocations, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = (&AttachmentKey, &Allocation)> {
        self.allocs.iter()
    }

    /// All allocations as records (what the store persists), ordered by key.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.allocs.iter().map(|(k, a)| Record {
            key: k.clone(),
            allocation: a.clone(),
        })
    }

    /// Number of allocations.
    pub fn len(&self) -> usize {
        self.allocs.len()
    }

    /// True when nothing is allocated.
    pub fn is_empty(&self) -> bool {
        self.allocs.is_empty()
    }

    /// The blocks in use (after dropping nested duplicates), in the given order.
    pub fn blocks(&self) -> Vec<IpNet> {
        self.blocks.iter().map(Block::net).collect()
    }

    /// Use of each block.
    pub fn usage(&self) -> Vec<BlockUsage> {
        self.blocks
            .iter()
            .map(|b| BlockUsage {
                block: b.net(),
                allocated: b.allocated(),
                capacity: b.capacity(),
            })
            .collect()
    }

    /// Frees every allocation whose key `keep` rejects (CNI GC: keep what is in
    /// `cni.dev/valid-attachments`) and returns what was freed, ordered by key.
    pub fn gc(
        &mut self,
        keep: impl Fn(&AttachmentKey) -> bool,
    ) -> Vec<(AttachmentKey, Allocation)> {
        let doomed: Vec<AttachmentKey> = self.allocs.keys().filter(|k| !keep(k)).cloned().collect();
        doomed
            .into_iter()
            .filter_map(|k| {
                let a = self.release(&k)?;
                Some((k, a))
            })
            .collect()
    }

    /// Replaces the metadata of `key`'s allocation.
    pub fn set_attachment(
        &mut self,
        key: &AttachmentKey,
        attachment: Attachment,
    ) -> Result<&Allocation, IpamError> {
        let alloc = self
            .allocs
            .get_mut(key)
            .ok_or_else(|| IpamError::UnknownKey { key: key.clone() })?;
        alloc.attachment = attachment;
        Ok(alloc)
    }

    /// Changes the labels of `key`'s allocation with `f` (e.g. insert `app=web`, remove
    /// `tier`) and returns the updated allocation.
    pub fn update_labels(
        &mut self,
        key: &AttachmentKey,
        f: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> Result<&Allocation, IpamError> {
        let alloc = self
            .allocs
            .get_mut(key)
            .ok_or_else(|| IpamError::UnknownKey { key: key.clone() })?;
        f(&mut alloc.attachment.labels);
        Ok(alloc)
    }
}
