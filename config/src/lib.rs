//! config crate (see README.md).
#![warn(missing_docs)]

pub mod yaml;
