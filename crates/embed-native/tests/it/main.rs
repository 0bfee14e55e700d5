//! embed-native's integration tests: the real seed models against sentence-transformers,
//! broken checkpoints refused with errors that name what is wrong, and sharded checkpoints.

#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

mod bad_input;
mod seed_models;
mod sharded;
