//! One embedding model: its tokenizer, its backend, its pooling, and the pipeline that turns
//! texts into vectors (prompt, tokenize, group by length, run, pool, normalize).
//!
//! This file decides nothing about where models come from beyond resolving a name or a path
//! into files; fetching belongs elsewhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use embed_manifest::{Manifest, Pooling};
use embed_runtime::{Backend, OutputKind, TokenBatch};
use embed_tokenize::{TokenizedText, Tokenizer, TokenizerOptions, TruncationSide};

use crate::EmbedError;
use crate::engine::{BackendChoice, EngineOptions, OrtLoader, load_backend};
use crate::metrics::Metrics;
use crate::pooling::{normalize, pool_into, read_pooling_config};

/// Most padding a batch may carry, as a share of its positions: a text much shorter than the
/// batch's longest starts a new batch instead, since on a CPU a padded position costs as much
/// as a real one and a smaller batch costs little more per text.
const MAX_PADDING_SHARE: f64 = 0.2;

/// Splits `order` (indices sorted longest first) into batches of at most `batch_size` texts
/// whose padding, where the backend pads, stays under [`MAX_PADDING_SHARE`] of each row.
fn length_groups<'a>(
    order: &'a [usize],
    len: impl Fn(usize) -> usize + 'a,
    batch_size: usize,
    pads: bool,
) -> impl Iterator<Item = &'a [usize]> + 'a {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= order.len() {
            return None;
        }
        let longest = len(order[start]) as f64;
        let mut end = start + 1;
        while end < order.len()
            && end - start < batch_size
            && (!pads || (len(order[end]) as f64) >= longest * (1.0 - MAX_PADDING_SHARE))
        {
            end += 1;
        }
        let group = &order[start..end];
        start = end;
        Some(group)
    })
}

/// Where a model's files are, and what the manifest says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The display name: `name:variant` for manifest models, the path otherwise.
    pub name: String,
    /// The directory holding `tokenizer.json` and the sentence-transformers configs.
    pub dir: PathBuf,
    /// The variant (`fp32` for a directory or file given by path).
    pub variant: String,
    /// The variant's ONNX file, where ONNX Runtime would load it (it may be absent when the
    /// native engine runs the model from `model.safetensors`).
    pub onnx: PathBuf,
    /// Named prompts from the manifest.
    pub prompts: BTreeMap<String, String>,
    /// Dimension the manifest states.
    pub dimension: Option<usize>,
    /// Pooling the manifest states, used when `1_Pooling/config.json` is absent.
    pub pooling: Option<Pooling>,
    /// Pinned revision the manifest states.
    pub revision: Option<String>,
}

impl ModelFiles {
    /// Resolves `spec`: a manifest name with an optional variant (`all-MiniLM-L6-v2:int8`),
    /// always under `cache_dir` (a directory of the same name elsewhere is never read), else an
    /// existing directory or `.onnx` file. A manifest model must hold what `choice` can run.
    pub fn resolve(
        spec: &str,
        cache_dir: &Path,
        manifest: &Manifest,
        choice: BackendChoice,
    ) -> Result<Self, EmbedError> {
        let resolved = match manifest.resolve(spec) {
            Ok(resolved) => resolved,
            Err(error) => {
                let as_path = Path::new(spec);
                if as_path.is_dir() || (as_path.is_file() && as_path.extension().is_some_and(|e| e == "onnx")) {
                    return Self::from_path(as_path);
                }
                return Err(error.into());
            }
        };
        let dir = resolved.dir(cache_dir);
        let onnx = resolved.onnx_path(cache_dir);
        let checkpoint = resolved.variant == embed_manifest::DEFAULT_VARIANT
            && dir.join("model.safetensors").is_file()
            && dir.join("config.json").is_file();
        let fetched = match choice {
            BackendChoice::Onnx => onnx.is_file(),
            BackendChoice::Native => checkpoint,
            BackendChoice::Auto => onnx.is_file() || checkpoint,
        };
        if !fetched {
            return Err(EmbedError::ModelNotFetched {
                model: resolved.model.name.clone(),
                variant: resolved.variant.clone(),
                dir,
            });
        }
        Ok(Self {
            name: resolved.display_name(),
            dir,
            variant: resolved.variant.clone(),
            onnx,
            prompts: resolved.model.prompts.clone(),
            dimension: Some(resolved.model.dimension),
            pooling: Some(resolved.model.pooling),
            revision: Some(resolved.model.revision.clone()),
        })
    }

    /// A model directory (holding `model.safetensors`, `onnx/model.onnx` or `model.onnx`) or
    /// an ONNX file inside one.
    pub fn from_path(path: &Path) -> Result<Self, EmbedError> {
        let not_found = || EmbedError::NoModelAtPath { path: path.to_path_buf() };
        let (dir, onnx) = if path.is_dir() {
            let candidates = [path.join("onnx").join("model.onnx"), path.join("model.onnx")];
            let onnx = match candidates.iter().find(|p| p.is_file()) {
                Some(onnx) => onnx.clone(),
                None if path.join("model.safetensors").is_file() => candidates[0].clone(),
                None => return Err(not_found()),
            };
            (path.to_path_buf(), onnx)
        } else {
            let parent = path.parent().ok_or_else(not_found)?;
            // Hugging Face layout: ONNX files under `onnx/`, configs one level up.
            let dir = if parent.file_name().is_some_and(|n| n == "onnx") && !parent.join("tokenizer.json").is_file() {
                parent.parent().unwrap_or(parent)
            } else {
                parent
            };
            (dir.to_path_buf(), path.to_path_buf())
        };
        Ok(Self {
            name: path.display().to_string(),
            dir,
            variant: embed_manifest::DEFAULT_VARIANT.to_string(),
            onnx,
            prompts: BTreeMap::new(),
            dimension: None,
            pooling: None,
            revision: None,
        })
    }
}

/// Options that shape how a model is loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Tokenization options.
    pub tokenizer: TokenizerOptions,
    /// A directory holding `tokenizer.json` other than the model's own.
    pub tokenizer_dir: Option<PathBuf>,
    /// Which engine runs the model, and its options.
    pub engine: EngineOptions,
}

/// Per-call options of the embedding pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedOptions {
    /// Scale each vector to unit length (default on).
    pub normalize: bool,
    /// A named prompt of the model (`query`, `passage`) put before each text.
    pub prompt: Option<String>,
    /// Most texts per inference call.
    pub batch_size: usize,
    /// Which end of a too-long text to cut; `None` keeps the service's setting.
    pub truncation: Option<TruncationSide>,
    /// Cut texts longer than the model's maximum (default); when off, such a text is an
    /// error ([`EmbedError::TooLong`]).
    pub truncate: bool,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self { normalize: true, prompt: None, batch_size: 32, truncation: None, truncate: true }
    }
}

/// One text's embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The vector.
    pub vector: Vec<f32>,
    /// Tokens the model saw, special tokens included (after truncation).
    pub tokens: usize,
    /// Whether the text was cut to the model's maximum length.
    pub truncated: bool,
}

/// A loaded embedding model. Shared between threads.
pub struct EmbeddingModel {
    files: ModelFiles,
    tokenizer: Tokenizer,
    backend: Box<dyn Backend>,
    pooling: Pooling,
    dimension: usize,
    metrics: std::sync::Arc<Metrics>,
}

impl std::fmt::Debug for EmbeddingModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingModel")
            .field("files", &self.files)
            .field("pooling", &self.pooling)
            .field("dimension", &self.dimension)
            .finish_non_exhaustive()
    }
}

impl EmbeddingModel {
    /// Loads a model into the engine `options` choose.
    pub(crate) fn load(files: ModelFiles, options: &LoadOptions, ort: &OrtLoader) -> Result<Self, EmbedError> {
        let tokenizer_dir = options.tokenizer_dir.as_deref().unwrap_or(&files.dir);
        let tokenizer = Tokenizer::from_dir(tokenizer_dir, &options.tokenizer)?;
        let pooling = match read_pooling_config(&files.dir)? {
            Some(pooling) => pooling,
            None => files.pooling.ok_or_else(|| EmbedError::ModelConfig {
                path: files.dir.join("1_Pooling").join("config.json"),
                message: "missing, and the model is not in the manifest to say its pooling".into(),
            })?,
        };
        let backend = load_backend(&files, &options.engine, ort)?;
        Self::from_parts(files, tokenizer, backend, pooling)
    }

    /// Builds a model from its parts (a backend other than ONNX Runtime, in tests).
    pub fn from_parts(
        files: ModelFiles,
        tokenizer: Tokenizer,
        backend: Box<dyn Backend>,
        pooling: Pooling,
    ) -> Result<Self, EmbedError> {
        let dimension = match (backend.hidden_size(), files.dimension) {
            (Some(actual), Some(expected)) if actual != expected => {
                return Err(EmbedError::DimensionMismatch { model: files.name.clone(), expected, actual });
            }
            (Some(width), _) | (None, Some(width)) => width,
            (None, None) => 0,
        };
        Ok(Self { files, tokenizer, backend, pooling, dimension, metrics: Default::default() })
    }

    /// Records this model's work into `metrics` (shared by the models of a service).
    pub fn with_metrics(mut self, metrics: std::sync::Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Where the model's files are.
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// Width of the embeddings (0 when neither the model nor the manifest states it and
    /// nothing has been embedded yet).
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// The pooling in use.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Where the model runs.
    pub fn device(&self) -> &embed_runtime::DeviceInUse {
        self.backend.device()
    }

    /// The engine that runs it (`native avx512`, `onnxruntime 1.31.1`).
    pub fn engine(&self) -> String {
        self.backend.engine()
    }

    /// Embeds `texts`; the result has one entry per text, in order.
    pub fn embed<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        options: &EmbedOptions,
    ) -> Result<Vec<Embedding>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let tokenized = match &options.prompt {
            None => self.tokenizer.tokenize_with(texts, options.truncation)?,
            Some(name) => {
                let prompt = self.prompt(name)?;
                let prompted: Vec<String> = texts.iter().map(|t| format!("{prompt}{}", t.as_ref())).collect();
                self.tokenizer.tokenize_with(&prompted, options.truncation)?
            }
        };
        self.metrics.record_tokenize(texts.len(), started.elapsed());
        if !options.truncate
            && let Some(index) = tokenized.iter().position(|t| t.truncated)
        {
            let text = texts[index].as_ref();
            let tokens = match &options.prompt {
                None => self.tokenizer.count_tokens(text)?,
                Some(name) => self.tokenizer.count_tokens(&format!("{}{text}", self.prompt(name)?))?,
            };
            return Err(EmbedError::TooLong { index, tokens, max: self.tokenizer.max_length() });
        }
        self.embed_tokenized(tokenized, options)
    }

    /// Embeds texts given as token ids (without special tokens, as the model's tokenizer
    /// would produce them); prompts do not apply.
    pub fn embed_token_ids(&self, ids: &[Vec<u32>], options: &EmbedOptions) -> Result<Vec<Embedding>, EmbedError> {
        let tokenized = self.tokenizer.from_ids(ids, options.truncation)?;
        if !options.truncate
            && let Some(index) = tokenized.iter().position(|t| t.truncated)
        {
            let tokens = ids[index].len() + self.tokenizer.special_tokens_count();
            return Err(EmbedError::TooLong { index, tokens, max: self.tokenizer.max_length() });
        }
        self.embed_tokenized(tokenized, options)
    }

    fn prompt(&self, name: &str) -> Result<&str, EmbedError> {
        self.files.prompts.get(name).map(String::as_str).ok_or_else(|| EmbedError::UnknownPrompt {
            model: self.files.name.clone(),
            prompt: name.to_string(),
            known: self.files.prompts.keys().cloned().collect(),
        })
    }

    /// Runs tokenized texts through the model: groups them by length, runs each batch,
    /// pools and normalizes, and puts each vector back at its text's index.
    fn embed_tokenized(
        &self,
        tokenized: Vec<TokenizedText>,
        options: &EmbedOptions,
    ) -> Result<Vec<Embedding>, EmbedError> {
        let started = Instant::now();
        let texts = tokenized.len();
        let tokens: usize = tokenized.iter().map(TokenizedText::len).sum();
        let result = self.run_batches(tokenized, options);
        match &result {
            // One line per call at debug; never the texts themselves.
            Ok(_) => tracing::debug!(
                model = %self.files.name,
                texts,
                tokens,
                elapsed_us = started.elapsed().as_micros() as u64,
                "embedded"
            ),
            Err(error) => {
                self.metrics.record_failure();
                tracing::debug!(model = %self.files.name, texts, %error, "embedding failed");
            }
        }
        result
    }

    fn run_batches(&self, tokenized: Vec<TokenizedText>, options: &EmbedOptions) -> Result<Vec<Embedding>, EmbedError> {
        if options.batch_size == 0 {
            return Err(EmbedError::Config("batch_size must be at least 1".into()));
        }
        // Longest first: texts of similar length share a batch, so padding stays small.
        let mut order: Vec<usize> = (0..tokenized.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokenized[i].len()));
        let groups: Vec<&[usize]> =
            length_groups(&order, |i| tokenized[i].len(), options.batch_size, self.backend.pads()).collect();
        let workers = self.backend.concurrent_runs().clamp(1, groups.len().max(1));
        let mut results: Vec<Option<Embedding>> = vec![None; tokenized.len()];
        for (index, embedding) in self.run_groups(&groups, &tokenized, options, workers)? {
            results[index] = Some(embedding);
        }
        // Every index is in exactly one group, so every slot is filled.
        results
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| EmbedError::Config("internal error: a text was left without an embedding".into()))
    }

    /// Runs `groups` on `workers` threads at once (the caller's and `workers - 1` scoped
    /// ones; none but the caller's for one worker), each taking the next group in order with
    /// its own buffers; the backend gives each running batch a session of its own. The first
    /// error stops the others after their current batch.
    fn run_groups(
        &self,
        groups: &[&[usize]],
        tokenized: &[TokenizedText],
        options: &EmbedOptions,
        workers: usize,
    ) -> Result<Vec<(usize, Embedding)>, EmbedError> {
        let next = AtomicUsize::new(0);
        let work = || -> Result<Vec<(usize, Embedding)>, EmbedError> {
            let mut batch = PackedTexts::default();
            let mut done = Vec::new();
            while let Some(group) = groups.get(next.fetch_add(1, Ordering::Relaxed)) {
                if let Err(error) =
                    self.run_group(group, tokenized, options, &mut batch, &mut |index, e| done.push((index, e)))
                {
                    next.store(groups.len(), Ordering::Relaxed);
                    return Err(error);
                }
            }
            Ok(done)
        };
        let parts: Vec<Result<Vec<(usize, Embedding)>, EmbedError>> = std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..workers).map(|_| scope.spawn(work)).collect();
            let mut parts = vec![work()];
            for helper in helpers {
                parts.push(
                    helper
                        .join()
                        .unwrap_or_else(|_| Err(EmbedError::Config("internal error: a batch worker panicked".into()))),
                );
            }
            parts
        });
        let mut all = Vec::with_capacity(tokenized.len());
        for part in parts {
            all.extend(part?);
        }
        Ok(all)
    }

    /// Packs one group of texts, runs it, pools and normalizes each text's output, and hands
    /// each text's embedding to `emit` with its index.
    fn run_group(
        &self,
        group: &[usize],
        tokenized: &[TokenizedText],
        options: &EmbedOptions,
        batch: &mut PackedTexts,
        emit: &mut dyn FnMut(usize, Embedding),
    ) -> Result<(), EmbedError> {
        batch.fill(group.iter().map(|&i| &tokenized[i]));
        let infer_started = Instant::now();
        let output = self.backend.run(&TokenBatch {
            ids: &batch.ids,
            type_ids: &batch.type_ids,
            lengths: &batch.lengths,
            pad_id: self.tokenizer.pad_id(),
            pad_to: self.tokenizer.pad_to(),
        })?;
        let infer_elapsed = infer_started.elapsed();
        let pool_started = Instant::now();
        let hidden = output.hidden();
        for (row, &index) in group.iter().enumerate() {
            let mut vector = vec![0.0; hidden];
            match output.kind() {
                OutputKind::TokenEmbeddings => pool_into(self.pooling, output.text(row), hidden, &mut vector),
                OutputKind::Pooled => vector.copy_from_slice(output.text(row)),
            }
            if options.normalize {
                normalize(&mut vector);
            }
            let text = &tokenized[index];
            emit(index, Embedding { vector, tokens: text.len(), truncated: text.truncated });
        }
        let real_tokens = batch.ids.len();
        let longest = batch.lengths.iter().copied().max().unwrap_or(0).max(self.tokenizer.pad_to());
        let computed = if self.backend.pads() { longest * group.len() } else { real_tokens };
        self.metrics.record_batch(group.len(), real_tokens, computed, infer_elapsed, pool_started.elapsed());
        Ok(())
    }
}

/// The token ids of one batch of texts, packed one after the other; reused across batches.
#[derive(Debug, Default)]
struct PackedTexts {
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    lengths: Vec<usize>,
}

impl PackedTexts {
    fn fill<'t>(&mut self, texts: impl Iterator<Item = &'t TokenizedText>) {
        self.ids.clear();
        self.type_ids.clear();
        self.lengths.clear();
        for text in texts {
            self.ids.extend_from_slice(&text.ids);
            self.type_ids.extend_from_slice(&text.type_ids);
            self.lengths.push(text.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::length_groups;

    #[test]
    fn groups_cap_both_size_and_padding() {
        let lengths = [100, 95, 90, 81, 79, 40, 39, 38, 37, 36, 10];
        let order: Vec<usize> = (0..lengths.len()).collect();
        let groups: Vec<&[usize]> = length_groups(&order, |i| lengths[i], 3, true).collect();
        assert_eq!(groups, [&[0, 1, 2][..], &[3, 4], &[5, 6, 7], &[8, 9], &[10]]);
        // Without padding, only the size caps a batch.
        let groups: Vec<&[usize]> = length_groups(&order, |i| lengths[i], 3, false).collect();
        assert_eq!(groups, [&[0, 1, 2][..], &[3, 4, 5], &[6, 7, 8], &[9, 10]]);
    }
}
