//! Fuzz target: see `selector_check.rs` for the property (shared with the corpus replay).
#![no_main]

mod selector_check;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    selector_check::check(data);
});
