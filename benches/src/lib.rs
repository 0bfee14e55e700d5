//! Shared helpers for the criterion benchmarks in `benches/benches/`: where the models and
//! ONNX Runtime are, and the STS-B sentences used as the corpus.

use std::path::PathBuf;

pub mod alloc;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A service configuration for `model`, with models and ONNX Runtime where xtask puts them.
pub fn config(model: &str) -> embed_core::Config {
    embed_core::Config {
        model: model.to_string(),
        model_cache_dir: std::env::var_os("MODEL_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("models")),
        onnxruntime: embed_core::OrtLibrary {
            path: std::env::var_os("ONNXRUNTIME_LIB_PATH").map(PathBuf::from),
            search_dirs: vec![workspace_root().join("libs")],
        },
        ..embed_core::Config::default()
    }
}

/// The first sentence of each STS-B test pair, in file order (quoted fields are skipped, which
/// is fine for a timing corpus).
pub fn stsb_sentences() -> Vec<String> {
    let path = workspace_root().join("data/stsb/stsb-en-test.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.contains('"'))
        .filter_map(|line| line.split(',').next().map(str::to_string))
        .collect()
}
