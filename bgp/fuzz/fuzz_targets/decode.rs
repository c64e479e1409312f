//! Fuzz target: any bytes through `bgp::wire::decode_message` (see `decode_check.rs`).
#![no_main]

mod decode_check;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    decode_check::check(data);
});
