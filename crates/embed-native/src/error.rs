//! The one error type of embed-native.

use std::path::PathBuf;

/// Errors from loading a model's files or running it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NativeError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `config.json` does not parse, or describes a model this engine does not run.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong or missing, and what was expected.
        message: String,
    },
    /// The safetensors file is truncated or corrupt.
    #[error("{} is not a valid safetensors file", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the safetensors reader found.
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// A tensor the architecture needs is not in the file.
    #[error("{} has no tensor `{name}`", path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// A tensor has another shape than `config.json` implies.
    #[error("tensor `{name}` of {} has shape {found:?}, expected {expected:?}", path.display())]
    TensorShape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape `config.json` implies.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor's element type is not a float type this engine widens (F32, F16, BF16).
    #[error("tensor `{name}` of {} is {dtype}, expected F32, F16 or BF16", path.display())]
    TensorDtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Its element type.
        dtype: String,
    },
    /// A batch the model cannot take: a token id outside the vocabulary, a sequence longer
    /// than the model's positions, or lengths that do not add up.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// The engine's threads could not be started.
    #[error("cannot start the engine's threads")]
    Threads(#[source] std::io::Error),
}
