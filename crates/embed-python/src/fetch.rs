//! What the Python package fetches when it is missing, as the `embed` binary does: a known
//! model that is not in the model cache (`embed_fetch::fetch_known_model`: the checkpoint for
//! the native engine, from the hub else PyPI; the variant's ONNX file for ONNX Runtime, from
//! the hub), and ONNX Runtime's library, from PyPI's `onnxruntime` wheel, only when a model
//! that ONNX Runtime runs needs it. Each is tried once; without [`FetchSettings`] (offline)
//! nothing is fetched and the error says what is missing.
//!
//! This file knows which of embed-core's errors mean "missing", and nothing of how models run.

use std::path::{Path, PathBuf};

use embed_core::{BackendChoice, Config, EmbedError, Service};
use pyo3::prelude::*;

/// Where to fetch from, resolved by the Python layer (`HF_ENDPOINT`, `HF_TOKEN`,
/// `EMBED_PYPI_URL`, `EMBED_ALLOW_UNVERIFIED`, `EMBED_CACHE_DIR`).
#[pyclass(module = "embed._embed", frozen, from_py_object)]
#[derive(Debug, Clone)]
pub struct FetchSettings {
    hub_endpoint: Option<String>,
    hub_token: Option<String>,
    pypi_url: String,
    allow_unverified: bool,
    cache_dir: PathBuf,
    quiet: bool,
}

#[pymethods]
impl FetchSettings {
    #[new]
    #[pyo3(signature = (*, hub_endpoint, hub_token, pypi_url, allow_unverified, cache_dir, quiet))]
    fn new(
        hub_endpoint: Option<String>,
        hub_token: Option<String>,
        pypi_url: String,
        allow_unverified: bool,
        cache_dir: PathBuf,
        quiet: bool,
    ) -> Self {
        Self { hub_endpoint, hub_token, pypi_url, allow_unverified, cache_dir, quiet }
    }
}

impl FetchSettings {
    fn downloader(&self) -> embed_fetch::Downloader {
        let mut config = embed_fetch::FetchConfig::default();
        config.quiet = self.quiet;
        embed_fetch::Downloader::new(&config)
    }

    fn pypi(&self) -> embed_fetch::PypiClient {
        embed_fetch::PypiClient::new(&self.pypi_url, self.downloader())
    }

    /// Where fetched ONNX Runtime libraries go, as the CLI keeps them.
    fn libs_dir(&self) -> PathBuf {
        self.cache_dir.join("libs")
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A model could not be fetched.
#[derive(Debug, thiserror::Error)]
#[error("model `{model}:{variant}` is not in {} and could not be fetched", dir.display())]
struct ModelFetchFailed {
    model: String,
    variant: String,
    dir: PathBuf,
    #[source]
    source: embed_fetch::FetchError,
}

/// The service for `config`, fetching a missing model or ONNX Runtime (once each) where
/// `fetch` allows it.
pub fn open_service(mut config: Config, fetch: Option<&FetchSettings>) -> Result<Service, BoxError> {
    let (mut fetched_model, mut fetched_ort) = (false, false);
    loop {
        let error = match Service::new(config.clone()) {
            Ok(service) => return Ok(service),
            Err(error) => error,
        };
        let Some(fetch) = fetch else { return Err(error.into()) };
        match error.cause() {
            EmbedError::ModelNotFetched { model, variant, dir } if !fetched_model => {
                fetched_model = true;
                fetch_model(fetch, model, variant, dir, config.backend).map_err(|source| ModelFetchFailed {
                    model: model.clone(),
                    variant: variant.clone(),
                    dir: dir.clone(),
                    source,
                })?;
            }
            EmbedError::Runtime(embed_core::RuntimeError::LibraryNotFound { .. })
                if !fetched_ort && config.onnxruntime.path.is_none() =>
            {
                fetched_ort = true;
                let downloads = fetch.cache_dir.join("downloads");
                let library = embed_fetch::fetch_ort(
                    &fetch.pypi(),
                    embed_fetch::DEFAULT_ORT_VERSION,
                    &fetch.libs_dir(),
                    &downloads,
                )?;
                config.onnxruntime.path = Some(library);
            }
            _ => return Err(error.into()),
        }
    }
}

fn fetch_model(
    fetch: &FetchSettings,
    name: &str,
    variant: &str,
    dir: &Path,
    choice: BackendChoice,
) -> Result<(), embed_fetch::FetchError> {
    let manifest = embed_core::Manifest::builtin();
    let not_known = |error: &dyn std::fmt::Display| embed_fetch::FetchError::Model {
        model: name.to_string(),
        reason: error.to_string(),
    };
    let spec = manifest.model(name).map_err(|e| not_known(&e))?;
    let onnx_file;
    let weights = if choice != BackendChoice::Onnx && variant == embed_core::DEFAULT_VARIANT {
        embed_fetch::ModelWeights::Checkpoint
    } else {
        onnx_file = manifest.resolve(&format!("{name}:{variant}")).map_err(|e| not_known(&e))?.onnx_file;
        embed_fetch::ModelWeights::Onnx(&onnx_file)
    };
    let mut hub_config = embed_fetch::HubConfig::new(fetch.hub_endpoint.as_deref(), fetch.hub_token.as_deref());
    hub_config.allow_unverified = fetch.allow_unverified;
    let hub = embed_fetch::HubClient::new(hub_config, fetch.downloader());
    let pypi = fetch.pypi();
    let downloads = fetch.cache_dir.join("downloads");
    let sources = embed_fetch::ModelSources { hub: &hub, pypi: &pypi, downloads: &downloads };
    embed_fetch::fetch_known_model(sources, &manifest, spec, weights, dir)
}
