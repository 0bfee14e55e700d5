//! How a service's registry loads models: names resolved to files (`files.rs`), ONNX
//! Runtime's session options from the configuration, and each model's memory estimated from
//! its files before it loads (the registry's budget counts the estimates).
//!
//! It knows what each engine costs in memory, not how either runs.

use std::sync::Arc;

use embed_pool::{BoxError, Loaded, Loader};
use embed_runtime::{Device, SessionOptions};

use crate::EmbedError;
use crate::config::BackendChoice;
use crate::config::RuntimeConfig;
use crate::engine::{Engine, OrtLoader, choose_engine};
use crate::files::{ModelFiles, Resolver};
use crate::metrics::Metrics;
use crate::model::{EmbeddingModel, LoadOptions};

/// ONNX Runtime's options for each model of a service: `runtime`'s sessions and threads.
pub(crate) fn session_options(runtime: &RuntimeConfig, device: Device) -> Result<SessionOptions, EmbedError> {
    let sessions = runtime.sessions.unwrap_or(1);
    if sessions == 0 {
        return Err(EmbedError::InvalidSetting {
            setting: "sessions",
            expected: "at least 1".into(),
            found: sessions.to_string(),
        });
    }
    // Unset, the CPUs this process may use (its affinity and cgroup quota), shared by the
    // sessions: ONNX Runtime's own default counts the machine's cores, so a container limited
    // to one CPU would run a thread per core of its node.
    let intra_op_threads = runtime.intra_op_threads.unwrap_or_else(|| {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        (cpus / sessions).max(1)
    });
    Ok(SessionOptions {
        intra_op_threads: Some(intra_op_threads),
        inter_op_threads: runtime.inter_op_threads,
        optimization: runtime.optimization,
        arena: runtime.arena,
        device,
        sessions,
    })
}

/// Loads models for the registry, estimating each one's memory before loading it.
pub(crate) struct ModelLoader {
    pub(crate) ort: Arc<OrtLoader>,
    pub(crate) resolver: Resolver,
    pub(crate) options: LoadOptions,
    pub(crate) metrics: Arc<Metrics>,
}

impl Loader<EmbeddingModel> for ModelLoader {
    fn load(&self, name: &str) -> Result<Loaded<EmbeddingModel>, BoxError> {
        let files = self.resolver.resolve(name)?;
        let bytes = self.estimate(&files);
        let started = std::time::Instant::now();
        let model = EmbeddingModel::load(files, &self.options, &self.ort, Arc::clone(&self.metrics))?;
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
    let checkpoint = embed_runtime::checkpoint_bytes(&files.dir).unwrap_or(0);
    let word_table = embed_runtime::read_native_config(&files.dir)
        .map_or(0, |config| (config.vocab_size * config.hidden * 4) as u64);
    checkpoint.saturating_sub(word_table) + tokenizer_bytes(files)
}

/// The tokenizer's vocabulary and the working memory of a call.
fn tokenizer_bytes(files: &ModelFiles) -> u64 {
    file_size(&files.dir.join("tokenizer.json")) * 8 + 16 * 1024 * 1024
}
