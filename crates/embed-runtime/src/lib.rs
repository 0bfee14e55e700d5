//! embed-runtime (being written).
