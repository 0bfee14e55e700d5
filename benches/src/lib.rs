//! Shared helpers for the criterion benchmarks (see `benches/`).
