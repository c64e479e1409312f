//! Persistence of allocations under `stateDir` — the only module of this crate that does
//! I/O.
//!
//! Layout: `<stateDir>/ipam/` (mode 0700) holds one JSON file per attachment (mode 0600),
//! named `<container id>.<ifname>.json` with every byte other than ASCII letters, digits,
//! `_` and `-` written as `%XX` (so the name cannot contain `/`, `.`/`..` components or
//! NUL whatever the key is, and two keys never share a file). One file per attachment
//! makes ADD and DEL O(1) — one small write or one unlink — and each is crash-safe on its
//! own; a snapshot of all allocations would rewrite O(n) bytes per change.
//!
//! A write goes to a temporary file `.tmp-<pid>-<n>` in the same directory, is fsynced,
//! renamed over the target, and the directory is fsynced: after a crash a file is either
//! the old or the new version, never a mix. Temporary files left by a crash are removed
//! by [`StateDir::load`]. `.lock` is held with `flock` while a [`StateDir`] is open, so
//! two agents cannot share one state directory.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Allocation, Attachment, AttachmentKey, Record};

/// Name of the subdirectory of `stateDir` this module owns.
pub const SUBDIR: &str = "ipam";
const LOCK_FILE: &str = ".lock";
const TMP_PREFIX: &str = ".tmp-";
/// Files larger than this are not read (a record is well under a kilobyte).
const MAX_FILE_LEN: u64 = 1 << 20;
/// The version written into every file.
const FORMAT_VERSION: u32 = 1;

/// A failure of the store. The operation that failed changed nothing it could undo.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`create`, `write`, `rename`, ...).
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Another process (another agent) holds the state directory.
    #[error("{} is in use by another process (lock held)", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The key is not valid, so it has no file.
    #[error("cannot store {key}: {reason}")]
    InvalidKey {
        /// The key (escaped for printing).
        key: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Serialising a record failed (cannot happen with the types of this crate).
    #[error("encoding {key}: {source}")]
    Encode {
        /// The key.
        key: AttachmentKey,
        /// The encoder's error.
        source: serde_json::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A file [`StateDir::load`] skipped or removed, and why. The file is left in place
/// (except stale temporary files, which are removed) so an operator can inspect it.
#[derive(Debug)]
pub struct LoadProblem {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub kind: LoadProblemKind,
}

/// Why a file was skipped.
#[derive(Debug)]
pub enum LoadProblemKind {
    /// The file could not be read.
    Unreadable(io::Error),
    /// The file is larger than any record.
    TooLarge(u64),
    /// The file is not a valid record (truncated, corrupt): the JSON error with its line and
    /// column.
    Corrupt {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The file's format version is not one this build reads.
    UnknownVersion(u32),
    /// The record inside names a different key than the file name (or an invalid one).
    Misplaced(AttachmentKey),
    /// Not a file this store writes (left alone).
    Foreign,
    /// A temporary file left by an interrupted write; it was never committed and was
    /// removed.
    StaleTempRemoved,
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        match &self.kind {
            LoadProblemKind::Unreadable(e) => write!(f, "{p}: unreadable, skipped: {e}"),
            LoadProblemKind::TooLarge(n) => {
                write!(f, "{p}: {n} bytes is too large for a record, skipped")
            }
            LoadProblemKind::Corrupt {
                line,
                column,
                message,
            } => write!(
                f,
                "{p}:{line}:{column}: corrupt or truncated record, skipped: {message}"
            ),
            LoadProblemKind::UnknownVersion(v) => {
                write!(f, "{p}: unknown format version {v}, skipped")
            }
            LoadProblemKind::Misplaced(k) => write!(
                f,
                "{p}: holds the record of {k}, which does not belong in this file, skipped"
            ),
            LoadProblemKind::Foreign => write!(f, "{p}: not an IPAM record, ignored"),
            LoadProblemKind::StaleTempRemoved => {
                write!(f, "{p}: temporary file of an interrupted write, removed")
            }
        }
    }
}

/// What [`StateDir::load`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The valid records, ordered by file name.
    pub records: Vec<Record>,
    /// Files that were skipped or removed.
    pub problems: Vec<LoadProblem>,
}

/// The on-disk form of one record.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileV1 {
    version: u32,
    container_id: String,
    ifname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ipv4: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ipv6: Option<Ipv6Addr>,
    #[serde(default)]
    attachment: Attachment,
}

/// The version field alone, read first so a newer format is reported as such.
#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

/// Escapes a key part for a file name: ASCII letters, digits, `_` and `-` stay, every
/// other byte becomes `%XX`.
fn escape(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for b in part.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The file name of `key`'s record (unique per key; never starts with `.`).
pub fn file_name(key: &AttachmentKey) -> String {
    format!("{}.{}.json", escape(&key.container_id), escape(&key.ifname))
}

/// The IPAM state directory: open it, load what is there, then put and remove records.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    /// Holds the `flock` for as long as this value lives.
    _lock: File,
    tmp_counter: AtomicU64,
}

impl StateDir {
    /// Opens (creating if needed) `<state_dir>/ipam` with mode 0700 and takes its lock.
    /// `state_dir` itself is created with mode 0700 when missing (an existing one keeps
    /// its mode).
    pub fn open(state_dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = state_dir.as_ref();
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(io_err("create directory", root))?;
        let dir = root.join(SUBDIR);
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err("create directory", &dir))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err("chmod", &dir))?;
        // Make the directory entry itself durable before any record goes into it.
        File::open(root)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync", root))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        // SAFETY: flock on a descriptor this function owns; no memory is passed.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                StoreError::Locked { path: lock_path }
            } else {
                StoreError::Io {
                    op: "lock",
                    path: lock_path,
                    source: e,
                }
            });
        }
        Ok(StateDir {
            dir,
            _lock: lock,
            tmp_counter: AtomicU64::new(0),
        })
    }

    /// The directory holding the records (`<stateDir>/ipam`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `key`'s record.
    pub fn path_of(&self, key: &AttachmentKey) -> PathBuf {
        self.dir.join(file_name(key))
    }

    /// Reads every record. Corrupt, truncated, oversized, misplaced and foreign files are
    /// reported and skipped (never a panic); temporary files of interrupted writes are
    /// removed and reported. Fails only when the directory itself cannot be listed.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err("read directory", &self.dir))? {
            let entry = entry.map_err(io_err("read directory", &self.dir))?;
            names.push(entry.file_name());
        }
        names.sort();
        let mut loaded = Loaded::default();
        for name in names {
            let path = self.dir.join(&name);
            let Some(name) = name.to_str() else {
                loaded.problems.push(LoadProblem {
                    path,
                    kind: LoadProblemKind::Foreign,
                });
                continue;
            };
            if name == LOCK_FILE {
                continue;
            }
            if name.starts_with(TMP_PREFIX) {
                if let Err(e) = fs::remove_file(&path) {
                    loaded.problems.push(LoadProblem {
                        path,
                        kind: LoadProblemKind::Unreadable(e),
                    });
                } else {
                    loaded.problems.push(LoadProblem {
                        path,
                        kind: LoadProblemKind::StaleTempRemoved,
                    });
                }
                continue;
            }
            if !name.ends_with(".json") || name.starts_with('.') {
                loaded.problems.push(LoadProblem {
                    path,
                    kind: LoadProblemKind::Foreign,
                });
                continue;
            }
            match read_record(&path, name) {
                Ok(record) => loaded.records.push(record),
                Err(kind) => loaded.problems.push(LoadProblem { path, kind }),
            }
        }
        Ok(loaded)
    }

    /// Writes `key`'s record crash-safely (temporary file, fsync, rename, fsync of the
    /// directory), replacing any previous one.
    pub fn put(&self, key: &AttachmentKey, alloc: &Allocation) -> Result<(), StoreError> {
        key.validate().map_err(|e| StoreError::InvalidKey {
            key: key.to_string().escape_debug().to_string(),
            reason: e.to_string(),
        })?;
        let file = FileV1 {
            version: FORMAT_VERSION,
            container_id: key.container_id.clone(),
            ifname: key.ifname.clone(),
            ipv4: alloc.ipv4,
            ipv6: alloc.ipv6,
            attachment: alloc.attachment.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).map_err(|source| StoreError::Encode {
            key: key.clone(),
            source,
        })?;
        bytes.push(b'\n');
        let target = self.path_of(key);
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!("{TMP_PREFIX}{}-{n}", std::process::id()));
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&tmp)
                .map_err(io_err("create", &tmp))?;
            f.write_all(&bytes).map_err(io_err("write", &tmp))?;
            f.sync_all().map_err(io_err("fsync", &tmp))?;
            fs::rename(&tmp, &target).map_err(io_err("rename", &target))
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.sync_dir()
    }

    /// Removes `key`'s record (crash-safely: the directory is fsynced). Ok(false) when
    /// there was none.
    pub fn remove(&self, key: &AttachmentKey) -> Result<bool, StoreError> {
        let path = self.path_of(key);
        match fs::remove_file(&path) {
            Ok(()) => {
                self.sync_dir()?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::Io {
                op: "remove",
                path,
                source: e,
            }),
        }
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync", &self.dir))
    }
}

/// Reads and checks one record file.
fn read_record(path: &Path, name: &str) -> Result<Record, LoadProblemKind> {
    let mut f = File::open(path).map_err(LoadProblemKind::Unreadable)?;
    let len = f.metadata().map_err(LoadProblemKind::Unreadable)?.len();
    if len > MAX_FILE_LEN {
        return Err(LoadProblemKind::TooLarge(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    (&mut f)
        .take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(LoadProblemKind::Unreadable)?;
    let corrupt = |e: serde_json::Error| LoadProblemKind::Corrupt {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    let version: VersionOnly = serde_json::from_slice(&bytes).map_err(corrupt)?;
    if version.version != FORMAT_VERSION {
        return Err(LoadProblemKind::UnknownVersion(version.version));
    }
    let file: FileV1 = serde_json::from_slice(&bytes).map_err(corrupt)?;
    let key = AttachmentKey {
        container_id: file.container_id,
        ifname: file.ifname,
    };
    if file_name(&key) != name || key.validate().is_err() {
        return Err(LoadProblemKind::Misplaced(key));
    }
    Ok(Record {
        key,
        allocation: Allocation {
            ipv4: file.ipv4,
            ipv6: file.ipv6,
            attachment: file.attachment,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_escape_or_collide() {
        let k = |c: &str, i: &str| AttachmentKey {
            container_id: c.into(),
            ifname: i.into(),
        };
        assert_eq!(file_name(&k("abc123", "eth0")), "abc123.eth0.json");
        assert_eq!(file_name(&k("a.b", "eth0")), "a%2Eb.eth0.json");
        for hostile in [
            "..",
            "../../etc/passwd",
            "a/b",
            "a\0b",
            ".",
            "/",
            ".tmp-1-1",
            ".lock",
        ] {
            let name = file_name(&k(hostile, hostile));
            assert!(
                !name.contains('/') && !name.contains('\0') && !name.starts_with('.'),
                "{name}"
            );
            assert_eq!(Path::new(&name).components().count(), 1);
        }
        // `a.b`/`c` and `a`/`b.c` would both be `a.b.c` unescaped.
        assert_ne!(file_name(&k("a.b", "c")), file_name(&k("a", "b.c")));
        assert_ne!(file_name(&k("a%2Eb", "c")), file_name(&k("a.b", "c")));
    }
}
