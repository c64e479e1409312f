//! `crate::cni` for the `control_request` target: the CNI payload types of the request.
#[path = "../../src/cni/spec.rs"]
pub mod spec;
