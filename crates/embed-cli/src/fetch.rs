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
