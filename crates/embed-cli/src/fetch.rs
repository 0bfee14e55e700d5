//! Fetching what the CLI needs when it is missing: the ONNX Runtime library, from PyPI's
//! `onnxruntime` wheel (`--pypi-url`) into the user's cache (`~/.cache/embed/libs`), checked by
//! sha256; a known model, from the Hugging Face hub (`HF_ENDPOINT`, `HF_TOKEN`) into the model
//! cache, each file verified against the hash the hub announces (`--allow-unverified` accepts
//! files it announces none for). `--offline` (or `EMBED_OFFLINE=1`) turns both off.
//!
//! Processes started together share the work: `embed-fetch` locks each target, so one fetches
//! and the others wait for it (saying so on stderr) and then use it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use embed_core::Config;

use crate::settings::Settings;

/// The user's cache folder (`EMBED_CACHE_DIR`, `XDG_CACHE_HOME/embed` or `~/.cache/embed`).
pub fn cache_dir() -> PathBuf {
    embed_fetch::cache_dir(|name| std::env::var_os(name))
}

/// Where fetched ONNX Runtime libraries go.
pub fn libs_dir() -> PathBuf {
    cache_dir().join("libs")
}

fn downloader(settings: &Settings) -> embed_fetch::Downloader {
    let mut config = embed_fetch::FetchConfig::default();
    config.quiet = settings.quiet;
    embed_fetch::Downloader::new(&config)
}

/// When no library was named and none is found in the search folders, fetches ONNX Runtime
/// into [`libs_dir`] and points `config` at it.
pub fn ensure_onnxruntime(config: &mut Config, settings: &Settings) -> anyhow::Result<()> {
    let ort = &mut config.onnxruntime;
    if settings.offline
        || ort.path.is_some()
        || ort.search_dirs.iter().any(|dir| embed_core::find_in_libs_dir(dir).is_some())
    {
        return Ok(());
    }
    let libs = libs_dir();
    if !settings.quiet {
        eprintln!(
            "ONNX Runtime not found; fetching onnxruntime {} from {} into {} (once)",
            embed_fetch::DEFAULT_ORT_VERSION,
            settings.pypi_url,
            libs.display()
        );
    }
    let downloads = cache_dir().join("downloads");
    let pypi = embed_fetch::PypiClient::new(&settings.pypi_url, downloader(settings));
    let library = embed_fetch::fetch_ort(&pypi, embed_fetch::DEFAULT_ORT_VERSION, &libs, &downloads)
        .map_err(|source| OrtFetchFailed { pypi_url: settings.pypi_url.clone(), source })?;
    ort.path = Some(library);
    Ok(())
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

/// A known model was missing and the hub could not serve it.
#[derive(Debug, thiserror::Error)]
#[error("model `{model}:{variant}` is not in {} and the hub at {endpoint} could not serve it", dir.display())]
pub struct HubFetchFailed {
    /// The model.
    pub model: String,
    /// Its variant.
    pub variant: String,
    /// Where it was looked for.
    pub dir: PathBuf,
    /// The hub asked.
    pub endpoint: String,
    /// Why.
    #[source]
    pub source: anyhow::Error,
}

/// Builds the service; when the model is a known one that is not in the model cache yet,
/// fetches it from the Hugging Face hub (`HF_ENDPOINT`, `HF_TOKEN`) and tries again, unless
/// offline. Models the hub cannot serve (checkpoints that need conversion, variants the hub
/// names differently) end in a [`HubFetchFailed`] error.
pub fn open_service(config: Config, settings: &Settings) -> anyhow::Result<embed_core::Service> {
    let model = config.model.clone();
    match embed_core::Service::new(config.clone()) {
        Err(embed_core::EmbedError::ModelNotFetched { model: name, variant, dir }) if !settings.offline => {
            let hub = hub_client(settings);
            if let Err(source) = fetch_from_hub(&hub, &name, &variant, &dir, settings) {
                let endpoint = hub.endpoint().to_string();
                return Err(HubFetchFailed { model: name, variant, dir, endpoint, source }.into());
            }
            embed_core::Service::new(config).with_context(|| format!("cannot load model `{model}`"))
        }
        result => result.with_context(|| format!("cannot load model `{model}`")),
    }
}

fn hub_client(settings: &Settings) -> embed_fetch::HubClient {
    let endpoint = std::env::var("HF_ENDPOINT").ok();
    let token = std::env::var("HF_TOKEN").ok();
    let mut config = embed_fetch::HubConfig::new(endpoint.as_deref(), token.as_deref());
    config.allow_unverified = settings.allow_unverified;
    embed_fetch::HubClient::new(config, downloader(settings))
}

fn fetch_from_hub(
    hub: &embed_fetch::HubClient,
    name: &str,
    variant: &str,
    dir: &Path,
    settings: &Settings,
) -> anyhow::Result<()> {
    let manifest = embed_core::Manifest::builtin();
    let spec = manifest.model(name)?;
    let onnx = manifest.resolve(&format!("{name}:{variant}"))?.onnx_file;
    if !settings.quiet {
        eprintln!(
            "{name}: fetching {onnx} and its tokenizer from {} at {}",
            hub.file_url(&spec.hub_repo, &spec.revision, ""),
            &spec.revision[..12]
        );
    }
    hub.fetch_model(spec, &manifest.support_files, &[onnx], dir)?;
    if !settings.quiet {
        eprintln!("{name}: fetched into {}", dir.display());
    }
    Ok(())
}
