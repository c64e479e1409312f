//! Change detection for the endpoint and policy files: a fingerprint of every YAML file
//! under a set of paths (path, size, mtime and a hash of the contents), compared on
//! each poll. Polling once a second is simple and robust (it sees edits, renames into
//! place, deletions, new files in a folder and files that do not exist yet), and for the
//! handful of small files involved costs nothing worth an inotify watch.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::SystemTime;

/// What the files under a set of paths look like at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<(PathBuf, Option<FileState>)>);

/// Size, modification time and content hash of one file.
type FileState = (u64, Option<SystemTime>, u64);

impl Fingerprint {
    /// Takes the fingerprint of every YAML file under `paths` (and of paths that do not
    /// exist, so their appearance is a change).
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

fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>, depth: usize) {
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

/// Remembers the last fingerprint of a set of paths.
#[derive(Debug)]
pub struct Watch {
    paths: Vec<PathBuf>,
    last: Option<Fingerprint>,
}

impl Watch {
    /// Watches `paths`; the first [`Watch::changed`] returns true.
    pub fn new(paths: Vec<PathBuf>) -> Watch {
        Watch { paths, last: None }
    }

    /// True when the files differ from the last call (always on the first call).
    pub fn changed(&mut self) -> bool {
        let now = Fingerprint::of(&self.paths);
        if self.last.as_ref() == Some(&now) {
            return false;
        }
        self.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_edits_new_files_and_deletions() {
        let d = std::env::temp_dir().join(format!("tern-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let missing = d.join("later.yaml");
        let mut w = Watch::new(vec![d.clone(), missing.clone()]);
        assert!(w.changed());
        assert!(!w.changed());
        std::fs::write(d.join("a.yaml"), "x: 1\n").unwrap();
        assert!(w.changed());
        assert!(!w.changed());
        // Same size, same second: the content hash still tells.
        std::fs::write(d.join("a.yaml"), "x: 2\n").unwrap();
        assert!(w.changed());
        std::fs::write(d.join("ignored.txt"), "x").unwrap();
        assert!(!w.changed());
        std::fs::write(&missing, "y: 1\n").unwrap();
        assert!(w.changed());
        std::fs::remove_file(d.join("a.yaml")).unwrap();
        assert!(w.changed());
        let _ = std::fs::remove_dir_all(&d);
    }
}
