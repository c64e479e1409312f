//! Loading: line numbers across `---` documents, duplicates across files, folders, and the
//! content cache of `Loader` (a changed file is re-read, errors are reported again).

mod common;

use std::fs;
use std::path::PathBuf;

use tempfile::TempDir;

use acl::loader::Loader;
use acl::{load_paths, LoadError};

fn dir(name: &str) -> (TempDir, PathBuf) {
    common::scratch_dir(&format!("acl-loader-{name}"))
}

fn errors(e: LoadError) -> Vec<String> {
    e.located().iter().map(ToString::to_string).collect()
}

const WL: &str =
    "kind: WorkloadEndpoint\nname: NAME\nnamespace: ns\ninterface: IF\nips: [10.0.0.1/32]\n";

#[test]
fn errors_in_later_documents_have_file_lines() {
    let (_tmp, d) = dir("lines");
    let text = format!("{}---\n{}---\n# comment\nkind: WorkloadEndpoint\nname: c\ninterface: wc\nips: [10.0.0.300/32]\n", WL.replace("NAME", "a").replace("IF", "wa"), WL.replace("NAME", "b").replace("IF", "wb"));
    let f = d.join("eps.yaml");
    fs::write(&f, text).unwrap();
    let errs = errors(load_paths(std::slice::from_ref(&f)).unwrap_err());
    assert_eq!(
        errs,
        vec![format!(
            "{}:17:7: ips[0]: bad CIDR `10.0.0.300/32`",
            f.display()
        )]
    );
}

#[test]
fn duplicates_across_files_point_at_both() {
    let (_tmp, d) = dir("dups");
    fs::write(
        d.join("a.yaml"),
        WL.replace("NAME", "x").replace("IF", "wx"),
    )
    .unwrap();
    fs::write(d.join("b.yml"), WL.replace("NAME", "y").replace("IF", "wx")).unwrap();
    fs::write(d.join("ignored.txt"), "not yaml: [").unwrap();
    let errs = errors(load_paths(std::slice::from_ref(&d)).unwrap_err());
    assert_eq!(
        errs,
        vec![format!(
            "{}:4:12: interface: interface wx is already defined at {}:4:12",
            d.join("b.yml").display(),
            d.join("a.yaml").display()
        )]
    );
}

#[test]
fn loader_cache_follows_content() {
    let (_tmp, d) = dir("cache");
    let a = d.join("a.yaml");
    let b = d.join("b.yaml");
    fs::write(&a, WL.replace("NAME", "x").replace("IF", "wx")).unwrap();
    fs::write(&b, WL.replace("NAME", "y").replace("IF", "wy")).unwrap();
    let mut loader = Loader::new();
    let bundle = loader.load(std::slice::from_ref(&d)).unwrap();
    assert_eq!(bundle.workloads.len(), 2);
    fs::write(&b, WL.replace("NAME", "z").replace("IF", "wz")).unwrap();
    let bundle = loader.load(std::slice::from_ref(&d)).unwrap();
    let names: Vec<&str> = bundle.workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["x", "z"]);
    fs::write(&b, "kind: WorkloadEndpoint\nname: z\n").unwrap();
    assert_eq!(
        errors(loader.load(std::slice::from_ref(&d)).unwrap_err()).len(),
        1
    );
    assert_eq!(
        errors(loader.load(std::slice::from_ref(&d)).unwrap_err()).len(),
        1,
        "cached errors are reported again"
    );
    fs::remove_file(&b).unwrap();
    assert_eq!(
        loader
            .load(std::slice::from_ref(&d))
            .unwrap()
            .workloads
            .len(),
        1
    );
    let _ = fs::remove_dir_all(&d);
}
