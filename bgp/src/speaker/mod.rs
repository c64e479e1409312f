//! The tokio driver (placeholder until it lands).
