//! Where a model's files are: a manifest name (with its variant) resolved in the model cache,
//! or a directory or ONNX file given by path, with what the manifest says of the model.
//!
//! It looks at files only; it reads no model and knows nothing of how one runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use embed_manifest::{DEFAULT_VARIANT, Manifest, Pooling};

use crate::EmbedError;
use crate::engine::{BackendChoice, has_checkpoint};

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
