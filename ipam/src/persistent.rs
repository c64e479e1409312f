//! [`Ipam`]: the allocator and the store together, the way the agent uses them — every
//! change is written to disk before it is visible in memory, and a change whose write
//! fails is not made.

use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use crate::store::{LoadProblem, StateDir, StoreError};
use crate::{Allocation, Allocator, Attachment, AttachmentKey, IpamError, Request, RestoreProblem};

/// What [`Ipam::open`] found wrong in the state directory. Nothing here is held by the
/// allocator; the caller logs it and cleans up what the records describe (see
/// [`Ipam::forget`]).
#[derive(Debug, Default)]
pub struct OpenReport {
    /// Files that could not be read (corrupt, truncated, ...) or were stale temp files.
    pub load: Vec<LoadProblem>,
    /// Readable records the allocator could not hold (address outside the current
    /// blocks, duplicated, ...).
    pub restore: Vec<RestoreProblem>,
}

/// What [`Ipam::gc`] did.
#[derive(Debug, Default)]
pub struct GcOutcome {
    /// Freed allocations (their records are gone), ordered by key.
    pub freed: Vec<(AttachmentKey, Allocation)>,
    /// Keys whose record could not be removed; they are still allocated.
    pub failed: Vec<(AttachmentKey, StoreError)>,
}

/// The allocator backed by a [`StateDir`].
#[derive(Debug)]
pub struct Ipam {
    alloc: Allocator,
    store: StateDir,
}

impl Ipam {
    /// Opens `state_dir` (see [`StateDir::open`]), loads every record and restores the
    /// allocator over `blocks`.
    pub fn open(
        state_dir: impl AsRef<Path>,
        blocks: impl IntoIterator<Item = IpNet>,
    ) -> Result<(Self, OpenReport), StoreError> {
        let store = StateDir::open(state_dir)?;
        let loaded = store.load()?;
        let (alloc, restore) = Allocator::restore(blocks, loaded.records);
        Ok((
            Ipam { alloc, store },
            OpenReport {
                load: loaded.problems,
                restore,
            },
        ))
    }

    /// The in-memory allocator (read-only: changes go through [`Ipam`] so they persist).
    pub fn allocator(&self) -> &Allocator {
        &self.alloc
    }

    /// The store.
    pub fn store(&self) -> &StateDir {
        &self.store
    }

    /// [`Allocator::allocate`], persisted. An existing allocation is returned without a
    /// write. If the write fails, the new allocation is undone and the error returned.
    pub fn allocate(
        &mut self,
        key: &AttachmentKey,
        req: &Request,
    ) -> Result<Allocation, IpamError> {
        if let Some(existing) = self.alloc.get(key) {
            if req.ipv4.is_none() && req.ipv6.is_none() {
                return Ok(existing.clone());
            }
        }
        let existed = self.alloc.get(key).is_some();
        let alloc = self.alloc.allocate(key, req)?;
        if !existed {
            if let Err(e) = self.store.put(key, &alloc) {
                self.alloc.release(key);
                return Err(e.into());
            }
        }
        Ok(alloc)
    }

    /// [`Allocator::release`], persisted: the record is removed first; if that fails the
    /// allocation stays (so a retried DEL can finish it). Ok(None) for an unknown key.
    pub fn release(&mut self, key: &AttachmentKey) -> Result<Option<Allocation>, IpamError> {
        if self.alloc.get(key).is_none() {
            // Not held; a stray file (e.g. one restore refused) may still exist.
            if key.validate().is_ok() {
                self.store.remove(key)?;
            }
            return Ok(None);
        }
        self.store.remove(key)?;
        Ok(self.alloc.release(key))
    }

    /// [`Allocator::gc`], persisted. A key whose record cannot be removed stays allocated
    /// and is listed in [`GcOutcome::failed`]; a later GC retries it.
    pub fn gc(&mut self, keep: impl Fn(&AttachmentKey) -> bool) -> GcOutcome {
        let doomed: Vec<AttachmentKey> = self
            .alloc
            .iter()
            .map(|(k, _)| k)
            .filter(|k| !keep(k))
            .cloned()
            .collect();
        let mut out = GcOutcome::default();
        for key in doomed {
            match self.store.remove(&key) {
                Ok(_) => {
                    if let Some(a) = self.alloc.release(&key) {
                        out.freed.push((key, a));
                    }
                }
                Err(e) => out.failed.push((key, e)),
            }
        }
        out
    }

    /// Removes the record file of a key the allocator does not hold (e.g. one in
    /// [`OpenReport::restore`], once the caller has cleaned up after it). A key that is
    /// held is left alone: use [`Ipam::release`]. Ok(true) when a file was removed.
    pub fn forget(&mut self, key: &AttachmentKey) -> Result<bool, StoreError> {
        if self.alloc.get(key).is_some() || key.validate().is_err() {
            return Ok(false);
        }
        self.store.remove(key)
    }

    /// [`Allocator::set_attachment`], persisted (written first, then applied).
    pub fn set_attachment(
        &mut self,
        key: &AttachmentKey,
        attachment: Attachment,
    ) -> Result<&Allocation, IpamError> {
        let mut next = self
            .alloc
            .get(key)
            .ok_or_else(|| IpamError::UnknownKey { key: key.clone() })?
            .clone();
        next.attachment = attachment.clone();
        self.store.put(key, &next)?;
        self.alloc.set_attachment(key, attachment)
    }

    /// [`Allocator::update_labels`], persisted (written first, then applied).
    pub fn update_labels(
        &mut self,
        key: &AttachmentKey,
        f: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> Result<&Allocation, IpamError> {
        let mut next = self
            .alloc
            .get(key)
            .ok_or_else(|| IpamError::UnknownKey { key: key.clone() })?
            .clone();
        f(&mut next.attachment.labels);
        self.store.put(key, &next)?;
        self.alloc.set_attachment(key, next.attachment)
    }

    /// [`Allocator::get`].
    pub fn get(&self, key: &AttachmentKey) -> Option<&Allocation> {
        self.alloc.get(key)
    }

    /// [`Allocator::owner`].
    pub fn owner(&self, addr: IpAddr) -> Option<&AttachmentKey> {
        self.alloc.owner(addr)
    }

    /// [`Allocator::iter`].
    pub fn iter(&self) -> impl Iterator<Item = (&AttachmentKey, &Allocation)> {
        self.alloc.iter()
    }
}
