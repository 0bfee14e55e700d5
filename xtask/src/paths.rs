//! Where xtask reads and writes: the workspace, `libs/`, `models/` and the cache outside the clone.

use std::path::PathBuf;

/// The workspace root (the folder holding the top `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let xtask_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().map(PathBuf::from).unwrap_or(xtask_dir)
}

/// Where `fetch-ort` puts ONNX Runtime: `<root>/libs`.
pub fn libs_dir() -> PathBuf {
    workspace_root().join("libs")
}

/// Where models land: `MODEL_CACHE_DIR`, else `<root>/models`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("MODEL_CACHE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("models"),
    }
}

/// A cache outside the clone for downloads and the venvs (see `embed_fetch::cache_dir`).
pub fn cache_dir() -> PathBuf {
    embed_fetch::cache_dir(|name| std::env::var_os(name))
}
