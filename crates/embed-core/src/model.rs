//! One loaded embedding model: its tokenizer, its backend (either engine), what runs after
//! the transformer (pooling, Dense layers, normalization) and its prompts, read from the
//! model's directory when it loads.
//!
//! The two steps of embedding on a model live beside it: making inputs ready (`prepare.rs`)
//! and running ready inputs (`run.rs`). This file decides nothing about where models come
//! from (`files.rs` resolves names, `engine.rs` picks the engine), nor how inputs are batched
//! (`batching.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use embed_manifest::Pooling;
use embed_runtime::Backend;
use embed_tokenize::{Token, Tokenizer, TokenizerOptions, TruncationSide};

use crate::EmbedError;
use crate::dense::DenseLayer;
use crate::engine::{EngineOptions, OrtLoader, load_backend};
use crate::files::ModelFiles;
use crate::metrics::Metrics;
use crate::sentence_transformers::{Head, Prompts, read_head_or, read_prompts};

/// Options that shape how a model is loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LoadOptions {
    /// Tokenization options.
    pub tokenizer: TokenizerOptions,
    /// A directory holding `tokenizer.json` other than the model's own.
    pub tokenizer_dir: Option<PathBuf>,
    /// Which engine runs the model, and its options.
    pub engine: EngineOptions,
}

/// Per-call options of embedding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedOptions {
    /// Scale each vector to unit length (default on).
    pub normalize: bool,
    /// A named prompt of the model (`query`, `passage`) put before each text.
    pub prompt: Option<String>,
    /// Which end of a too-long text to cut; `None` keeps the service's setting.
    pub truncation: Option<TruncationSide>,
    /// Cut texts longer than the model's maximum (default); when off, such a text is an
    /// error ([`EmbedError::TooLong`]).
    pub truncate: bool,
    /// One pooled vector per text (default), or every token's vector.
    pub output: Output,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self { normalize: true, prompt: None, truncation: None, truncate: true, output: Output::Pooled }
    }
}

/// What embedding a text gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// One vector: the token embeddings pooled, through the Dense layers, normalized where
    /// asked (sentence-transformers' sentence embedding).
    #[default]
    Pooled,
    /// Every token's vector as the transformer outputs it, special and prompt tokens
    /// included: no pooling, no Dense layer, no normalization. Never cached.
    Tokens,
}

/// One text's embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The vector; with [`Output::Tokens`], every token's vector one after the other (`tokens`
    /// rows, [`Embedding::token_rows`]).
    pub vector: Vec<f32>,
    /// Tokens the model saw, special tokens included (after truncation).
    pub tokens: usize,
    /// Whether the text was cut to the model's maximum length.
    pub truncated: bool,
}

impl Embedding {
    /// The rows of an [`Output::Tokens`] embedding, one per token (one row, the vector, for a
    /// pooled one of one token).
    pub fn token_rows(&self) -> std::slice::Chunks<'_, f32> {
        let width = self.vector.len() / self.tokens.max(1);
        self.vector.chunks(width.max(1))
    }
}

/// A loaded embedding model. Shared between threads; a service hands it out behind a
/// [`crate::Handle`].
pub struct EmbeddingModel {
    pub(crate) files: ModelFiles,
    pub(crate) tokenizer: Tokenizer,
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) head: Head,
    pub(crate) dense: Vec<DenseLayer>,
    prompts: Prompts,
    dimension: usize,
    pub(crate) metrics: Arc<Metrics>,
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

/// What a model's directory says runs after the transformer, and its prompts.
struct AfterTransformer {
    head: Head,
    prompts: Prompts,
    dense: Vec<DenseLayer>,
}

impl AfterTransformer {
    /// Reads `modules.json` and its modules' configs (else `1_Pooling/config.json`, else the
    /// manifest's pooling), the Dense layers' weights, and `config_sentence_transformers.json`
    /// (else the manifest's prompts).
    fn read(files: &ModelFiles) -> Result<Self, EmbedError> {
        let head = read_head_or(&files.dir, files.pooling)?;
        let prompts = read_prompts(&files.dir)?.or_manifest(&files.prompts);
        let dense = head.dense.iter().map(DenseLayer::load).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { head, prompts, dense })
    }
}

impl EmbeddingModel {
    /// Loads a model into the engine `options` choose, recording its work into `metrics`.
    pub(crate) fn load(
        files: ModelFiles,
        options: &LoadOptions,
        ort: &OrtLoader,
        metrics: Arc<Metrics>,
    ) -> Result<Self, EmbedError> {
        let tokenizer_dir = options.tokenizer_dir.as_deref().unwrap_or(&files.dir);
        let tokenizer = Tokenizer::from_dir(tokenizer_dir, &options.tokenizer)?;
        // What runs after the transformer is read and checked before the engine loads the
        // weights: a broken configuration fails without loading (and dropping) an engine.
        let after = AfterTransformer::read(&files)?;
        let backend = load_backend(&files, &options.engine, ort)?;
        let mut model = Self::assemble(files, tokenizer, backend, after)?;
        model.metrics = metrics;
        Ok(model)
    }

    /// Builds a model from its tokenizer and backend (any engine), reading what runs after the
    /// transformer and the prompts from the model's directory: `modules.json` and its modules'
    /// configs (else `1_Pooling/config.json`, else the manifest's pooling) and
    /// `config_sentence_transformers.json` (else the manifest's prompts).
    #[cfg(test)]
    pub(crate) fn from_parts(
        files: ModelFiles,
        tokenizer: Tokenizer,
        backend: Box<dyn Backend>,
    ) -> Result<Self, EmbedError> {
        let after = AfterTransformer::read(&files)?;
        Self::assemble(files, tokenizer, backend, after)
    }

    /// Puts a model together, checking that the engine's output, the pooling, the Dense
    /// layers and the manifest agree on the widths.
    fn assemble(
        files: ModelFiles,
        tokenizer: Tokenizer,
        backend: Box<dyn Backend>,
        after: AfterTransformer,
    ) -> Result<Self, EmbedError> {
        let AfterTransformer { head, prompts, dense } = after;
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
        Ok(Self { files, tokenizer, backend, head, dense, prompts, dimension, metrics: Arc::default() })
    }

    /// The model's name: `name:variant` for manifest models, the path otherwise.
    pub fn name(&self) -> &str {
        &self.files.name
    }

    /// Where the model's files are.
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// Width of the embeddings (0 when neither the model nor the manifest states it).
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Most tokens of one input, special tokens included: longer inputs are cut or refused.
    pub fn max_tokens(&self) -> usize {
        self.tokenizer.max_length()
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

    /// The tokens of `text` as the model sees it, without truncation: the prompt named (else
    /// the model's default prompt) put before it, and the model's special tokens where
    /// `add_special_tokens` says. Gives the prompted text (whose bytes the tokens' offsets
    /// index) and its tokens.
    pub fn tokens(
        &self,
        text: &str,
        prompt: Option<&str>,
        add_special_tokens: bool,
    ) -> Result<(String, Vec<Token>), EmbedError> {
        let prompted = match self.prompt_text(prompt)? {
            Some(prompt) => format!("{prompt}{text}"),
            None => text.to_string(),
        };
        let tokens = self.tokenizer.tokens(&prompted, add_special_tokens)?;
        Ok((prompted, tokens))
    }

    /// Token ids of the model's vocabulary turned back into text, one string per list, special
    /// tokens left out where `skip_special_tokens` says. An id outside the vocabulary is an
    /// error.
    pub fn decode(&self, ids: &[Vec<u32>], skip_special_tokens: bool) -> Result<Vec<String>, EmbedError> {
        Ok(self.tokenizer.decode(ids, skip_special_tokens)?)
    }

    /// The number type the model computes in: `int8` for the int8 variant, else `float32`
    /// (both engines widen F16 and BF16 weights).
    pub fn dtype(&self) -> &'static str {
        if self.files.variant == "int8" { "int8" } else { "float32" }
    }

    /// Where the model runs.
    pub fn device(&self) -> &crate::DeviceInUse {
        self.backend.device()
    }

    /// The engine that runs it (`native avx512`, `onnxruntime 1.31.1`).
    pub fn engine(&self) -> String {
        self.backend.engine()
    }

    /// Whether its engine computes padded positions (ONNX Runtime does, the native engine
    /// does not): the batching policy caps padding only where it does.
    pub fn pads(&self) -> bool {
        self.backend.pads()
    }

    /// Inference calls its engine runs side by side, each on a thread of the caller's: the
    /// native engine's threads, ONNX Runtime's sessions.
    pub fn concurrent_runs(&self) -> usize {
        self.backend.concurrent_runs().max(1)
    }
}
