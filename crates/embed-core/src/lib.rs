//! embed-core (being written).
