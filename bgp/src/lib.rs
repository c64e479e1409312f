//! bgp crate (see README.md).
#![warn(missing_docs)]
