//! BGP-4 wire codec (placeholder until the codec lands).
