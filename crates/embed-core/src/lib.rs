//! embed-core: the facade applications use. Text in, sentence-transformers-identical
//! embeddings out.
//!
//! It composes `embed-tokenize` (tokens), `embed-runtime` (ONNX Runtime) and
//! `embed-manifest` (which models exist) into a [`Service`]. It reads no environment
//! variables and starts no async runtime; the binaries do that and pass a [`Config`] down.

mod cache;
mod catalog;
mod chunk;
mod cpu;
mod dense;
mod document;
mod engine;
mod error;
mod metrics;
mod model;
mod pooling;
mod sentence_transformers;
mod service;
mod stream;

pub use cache::{CacheLimits, CacheStats};
pub use catalog::{FetchedVariant, KnownModel, known_models};
pub use chunk::{Chunk, Chunking, chunk_document};
pub use cpu::{Int8DotProduct, int8_advice};
pub use document::{ChunkEmbedding, DocumentEmbedding};
pub use embed_manifest::DEFAULT_VARIANT;
pub use embed_manifest::{Manifest, Pooling};
pub use embed_pool::{
    Handle, ModelState, ModelStats, PoolError, PoolStats, measure_rss_growth, parse_bytes, resident_bytes,
};
pub use embed_runtime::{
    ArenaStrategy, CoreMlComputeUnits, CoreMlModelFormat, CoreMlOptions, DeviceInUse, GraphOptimization,
    REQUIRED_ORT_MINOR, RuntimeError, find_in_libs_dir, library_file_name,
};
pub use embed_tokenize::TruncationSide;
pub use engine::{BackendChoice, Engine, EngineOptions, choose_engine, native_unsupported};
pub use error::EmbedError;
pub use metrics::{HistogramSnapshot, MetricsSnapshot};
pub use model::{EmbedOptions, Embedding, EmbeddingModel, LoadOptions, ModelFiles};
pub use pooling::{normalize, pool_into};
pub use sentence_transformers::Prompts;
pub use service::{
    Config, MemoryConfig, MetalConfig, OrtLibrary, PreloadResult, RuntimeConfig, Service, VectorOptions,
    estimate_model_bytes,
};
pub use stream::{EmbedStream, StreamItem};

/// The model used when none is named.
pub const DEFAULT_MODEL: &str = "all-MiniLM-L6-v2";
