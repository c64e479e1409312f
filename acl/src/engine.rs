//! The agent's entry point: policy and endpoint paths in, kernel rules out. Owns a
//! [`Loader`] (re-parses only changed files), the compile options and an [`Applier`]
//! (incremental after the first apply). Blocking: run it on a blocking thread.

use std::path::PathBuf;

use crate::apply::{Applier, ApplyError, ApplyReport};
use crate::compile::{CompileOptions, Incremental};
use crate::loader::{Bundle, LoadError, Loader};
use crate::render::Backend;

/// Why a reload did not change the rules in force.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A file is unreadable or invalid (errors are `FILE:LINE:COL: message`).
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The kernel refused the change.
    #[error("{0}")]
    Apply(#[from] ApplyError),
}

/// A successful reload.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// What was loaded (the agent reads `workloads` for device routes).
    pub bundle: Bundle,
    /// What the apply did: mode, rules and sets in force, duration.
    pub report: ApplyReport,
}

/// Loads, compiles and applies policy; keeps the rules in force on any error.
#[derive(Debug)]
pub struct Engine {
    paths: Vec<PathBuf>,
    opts: CompileOptions,
    loader: Loader,
    compiler: Incremental,
    applier: Applier,
}

impl Engine {
    /// An engine for `paths` (files or folders of policies, endpoints and namespaces).
    pub fn new(backend: Backend, paths: Vec<PathBuf>, opts: CompileOptions) -> Engine {
        Engine {
            paths,
            opts,
            loader: Loader::new(),
            compiler: Incremental::new(),
            applier: Applier::new(backend),
        }
    }

    /// The engine with a customised applier (dry-run check, network namespace).
    pub fn with_applier(mut self, applier: Applier) -> Engine {
        self.applier = applier;
        self
    }

    /// Call on start and whenever a file under the paths changed: re-reads, compiles and
    /// applies only what changed. On error the rules in force stay as they were.
    pub fn reload(&mut self) -> Result<Reloaded, EngineError> {
        let bundle = self.loader.load(&self.paths)?;
        let ir = self.compiler.compile(&bundle, &self.opts);
        let report = self.applier.apply_owned(ir)?;
        Ok(Reloaded { bundle, report })
    }

    /// Makes the next [`Engine::reload`] a full replacement (periodic repair of drift).
    pub fn resync(&mut self) {
        self.applier.resync();
    }

    /// Call on shutdown when tern's rules should go: removes tern's table / chains / sets.
    pub fn flush(&mut self) -> Result<(), ApplyError> {
        self.applier.flush()
    }
}
