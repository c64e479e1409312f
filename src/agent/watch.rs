//! Change detection for the endpoint and policy files.
//!
//! Two layers, so that a lost event cannot leave the agent on old files for long:
//! - **Events**: an inotify watch (the `notify` crate) on each configured folder
//!   (recursively) and on the folder of each configured file or not-yet-existing path
//!   (editors replace files by renaming; a missing path appears in its parent). An
//!   event only marks the set dirty; the comparison waits until events have been quiet
//!   for [`QUIET`] (at most [`SETTLE_MAX`] after the first). A watch that
//!   cannot be set up (no inotify instances or watches left) falls back to polling
//!   every second, with a warning.
//! - **Level**: what decides is a [`Fingerprint`] of every YAML file under the paths
//!   (path, size, mtime, content hash), taken off the async runtime (`spawn_blocking`)
//!   and compared with the last one. It is taken after events, and every
//!   [`RESCAN`] anyway (an overflowed event queue, a file system without inotify).
//!
//! So an idle agent reads none of these files between rescans, and the runtime that
//! drives BGP never reads or hashes them.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::FutureExt as _;
use notify::{RecursiveMode, Watcher as _};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Quiet time after the last event before the files are compared: an editor's write and
/// rename, a `cp -r` or a `git checkout` arrive as bursts of events a few milliseconds
/// apart, and are folded into one comparison. (A fixed 200 ms after the first event
/// made every change wait 200 ms; a save is one burst of ~1 ms.)
pub const QUIET: Duration = Duration::from_millis(50);

/// Longest wait after the first event of a burst that does not end (a process writing
/// in the folder all the time): the files are compared then anyway.
pub const SETTLE_MAX: Duration = Duration::from_secs(1);

/// Level-triggered rescan interval with inotify working.
pub const RESCAN: Duration = Duration::from_secs(30);

/// Poll interval when inotify could not be set up.
pub const POLL: Duration = Duration::from_secs(1);

/// What the files under a set of paths look like at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<(PathBuf, Option<FileState>)>);

/// Size, modification time and content hash of one file.
type FileState = (u64, Option<SystemTime>, u64);

impl Fingerprint {
    /// Takes the fingerprint of every YAML file under `paths` (and of paths that do not
    /// exist, so their appearance is a change). Blocking file I/O.
    pub fn of(paths: &[PathBuf]) -> Fingerprint {
        let mut files = yaml_files(paths);
        for p in paths {
            if !p.exists() {
                files.push(p.clone());
            }
        }
        Fingerprint(
            files
                .into_iter()
                .map(|f| {
                    let meta = std::fs::metadata(&f).ok();
                    let content = std::fs::read(&f).ok();
                    let state = meta.zip(content).map(|(m, c)| {
                        let mut h = DefaultHasher::new();
                        c.hash(&mut h);
                        (m.len(), m.modified().ok(), h.finish())
                    });
                    (f, state)
                })
                .collect(),
        )
    }
}

/// The YAML files under `paths` (folders searched recursively for `*.yaml` / `*.yml`),
/// sorted; a named file is taken whatever its extension. Unreadable paths are skipped.
fn yaml_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut files, 0),
            Ok(_) => files.push(p.clone()),
            Err(_) => {}
        }
    }
    files.sort();
    files.dedup();
    files
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 16 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let p = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&p, out, depth + 1),
            Ok(_) => {
                if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    out.push(p);
                }
            }
            Err(_) => {}
        }
    }
}

/// What to watch for `p`: itself recursively when it is a folder, else the nearest
/// existing folder above it.
fn watch_target(p: &Path) -> Option<(PathBuf, RecursiveMode)> {
    if p.is_dir() {
        return Some((p.to_path_buf(), RecursiveMode::Recursive));
    }
    let mut dir = p.parent();
    while let Some(d) = dir {
        let d = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        if d.is_dir() {
            return Some((d.to_path_buf(), RecursiveMode::NonRecursive));
        }
        dir = d.parent();
    }
    None
}

/// After an event: returns once no other came for [`QUIET`], or [`SETTLE_MAX`] after it.
/// The events it waits through are folded into the comparison that follows.
async fn settle(wake: &Notify) {
    let end = Instant::now() + SETTLE_MAX;
    loop {
        let quiet = (Instant::now() + QUIET).min(end);
        tokio::select! {
            _ = wake.notified() => {
                if Instant::now() >= end {
                    return;
                }
            }
            _ = tokio::time::sleep_until(quiet) => return,
        }
    }
}

/// Watches a set of paths: events wake [`Watch::wait`], [`Watch::changed`] decides.
pub struct Watch {
    paths: Vec<PathBuf>,
    last: Option<Fingerprint>,
    wake: Arc<Notify>,
    watcher: Option<notify::RecommendedWatcher>,
    /// Woken (or due for a rescan) and not compared since.
    dirty: bool,
    next_rescan: Instant,
    scans: u64,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("paths", &self.paths)
            .field("inotify", &self.watcher.is_some())
            .field("scans", &self.scans)
            .finish()
    }
}

impl Watch {
    /// Watches `paths`; the first [`Watch::changed`] returns true. Needs a tokio runtime
    /// only for the waiting methods.
    pub fn new(paths: Vec<PathBuf>) -> Watch {
        let mut w = Watch {
            paths,
            last: None,
            wake: Arc::new(Notify::new()),
            watcher: None,
            dirty: true,
            next_rescan: Instant::now(),
            scans: 0,
        };
        w.arm();
        w
    }

    /// (Re)creates the inotify watches for the paths as they are now.
    fn arm(&mut self) {
        self.watcher = None;
        let wake = self.wake.clone();
        let made = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            // Any change, an error or a rescan request: compare the files. Not reads:
            // our own scan opens every file.
            if let Ok(e) = &ev {
                if matches!(e.kind, notify::EventKind::Access(_)) {
                    return;
                }
            }
            wake.notify_one();
        });
        let mut watcher = match made {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("file watch unavailable, polling every second: {e}");
                return;
            }
        };
        let mut targets: Vec<(PathBuf, RecursiveMode)> =
            self.paths.iter().filter_map(|p| watch_target(p)).collect();
        targets.sort_by(|a, b| a.0.cmp(&b.0));
        targets.dedup_by(|a, b| a.0 == b.0);
        for (t, mode) in targets {
            if let Err(e) = watcher.watch(&t, mode) {
                tracing::warn!("cannot watch {}, polling every second: {e}", t.display());
                return;
            }
        }
        self.watcher = Some(watcher);
    }

    fn interval(&self) -> Duration {
        if self.watcher.is_some() {
            RESCAN
        } else {
            POLL
        }
    }

    /// Waits until the files may have changed: a burst of events that has ended
    /// ([`settle`]), or the rescan interval. Cancel-safe: a wake seen before
    /// cancellation is kept.
    pub async fn wait(&mut self) {
        if self.dirty {
            return;
        }
        tokio::select! {
            _ = self.wake.notified() => {
                self.dirty = true;
                settle(&self.wake).await;
            }
            _ = tokio::time::sleep_until(self.next_rescan) => self.dirty = true,
        }
    }

    /// True (without waiting) when an event came or a rescan is due since the last
    /// comparison; for a caller that has its own timer.
    pub fn pending(&mut self) -> bool {
        if !self.dirty
            && (self.wake.notified().now_or_never().is_some() || Instant::now() >= self.next_rescan)
        {
            self.dirty = true;
        }
        self.dirty
    }

    /// True when the files differ from the last comparison (always on the first). Reads
    /// and hashes them on a blocking thread.
    pub async fn changed(&mut self) -> bool {
        let paths = self.paths.clone();
        let now = match tokio::task::spawn_blocking(move || Fingerprint::of(&paths)).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("file scan failed: {e}");
                return false;
            }
        };
        self.scans += 1;
        self.dirty = false;
        self.next_rescan = Instant::now() + self.interval();
        if self.last.as_ref() == Some(&now) {
            return false;
        }
        let first = self.last.is_none();
        self.last = Some(now);
        if !first {
            // Folders may have appeared or gone: watch what exists now.
            self.arm();
        }
        true
    }

    /// Comparisons made so far.
    #[cfg(test)]
    pub fn scans(&self) -> u64 {
        self.scans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch folder of one test and its path; the folder is removed when the guard is
    /// dropped (also when an assertion fails), so runs leave nothing behind in the temp
    /// folder.
    fn dir(tag: &str) -> (tempfile::TempDir, PathBuf) {
        let g = tempfile::Builder::new()
            .prefix(&format!("tern-watch-{tag}-"))
            .tempdir()
            .unwrap();
        let d = g.path().to_path_buf();
        (g, d)
    }

    /// Waits (bounded) for the watch to report a change.
    async fn sees_change(w: &mut Watch) -> bool {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                w.wait().await;
                if w.changed().await {
                    return;
                }
            }
        })
        .await
        .is_ok()
    }

    #[tokio::test]
    async fn sees_edits_new_files_and_deletions() {
        let (_tmp, d) = dir("edits");
        let missing = d.join("later.yaml");
        let mut w = Watch::new(vec![d.clone(), missing.clone()]);
        w.wait().await;
        assert!(w.changed().await);
        assert!(!w.changed().await);
        std::fs::write(d.join("a.yaml"), "x: 1\n").unwrap();
        assert!(sees_change(&mut w).await, "new file");
        // Same size, same second: the content hash still tells.
        std::fs::write(d.join("a.yaml"), "x: 2\n").unwrap();
        assert!(sees_change(&mut w).await, "edit");
        std::fs::write(d.join("ignored.txt"), "x").unwrap();
        assert!(!w.changed().await);
        std::fs::write(&missing, "y: 1\n").unwrap();
        assert!(sees_change(&mut w).await, "named file appears");
        std::fs::remove_file(d.join("a.yaml")).unwrap();
        assert!(sees_change(&mut w).await, "deletion");
        // A folder created later inside the watched one, and a file in it.
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/b.yaml"), "z: 1\n").unwrap();
        assert!(sees_change(&mut w).await, "file in a new folder");
        std::fs::write(d.join("sub/b.yaml"), "z: 22\n").unwrap();
        assert!(sees_change(&mut w).await, "edit in a new folder");
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A burst of events is folded into one comparison once it has been quiet for QUIET;
    /// a burst that does not end is cut at SETTLE_MAX. Virtual time: exact, whatever the
    /// machine's load.
    #[tokio::test(start_paused = true)]
    async fn a_burst_ends_when_quiet_or_at_the_bound() {
        let wake = Arc::new(Notify::new());
        // Events 30 ms apart, five of them: settled QUIET after the last.
        let w = wake.clone();
        let burst = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(30)).await;
                w.notify_one();
            }
        });
        let t0 = Instant::now();
        wake.notified().await;
        settle(&wake).await;
        assert_eq!(t0.elapsed(), Duration::from_millis(150) + QUIET);
        burst.await.unwrap();
        assert!(
            wake.notified().now_or_never().is_none(),
            "every event of the burst folded"
        );
        // A single event: QUIET after it.
        wake.notify_one();
        let t1 = Instant::now();
        wake.notified().await;
        settle(&wake).await;
        assert_eq!(t1.elapsed(), QUIET);
        // Events every 20 ms without end: cut SETTLE_MAX after the first.
        let w = wake.clone();
        let endless = tokio::spawn(async move {
            loop {
                w.notify_one();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        wake.notified().await;
        let t2 = Instant::now();
        settle(&wake).await;
        assert_eq!(t2.elapsed(), SETTLE_MAX);
        endless.abort();
    }

    /// Nothing changes: no event, no rescan before RESCAN, so the files are not read
    /// (the old watch read and hashed every file every second).
    #[tokio::test]
    async fn idle_files_are_not_read() {
        let (_tmp, d) = dir("idle");
        std::fs::write(d.join("a.yaml"), "x: 1\n").unwrap();
        let mut w = Watch::new(vec![d.clone()]);
        assert!(
            w.watcher.is_some(),
            "inotify available in the test environment"
        );
        w.wait().await;
        assert!(w.changed().await);
        let waited = tokio::time::timeout(Duration::from_secs(3), w.wait()).await;
        assert!(waited.is_err(), "woken without a change");
        assert!(!w.pending());
        assert_eq!(w.scans(), 1);
        std::fs::write(d.join("a.yaml"), "x: 2\n").unwrap();
        tokio::time::timeout(Duration::from_secs(10), w.wait())
            .await
            .expect("an event for the edit");
        assert!(w.changed().await);
        assert_eq!(w.scans(), 2);
        let _ = std::fs::remove_dir_all(&d);
    }
}
