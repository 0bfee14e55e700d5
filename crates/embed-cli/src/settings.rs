//! Settings shared by the commands: flags, which fall back to the environment (and `.env`,
//! loaded before parsing, never overriding the environment), which fall back to defaults.
//! Turns them into an `embed_core::Config`.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use embed_core::{
    ArenaStrategy, CacheLimits, Config, MemoryConfig, MetalConfig, OrtLibrary, RuntimeConfig, TruncationSide,
    VectorOptions,
};

/// Model and runtime settings.
#[derive(clap::Args, Debug)]
pub struct Settings {
    /// Model: a known name with an optional variant (all-MiniLM-L6-v2:int8), or a directory.
    #[arg(long, env = "DEFAULT_MODEL", default_value = embed_core::DEFAULT_MODEL)]
    pub model: String,
    #[command(flatten)]
    pub cache: CacheDir,
    /// A directory holding tokenizer.json, when not the model's own.
    #[arg(long, value_name = "DIR")]
    pub tokenizer_path: Option<PathBuf>,
    /// Most texts per inference call.
    #[arg(long, env = "BATCH_SIZE", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Maximum tokens per text (default: the model's max_seq_length).
    #[arg(long, env = "MAX_SEQUENCE_LENGTH", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_length: Option<u32>,
    /// Pad every text to the maximum length.
    #[arg(long)]
    pub pad_to_max_length: bool,
    /// Keep vectors as pooled, without scaling them to unit length.
    #[arg(long)]
    pub no_normalize: bool,
    /// Which end of a too-long text to cut.
    #[arg(long, value_enum, default_value_t = Side::Right)]
    pub truncation_side: Side,
    /// Run through CoreML (Apple); elsewhere this is an error unless --allow-cpu-fallback.
    #[arg(long, env = "ENABLE_METAL", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    pub enable_metal: bool,
    /// Metal device; CoreML picks the device itself, so only 0 is accepted.
    #[arg(long, env = "METAL_DEVICE_ID", default_value_t = 0)]
    pub metal_device_id: u32,
    /// Where CoreML is unavailable, warn and run on the CPU instead of failing.
    #[arg(long)]
    pub allow_cpu_fallback: bool,
    /// ONNX Runtime threads inside one operator (default: one per core).
    #[arg(long, env = "INTRA_OP_THREADS", value_parser = clap::value_parser!(u32).range(1..))]
    pub intra_op_threads: Option<u32>,
    /// ONNX Runtime sessions per model: batches that run at once, each with its share of the
    /// cores (default: one session using every core).
    #[arg(long, env = "INFERENCE_SESSIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub inference_sessions: Option<u32>,
    /// ONNX Runtime threads across operators.
    #[arg(long, env = "INTER_OP_THREADS", value_parser = clap::value_parser!(u32).range(1..))]
    pub inter_op_threads: Option<u32>,
    /// ONNX Runtime's CPU memory arena: kNextPowerOfTwo (its default), kSameAsRequested or disabled.
    #[arg(long, env = "ARENA_EXTEND_STRATEGY", default_value = "kNextPowerOfTwo", value_parser = parse_arena)]
    pub arena_extend_strategy: ArenaStrategy,
    /// The ONNX Runtime shared library (else ORT_DYLIB_PATH, else libs/ as `cargo xtask fetch-ort` fills it).
    #[arg(long, env = "ONNXRUNTIME_LIB_PATH", value_name = "FILE")]
    pub onnxruntime_lib: Option<PathBuf>,
    /// Never download anything (by default a missing ONNX Runtime is fetched from PyPI).
    #[arg(long, env = "EMBED_OFFLINE", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    pub offline: bool,
    /// The width the model's vectors must have; a model that disagrees is an error.
    #[arg(long, env = "EMBEDDING_DIMENSION")]
    pub embedding_dimension: Option<usize>,
    /// Most memory the loaded models may take together, e.g. 500MiB or 2GB (default: no limit).
    #[arg(long, env = "MODEL_MEMORY_LIMIT", value_parser = parse_memory_limit)]
    pub model_memory_limit: Option<u64>,
    /// Models to load at start-up and keep loaded, comma-separated.
    #[arg(long, env = "PRELOAD_MODELS", value_delimiter = ',')]
    pub preload_models: Vec<String>,
    /// Embeddings kept in the in-process LRU cache (0 turns it off).
    #[arg(long, env = "EMBEDDING_CACHE_SIZE", default_value_t = 10_000)]
    pub cache_size: usize,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "LOG_LEVEL", default_value = "warn")]
    pub log_level: String,
    /// Log format on stderr.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// Where manifest models are kept.
#[derive(clap::Args, Debug)]
pub struct CacheDir {
    /// Where known models are kept.
    #[arg(long, env = "MODEL_CACHE_DIR", default_value = "models")]
    pub model_cache_dir: PathBuf,
}

/// Truncation side as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Side {
    /// Keep the beginning.
    Right,
    /// Keep the end.
    Left,
}

fn parse_memory_limit(value: &str) -> Result<u64, String> {
    embed_core::parse_bytes(value).map_err(|e| e.to_string())
}

fn parse_arena(value: &str) -> Result<ArenaStrategy, String> {
    match value {
        "kNextPowerOfTwo" => Ok(ArenaStrategy::NextPowerOfTwo),
        "kSameAsRequested" => Ok(ArenaStrategy::SameAsRequested),
        "disabled" => Ok(ArenaStrategy::Disabled),
        other => Err(format!("expected kNextPowerOfTwo, kSameAsRequested or disabled, found `{other}`")),
    }
}

/// Folders searched for ONNX Runtime: `./libs`, then `libs/` beside the executable's
/// ancestors (so `target/release/embed` finds the workspace's `libs/` from any directory),
/// then the user's cache where the CLI fetches it.
fn ort_search_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("libs")];
    if let Ok(exe) = std::env::current_exe() {
        dirs.extend(exe.ancestors().skip(1).take(4).map(|dir| dir.join("libs")));
    }
    dirs.push(crate::fetch::libs_dir());
    dirs
}

fn non_empty_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

impl Settings {
    /// The service configuration these settings describe, with ONNX Runtime fetched into the
    /// user's cache when it is nowhere to be found (unless offline).
    pub fn to_config(&self) -> anyhow::Result<Config> {
        let mut config = self.describe();
        crate::fetch::ensure_onnxruntime(&mut config, self.offline)?;
        Ok(config)
    }

    /// The service configuration these settings describe, as they are.
    fn describe(&self) -> Config {
        Config {
            model: self.model.clone(),
            model_cache_dir: self.cache.model_cache_dir.clone(),
            tokenizer_path: self.tokenizer_path.clone(),
            batch_size: self.batch_size as usize,
            options: VectorOptions {
                max_sequence_length: self.max_length.map(|m| m as usize),
                pad_to_max_length: self.pad_to_max_length,
                normalize: !self.no_normalize,
                truncation: match self.truncation_side {
                    Side::Right => TruncationSide::Right,
                    Side::Left => TruncationSide::Left,
                },
            },
            metal: MetalConfig {
                enabled: self.enable_metal,
                device_id: self.metal_device_id,
                allow_cpu_fallback: self.allow_cpu_fallback,
                ..MetalConfig::default()
            },
            runtime: RuntimeConfig {
                intra_op_threads: self.intra_op_threads.map(|t| t as usize),
                inter_op_threads: self.inter_op_threads.map(|t| t as usize),
                arena: self.arena_extend_strategy,
                sessions: self.inference_sessions.map(|s| s as usize),
                ..RuntimeConfig::default()
            },
            onnxruntime: OrtLibrary {
                path: self.onnxruntime_lib.clone().or_else(|| non_empty_env("ORT_DYLIB_PATH")),
                search_dirs: ort_search_dirs(),
            },
            embedding_dimension: self.embedding_dimension,
            memory: MemoryConfig {
                model_memory_limit: self.model_memory_limit,
                cache: CacheLimits { max_entries: self.cache_size, ..CacheLimits::default() },
                preload_models: self
                    .preload_models
                    .iter()
                    .map(|m| m.trim().to_string())
                    .filter(|m| !m.is_empty())
                    .collect(),
            },
        }
    }
}

/// Logs to stderr at `--log-level`.
pub fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second initialisation (tests) keeps the first subscriber.
    let _ = match settings.log_format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
