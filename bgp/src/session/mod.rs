//! Per-peer session state machine (placeholder until it lands).
