//! The one error type of embed-core. Every variant says what was expected and what was found,
//! and keeps its cause as a source; internal faults have variants of their own. No message
//! names a command or an environment variable: the binaries add that advice.

use std::path::PathBuf;

/// Errors from loading a model or embedding text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The model name is not in the manifest, or its variant is unknown or not offered.
    #[error(transparent)]
    Manifest(#[from] embed_manifest::ManifestError),
    /// A manifest model that has not been fetched into the model cache. How to fetch it
    /// depends on the application, which says so.
    #[error("model `{model}:{variant}` is not in {}", dir.display())]
    ModelNotFetched {
        /// The model.
        model: String,
        /// The variant.
        variant: String,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// A name that is no model of the manifest, no directory or ONNX file that exists, and no
    /// hub id.
    #[error("unknown model `{given}`: not a model embed knows ({}), and not a directory or ONNX file", known.join(", "))]
    UnknownModel {
        /// The name given.
        given: String,
        /// The manifest's models.
        known: Vec<String>,
        /// Why it is no hub id either.
        #[source]
        not_a_hub_id: embed_manifest::HubIdError,
    },
    /// A hub model that the Hugging Face cache does not hold (or not the files the engine asked
    /// for runs). How to fetch it depends on the application, which says so.
    #[error("hub model `{model}` is not in the Hugging Face cache at {}, or lacks what the `{engine}` engine choice runs (tokenizer.json, and a checkpoint or onnx/model.onnx)", cache.display())]
    HubModelNotCached {
        /// The hub id as given.
        model: String,
        /// The cache looked in.
        cache: PathBuf,
        /// The engine choice (`auto`, `native`, `onnx`).
        engine: &'static str,
    },
    /// A model directory that holds a checkpoint but not the ONNX file asked for: no engine
    /// can run it until it is converted.
    #[error("model `{model}` in {} has a checkpoint (model.safetensors) but no {onnx} for ONNX Runtime: expected an ONNX file converted from the checkpoint, which takes Python (the native engine runs the checkpoint's fp32 variant itself)", dir.display())]
    NeedsConversion {
        /// The model.
        model: String,
        /// Its directory.
        dir: PathBuf,
        /// The ONNX file looked for, relative to the directory.
        onnx: String,
    },
    /// An ONNX file that embed's conversion made by another recipe than this build's (an older
    /// conversion script, other quantization settings or packages): its vectors are not what
    /// this build promises, so it is refused rather than used.
    #[error("{} of model `{model}` was made by another conversion recipe ({}) than this build's ({}): its vectors may differ from what this build promises, so it is not used", onnx.display(), recorded.as_deref().map_or_else(|| "none recorded".to_string(), embed_manifest::short_recipe), embed_manifest::short_recipe(current))]
    MadeByAnotherRecipe {
        /// The model.
        model: String,
        /// The ONNX file.
        onnx: PathBuf,
        /// The recipe its conversion record names, if any.
        recorded: Option<String>,
        /// This build's recipe.
        current: String,
    },
    /// A path given as a model is neither a model directory nor an ONNX file.
    #[error("no model at {}: expected a directory holding model.safetensors, onnx/model.onnx or model.onnx with tokenizer.json, or a known model name", path.display())]
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
    /// A configuration value is out of range.
    #[error("invalid setting `{setting}`: expected {expected}, found {found}")]
    InvalidSetting {
        /// The setting.
        setting: &'static str,
        /// What it takes.
        expected: String,
        /// What it was given.
        found: String,
    },
    /// Prepared inputs of different models or options, given to one run.
    #[error("prepared inputs of different models or options cannot run together: expected {expected}, found {found}")]
    MixedRun {
        /// The first input's model and options.
        expected: String,
        /// Another input's.
        found: String,
    },
    /// A thread the work needs could not be started.
    #[error("cannot start the {name} thread")]
    ThreadStart {
        /// The thread's name.
        name: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Internal fault: the work panicked. The panic's message is on stderr.
    #[error("internal error: {during} panicked")]
    Panicked {
        /// What was running.
        during: &'static str,
    },
    /// Internal fault: a run gave fewer embeddings than it had inputs.
    #[error("internal error: expected {inputs} embeddings, found {embeddings}")]
    LostEmbeddings {
        /// Inputs run.
        inputs: usize,
        /// Embeddings found.
        embeddings: usize,
    },
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
    /// The configured dimension ([`crate::Config::embedding_dimension`]) disagrees with the model.
    #[error(
        "the configured embedding dimension is {configured}, but model `{model}` gives {actual}-dimensional embeddings"
    )]
    ConfiguredDimension {
        /// The model.
        model: String,
        /// The configured dimension.
        configured: usize,
        /// What the model gives.
        actual: usize,
    },
    /// A backend name that is not one of `auto`, `native`, `onnx`.
    #[error("unknown backend `{given}`; expected one of: auto, native, onnx")]
    UnknownBackend {
        /// The name given.
        given: String,
    },
    /// The native engine was asked for (or is the only engine the files allow) but cannot run
    /// the model.
    #[error("the native engine cannot run model `{model}`: {reason}")]
    NativeUnsupported {
        /// The model.
        model: String,
        /// What is missing or unsupported.
        reason: String,
        /// The engine's own error, where it gave one.
        #[source]
        source: Option<Box<embed_runtime::RuntimeError>>,
    },
    /// ONNX Runtime was asked for but the model has no ONNX file for its variant.
    #[error("model `{model}` has no ONNX file {} for ONNX Runtime to run", path.display())]
    OnnxFileMissing {
        /// The model.
        model: String,
        /// The file looked for.
        path: PathBuf,
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

impl EmbedError {
    /// The error a model's load failed with, when this is a failed load (the model registry
    /// keeps it shared between the callers that waited for it); else this error.
    pub fn cause(&self) -> &EmbedError {
        match self {
            EmbedError::Pool(embed_pool::PoolError::Load { source, .. }) => {
                source.downcast_ref::<EmbedError>().map_or(self, EmbedError::cause)
            }
            _ => self,
        }
    }
}
