//! embed-core: the facade applications use. Text in, sentence-transformers-identical
//! embeddings out.
//!
//! It composes `embed-tokenize` (tokens), `embed-runtime` (the engines), `embed-pool` (the
//! model registry) and `embed-manifest` (which models exist) into a [`Service`]. It reads no
//! environment variables and starts no async runtime; the binaries do that and pass a
//! [`Config`] down.
//!
//! Embedding takes two steps, whichever way it is asked for: [`Service::prepare`] makes inputs
//! ready for a model (prompt, tokens, truncation or refusal, exact token counts, the cache) as
//! a [`Prepared`], and [`Service::run`] runs any number of them in the inference calls the
//! [`BatchPolicy`] forms. `embed_batch`, `embed_stream`, `embed_document` and the HTTP server
//! all take these two steps.
//!
//! The types a caller meets are embed-core's own, and a few re-exported on purpose as part of
//! its vocabulary: the manifest's [`Manifest`], [`Pooling`] and [`ManifestError`]; the engine
//! settings of [`RuntimeConfig`] and [`MetalConfig`] ([`ArenaStrategy`], [`GraphOptimization`],
//! the CoreML options) and the [`DeviceInUse`] report; the registry's [`Handle`] and
//! statistics; the tokenizer's [`Token`] and [`TruncationSide`]; and the lower crates' errors that [`EmbedError`] carries ([`TokenizeError`],
//! [`RuntimeError`] with the native engine's [`NativeError`], [`PoolError`]). No `ort` or `tokenizers` type, and no tokenizer or engine
//! object, appears in its API.

mod batching;
mod cache;
mod catalog;
mod chunk;
mod config;
mod cpu;
mod dense;
mod document;
mod engine;
mod error;
mod files;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod loader;
mod metrics;
mod model;
mod needs;
mod pooling;
mod prepare;
mod prometheus;
mod run;
mod sentence_transformers;
mod service;
mod stream;

pub use batching::{BatchPolicy, CallShape, DEFAULT_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, MAX_PADDING_SHARE};
pub use cache::{CacheLimits, CacheStats, DEFAULT_CACHE_BYTES, DEFAULT_CACHE_ENTRIES};
pub use catalog::{CachedHubModel, FetchedVariant, KnownModel, cached_hub_models, known_models};
pub use chunk::{Chunk, Chunking};
pub use config::{
    BackendChoice, Config, DEFAULT_MODEL_CACHE_DIR, MemoryConfig, MetalConfig, OrtInUse, OrtLibrary, RuntimeConfig,
    VectorOptions,
};
pub use cpu::{Int8DotProduct, int8_advice};
pub use document::{ChunkEmbedding, DocumentEmbedding};
pub use embed_manifest::{
    CachedRepo, CachedSnapshot, DEFAULT_HUB_REVISION, DEFAULT_VARIANT, HubCache, HubId, HubIdError, Manifest,
    ManifestError, ModelNeed, ModelSource, Needs, Pooling, WeightsNeed, hub_cache_dir, offline_value,
};
pub use embed_pool::{
    Handle, ModelState, ModelStats, PoolError, PoolStats, measure_rss_growth, parse_bytes, resident_bytes,
};
pub use embed_runtime::{
    ArenaStrategy, CoreMlComputeUnits, CoreMlModelFormat, CoreMlOptions, DeviceInUse, GraphOptimization, NativeError,
    REQUIRED_ORT_MINOR, RuntimeError, find_in_libs_dir, library_file_name,
};
pub use embed_tokenize::{Token, TokenizeError, TruncationSide};
pub use engine::{Engine, choose_engine};
pub use error::EmbedError;
pub use files::{ModelFiles, model_files};
pub use loader::estimate_model_bytes;
pub use metrics::MetricsSnapshot;
pub use model::{EmbedOptions, Embedding, EmbeddingModel, Output};
pub use needs::needs;
pub use pooling::normalize;
pub use prepare::Prepared;
pub use prometheus::{Histogram, HistogramSnapshot, PrometheusText};
pub use sentence_transformers::Prompts;
pub use service::{PreloadResult, Service};
pub use stream::{EmbedStream, StreamItem};

/// The model used when none is named.
pub const DEFAULT_MODEL: &str = "all-MiniLM-L6-v2";
