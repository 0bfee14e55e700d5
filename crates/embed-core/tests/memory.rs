//! The model registry under a memory budget, with real models, in a process of its own (so
//! that resident-memory figures are not disturbed by other tests running in parallel).
//!
//! Measures each model's resident-memory growth when it loads and runs once, checks the
//! registry's estimate against it, then serves two large models from several threads under
//! a budget that holds only one of them at a time.

use std::path::PathBuf;

use embed_core::{
    BackendChoice, CacheLimits, Config, EmbedOptions, MemoryConfig, OrtLibrary, Service, estimate_model_bytes,
};
use embed_test_support::{cosine, models_dir};

/// A service over `model` with `memory`'s budget, without an embedding cache (its vectors would
/// count as the models' growth).
fn config(model: &str, memory: MemoryConfig) -> Config {
    Config {
        model: model.to_string(),
        model_cache_dir: models_dir(),
        onnxruntime: OrtLibrary {
            path: embed_test_support::ort_library_path(),
            search_dirs: embed_test_support::ort_search_dirs(),
        },
        memory: MemoryConfig { cache: CacheLimits::OFF, ..memory },
        ..Config::default()
    }
}

fn estimate(model: &str) -> u64 {
    let config = Config { model: model.to_string(), model_cache_dir: models_dir(), ..Config::default() };
    let files = embed_core::model_files(&config).expect("model fetched");
    estimate_model_bytes(&files, BackendChoice::Auto)
}

fn golden_first_vector(model: &str) -> Vec<f32> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{model}.json"));
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    fixture["embeddings"][0].as_array().expect("vectors").iter().map(|v| v.as_f64().expect("number") as f32).collect()
}

fn golden_first_text() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/all-MiniLM-L6-v2.json");
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    fixture["texts"][0].as_str().expect("text").to_string()
}

const MIB: f64 = 1024.0 * 1024.0;

#[test]
fn estimates_track_measured_growth_and_the_budget_holds_under_load() {
    // 1. Measured cost of each model, loaded and run once, one at a time, on both engines
    // (the default model, on ONNX Runtime, has loaded its library).
    let service = Service::new(config("all-MiniLM-L6-v2:int8", MemoryConfig::default())).expect("service");
    let options = EmbedOptions::default();
    for model in ["all-MiniLM-L6-v2:fp32", "all-mpnet-base-v2:fp32", "all-mpnet-base-v2:int8"] {
        let (handle, growth) = embed_pool_growth(|| {
            let handle = service.model_handle(model).expect("load");
            let prepared = service
                .prepare(&handle, &["warm up the arena with a sentence of ordinary length"], &options)
                .expect("prepare");
            service.run(&[&prepared]).expect("run");
            handle
        });
        drop(handle);
        let growth = growth.expect("resident memory is measurable on this platform");
        let estimate = estimate(model);
        let ratio = estimate as f64 / growth as f64;
        eprintln!(
            "{model}: measured growth {:.1} MiB, estimate {:.1} MiB (estimate / measured = {ratio:.2})",
            growth as f64 / MIB,
            estimate as f64 / MIB
        );
        assert!((0.8..=2.5).contains(&ratio), "{model}: estimate {estimate} vs measured growth {growth}");
    }
    drop(service);

    // 2. A budget that holds the pinned default model and only one of the two large ones.
    let minilm = "all-MiniLM-L6-v2:fp32";
    let mpnet = "all-mpnet-base-v2:fp32";
    let budget = estimate("all-MiniLM-L6-v2:int8") + estimate(mpnet) + estimate(minilm) / 2;
    let service = Service::new(config(
        "all-MiniLM-L6-v2:int8",
        MemoryConfig { model_memory_limit: Some(budget), ..MemoryConfig::default() },
    ))
    .expect("service");
    let text = golden_first_text();
    let expected =
        [(minilm, golden_first_vector("all-MiniLM-L6-v2")), (mpnet, golden_first_vector("all-mpnet-base-v2"))];
    let start_rss = embed_core_resident();
    let mut peak_rss = start_rss;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..3)
            .map(|t| {
                let service = &service;
                let expected = &expected;
                let text = &text;
                scope.spawn(move || {
                    let mut peak = 0u64;
                    for i in 0..6 {
                        let (model, golden) = &expected[(i + t) % 2];
                        let out = service.embed_with_model(model, &[text.as_str()], &EmbedOptions::default());
                        let out = out.unwrap_or_else(|e| panic!("thread {t} request {i} ({model}): {e:#?}"));
                        let cos = cosine(&out[0].vector, golden);
                        assert!(cos >= 0.99999, "thread {t} request {i} ({model}): cosine {cos}");
                        peak = peak.max(embed_core_resident());
                    }
                    peak
                })
            })
            .collect();
        for worker in workers {
            peak_rss = peak_rss.max(worker.join().expect("worker"));
        }
    });
    let stats = service.pool_stats();
    eprintln!(
        "budget {:.1} MiB, bytes in use {:.1} MiB, loads {}, evictions {}, resident at start {:.1} MiB, peak {:.1} MiB",
        budget as f64 / MIB,
        stats.bytes_in_use as f64 / MIB,
        stats.loads,
        stats.evictions,
        start_rss as f64 / MIB,
        peak_rss as f64 / MIB
    );
    assert!(stats.evictions >= 1, "the budget forced evictions: {stats:#?}");
    assert!(stats.bytes_in_use <= budget);
    // Resident memory: the budget plus the process's own overhead (ONNX Runtime's library,
    // the test binary, freed pages the allocator keeps), stated as 400 MiB.
    let overhead = 400 * 1024 * 1024;
    assert!(peak_rss <= budget + overhead, "peak resident {peak_rss} > budget {budget} + {overhead}");
}

/// The resident-memory growth of `work`, after the allocator has handed back what earlier work
/// freed (else a model's allocations reuse it and hide their size).
fn embed_pool_growth<T>(work: impl FnOnce() -> T) -> (T, Option<u64>) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
    embed_core::measure_rss_growth(work)
}

fn embed_core_resident() -> u64 {
    embed_core::resident_bytes().expect("resident memory is measurable")
}
