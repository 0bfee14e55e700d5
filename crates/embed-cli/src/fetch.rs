//! Fetching what the CLI needs when it is missing: the ONNX Runtime library, from PyPI's
//! `onnxruntime` wheel into the user's cache (`~/.cache/embed/libs`), checked by sha256.
//! `--offline` (or `EMBED_OFFLINE=1`) turns this off.

use std::path::PathBuf;

use anyhow::Context;
use embed_core::Config;

/// The user's cache folder (`EMBED_CACHE_DIR`, `XDG_CACHE_HOME/embed` or `~/.cache/embed`).
pub fn cache_dir() -> PathBuf {
    embed_fetch::cache_dir(|name| std::env::var_os(name))
}

/// Where fetched ONNX Runtime libraries go.
pub fn libs_dir() -> PathBuf {
    cache_dir().join("libs")
}

/// When no library was named and none is found in the search folders, fetches ONNX Runtime
/// into [`libs_dir`] and points `config` at it.
pub fn ensure_onnxruntime(config: &mut Config, offline: bool) -> anyhow::Result<()> {
    let ort = &mut config.onnxruntime;
    if offline || ort.path.is_some() || ort.search_dirs.iter().any(|dir| embed_core::find_in_libs_dir(dir).is_some()) {
        return Ok(());
    }
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
    let library = embed_fetch::fetch_ort(&pypi, embed_fetch::DEFAULT_ORT_VERSION, &libs, &downloads)
        .context("cannot fetch ONNX Runtime (run `cargo xtask fetch-ort`, or set ONNXRUNTIME_LIB_PATH)")?;
    ort.path = Some(library);
    Ok(())
}

/// Builds the service; when the model is a known one that is not in the model cache yet,
/// fetches it from the Hugging Face hub (`HF_ENDPOINT`, `HF_TOKEN`) and tries again, unless
/// offline. Models the hub cannot serve as ONNX (repositories holding only a checkpoint, which
/// converting takes Python for; variants the hub names differently) are left to
/// `cargo xtask fetch-models`, which the error names.
pub fn open_service(config: embed_core::Config, offline: bool) -> anyhow::Result<embed_core::Service> {
    let model = config.model.clone();
    match embed_core::Service::new(config.clone()) {
        Err(embed_core::EmbedError::ModelNotFetched { model: name, variant, dir }) if !offline => {
            match fetch_from_hub(&name, &variant, &dir) {
                Ok(()) => {}
                // The hub answered, and what it has needs Python: that is the whole story.
                Err(err) if err.is::<CheckpointOnly>() => {
                    return Err(err.context(format!("cannot load model `{model}`")));
                }
                Err(err) => {
                    return Err(err.context(format!(
                        "model `{name}:{variant}` is not in {} and the hub could not serve it; fetch it with `cargo xtask fetch-models --model {name} --variant {variant}` (it falls back to PyPI)",
                        dir.display()
                    )));
                }
            }
            embed_core::Service::new(config).with_context(|| format!("cannot load model `{model}`"))
        }
        result => result.with_context(|| format!("cannot load model `{model}`")),
    }
}

fn fetch_from_hub(name: &str, variant: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let manifest = embed_core::Manifest::builtin();
    let spec = manifest.model(name)?;
    let onnx = manifest.resolve(&format!("{name}:{variant}"))?.onnx_file;
    let endpoint = std::env::var("HF_ENDPOINT").ok();
    let token = std::env::var("HF_TOKEN").ok();
    let hub = embed_fetch::HubClient::new(
        embed_fetch::HubConfig::new(endpoint.as_deref(), token.as_deref()),
        embed_fetch::Downloader::new(&embed_fetch::FetchConfig::default()),
    );
    if let embed_fetch::HubPlan::Checkpoint { .. } = hub.plan(spec, &[onnx.as_str()], &manifest.checkpoint_files)? {
        return Err(CheckpointOnly(format!(
            "{} at revision {} has no {onnx}, only a checkpoint (model.safetensors): embed runs models on ONNX Runtime \
             and cannot convert a checkpoint itself, since that takes Python; in a clone of embed, \
             `cargo xtask fetch-models --model {name} --variant {variant}` fetches the checkpoint and converts it",
            spec.hub_repo,
            &spec.revision[..12],
        ))
        .into());
    }
    eprintln!(
        "{name}: fetching {onnx} and its tokenizer from {} at {}",
        hub.file_url(&spec.hub_repo, &spec.revision, ""),
        &spec.revision[..12]
    );
    hub.fetch_model(spec, &manifest.support_files, &[onnx], dir)?;
    eprintln!("{name}: fetched into {}", dir.display());
    Ok(())
}

/// The hub has the model only as a checkpoint, which the binary cannot convert.
#[derive(Debug)]
struct CheckpointOnly(String);

impl std::fmt::Display for CheckpointOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckpointOnly {}
