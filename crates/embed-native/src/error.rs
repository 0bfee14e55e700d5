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
    /// The directory holds neither `model.safetensors` nor `model.safetensors.index.json`.
    #[error("no checkpoint in {}: expected model.safetensors or model.safetensors.index.json", dir.display())]
    NoCheckpoint {
        /// The directory.
        dir: PathBuf,
    },
    /// `model.safetensors.index.json` is not JSON with a `weight_map`.
    #[error("{} is not a checkpoint index: expected JSON with a `weight_map` from tensor names to shard files", path.display())]
    Index {
        /// The index.
        path: PathBuf,
        /// What the JSON reader found.
        #[source]
        source: serde_json::Error,
    },
    /// The index names a shard that is not a plain file name: it has a path separator, is
    /// `..` or `.`, or is empty. Shards are read from the index's directory only.
    #[error("{} names the shard `{shard}`, expected a file name in its directory (no path separator, no `..`)", index.display())]
    ShardName {
        /// The index.
        index: PathBuf,
        /// The name as the index gives it.
        shard: String,
    },
    /// A shard the index names is not in the directory.
    #[error("{} names the shard {}, which is missing", index.display(), shard.display())]
    MissingShard {
        /// The index.
        index: PathBuf,
        /// The shard's path.
        shard: PathBuf,
    },
    /// The index puts a tensor in a shard that does not hold it.
    #[error("{} puts tensor `{name}` in {}, which has no such tensor", index.display(), shard.display())]
    ShardLacksTensor {
        /// The index.
        index: PathBuf,
        /// The shard's path.
        shard: PathBuf,
        /// The tensor's name.
        name: String,
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
    /// A tensor the architecture needs is not in the checkpoint.
    #[error("{} has no tensor `{name}`", path.display())]
    MissingTensor {
        /// `model.safetensors`, or the index of a sharded checkpoint.
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
    /// The forward pass produced NaN or infinity: the checkpoint holds such a weight, or a
    /// value overflowed. Never handed on as a vector.
    #[error(
        "the model produced a non-finite value (NaN or infinity) at token {token} of sequence {sequence}: its weights hold one, or a value overflowed"
    )]
    NonFinite {
        /// The sequence, counted from 0 in the batch.
        sequence: usize,
        /// The token, counted from 0 in its sequence.
        token: usize,
    },
    /// The engine's threads could not be started.
    #[error("cannot start the engine's threads")]
    Threads(#[source] std::io::Error),
}
