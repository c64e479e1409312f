//! Fuzz target: see `node_config_check.rs` for the property (shared with the corpus replay).
#![no_main]

mod node_config_check;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    node_config_check::check(data);
});
