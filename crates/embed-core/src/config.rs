//! What a [`crate::Service`] is built from: [`Config`] (the seed's fields) and its parts. Plain
//! data with defaults; each default is written here once, and the binaries take theirs from
//! these (`Config::default()`), never a copy. Nothing here loads or runs anything.

use std::path::{Path, PathBuf};

use embed_runtime::{ArenaStrategy, CoreMlOptions, GraphOptimization};
use embed_tokenize::TruncationSide;

use crate::EmbedError;
use crate::batching::BatchPolicy;
use crate::cache::CacheLimits;

/// Where manifest models live when `MODEL_CACHE_DIR` is not set: `models/` in the working
/// directory.
pub const DEFAULT_MODEL_CACHE_DIR: &str = "models";

/// Where the ONNX Runtime library is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrtLibrary {
    /// A library file chosen by the user (`ONNXRUNTIME_LIB_PATH`, `ORT_DYLIB_PATH`): used or
    /// failed on, never skipped.
    pub path: Option<PathBuf>,
    /// Folders searched for `onnxruntime-<version>/` as `cargo xtask fetch-ort` lays it out.
    pub search_dirs: Vec<PathBuf>,
}

impl OrtLibrary {
    /// The folders an application searches, in order: `./libs`, then `libs/` beside the four
    /// nearest ancestors of its executable `exe` (so `target/release/embed` finds a workspace's
    /// `libs/` from any directory), then `fetched`, where the application fetches it.
    pub fn search_dirs(fetched: &Path, exe: Option<&Path>) -> Vec<PathBuf> {
        let mut dirs = vec![PathBuf::from("libs")];
        if let Some(exe) = exe {
            dirs.extend(exe.ancestors().skip(1).take(4).map(|dir| dir.join("libs")));
        }
        dirs.push(fetched.to_path_buf());
        dirs
    }
}

/// The ONNX Runtime library a service loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtInUse {
    /// The library file.
    pub path: PathBuf,
    /// Its version, as its build info states it.
    pub version: String,
}

/// Options that change the vectors (the seed's `Options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorOptions {
    /// Maximum tokens per text; `None` takes the model's `max_seq_length`.
    pub max_sequence_length: Option<usize>,
    /// Pad every text to the maximum length (slower; the vectors do not change).
    pub pad_to_max_length: bool,
    /// Scale vectors to unit length (default on).
    pub normalize: bool,
    /// Which end of a too-long text is cut.
    pub truncation: TruncationSide,
}

impl Default for VectorOptions {
    fn default() -> Self {
        Self { max_sequence_length: None, pad_to_max_length: false, normalize: true, truncation: TruncationSide::Right }
    }
}

/// Apple acceleration (the seed's `MetalConfig`), mapped onto ONNX Runtime's CoreML provider.
///
/// ONNX Runtime reaches Apple GPUs and the Neural Engine only through CoreML, which picks the
/// device itself: `device_id` 0 (the default device) is the only value accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetalConfig {
    /// Run the model through CoreML (`ENABLE_METAL`).
    pub enabled: bool,
    /// The seed's `METAL_DEVICE_ID`; must be 0.
    pub device_id: u32,
    /// CoreML's own options.
    pub coreml: CoreMlOptions,
    /// Run on the CPU, with a warning, where CoreML is not available, instead of failing.
    pub allow_cpu_fallback: bool,
}

/// Threads and memory of the engines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// `INTRA_OP_THREADS`: threads of one forward pass (the native engine's, or ONNX Runtime's
    /// inside one operator); `None`: the CPUs this process may use (its CPU affinity and cgroup
    /// quota), for either engine.
    pub intra_op_threads: Option<usize>,
    /// `INTER_OP_THREADS`; `None` lets ONNX Runtime choose.
    pub inter_op_threads: Option<usize>,
    /// `ARENA_EXTEND_STRATEGY`.
    pub arena: ArenaStrategy,
    /// Graph optimization level.
    pub optimization: GraphOptimization,
    /// ONNX Runtime sessions per model (`INFERENCE_SESSIONS`): a call with several batches
    /// runs this many at once, each on a session of its own, and the server's batches run
    /// side by side. `None`: one. With more than one and `intra_op_threads` unset, each
    /// session gets an equal share of the CPUs this process may use.
    pub sessions: Option<usize>,
}

/// Everything a [`crate::Service`] needs (the seed's `Config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// A manifest name with an optional variant (`all-MiniLM-L6-v2:int8`), a hub id
    /// (`org/name[@revision]`), or a model directory or ONNX file.
    pub model: String,
    /// Where manifest models live (`MODEL_CACHE_DIR`).
    pub model_cache_dir: PathBuf,
    /// The Hugging Face cache, where models named by hub id are found (`HF_HUB_CACHE`, as
    /// `embed_manifest::hub_cache_dir` finds it); `None`: hub ids are an error.
    pub hub_cache_dir: Option<PathBuf>,
    /// A directory holding `tokenizer.json`, when not the model's own.
    pub tokenizer_path: Option<PathBuf>,
    /// How inputs become inference calls: texts per call (`BATCH_SIZE`) and tokens per call
    /// (`MAX_BATCH_TOKENS`).
    pub batching: BatchPolicy,
    /// Options that change the vectors.
    pub options: VectorOptions,
    /// Apple acceleration.
    pub metal: MetalConfig,
    /// ONNX Runtime threads and memory.
    pub runtime: RuntimeConfig,
    /// The ONNX Runtime library.
    pub onnxruntime: OrtLibrary,
    /// The width the caller expects (`EMBEDDING_DIMENSION`); a model that disagrees is an error.
    pub embedding_dimension: Option<usize>,
    /// Model memory budget, preloading and the embedding cache.
    pub memory: MemoryConfig,
    /// Which engine runs the models (`EMBED_BACKEND`): the native engine where it can by
    /// default.
    pub backend: BackendChoice,
}

/// Memory management (the seed's `MemoryConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Most bytes the loaded models may take together (`MODEL_MEMORY_LIMIT`); `None`: no limit.
    /// Least recently used idle models are evicted to stay under it.
    pub model_memory_limit: Option<u64>,
    /// The embedding cache (`EMBEDDING_CACHE_SIZE` entries; off at 0).
    pub cache: CacheLimits,
    /// Models loaded at start-up, in parallel, and never evicted (`PRELOAD_MODELS`).
    pub preload_models: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            model: crate::DEFAULT_MODEL.to_string(),
            model_cache_dir: PathBuf::from(DEFAULT_MODEL_CACHE_DIR),
            hub_cache_dir: None,
            tokenizer_path: None,
            batching: BatchPolicy::default(),
            options: VectorOptions::default(),
            metal: MetalConfig::default(),
            runtime: RuntimeConfig::default(),
            onnxruntime: OrtLibrary::default(),
            embedding_dimension: None,
            memory: MemoryConfig::default(),
            backend: BackendChoice::default(),
        }
    }
}

/// The engine a caller asks for (`--backend`, `EMBED_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The native engine where it runs the model, else ONNX Runtime.
    #[default]
    Auto,
    /// embed's own engine; an error where it cannot run the model.
    Native,
    /// ONNX Runtime; an error where the model has no ONNX file for the variant.
    Onnx,
}

impl BackendChoice {
    /// Every choice, by name.
    pub const NAMES: [&'static str; 3] = ["auto", "native", "onnx"];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Native => "native",
            Self::Onnx => "onnx",
        }
    }
}

impl std::str::FromStr for BackendChoice {
    type Err = EmbedError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "native" => Ok(Self::Native),
            "onnx" | "onnxruntime" | "ort" => Ok(Self::Onnx),
            other => Err(EmbedError::UnknownBackend { given: other.to_string() }),
        }
    }
}

impl std::fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
