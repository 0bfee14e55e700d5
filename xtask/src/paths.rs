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

/// A cache outside the clone for downloads and the conversion venv: `EMBED_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/embed`, else `~/.cache/embed`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EMBED_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("embed");
    }
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")).unwrap_or_default();
    PathBuf::from(home).join(".cache").join("embed")
}
