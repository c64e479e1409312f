//! Import and export filters (placeholder until it lands).
