//! acl crate (see README.md).
#![warn(missing_docs)]
