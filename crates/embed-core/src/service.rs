//! [`Service`]: what applications call. Built from a [`Config`]; `&self` methods,
//! `Send + Sync`, so many threads share one service.
//!
//! Every way in (`embed`, `embed_batch`, `embed_with`, `embed_with_model`,
//! `embed_tokens_with_model`, `embed_document`, `embed_stream`, and the HTTP server) takes the
//! same two steps: [`Service::prepare`] (`prepare.rs`) then [`Service::run`] (`run.rs`). This
//! file builds the service and holds what the steps share: the model registry, the embedding
//! cache, the batching policy, the metrics. It reads no environment variables: the binary turns
//! the environment into a `Config` and hands it down.

use std::sync::Arc;

use embed_manifest::Manifest;
use embed_pool::{Handle, Pool, PoolConfig, PoolStats};
use embed_runtime::Device;
use embed_tokenize::TokenizerOptions;

use crate::EmbedError;
use crate::batching::BatchPolicy;
use crate::cache::{CacheStats, EmbeddingCache};
use crate::config::{Config, OrtInUse};
use crate::engine::{EngineOptions, OrtLoader};
use crate::files::Resolver;
use crate::loader::{ModelLoader, session_options};
use crate::metrics::{Metrics, MetricsSnapshot, write_registry_metrics};
use crate::model::{EmbedOptions, Embedding, EmbeddingModel, LoadOptions};
use crate::prometheus::PrometheusText;

/// The embedding service: a default model, any other model of the registry by name, the
/// embedding cache and the batching policy.
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
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pool: Pool<EmbeddingModel>,
    /// Held for the service's life: the default model is never evicted.
    pub(crate) default: Handle<EmbeddingModel>,
    defaults: EmbedOptions,
    pub(crate) batching: BatchPolicy,
    ort: Arc<OrtLoader>,
    pub(crate) cache: EmbeddingCache,
    resolver: Resolver,
    preload: Vec<PreloadResult>,
    pub(crate) metrics: Arc<Metrics>,
}

/// The outcome of preloading one model.
#[derive(Debug)]
pub struct PreloadResult {
    /// The model as configured.
    pub model: String,
    /// Why it could not be loaded, if it could not.
    pub error: Option<EmbedError>,
}

impl Service {
    /// Preloads the configured models and loads the default one (ONNX Runtime's library loads
    /// with the first model that needs it).
    pub fn new(config: Config) -> Result<Self, EmbedError> {
        config.batching.validate()?;
        if config.metal.enabled && config.metal.device_id != 0 {
            return Err(EmbedError::InvalidSetting {
                setting: "metal device",
                expected: "0 (CoreML chooses the device itself)".into(),
                found: config.metal.device_id.to_string(),
            });
        }
        let ort = Arc::new(OrtLoader::new(config.onnxruntime.clone()));
        let resolver = Resolver::new(&config, Manifest::builtin());
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
                tracing::debug!(model = %spec, error = error as &dyn std::error::Error, "preload failed");
            }
            preload.push(PreloadResult { model: spec.clone(), error: outcome.result.err().map(EmbedError::from) });
        }
        let default = pool.get(&default_name)?;
        if let Some(expected) = config.embedding_dimension
            && expected != default.dimension()
        {
            return Err(EmbedError::ConfiguredDimension {
                model: default.name().to_string(),
                configured: expected,
                actual: default.dimension(),
            });
        }
        tracing::info!(model = %default.name(), dimension = default.dimension(), engine = %default.engine(), device = %default.device(), "model ready");
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                default,
                defaults: EmbedOptions { normalize: config.options.normalize, ..EmbedOptions::default() },
                batching: config.batching,
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
        out.pop().map(|e| e.vector).ok_or(EmbedError::LostEmbeddings { inputs: 1, embeddings: 0 })
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
        let prepared = self.prepare(&self.inner.default, texts, options)?;
        self.run_one(&prepared)
    }

    /// Embeds many texts with any model of the registry (`name`, `name:variant` or a
    /// directory), loading it on first use.
    pub fn embed_with_model<S: AsRef<str> + Sync>(
        &self,
        model: &str,
        texts: &[S],
        options: &EmbedOptions,
    ) -> Result<Vec<Embedding>, EmbedError> {
        let prepared = self.prepare(&self.model_handle(model)?, texts, options)?;
        self.run_one(&prepared)
    }

    /// Embeds texts given as token ids (without special tokens) with any model of the
    /// registry. Not cached.
    pub fn embed_tokens_with_model(
        &self,
        model: &str,
        token_ids: &[Vec<u32>],
        options: &EmbedOptions,
    ) -> Result<Vec<Embedding>, EmbedError> {
        let prepared = self.prepare_token_ids(&self.model_handle(model)?, token_ids, options)?;
        self.run_one(&prepared)
    }

    /// A model of the registry (`name`, `name:variant` or a directory), loaded on first use; it
    /// stays loaded while the handle lives.
    pub fn model_handle(&self, model: &str) -> Result<Handle<EmbeddingModel>, EmbedError> {
        let name = self.inner.resolver.resolve(model)?.name;
        Ok(self.inner.pool.get(&name)?)
    }

    /// The default model, as a handle of its own.
    pub fn default_model(&self) -> Handle<EmbeddingModel> {
        self.inner.default.clone()
    }

    /// The default model.
    pub fn model(&self) -> &EmbeddingModel {
        &self.inner.default
    }

    /// The options calls use unless told otherwise.
    pub fn default_options(&self) -> &EmbedOptions {
        &self.inner.defaults
    }

    /// How inputs become inference calls ([`Config::batching`]).
    pub fn batching(&self) -> &BatchPolicy {
        &self.inner.batching
    }

    /// Every manifest model as this service's model cache holds it: fetched variants and their
    /// size, the engine, the prompts.
    pub fn known_models(&self) -> Vec<crate::KnownModel> {
        crate::known_models(&self.inner.resolver.manifest, &self.inner.resolver.model_cache_dir)
    }

    /// The manifest of the models this service knows by name.
    pub fn manifest(&self) -> &Manifest {
        &self.inner.resolver.manifest
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
        let mut out = PrometheusText::default();
        self.metrics().write_prometheus(&mut out);
        write_registry_metrics(&mut out, &self.cache_stats(), &self.pool_stats());
        out.finish()
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

    /// The ONNX Runtime library, where a model has loaded it (none when every model loaded so
    /// far runs on the native engine).
    pub fn onnxruntime(&self) -> Option<OrtInUse> {
        self.inner
            .ort
            .loaded()
            .map(|runtime| OrtInUse { path: runtime.path().to_path_buf(), version: runtime.version().to_string() })
    }
}
