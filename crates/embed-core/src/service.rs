//! [`Service`]: what applications call. Built from a [`Config`] like the seed's; `&self`
//! methods, `Send + Sync`, so many threads share one service.
//!
//! The service reads no environment variables: the binary turns the environment into a
//! `Config` and hands it down.

use std::path::PathBuf;
use std::sync::Arc;

use embed_manifest::Manifest;
use embed_pool::{BoxError, Handle, Loaded, Loader, ModelState, Pool, PoolConfig, PoolStats};
use embed_runtime::{ArenaStrategy, CoreMlOptions, Device, GraphOptimization, OnnxRuntime, SessionOptions};

use crate::engine::{BackendChoice, Engine, EngineOptions, OrtLoader, choose_engine};
use embed_tokenize::{TokenizerOptions, TruncationSide};

use crate::EmbedError;
use crate::cache::{CacheKey, CacheLimits, CacheStats, EmbeddingCache, fingerprint};
use crate::metrics::{Metrics, MetricsSnapshot, write_metric};
use crate::model::{EmbedOptions, Embedding, EmbeddingModel, LoadOptions, ModelFiles};

/// Where the ONNX Runtime library is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrtLibrary {
    /// A library file chosen by the user (`ONNXRUNTIME_LIB_PATH`, `ORT_DYLIB_PATH`): used or
    /// failed on, never skipped.
    pub path: Option<PathBuf>,
    /// Folders searched for `onnxruntime-<version>/` as `cargo xtask fetch-ort` lays it out.
    pub search_dirs: Vec<PathBuf>,
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

/// Threads and memory of ONNX Runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// `INTRA_OP_THREADS`; `None` lets ONNX Runtime choose.
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
    /// session gets an equal share of the cores.
    pub sessions: Option<usize>,
}

/// ONNX Runtime's options for each model of a service: `runtime`'s sessions and threads.
fn session_options(runtime: &RuntimeConfig, device: Device) -> Result<SessionOptions, EmbedError> {
    let sessions = runtime.sessions.unwrap_or(1);
    if sessions == 0 {
        return Err(EmbedError::Config("sessions must be at least 1".into()));
    }
    let intra_op_threads = match runtime.intra_op_threads {
        Some(threads) => Some(threads),
        None if sessions > 1 => {
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
            Some((cores / sessions).max(1))
        }
        None => None,
    };
    Ok(SessionOptions {
        intra_op_threads,
        inter_op_threads: runtime.inter_op_threads,
        optimization: runtime.optimization,
        arena: runtime.arena,
        device,
        sessions,
    })
}

/// Everything a [`Service`] needs (the seed's `Config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// A manifest name with an optional variant (`all-MiniLM-L6-v2:int8`), or a model
    /// directory or ONNX file.
    pub model: String,
    /// Where manifest models live (`MODEL_CACHE_DIR`).
    pub model_cache_dir: PathBuf,
    /// A directory holding `tokenizer.json`, when not the model's own.
    pub tokenizer_path: Option<PathBuf>,
    /// Most texts per inference call (`BATCH_SIZE`).
    pub batch_size: usize,
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
            model_cache_dir: PathBuf::from("models"),
            tokenizer_path: None,
            batch_size: 32,
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

/// The embedding service: a default model, any other model of the registry by name, and the
/// embedding cache.
///
/// Models load on first use through a memory-budgeted registry (`embed-pool`); the default
/// model and the preloaded ones are pinned (never evicted). Cloning a service is cheap and
/// clones share everything.
///
/// ```no_run
/// let service = embed_core::Service::new(embed_core::Config::default())?;
/// let vector = service.embed("This is a sample text")?;
/// assert_eq!(vector.len(), 384);
/// let mpnet = service.embed_with_model("all-mpnet-base-v2", &["another model"], service.default_options())?;
/// assert_eq!(mpnet[0].vector.len(), 768);
/// # Ok::<(), embed_core::EmbedError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool<EmbeddingModel>,
    /// Held for the service's life: the default model is never evicted.
    default: Handle<EmbeddingModel>,
    defaults: EmbedOptions,
    ort: Arc<OrtLoader>,
    cache: EmbeddingCache,
    resolver: Resolver,
    preload: Vec<PreloadResult>,
    metrics: Arc<Metrics>,
}

/// The outcome of preloading one model.
#[derive(Debug)]
pub struct PreloadResult {
    /// The model as configured.
    pub model: String,
    /// Why it could not be loaded, if it could not.
    pub error: Option<EmbedError>,
}

/// Turns model names into files: the manifest, the model cache directory, and what the
/// chosen engine needs.
#[derive(Debug, Clone)]
struct Resolver {
    manifest: Arc<Manifest>,
    cache_dir: PathBuf,
    choice: BackendChoice,
}

impl Resolver {
    fn resolve(&self, spec: &str) -> Result<ModelFiles, EmbedError> {
        ModelFiles::resolve(spec, &self.cache_dir, &self.manifest, self.choice)
    }
}

/// Loads models for the registry, estimating each one's memory before loading it.
struct ModelLoader {
    ort: Arc<OrtLoader>,
    resolver: Resolver,
    options: LoadOptions,
    metrics: Arc<Metrics>,
}

impl Loader<EmbeddingModel> for ModelLoader {
    fn load(&self, name: &str) -> Result<Loaded<EmbeddingModel>, BoxError> {
        let files = self.resolver.resolve(name)?;
        let bytes = self.estimate(&files);
        let started = std::time::Instant::now();
        let model = EmbeddingModel::load(files, &self.options, &self.ort)?.with_metrics(Arc::clone(&self.metrics));
        tracing::info!(model = name, bytes, elapsed_ms = started.elapsed().as_millis() as u64, "model loaded");
        Ok(Loaded::new(model, bytes))
    }

    fn estimate_bytes(&self, name: &str) -> Option<u64> {
        self.resolver.resolve(name).ok().map(|files| self.estimate(&files))
    }
}

impl ModelLoader {
    /// The memory a model takes in this loader's engine and sessions.
    fn estimate(&self, files: &ModelFiles) -> u64 {
        let engine = &self.options.engine;
        let on_coreml = matches!(engine.session.device, Device::CoreMl { .. });
        match choose_engine(files, engine.choice, on_coreml) {
            Ok(Engine::Native) => native_bytes(files),
            _ => onnx_bytes(files, engine.session.sessions),
        }
    }
}

/// The memory a model takes once loaded and warmed up, estimated from its files, in the engine
/// `choice` picks for it (see `ModelLoader`'s registry). The factors come from measured
/// resident-memory growth (see the memory test, which checks the estimate against it).
pub fn estimate_model_bytes(files: &ModelFiles, choice: BackendChoice) -> u64 {
    match choose_engine(files, choice, false) {
        Ok(Engine::Native) => native_bytes(files),
        _ => onnx_bytes(files, 1),
    }
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// ONNX Runtime holds the weights (the ONNX file) plus pre-packed copies and working memory,
/// and each further session its own copy of the weights it does not share (measured: about
/// the ONNX file's size for all-mpnet-base-v2, its embedding tables and more for
/// all-MiniLM-L6-v2); the tokenizer's vocabulary takes several times its JSON size.
fn onnx_bytes(files: &ModelFiles, sessions: usize) -> u64 {
    let onnx = file_size(&files.onnx) + file_size(&files.onnx.with_extension("onnx_data"));
    let further_sessions = sessions.saturating_sub(1) as u64;
    onnx + onnx / 2 + further_sessions * onnx + tokenizer_bytes(files)
}

/// The native engine packs the checkpoint's weights once (the file's size for an f32
/// checkpoint) but maps the word embedding table, of which a batch touches only its rows.
fn native_bytes(files: &ModelFiles) -> u64 {
    let checkpoint = file_size(&files.dir.join("model.safetensors"));
    let word_table = embed_runtime::read_native_config(&files.dir)
        .map_or(0, |config| (config.vocab_size * config.hidden * 4) as u64);
    checkpoint.saturating_sub(word_table) + tokenizer_bytes(files)
}

/// The tokenizer's vocabulary and the working memory of a call.
fn tokenizer_bytes(files: &ModelFiles) -> u64 {
    file_size(&files.dir.join("tokenizer.json")) * 8 + 16 * 1024 * 1024
}

impl Service {
    /// Loads ONNX Runtime, preloads the configured models and loads the default one.
    pub fn new(config: Config) -> Result<Self, EmbedError> {
        if config.batch_size == 0 {
            return Err(EmbedError::Config("batch_size must be at least 1".into()));
        }
        if config.metal.enabled && config.metal.device_id != 0 {
            return Err(EmbedError::Config(format!(
                "metal device {} is not supported: CoreML chooses the device itself, so only 0 is accepted",
                config.metal.device_id
            )));
        }
        let ort = Arc::new(OrtLoader::new(config.onnxruntime.clone()));
        let resolver = Resolver {
            manifest: Arc::new(Manifest::builtin()),
            cache_dir: config.model_cache_dir.clone(),
            choice: config.backend,
        };
        let default_name = resolver.resolve(&config.model)?.name;
        let device = if config.metal.enabled {
            Device::CoreMl { options: config.metal.coreml.clone(), fallback_to_cpu: config.metal.allow_cpu_fallback }
        } else {
            Device::Cpu
        };
        let options = LoadOptions {
            tokenizer: TokenizerOptions {
                max_length: config.options.max_sequence_length,
                truncation: Some(config.options.truncation),
                pad_to_max_length: config.options.pad_to_max_length,
            },
            tokenizer_dir: config.tokenizer_path.clone(),
            engine: EngineOptions {
                choice: config.backend,
                session: session_options(&config.runtime, device)?,
                native_threads: config.runtime.intra_op_threads.filter(|_| config.runtime.sessions.is_none()),
            },
        };
        // Preloaded models are pinned; names that do not resolve are reported, not fatal.
        let mut preload = Vec::new();
        let mut preload_names = Vec::new();
        for spec in &config.memory.preload_models {
            match resolver.resolve(spec) {
                Ok(files) => preload_names.push((spec.clone(), files.name)),
                Err(error) => preload.push(PreloadResult { model: spec.clone(), error: Some(error) }),
            }
        }
        let mut pinned: Vec<String> = preload_names.iter().map(|(_, name)| name.clone()).collect();
        pinned.push(default_name.clone());
        let metrics = Arc::new(Metrics::default());
        let pool = Pool::new(
            ModelLoader { ort: Arc::clone(&ort), resolver: resolver.clone(), options, metrics: Arc::clone(&metrics) },
            PoolConfig { budget_bytes: config.memory.model_memory_limit, pinned, ..PoolConfig::default() },
        );
        let names: Vec<&str> = preload_names.iter().map(|(_, name)| name.as_str()).collect();
        for ((spec, _), outcome) in preload_names.iter().zip(pool.preload(&names)) {
            if let Err(error) = &outcome.result {
                // Reported to the caller in `preload_results`; logging it here too would say it twice.
                tracing::debug!(model = %spec, error = %error, "preload failed");
            }
            preload.push(PreloadResult { model: spec.clone(), error: outcome.result.err().map(EmbedError::from) });
        }
        let default = pool.get(&default_name)?;
        if let Some(expected) = config.embedding_dimension
            && expected != default.dimension()
        {
            return Err(EmbedError::ConfiguredDimension {
                model: default.files().name.clone(),
                configured: expected,
                actual: default.dimension(),
            });
        }
        tracing::info!(model = %default.files().name, dimension = default.dimension(), engine = %default.engine(), device = %default.device(), "model ready");
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                default,
                defaults: EmbedOptions {
                    normalize: config.options.normalize,
                    batch_size: config.batch_size,
                    ..EmbedOptions::default()
                },
                ort,
                cache: EmbeddingCache::new(config.memory.cache),
                resolver,
                preload,
                metrics,
            }),
        })
    }

    /// Embeds one text with the default model.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut out = self.embed_with(&[text], &self.inner.defaults)?;
        out.pop().map(|e| e.vector).ok_or_else(|| EmbedError::Config("internal error: no embedding returned".into()))
    }

    /// Embeds many texts with the default model; one vector per text, in order. An empty
    /// slice gives an empty result.
    pub fn embed_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(self.embed_with(texts, &self.inner.defaults)?.into_iter().map(|e| e.vector).collect())
    }

    /// Embeds many texts with the default model and per-call options, returning token counts
    /// too. Texts found in the embedding cache are not computed again.
    pub fn embed_with<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        options: &EmbedOptions,
    ) -> Result<Vec<Embedding>, EmbedError> {
        self.embed_on(&self.inner.default, texts, options)
    }

    /// Embeds many texts with any model of the registry (`name`, `name:variant` or a
    /// directory), loading it on first use.
    pub fn embed_with_model<S: AsRef<str> + Sync>(
        &self,
        model: &str,
        texts: &[S],
        options: &EmbedOptions,
    ) -> Result<Vec<Embedding>, EmbedError> {
        let handle = self.model_handle(model)?;
        self.embed_on(&handle, texts, options)
    }

    /// Embeds texts given as token ids (without special tokens) with any model of the
    /// registry. Not cached.
    pub fn embed_tokens_with_model(
        &self,
        model: &str,
        token_ids: &[Vec<u32>],
        options: &EmbedOptions,
    ) -> Result<Vec<Embedding>, EmbedError> {
        self.model_handle(model)?.embed_token_ids(token_ids, options)
    }

    /// A model of the registry, loaded on first use; it stays loaded while the handle lives.
    pub fn model_handle(&self, model: &str) -> Result<Handle<EmbeddingModel>, EmbedError> {
        let name = self.inner.resolver.resolve(model)?.name;
        Ok(self.inner.pool.get(&name)?)
    }

    fn embed_on<S: AsRef<str> + Sync>(
        &self,
        model: &EmbeddingModel,
        texts: &[S],
        options: &EmbedOptions,
    ) -> Result<Vec<Embedding>, EmbedError> {
        let cache = &self.inner.cache;
        if !cache.enabled() {
            return model.embed(texts, options);
        }
        let files = model.files();
        let tokenizer = model.tokenizer();
        let print = fingerprint(&[
            &files.name,
            &files.onnx,
            &files.revision,
            &tokenizer.max_length(),
            &options.truncation.unwrap_or(tokenizer.truncation_side()),
            &options.normalize,
            &options.prompt,
        ]);
        let keys: Vec<CacheKey> =
            texts.iter().map(|t| CacheKey { fingerprint: Arc::clone(&print), text: t.as_ref().into() }).collect();
        let mut results: Vec<Option<Embedding>> = keys.iter().map(|k| cache.get(k)).collect();
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| results[i].is_none()).collect();
        if !missing.is_empty() {
            let miss_texts: Vec<&str> = missing.iter().map(|&i| texts[i].as_ref()).collect();
            let computed = model.embed(&miss_texts, options)?;
            for (&i, embedding) in missing.iter().zip(computed) {
                cache.put(keys[i].clone(), embedding.clone());
                results[i] = Some(embedding);
            }
        }
        results
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| EmbedError::Config("internal error: a text was left without an embedding".into()))
    }

    /// Every manifest model as this service's model cache holds it: fetched variants and their
    /// size, the engine, the prompts.
    pub fn known_models(&self) -> Vec<crate::KnownModel> {
        crate::known_models(&self.inner.resolver.manifest, &self.inner.resolver.cache_dir)
    }

    /// Loads, evictions, bytes in use, budget and per-model use of the model registry.
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pool.stats()
    }

    /// The pipeline's counters and histograms.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// Everything the service measures, in the Prometheus text format: the pipeline, the
    /// embedding cache and the model registry.
    pub fn metrics_prometheus(&self) -> String {
        let mut out = String::new();
        self.metrics().write_prometheus(&mut out);
        let cache = self.cache_stats();
        write_metric(
            &mut out,
            "embed_cache_hits_total",
            "counter",
            "Embedding cache hits.",
            &[("", cache.hits as f64)],
        );
        write_metric(
            &mut out,
            "embed_cache_misses_total",
            "counter",
            "Embedding cache misses.",
            &[("", cache.misses as f64)],
        );
        write_metric(
            &mut out,
            "embed_cache_entries",
            "gauge",
            "Vectors in the embedding cache.",
            &[("", cache.entries as f64)],
        );
        write_metric(
            &mut out,
            "embed_cache_bytes",
            "gauge",
            "Bytes held by the embedding cache.",
            &[("", cache.bytes as f64)],
        );
        let pool = self.pool_stats();
        write_metric(&mut out, "embed_model_loads_total", "counter", "Model loads.", &[("", pool.loads as f64)]);
        write_metric(
            &mut out,
            "embed_model_load_failures_total",
            "counter",
            "Failed model loads.",
            &[("", pool.load_failures as f64)],
        );
        write_metric(
            &mut out,
            "embed_model_evictions_total",
            "counter",
            "Models evicted to stay within the budget.",
            &[("", pool.evictions as f64)],
        );
        write_metric(
            &mut out,
            "embed_model_bytes_in_use",
            "gauge",
            "Memory taken by loaded models (estimated).",
            &[("", pool.bytes_in_use as f64)],
        );
        if let Some(budget) = pool.budget_bytes {
            write_metric(
                &mut out,
                "embed_model_memory_budget_bytes",
                "gauge",
                "Memory budget of the loaded models.",
                &[("", budget as f64)],
            );
        }
        let loaded: Vec<(String, f64)> = pool
            .models
            .iter()
            .map(|m| {
                (
                    format!("model=\"{}\"", m.name.replace('\\', "\\\\").replace('"', "\\\"")),
                    if m.state == ModelState::Loaded { 1.0 } else { 0.0 },
                )
            })
            .collect();
        let samples: Vec<(&str, f64)> = loaded.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        write_metric(&mut out, "embed_model_loaded", "gauge", "Whether each model is loaded.", &samples);
        out
    }

    /// What happened to each model of `preload_models`.
    pub fn preload_results(&self) -> &[PreloadResult] {
        &self.inner.preload
    }

    /// Counters of the embedding cache.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// Empties the embedding cache.
    pub fn invalidate_cache(&self) {
        self.inner.cache.invalidate();
    }

    /// The options calls use unless told otherwise.
    pub fn default_options(&self) -> &EmbedOptions {
        &self.inner.defaults
    }

    /// The default model.
    pub fn model(&self) -> &EmbeddingModel {
        &self.inner.default
    }

    /// The ONNX Runtime library, where a model has loaded it (none when every model loaded so
    /// far runs on the native engine).
    pub fn onnxruntime(&self) -> Option<&OnnxRuntime> {
        self.inner.ort.loaded()
    }
}
