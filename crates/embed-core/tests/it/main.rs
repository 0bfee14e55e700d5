//! Parity of embed-core with sentence-transformers, on real models, the architecture fixtures
//! and the real ONNX Runtime.
//!
//! Goldens come from `cargo xtask reference` (tests/fixtures/<model>.json); models and ONNX
//! Runtime come from `cargo xtask fetch-models` and `cargo xtask fetch-ort` (run by
//! `cargo xtask test` and CI). A missing model fails the test with the command to fix it.

mod architectures;
mod bad_input;
mod cache;
mod document;
mod metrics;
mod parity;
mod stream;
mod support;
