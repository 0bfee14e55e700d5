//! embed-pool (being written).
