//! Shared helpers of embed-core's tests: services over the test models (from
//! embed-test-support's paths, with the embedding cache off so that every call computes) and the
//! golden fixtures.

use embed_core::{CacheLimits, Config, OrtLibrary, Service};
pub use embed_test_support::{cosine, error_chain as chain, models_dir, workspace_root};

pub fn ort_library() -> OrtLibrary {
    OrtLibrary { path: embed_test_support::ort_library_path(), search_dirs: embed_test_support::ort_search_dirs() }
}

/// The configuration of a service over `model`, its embedding cache off.
pub fn config(model: &str) -> Config {
    let mut config = Config {
        model: model.to_string(),
        model_cache_dir: models_dir(),
        onnxruntime: ort_library(),
        ..Config::default()
    };
    config.memory.cache = CacheLimits::OFF;
    config
}

/// A service for `model`, failing with the command that fetches it when it is missing.
pub fn service(model: &str) -> Service {
    Service::new(config(model)).unwrap_or_else(|e| {
        panic!("cannot load {model}: {e}\n(run `cargo xtask test`, which fetches ONNX Runtime and the test models)")
    })
}

/// A service for `model` whose inference calls hold at most `batch_size` texts.
pub fn service_with_batches_of(model: &str, batch_size: usize) -> Service {
    let mut config = config(model);
    config.batching.max_texts = batch_size;
    Service::new(config).unwrap_or_else(|e| panic!("cannot load {model}: {e}"))
}

#[derive(serde::Deserialize)]
pub struct Fixture {
    pub texts: Vec<String>,
    pub token_counts: Vec<usize>,
    pub embeddings: Vec<Vec<f32>>,
    pub stsb_test_spearman: f64,
}

pub fn fixture(model: &str) -> Fixture {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{model}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid {}: {e}", path.display()))
}

/// Spearman correlation of cosine similarities with gold scores over STS-B test.
pub fn stsb_spearman(service: &Service) -> f64 {
    let pairs = embed_test_support::stsb_test();
    let sentences: Vec<&str> = pairs.iter().flat_map(|p| [p.first.as_str(), p.second.as_str()]).collect();
    let vectors = service.embed_batch(&sentences).expect("embedding STS-B");
    let predicted: Vec<f64> = vectors.chunks(2).map(|pair| cosine(&pair[0], &pair[1])).collect();
    let gold: Vec<f64> = pairs.iter().map(|p| p.score).collect();
    embed_test_support::spearman(&predicted, &gold)
}
