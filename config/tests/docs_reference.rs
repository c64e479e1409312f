//! docs/configuration.md cannot drift from the config types:
//! - every key the node file accepts (every field of the `Raw*` serde types in
//!   `src/node/raw.rs`, under its YAML name) is described on that page as `` `key` ``;
//! - the page's complete example loads without errors.

use std::path::Path;

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// YAML keys of every struct field in raw.rs: `rename_all = "camelCase"` applied, an
/// explicit `#[serde(rename = "…")]` wins. Returns (struct, key) pairs.
fn raw_keys(source: &str) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    let mut current: Option<String> = None;
    let mut rename: Option<String> = None;
    for line in source.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("pub(crate) struct ") {
            current = rest
                .split(|c: char| !c.is_alphanumeric())
                .next()
                .map(str::to_string);
            continue;
        }
        if t == "}" {
            current = None;
            continue;
        }
        let Some(st) = &current else { continue };
        if let Some(r) = t.strip_prefix("#[serde(rename = \"") {
            rename = r.split('"').next().map(str::to_string);
            continue;
        }
        if let Some(field) = t.strip_prefix("pub ") {
            if let Some((name, _)) = field.split_once(':') {
                let key = rename.take().unwrap_or_else(|| camel(name.trim()));
                keys.push((st.clone(), key));
            }
        }
    }
    keys
}

#[test]
fn every_key_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(root.join("src/node/raw.rs")).expect("raw.rs");
    let doc =
        std::fs::read_to_string(root.join("../docs/configuration.md")).expect("configuration.md");
    let keys = raw_keys(&raw);
    assert!(keys.len() > 30, "parsed too few keys from raw.rs: {keys:?}");
    let missing: Vec<String> = keys
        .iter()
        .filter(|(_, k)| !doc.contains(&format!("`{k}`")))
        .map(|(s, k)| format!("{s}.{k}"))
        .collect();
    assert!(
        missing.is_empty(),
        "keys accepted by the node file but not described in docs/configuration.md: {missing:?}"
    );
}

#[test]
fn the_complete_example_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc =
        std::fs::read_to_string(root.join("../docs/configuration.md")).expect("configuration.md");
    let start = doc.find("```yaml\n").expect("a yaml example") + "```yaml\n".len();
    let len = doc[start..].find("```").expect("end of the example");
    let dir = std::env::temp_dir().join(format!("tern-docs-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let file = dir.join("node.yaml");
    std::fs::write(&file, &doc[start..start + len]).expect("write example");
    let r = config::NodeConfig::load(&file);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = r {
        panic!("the example in docs/configuration.md does not load: {e:?}");
    }
}
