//! One embedding model: its tokenizer, its backend, what runs after the transformer (pooling,
//! Dense layers, normalization), its prompts, and the pipeline that turns texts into vectors
//! (prompt, tokenize, group by length, run, pool, Dense, normalize).
//!
//! This file decides nothing about where models come from beyond resolving a name or a path
//! into files; fetching belongs elsewhere, reading sentence-transformers' files to
//! `sentence_transformers.rs`, choosing the engine to `engine.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use embed_manifest::{DEFAULT_VARIANT, Manifest, Pooling};
use embed_runtime::{Backend, OutputKind, TokenBatch};
use embed_tokenize::{TokenizedText, Tokenizer, TokenizerOptions, TruncationSide};

use crate::EmbedError;
use crate::dense::DenseLayer;
use crate::engine::{BackendChoice, EngineOptions, OrtLoader, has_checkpoint, load_backend};
use crate::metrics::Metrics;
use crate::pooling::{normalize, pool_into};
use crate::sentence_transformers::{Head, Prompts, read_head_or, read_prompts};

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
    /// Named prompts from the manifest, used where the model's own files define none.
    pub prompts: BTreeMap<String, String>,
    /// Dimension the manifest states.
    pub dimension: Option<usize>,
    /// Pooling the manifest states, used when the directory has neither `modules.json` nor
    /// `1_Pooling/config.json`.
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
        let checkpoint = resolved.variant == DEFAULT_VARIANT && has_checkpoint(&dir);
        let fetched = match choice {
            BackendChoice::Onnx => onnx.is_file(),
            BackendChoice::Native => checkpoint,
            BackendChoice::Auto => onnx.is_file() || checkpoint,
        };
        if !fetched {
            // A checkpoint where an ONNX file is needed: converting it is the cure, not fetching.
            if has_checkpoint(&dir) && (choice == BackendChoice::Onnx || resolved.variant != DEFAULT_VARIANT) {
                return Err(EmbedError::NeedsConversion {
                    model: resolved.display_name(),
                    dir,
                    onnx: resolved.onnx_file.clone(),
                });
            }
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
            variant: DEFAULT_VARIANT.to_string(),
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
    head: Head,
    dense: Vec<DenseLayer>,
    prompts: Prompts,
    dimension: usize,
    metrics: std::sync::Arc<Metrics>,
}

impl std::fmt::Debug for EmbeddingModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingModel")
            .field("files", &self.files)
            .field("head", &self.head)
            .field("prompts", &self.prompts)
            .field("dimension", &self.dimension)
            .finish_non_exhaustive()
    }
}

impl EmbeddingModel {
    /// Loads a model into the engine `options` choose.
    pub(crate) fn load(files: ModelFiles, options: &LoadOptions, ort: &OrtLoader) -> Result<Self, EmbedError> {
        let tokenizer_dir = options.tokenizer_dir.as_deref().unwrap_or(&files.dir);
        let tokenizer = Tokenizer::from_dir(tokenizer_dir, &options.tokenizer)?;
        let backend = load_backend(&files, &options.engine, ort)?;
        Self::from_parts(files, tokenizer, backend)
    }

    /// Builds a model from its tokenizer and backend (any engine), reading what runs after the
    /// transformer and the prompts from the model's directory: `modules.json` and its modules'
    /// configs (else `1_Pooling/config.json`, else the manifest's pooling) and
    /// `config_sentence_transformers.json` (else the manifest's prompts).
    pub(crate) fn from_parts(
        files: ModelFiles,
        tokenizer: Tokenizer,
        backend: Box<dyn Backend>,
    ) -> Result<Self, EmbedError> {
        let head = read_head_or(&files.dir, files.pooling)?;
        let prompts = read_prompts(&files.dir)?.or_manifest(&files.prompts);
        let dense = head.dense.iter().map(DenseLayer::load).collect::<Result<Vec<_>, _>>()?;
        let hidden = backend.hidden_size();
        if let (Some(hidden), Some(stated), Some(config)) = (hidden, head.pooling.width, &head.pooling.config)
            && hidden != stated
        {
            return Err(EmbedError::ModelConfig {
                path: config.clone(),
                message: format!(
                    "the embedding dimension is {stated}, but the model's token embeddings are {hidden} wide"
                ),
            });
        }
        // The width of the vector after pooling, then after each Dense layer.
        let mut width = hidden.or(head.pooling.width);
        for (layer, spec) in dense.iter().zip(&head.dense) {
            if let Some(before) = width
                && before != layer.in_features()
            {
                return Err(EmbedError::ModelConfig {
                    path: spec.dir.join("config.json"),
                    message: format!(
                        "in_features is {}, but the vector before it is {before} wide",
                        layer.in_features()
                    ),
                });
            }
            width = Some(layer.out_features());
        }
        let dimension = match (width, files.dimension) {
            (Some(actual), Some(expected)) if actual != expected => {
                return Err(EmbedError::DimensionMismatch { model: files.name.clone(), expected, actual });
            }
            (Some(width), _) | (None, Some(width)) => width,
            (None, None) => 0,
        };
        Ok(Self { files, tokenizer, backend, head, dense, prompts, dimension, metrics: Default::default() })
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
        self.head.pooling.mode
    }

    /// The model's prompts: its own files' (`config_sentence_transformers.json`), else the
    /// manifest's.
    pub fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    /// The text a call's prompt puts before each input: the prompt named (an error when the
    /// model has no such prompt), else the model's default prompt; `None` when no prompt, or
    /// an empty one, applies.
    pub fn prompt_text(&self, name: Option<&str>) -> Result<Option<&str>, EmbedError> {
        let Some(name) = name.or(self.prompts.default_name.as_deref()) else {
            return Ok(None);
        };
        match self.prompts.prompts.get(name) {
            Some(text) => Ok(Some(text.as_str()).filter(|text| !text.is_empty())),
            None => Err(EmbedError::UnknownPrompt {
                model: self.files.name.clone(),
                prompt: name.to_string(),
                known: self.prompts.prompts.keys().cloned().collect(),
            }),
        }
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
        let prompt = self.prompt_text(options.prompt.as_deref())?;
        let tokenized = match prompt {
            None => self.tokenizer.tokenize_with(texts, options.truncation)?,
            Some(prompt) => {
                let prompted: Vec<String> = texts.iter().map(|t| format!("{prompt}{}", t.as_ref())).collect();
                self.tokenizer.tokenize_with(&prompted, options.truncation)?
            }
        };
        self.metrics.record_tokenize(texts.len(), started.elapsed());
        if !options.truncate
            && let Some(index) = tokenized.iter().position(|t| t.truncated)
        {
            let text = texts[index].as_ref();
            let tokens = match prompt {
                None => self.tokenizer.count_tokens(text)?,
                Some(prompt) => self.tokenizer.count_tokens(&format!("{prompt}{text}"))?,
            };
            return Err(EmbedError::TooLong { index, tokens, max: self.tokenizer.max_length() });
        }
        // sentence-transformers leaves the prompt's tokens out of pooling when the Pooling
        // module says `include_prompt: false`.
        let prompt_tokens = match prompt {
            Some(prompt) if !self.head.pooling.include_prompt => self.tokenizer.prompt_tokens(prompt)?,
            _ => 0,
        };
        self.embed_tokenized(tokenized, options, prompt_tokens)
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
        self.embed_tokenized(tokenized, options, 0)
    }

    /// Runs tokenized texts through the model: groups them by length, runs each batch,
    /// pools (leaving out the first `prompt_tokens` positions), applies the Dense layers and
    /// normalizes, and puts each vector back at its text's index.
    fn embed_tokenized(
        &self,
        tokenized: Vec<TokenizedText>,
        options: &EmbedOptions,
        prompt_tokens: usize,
    ) -> Result<Vec<Embedding>, EmbedError> {
        let started = Instant::now();
        let texts = tokenized.len();
        let tokens: usize = tokenized.iter().map(TokenizedText::len).sum();
        let result = self.run_batches(tokenized, options, prompt_tokens);
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

    fn run_batches(
        &self,
        tokenized: Vec<TokenizedText>,
        options: &EmbedOptions,
        prompt_tokens: usize,
    ) -> Result<Vec<Embedding>, EmbedError> {
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
        for (index, embedding) in self.run_groups(&groups, &tokenized, options, prompt_tokens, workers)? {
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
        prompt_tokens: usize,
        workers: usize,
    ) -> Result<Vec<(usize, Embedding)>, EmbedError> {
        let next = AtomicUsize::new(0);
        let work = || -> Result<Vec<(usize, Embedding)>, EmbedError> {
            let mut batch = PackedTexts::default();
            let mut done = Vec::new();
            while let Some(group) = groups.get(next.fetch_add(1, Ordering::Relaxed)) {
                let mut emit = |index, embedding| done.push((index, embedding));
                if let Err(error) = self.run_group(group, tokenized, options, prompt_tokens, &mut batch, &mut emit) {
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

    /// Packs one group of texts, runs it, pools (leaving out the first `prompt_tokens`
    /// positions), applies the Dense layers and normalizes each text's output, and hands each
    /// text's embedding to `emit` with its index.
    fn run_group(
        &self,
        group: &[usize],
        tokenized: &[TokenizedText],
        options: &EmbedOptions,
        prompt_tokens: usize,
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
        if output.kind() == OutputKind::Pooled && (!self.dense.is_empty() || prompt_tokens > 0) {
            let message = "the file outputs pooled sentence embeddings (`sentence_embedding`), so embed cannot \
                           apply the model's Dense modules or leave its prompt out of pooling; expected the \
                           transformer alone (`last_hidden_state`), as `cargo xtask convert` exports it";
            return Err(EmbedError::ModelConfig { path: self.files.onnx.clone(), message: message.into() });
        }
        let pool_started = Instant::now();
        let hidden = output.hidden();
        for (row, &index) in group.iter().enumerate() {
            let mut vector = vec![0.0; hidden];
            match output.kind() {
                OutputKind::TokenEmbeddings => {
                    pool_into(self.head.pooling.mode, output.text(row), hidden, prompt_tokens, &mut vector);
                }
                OutputKind::Pooled => vector.copy_from_slice(output.text(row)),
            }
            for layer in &self.dense {
                if vector.len() != layer.in_features() {
                    return Err(EmbedError::ModelConfig {
                        path: self.files.onnx.clone(),
                        message: format!(
                            "the pooled vector is {} wide, but the Dense module after it takes {}",
                            vector.len(),
                            layer.in_features()
                        ),
                    });
                }
                vector = layer.apply(&vector);
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
    use embed_runtime::{BatchOutput, DeviceInUse, RuntimeError};

    use super::*;

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

    /// A backend that answers pooled vectors, as an ONNX export with a `sentence_embedding`
    /// output does (stands in for such a file: whether it applied the Dense layer is unknowable).
    struct PooledBackend;

    impl Backend for PooledBackend {
        fn run(&self, batch: &TokenBatch<'_>) -> Result<BatchOutput, RuntimeError> {
            Ok(BatchOutput::pooled(vec![0.5; batch.texts() * 32], 32, batch.texts()))
        }

        fn hidden_size(&self) -> Option<usize> {
            Some(32)
        }

        fn device(&self) -> &DeviceInUse {
            &DeviceInUse::Cpu
        }

        fn engine(&self) -> String {
            "pooled stand-in".into()
        }

        fn pads(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_pooled_output_with_a_dense_module_is_refused() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/architectures/bert-cls-dense");
        let files = ModelFiles::from_path(&dir).unwrap();
        let tokenizer = Tokenizer::from_dir(&dir, &TokenizerOptions::default()).unwrap();
        let model = EmbeddingModel::from_parts(files, tokenizer, Box::new(PooledBackend)).unwrap();
        let err = model.embed(&["a text"], &EmbedOptions::default()).unwrap_err().to_string();
        assert!(
            err.contains("the file outputs pooled sentence embeddings (`sentence_embedding`), so embed cannot apply the model's Dense modules"),
            "{err}"
        );
    }
}
