//! embed-tokenize (being written).
