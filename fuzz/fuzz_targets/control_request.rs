//! Fuzz target: the control socket's request-line parser (`parse_request` in
//! `src/agent/control.rs`); see `control_request_check.rs` for the property (shared with
//! the corpus replay).
//!
//! The parser lives in the `tern` binary, so this target compiles the protocol's source
//! files (and the modules they name for the payload types) as modules of its own, at the
//! same relative places (`super::…` of `control.rs` is this crate's root).
#![no_main]
#![allow(dead_code, unused_imports)]

#[path = "control_request_cni.rs"]
mod cni;
#[path = "../../src/agent/control.rs"]
mod control;
#[path = "../../src/agent/fib.rs"]
mod fib;
#[path = "../../src/agent/guard.rs"]
mod guard;
#[path = "../../src/agent/limits.rs"]
mod limits;
#[path = "../../src/agent/workloads_net.rs"]
mod workloads_net;

mod control_request_check;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    control_request_check::check(data, control::MAX_REQUEST, control::parse_request);
});
