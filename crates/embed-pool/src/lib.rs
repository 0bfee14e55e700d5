//! embed-pool: a memory-budgeted registry of loaded models.
//!
//! [`Pool`] loads a model on first use through a [`Loader`] the caller gives, shares it
//! between callers through [`Handle`]s, preloads a list in parallel, and keeps the loaded
//! models' total cost under a budget by evicting the least recently used idle model, never
//! one a caller still holds. [`parse_bytes`] reads budgets such as `1.5GiB`;
//! [`measure_rss_growth`] gives a loader an approximate cost.
//!
//! It knows models only as a type parameter: it must not know ONNX Runtime, tokenizers or
//! `embed-core`, which plugs real models in through a loader.

mod bytes;
mod error;
mod pool;
mod rss;
mod stats;

pub use bytes::parse_bytes;
pub use error::{BoxError, PoolError, SharedError};
pub use pool::{Handle, Loaded, Loader, Pool, PoolConfig, PreloadOutcome};
pub use rss::{measure_rss_growth, resident_bytes};
pub use stats::{ModelState, ModelStats, PoolStats};
