//! The inference backends of embed: a packed batch of token ids in, token embeddings (or a
//! pooled output) out.
//!
//! [`Backend`] is the seam. [`OrtBackend`] implements it with ONNX Runtime on the CPU or, on
//! Apple platforms, through CoreML ([`Device`]); [`OnnxRuntime`] finds and loads the ONNX
//! Runtime shared library once per process. [`NativeBackend`] implements it with embed's own
//! engine (`embed-native`), which needs no library at all.
//!
//! This is the only crate that names `ort` types; none appears in its public API. It knows
//! nothing of tokenizers, pooling, the model manifest or where models come from.

mod backend;
mod device;
mod library;
mod native;
mod session;

pub use backend::{Backend, BatchOutput, OutputKind, PaddedBatch, TokenBatch};
pub use device::{CoreMlComputeUnits, CoreMlModelFormat, CoreMlOptions, Device, DeviceInUse};
pub use embed_native::{
    CHECKPOINT_FILES, MODEL_TYPES as NATIVE_MODEL_TYPES, ModelConfig as NativeConfig, NativeError, checkpoint_bytes,
    checkpoint_present, read_config as read_native_config,
};
pub use library::{OnnxRuntime, REQUIRED_ORT_MINOR, find_in_libs_dir, library_file_name};
pub use native::NativeBackend;
pub use session::{ArenaStrategy, GraphOptimization, OrtBackend, SessionOptions};

use std::path::PathBuf;

/// An error of ONNX Runtime (through `ort`), kept as the source of a [`RuntimeError`]: boxed, so
/// that no `ort` type appears in this crate's API (nor in those that re-export its error).
pub type OrtFault = Box<dyn std::error::Error + Send + Sync>;

/// Errors from loading ONNX Runtime, loading a model or running it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No ONNX Runtime library was found. How to install one depends on the application,
    /// which says so.
    #[error("ONNX Runtime library not found (looked in: {})", looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    LibraryNotFound {
        /// The places searched.
        looked: Vec<PathBuf>,
    },
    /// The library exists but cannot be loaded or is a version `ort` cannot drive.
    #[error("cannot use ONNX Runtime library {}: {message}", path.display())]
    LibraryUnusable {
        /// The library file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A second, different library was asked for after one was loaded.
    #[error("ONNX Runtime is already loaded from {}; cannot also load {}", loaded.display(), requested.display())]
    LibraryConflict {
        /// The library in use.
        loaded: PathBuf,
        /// The library asked for.
        requested: PathBuf,
    },
    /// The model file is missing.
    #[error("model file not found: {}", path.display())]
    ModelNotFound {
        /// The path given.
        path: PathBuf,
    },
    /// ONNX Runtime rejected the model file.
    #[error("cannot load model {}", path.display())]
    ModelLoad {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's error.
        #[source]
        source: OrtFault,
    },
    /// The model's inputs or outputs are not those of a sentence-embedding transformer.
    #[error("model {} is not a supported embedding model: {message}", path.display())]
    UnsupportedModel {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An option ONNX Runtime rejected, or one that contradicts another.
    #[error("invalid runtime option: {message}")]
    InvalidOption {
        /// What is wrong.
        message: String,
        /// ONNX Runtime's error, where it gave one.
        #[source]
        source: Option<OrtFault>,
    },
    /// The requested device cannot run here.
    #[error("{device} is not available: {reason}")]
    DeviceUnavailable {
        /// The device asked for.
        device: String,
        /// Why.
        reason: String,
    },
    /// The batch given does not match its stated shape.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// ONNX Runtime failed while running the model.
    #[error("inference failed")]
    Inference(#[source] OrtFault),
    /// The native engine could not load or run the model.
    #[error(transparent)]
    Native(#[from] embed_native::NativeError),
}

/// Returns freed heap memory to the operating system where the allocator keeps it (glibc does:
/// a process that loads and drops models would otherwise see its resident memory only grow).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
