//! Routing information bases (placeholder until it lands).
