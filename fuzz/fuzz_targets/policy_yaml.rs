//! Fuzz target: see `policy_yaml_check.rs` for the property (shared with the corpus replay).
#![no_main]

mod policy_yaml_check;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    policy_yaml_check::check(data);
});
