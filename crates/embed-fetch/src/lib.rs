//! embed-fetch (being written).
