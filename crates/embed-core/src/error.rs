//! The one error type of embed-core.

use std::path::PathBuf;

/// Errors from loading a model or embedding text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The model name is not in the manifest, or its variant is unknown or not offered.
    #[error(transparent)]
    Manifest(#[from] embed_manifest::ManifestError),
    /// A manifest model that has not been fetched into the model cache.
    #[error("model `{model}:{variant}` is not in {}; fetch it with `cargo xtask fetch-models --model {model}{}`", dir.display(), if variant == embed_manifest::DEFAULT_VARIANT { String::new() } else { format!(" --variant {variant}") })]
    ModelNotFetched {
        /// The model.
        model: String,
        /// The variant.
        variant: String,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// A model directory that holds a checkpoint but not the ONNX file asked for: no engine
    /// can run it until it is converted.
    #[error("model `{model}` in {} has a checkpoint (model.safetensors) but no {onnx}: embed runs models on ONNX Runtime and cannot convert a checkpoint itself, since that takes Python; convert it in a clone of embed with `cargo xtask convert --from {}`", dir.display(), dir.display())]
    NeedsConversion {
        /// The model.
        model: String,
        /// Its directory.
        dir: PathBuf,
        /// The ONNX file looked for, relative to the directory.
        onnx: String,
    },
    /// A path given as a model is neither a model directory nor an ONNX file.
    #[error("no model at {}: expected a directory holding onnx/model.onnx or model.onnx with tokenizer.json, or a known model name", path.display())]
    NoModelAtPath {
        /// The path given.
        path: PathBuf,
    },
    /// A model configuration file is invalid or asks for something unsupported.
    #[error("invalid model configuration {}: {message}", path.display())]
    ModelConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Tokenization failed.
    #[error(transparent)]
    Tokenize(#[from] embed_tokenize::TokenizeError),
    /// ONNX Runtime failed.
    #[error(transparent)]
    Runtime(#[from] embed_runtime::RuntimeError),
    /// The model registry could not provide the model (budget, load failure).
    #[error(transparent)]
    Pool(#[from] embed_pool::PoolError),
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The model's vectors do not have the width the caller expects.
    #[error("model `{model}` gives {actual}-dimensional embeddings, but its manifest entry says {expected}")]
    DimensionMismatch {
        /// The model.
        model: String,
        /// What the caller expected.
        expected: usize,
        /// What the model gives.
        actual: usize,
    },
    /// A chunking spec (`tokens:200:40`, `sentences`, `paragraphs:300`) that does not parse,
    /// or that the model cannot honour.
    #[error("invalid chunking `{spec}`: {reason}")]
    Chunking {
        /// The spec as given.
        spec: String,
        /// What is wrong, and what was expected.
        reason: String,
    },
    /// A text longer than the model's maximum, when truncation was turned off.
    #[error("input {index} has {tokens} tokens, more than the model's maximum of {max}, and truncation is off")]
    TooLong {
        /// Position of the input.
        index: usize,
        /// Its tokens, special tokens included.
        tokens: usize,
        /// The model's maximum.
        max: usize,
    },
    /// The configured dimension (`EMBEDDING_DIMENSION`) disagrees with the model.
    #[error("EMBEDDING_DIMENSION is {configured}, but model `{model}` gives {actual}-dimensional embeddings")]
    ConfiguredDimension {
        /// The model.
        model: String,
        /// The configured dimension.
        configured: usize,
        /// What the model gives.
        actual: usize,
    },
    /// A prompt name the model does not define.
    #[error("model `{model}` has no prompt `{prompt}`; its prompts: {}", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    UnknownPrompt {
        /// The model.
        model: String,
        /// The prompt asked for.
        prompt: String,
        /// The prompts it has.
        known: Vec<String>,
    },
}
