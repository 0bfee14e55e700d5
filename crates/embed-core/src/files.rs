//! Where a model's files are, and what of them is missing: the one place a model's name
//! becomes files on disk ([`Resolver`]).
//!
//! A model is named by a manifest name with an optional variant (`all-MiniLM-L6-v2:int8`,
//! always under the model cache: a directory of the same name elsewhere is never read), by a
//! directory or `.onnx` file that exists, or by a hub id (`org/name[@revision]`, found in the
//! Hugging Face cache as huggingface_hub lays it out). [`Resolver::resolve`] finds the files
//! the chosen engine runs; [`Resolver::need`] says what is missing of them, as plain data that
//! embed-fetch fetches. A model directory without `modules.json` or a Pooling configuration
//! (a plain transformers checkpoint) gets mean pooling, with a warning, as sentence-transformers
//! gives it.
//!
//! It looks at files and reads `config.json` at most; it knows nothing of how a model runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use embed_manifest::{
    DEFAULT_VARIANT, HubCache, HubId, Manifest, ManifestError, ModelNeed, ModelSource, Pooling, ResolvedModel,
    WeightsNeed,
};

use crate::EmbedError;
use crate::config::{BackendChoice, Config};

/// The ONNX file a hub repository holds for ONNX Runtime, as optimum and sentence-transformers
/// export it.
pub(crate) const HUB_ONNX_FILE: &str = "onnx/model.onnx";

/// Where a model's files are, and what the manifest says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The display name: `name:variant` for manifest models, the hub id as given, or the path.
    pub name: String,
    /// The directory holding `tokenizer.json` and the sentence-transformers configs.
    pub dir: PathBuf,
    /// The variant (`fp32` for a hub id or a directory or file given by path).
    pub variant: String,
    /// The variant's ONNX file, where ONNX Runtime would load it (it may be absent when the
    /// native engine runs the model from its checkpoint).
    pub onnx: PathBuf,
    /// Named prompts from the manifest, used where the model's own files define none.
    pub prompts: BTreeMap<String, String>,
    /// Dimension the manifest states.
    pub dimension: Option<usize>,
    /// Pooling used when the directory has neither `modules.json` nor `1_Pooling/config.json`:
    /// the manifest's, else mean pooling (with a warning when the model loads).
    pub pooling: Option<Pooling>,
    /// The commit: pinned by the manifest, or the hub commit a hub id resolved to.
    pub revision: Option<String>,
}

/// How a model is named.
enum Named<'a> {
    Manifest(ResolvedModel<'a>),
    Hub(HubId),
    Path(&'a Path),
}

/// Turns model names into files: the manifest, the two caches, and the engine asked for.
#[derive(Debug, Clone)]
pub(crate) struct Resolver {
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) model_cache_dir: PathBuf,
    pub(crate) hub_cache: Option<HubCache>,
    pub(crate) choice: BackendChoice,
}

impl Resolver {
    /// The resolver of `config`, for `manifest`.
    pub(crate) fn new(config: &Config, manifest: Manifest) -> Self {
        Self {
            manifest: Arc::new(manifest),
            model_cache_dir: config.model_cache_dir.clone(),
            hub_cache: config.hub_cache_dir.clone().map(HubCache::new),
            choice: config.backend,
        }
    }

    /// What `spec` names: a manifest model, else an existing directory or `.onnx` file, else a
    /// hub id; an error saying why it is none of them.
    fn name<'a>(&'a self, spec: &'a str) -> Result<Named<'a>, EmbedError> {
        let unknown = match self.manifest.resolve(spec) {
            Ok(resolved) => return Ok(Named::Manifest(resolved)),
            Err(unknown @ ManifestError::UnknownModel { .. }) => unknown,
            Err(other) => return Err(other.into()),
        };
        let as_path = Path::new(spec);
        if as_path.is_dir() || (as_path.is_file() && as_path.extension().is_some_and(|e| e == "onnx")) {
            return Ok(Named::Path(as_path));
        }
        if !spec.contains('/') && !spec.contains('\\') {
            return Err(unknown.into());
        }
        HubId::parse(spec).map(Named::Hub).map_err(|not_a_hub_id| EmbedError::UnknownModel {
            given: spec.to_string(),
            known: self.manifest.names().map(str::to_string).collect(),
            not_a_hub_id,
        })
    }

    /// The files of `spec` that the engine asked for runs. A manifest model must hold what
    /// that engine runs, and a hub id must have been fetched into the Hugging Face cache.
    pub(crate) fn resolve(&self, spec: &str) -> Result<ModelFiles, EmbedError> {
        match self.name(spec)? {
            Named::Manifest(resolved) => self.manifest_files(&resolved),
            Named::Path(path) => ModelFiles::from_path(path),
            Named::Hub(id) => self.hub_files(&id),
        }
    }

    /// What `spec` lacks on disk for the engine asked for, or `None` when nothing is missing or
    /// nothing can be fetched for it (a directory given by path; a manifest model whose
    /// checkpoint is there but must be converted: loading it says so).
    pub(crate) fn need(&self, spec: &str) -> Result<Option<ModelNeed>, EmbedError> {
        let error = match self.resolve(spec) {
            Ok(_) => return Ok(None),
            Err(error) => error,
        };
        Ok(match (self.name(spec)?, error) {
            (Named::Manifest(resolved), EmbedError::ModelNotFetched { dir, .. }) => Some(ModelNeed {
                name: resolved.display_name(),
                weights: if self.choice != BackendChoice::Onnx && resolved.variant == DEFAULT_VARIANT {
                    WeightsNeed::Checkpoint
                } else {
                    WeightsNeed::Onnx(resolved.onnx_file.clone())
                },
                source: ModelSource::Manifest { model: resolved.model.clone(), variant: resolved.variant.clone(), dir },
            }),
            (Named::Hub(id), EmbedError::HubModelNotCached { .. }) => {
                let cache = self.hub_cache.clone().ok_or_else(|| no_hub_cache(&id))?;
                let weights = match self.choice {
                    BackendChoice::Native => WeightsNeed::Checkpoint,
                    BackendChoice::Onnx => WeightsNeed::Onnx(HUB_ONNX_FILE.to_string()),
                    BackendChoice::Auto => match cache.snapshot(&id).filter(|dir| dir.join("config.json").is_file()) {
                        Some(dir) if embed_runtime::read_native_config(&dir).is_ok() => WeightsNeed::Checkpoint,
                        Some(_) => WeightsNeed::Onnx(HUB_ONNX_FILE.to_string()),
                        None => WeightsNeed::ByArchitecture {
                            native_model_types: embed_runtime::NATIVE_MODEL_TYPES
                                .iter()
                                .map(|t| t.to_string())
                                .collect(),
                            onnx: HUB_ONNX_FILE.to_string(),
                        },
                    },
                };
                Some(ModelNeed { name: id.to_string(), source: ModelSource::Hub { id, cache }, weights })
            }
            _ => None,
        })
    }

    fn manifest_files(&self, resolved: &ResolvedModel<'_>) -> Result<ModelFiles, EmbedError> {
        let dir = resolved.dir(&self.model_cache_dir);
        let onnx = resolved.onnx_path(&self.model_cache_dir);
        let checkpoint = resolved.variant == DEFAULT_VARIANT && has_checkpoint(&dir);
        let fetched = match self.choice {
            BackendChoice::Onnx => onnx.is_file(),
            BackendChoice::Native => checkpoint,
            BackendChoice::Auto => onnx.is_file() || checkpoint,
        };
        if !fetched {
            // A checkpoint where an ONNX file is needed: converting it is the cure, not fetching.
            if has_checkpoint(&dir) && (self.choice == BackendChoice::Onnx || resolved.variant != DEFAULT_VARIANT) {
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
        Ok(ModelFiles {
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

    fn hub_files(&self, id: &HubId) -> Result<ModelFiles, EmbedError> {
        let cache = self.hub_cache.as_ref().ok_or_else(|| no_hub_cache(id))?;
        let not_cached = || EmbedError::HubModelNotCached {
            model: id.to_string(),
            cache: cache.root().to_path_buf(),
            engine: self.choice.name(),
        };
        let commit = cache.commit(id).ok_or_else(not_cached)?;
        let dir = cache.snapshot_dir(&id.repo, &commit);
        let onnx = dir.join(HUB_ONNX_FILE);
        let checkpoint = has_checkpoint(&dir);
        let runnable = dir.join("tokenizer.json").is_file()
            && match self.choice {
                BackendChoice::Native => checkpoint,
                BackendChoice::Onnx => onnx.is_file(),
                BackendChoice::Auto => {
                    (checkpoint && embed_runtime::read_native_config(&dir).is_ok()) || onnx.is_file()
                }
            };
        if !runnable {
            return Err(not_cached());
        }
        Ok(ModelFiles::unlisted(id.to_string(), dir, onnx, Some(commit)))
    }
}

/// Where the files of `config`'s model are, for the engine it asks for: an error when they are
/// missing ([`crate::needs`] says what to fetch).
pub fn model_files(config: &Config) -> Result<ModelFiles, EmbedError> {
    Resolver::new(config, Manifest::builtin()).resolve(&config.model)
}

fn no_hub_cache(id: &HubId) -> EmbedError {
    EmbedError::InvalidSetting {
        setting: "hub cache directory",
        expected: format!("a folder for the Hugging Face cache, to find the hub model `{id}` in"),
        found: "none configured".into(),
    }
}

/// Whether `dir` holds a transformer checkpoint the native engine reads (`config.json` and
/// `model.safetensors` or a sharded one).
pub(crate) fn has_checkpoint(dir: &Path) -> bool {
    embed_runtime::checkpoint_present(dir)
}

impl ModelFiles {
    /// A model directory (holding a checkpoint, `onnx/model.onnx` or `model.onnx`) or an ONNX
    /// file inside one.
    pub fn from_path(path: &Path) -> Result<Self, EmbedError> {
        let not_found = || EmbedError::NoModelAtPath { path: path.to_path_buf() };
        let (dir, onnx) = if path.is_dir() {
            let candidates = [path.join(HUB_ONNX_FILE), path.join("model.onnx")];
            let onnx = match candidates.iter().find(|p| p.is_file()) {
                Some(onnx) => onnx.clone(),
                None if has_checkpoint(path) => candidates[0].clone(),
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
        Ok(Self::unlisted(path.display().to_string(), dir, onnx, None))
    }

    /// A model the manifest says nothing of (a hub id, a path): its own files say everything,
    /// and where they name no pooling, it is the mean.
    fn unlisted(name: String, dir: PathBuf, onnx: PathBuf, revision: Option<String>) -> Self {
        Self {
            name,
            dir,
            variant: DEFAULT_VARIANT.to_string(),
            onnx,
            prompts: BTreeMap::new(),
            dimension: None,
            pooling: Some(Pooling::Mean),
            revision,
        }
    }
}
