//! Shared helpers for the criterion benchmarks in `benches/benches/`: a service configuration
//! over the test models and ONNX Runtime (found where `embed-test-support` says), and the
//! STS-B sentences used as the corpus.

use std::path::PathBuf;

pub mod alloc;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    embed_test_support::workspace_root()
}

/// A service configuration for `model`, with models and ONNX Runtime where xtask puts them
/// and the embedding cache off, so that every text measured is computed.
pub fn config(model: &str) -> embed_core::Config {
    embed_core::Config {
        model: model.to_string(),
        model_cache_dir: embed_test_support::models_dir(),
        onnxruntime: embed_core::OrtLibrary {
            path: embed_test_support::ort_library_path(),
            search_dirs: embed_test_support::ort_search_dirs(),
        },
        memory: uncached(),
        ..embed_core::Config::default()
    }
}

/// Memory settings with the embedding cache off (the library's default keeps 10,000 vectors).
pub fn uncached() -> embed_core::MemoryConfig {
    embed_core::MemoryConfig { cache: embed_core::CacheLimits::OFF, ..Default::default() }
}

/// The first sentence of each STS-B test pair, in file order.
pub fn stsb_sentences() -> Vec<String> {
    embed_test_support::stsb_test().into_iter().map(|pair| pair.first).collect()
}
