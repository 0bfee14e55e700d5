//! Settings shared by the commands: flags, which fall back to the environment (and `.env`,
//! loaded before parsing, never overriding the environment), which fall back to defaults.
//! Turns them into an `embed_core::Config`.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use embed_core::{
    ArenaStrategy, BackendChoice, BatchPolicy, CacheLimits, Config, MemoryConfig, MetalConfig, OrtLibrary,
    RuntimeConfig, TruncationSide, VectorOptions,
};

/// Model and runtime settings.
#[derive(clap::Args, Debug)]
pub struct Settings {
    /// Model: a known name with an optional variant (all-MiniLM-L6-v2:int8), a Hugging Face hub
    /// id (org/name, optionally @revision: a branch, tag or commit), or a directory.
    #[arg(long, env = "DEFAULT_MODEL", default_value = embed_core::DEFAULT_MODEL)]
    pub model: String,
    /// Engine: `native` (embed's own, from model.safetensors), `onnx` (ONNX Runtime), or
    /// `auto`: native wherever it runs the model and variant, else ONNX Runtime.
    #[arg(long, env = "EMBED_BACKEND", default_value = "auto", value_parser = parse_backend)]
    pub backend: BackendChoice,
    #[command(flatten)]
    pub cache: CacheDir,
    /// A directory holding tokenizer.json, when not the model's own.
    #[arg(long, value_name = "DIR")]
    pub tokenizer_path: Option<PathBuf>,
    /// Most texts per inference call.
    #[arg(long, env = "BATCH_SIZE", default_value_t = embed_core::DEFAULT_BATCH_SIZE as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Most tokens per inference call, counted as the engine computes them (padding included
    /// where it pads); a longer text still runs, alone.
    #[arg(long, env = "MAX_BATCH_TOKENS", default_value_t = embed_core::DEFAULT_MAX_BATCH_TOKENS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch_tokens: u32,
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
    /// Threads of one forward pass (default: the CPUs this process may use, its CPU affinity and
    /// cgroup quota counted).
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
    #[command(flatten)]
    pub sources: Sources,
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
    #[arg(long, env = "EMBEDDING_CACHE_SIZE", default_value_t = embed_core::DEFAULT_CACHE_ENTRIES)]
    pub cache_size: usize,
    /// Log level: off, error, warn, info, debug or trace (or directives such as
    /// `warn,embed_core=debug`).
    #[arg(long, env = "LOG_LEVEL", default_value = "warn", value_parser = parse_log_level)]
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

/// Where models are kept: the manifest's in the model cache, those named by hub id in the
/// Hugging Face cache (shared with huggingface_hub and sentence-transformers).
#[derive(clap::Args, Debug)]
pub struct CacheDir {
    /// Where known models are kept.
    #[arg(long, env = "MODEL_CACHE_DIR", default_value = embed_core::DEFAULT_MODEL_CACHE_DIR)]
    pub model_cache_dir: PathBuf,
    /// The Hugging Face cache, where models named by hub id (org/name) are found and fetched
    /// (default: HF_HOME/hub, else ~/.cache/huggingface/hub, as huggingface_hub has it).
    #[arg(long, env = "HF_HUB_CACHE", value_name = "DIR")]
    pub hub_cache: Option<PathBuf>,
    /// Hugging Face's folder, holding the hub cache in `hub/` when HF_HUB_CACHE is unset.
    #[arg(long, env = "HF_HOME", value_name = "DIR")]
    pub hf_home: Option<PathBuf>,
}

impl CacheDir {
    /// The Hugging Face cache these settings name, else huggingface_hub's default.
    pub fn hub_cache_dir(&self) -> PathBuf {
        embed_core::hub_cache_dir(|name| match name {
            "HF_HUB_CACHE" => self.hub_cache.clone().map(Into::into),
            "HF_HOME" => self.hf_home.clone().map(Into::into),
            // Read by this flag's own variable only: an older name of it.
            "HUGGINGFACE_HUB_CACHE" => std::env::var_os(name),
            other => std::env::var_os(other),
        })
    }
}

/// Where the binary fetches from, and whether it may.
#[derive(clap::Args, Debug)]
pub struct Sources {
    /// Never download anything (by default a missing ONNX Runtime is fetched from PyPI, and a
    /// missing model from the Hugging Face hub).
    #[arg(long, env = "EMBED_OFFLINE", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    pub offline: bool,
    /// huggingface_hub's offline switch, honoured as --offline.
    #[arg(long, env = "HF_HUB_OFFLINE", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    pub hf_hub_offline: bool,
    /// The Hugging Face hub, or a mirror of it.
    #[arg(long, env = "HF_ENDPOINT", value_name = "URL", default_value = embed_fetch::DEFAULT_HF_ENDPOINT)]
    pub hf_endpoint: String,
    /// An access token for gated and private repositories.
    #[arg(long, env = "HF_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub hf_token: Option<String>,
    /// PyPI's JSON API, where a missing ONNX Runtime is fetched from (a mirror that serves it).
    #[arg(long, env = "EMBED_PYPI_URL", value_name = "URL", default_value = embed_fetch::DEFAULT_PYPI_URL)]
    pub pypi_url: String,
    /// Accept model files for which the hub announces no hash (they are then only checked by
    /// size); by default such a file is an error.
    #[arg(long, env = "EMBED_ALLOW_UNVERIFIED", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    pub allow_unverified: bool,
    /// No progress bars or status lines on stderr (errors are still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

impl Sources {
    /// Whether nothing may be downloaded (--offline, EMBED_OFFLINE or HF_HUB_OFFLINE).
    pub fn offline(&self) -> bool {
        self.offline || self.hf_hub_offline
    }
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

fn parse_backend(value: &str) -> Result<BackendChoice, String> {
    value.parse().map_err(|e: embed_core::EmbedError| e.to_string())
}

/// The levels `LOG_LEVEL` takes.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A level, or comma-separated directives each ending in a level (`embed_core=debug`).
fn parse_log_level(value: &str) -> Result<String, String> {
    let is_level = |level: &str| LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level.trim()));
    let valid = !value.trim().is_empty()
        && value.split(',').all(|directive| {
            let level = directive.rsplit_once('=').map_or(directive, |(_, level)| level);
            is_level(level)
        });
    if valid {
        Ok(value.trim().to_string())
    } else {
        Err(format!(
            "expected {} (or directives such as warn,embed_core=debug), found `{value}`",
            LOG_LEVELS.join(", ")
        ))
    }
}

fn parse_arena(value: &str) -> Result<ArenaStrategy, String> {
    match value {
        "kNextPowerOfTwo" => Ok(ArenaStrategy::NextPowerOfTwo),
        "kSameAsRequested" => Ok(ArenaStrategy::SameAsRequested),
        "disabled" => Ok(ArenaStrategy::Disabled),
        other => Err(format!("expected kNextPowerOfTwo, kSameAsRequested or disabled, found `{other}`")),
    }
}

/// The user's cache folder (`EMBED_CACHE_DIR`, `XDG_CACHE_HOME/embed` or `~/.cache/embed`).
fn cache_dir() -> PathBuf {
    embed_fetch::cache_dir(|name| std::env::var_os(name))
}

/// Where fetched ONNX Runtime libraries go.
pub fn libs_dir() -> PathBuf {
    embed_fetch::libs_dir(&cache_dir())
}

/// Where downloaded wheels are kept.
pub fn downloads_dir() -> PathBuf {
    embed_fetch::downloads_dir(&cache_dir())
}

fn non_empty_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

impl Settings {
    /// The service configuration these settings describe. ONNX Runtime is looked for (and
    /// fetched) only when a model needs it: see `fetch::open_service`.
    pub fn to_config(&self) -> Config {
        Config {
            model: self.model.clone(),
            model_cache_dir: self.cache.model_cache_dir.clone(),
            hub_cache_dir: Some(self.cache.hub_cache_dir()),
            tokenizer_path: self.tokenizer_path.clone(),
            batching: BatchPolicy { max_texts: self.batch_size as usize, max_tokens: self.max_batch_tokens as usize },
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
                search_dirs: OrtLibrary::search_dirs(&libs_dir(), std::env::current_exe().ok().as_deref()),
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
            backend: self.backend,
        }
    }
}

/// Whether stderr may carry colour: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
pub fn stderr_colour() -> bool {
    colour_allowed(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref())
}

fn colour_allowed(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Logs to stderr at `--log-level` (checked when parsed), in colour only where
/// [`stderr_colour`] allows.
pub fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(stderr_colour());
    // A second initialisation (tests) keeps the first subscriber.
    let _ = match settings.log_format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_allowed(true, None));
        assert!(colour_allowed(true, Some("".as_ref())));
        assert!(!colour_allowed(true, Some("1".as_ref())));
        assert!(!colour_allowed(false, None));
    }

    #[test]
    fn log_levels_and_directives_are_checked() {
        assert_eq!(parse_log_level("info"), Ok("info".to_string()));
        assert_eq!(parse_log_level("WARN,embed_core=debug"), Ok("WARN,embed_core=debug".to_string()));
        for bad in ["loud", "", "warn,embed_core=loud", "embed_core"] {
            let err = parse_log_level(bad).unwrap_err();
            assert!(err.starts_with("expected off, error, warn, info, debug, trace"), "{err}");
        }
    }
}
