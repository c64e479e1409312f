//! Shared by the apply tests: the example policies compiled, and a second, changed
//! bundle to move between.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use acl::{compile, load_paths, CompileOptions, Ir};

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

pub fn ir_of(paths: &[PathBuf]) -> Ir {
    compile(
        &load_paths(paths).unwrap_or_else(|e| panic!("{e}")),
        &CompileOptions::default(),
    )
}

/// IR A: the examples. IR B: the web policy changed (new ports), one more workload,
/// and the other policies dropped (their chains go away).
pub fn two_irs(dir: &Path) -> (Ir, Ir) {
    let a = ir_of(&[examples().join("policies"), examples().join("endpoints")]);
    let changed = dir.join("b");
    fs::create_dir_all(&changed).unwrap();
    let calico = fs::read_to_string(examples().join("policies/calico.yaml")).unwrap();
    let calico = calico.replace(
        "ports: [80, \"8000:8080\"]",
        "ports: [80, 443, \"8000:8080\"]",
    );
    fs::write(changed.join("calico.yaml"), calico).unwrap();
    let eps = fs::read_to_string(examples().join("endpoints/shop.yaml")).unwrap()
        + "---\nkind: WorkloadEndpoint\nname: web-2\nnamespace: shop\ninterface: tw-web2\nips: [10.65.0.11/32]\nlabels: { app: web }\n";
    fs::write(changed.join("endpoints.yaml"), eps).unwrap();
    let b = ir_of(&[changed]);
    assert_ne!(a, b);
    (a, b)
}
