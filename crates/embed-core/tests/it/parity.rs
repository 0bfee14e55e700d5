//! Vectors equal to sentence-transformers', on both engines: per-text goldens, STS-B Spearman,
//! batch invariance, and the int8 variant within its stated tolerance.

use embed_core::{BackendChoice, Service};

use crate::support::{config, cosine, fixture, service, stsb_spearman};

/// A service for `model` on the engine `backend`.
fn on(backend: BackendChoice, model: &str) -> Service {
    let mut cfg = config(model);
    cfg.backend = backend;
    Service::new(cfg).unwrap_or_else(|e| panic!("cannot load {model} on {backend}: {e}"))
}

/// Goldens and STS-B for one fp32 model on both engines.
fn check_fp32_parity(model: &str) {
    for backend in [BackendChoice::Native, BackendChoice::Onnx] {
        check_fp32_parity_on(&on(backend, model), model, backend);
    }
}

fn check_fp32_parity_on(service: &Service, model: &str, backend: BackendChoice) {
    let golden = fixture(model);
    let embeddings = service.embed_with(&golden.texts, service.default_options()).expect("embed the fixture texts");
    assert_eq!(embeddings.len(), golden.texts.len());
    for (i, (got, want)) in embeddings.iter().zip(&golden.embeddings).enumerate() {
        let cos = cosine(&got.vector, want);
        assert!(cos >= 0.99999, "{model} on {backend}: text {i} {:?}: cosine {cos} < 0.99999", golden.texts[i]);
        assert_eq!(got.tokens, golden.token_counts[i], "{model} on {backend}: token count of text {i}");
    }
    let rho = stsb_spearman(service);
    assert!(
        (rho - golden.stsb_test_spearman).abs() <= 0.0005,
        "{model} on {backend}: STS-B Spearman {rho:.5} vs sentence-transformers {:.5}",
        golden.stsb_test_spearman
    );
    eprintln!(
        "{model} on {backend}: STS-B test Spearman {rho:.5} (sentence-transformers {:.5})",
        golden.stsb_test_spearman
    );
}

#[test]
fn all_minilm_l6_v2_matches_sentence_transformers() {
    check_fp32_parity("all-MiniLM-L6-v2");
}

#[test]
fn all_mpnet_base_v2_matches_sentence_transformers() {
    check_fp32_parity("all-mpnet-base-v2");
}

#[test]
fn int8_minilm_stays_within_its_tolerance() {
    let model = "all-MiniLM-L6-v2";
    let service = service(&format!("{model}:int8"));
    let golden = fixture(model);
    let vectors = service.embed_batch(&golden.texts).unwrap();
    let cosines: Vec<f64> = vectors.iter().zip(&golden.embeddings).map(|(a, b)| cosine(a, b)).collect();
    let mean = cosines.iter().sum::<f64>() / cosines.len() as f64;
    let min = cosines.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(mean >= 0.99, "int8 mean cosine {mean} < 0.99 (min {min})");
    let rho = stsb_spearman(&service);
    assert!(
        (rho - golden.stsb_test_spearman).abs() <= 0.01,
        "int8 STS-B Spearman {rho:.4} is more than 1 point from fp32's {:.4}",
        golden.stsb_test_spearman
    );
    eprintln!("{model}:int8: mean cosine {mean:.5}, min {min:.5}, STS-B {rho:.4}");
}

#[test]
fn a_text_in_a_batch_equals_the_same_text_alone() {
    let texts = [
        "short",
        "A considerably longer sentence, so that the short ones in this batch are padded.",
        "",
        "Une phrase en français, avec des accents.",
        "日本語の文章です。",
    ];
    for model in ["all-MiniLM-L6-v2", "all-mpnet-base-v2"] {
        for backend in [BackendChoice::Native, BackendChoice::Onnx] {
            let service = on(backend, model);
            let together = service.embed_batch(&texts).unwrap();
            for (text, in_batch) in texts.iter().zip(&together) {
                let alone = service.embed(text).unwrap();
                let cos = cosine(&alone, in_batch);
                assert!(cos >= 0.999999, "{model} on {backend}: {text:?}: alone vs in batch cosine {cos}");
            }
        }
    }
}

#[test]
fn one_service_serves_many_threads() {
    let service = service("all-MiniLM-L6-v2");
    let expected = service.embed("shared between threads").unwrap();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let service = &service;
            let expected = &expected;
            scope.spawn(move || {
                for i in 0..5 {
                    let texts = [format!("thread {t} text {i}"), "shared between threads".to_string()];
                    let vectors = service.embed_batch(&texts).unwrap();
                    assert!(cosine(&vectors[1], expected) >= 0.999999);
                }
            });
        }
    });
}

#[test]
fn every_arena_strategy_gives_the_same_vectors() {
    let texts = ["arena check", "a second, somewhat longer text for the arena check"];
    let expected = on(BackendChoice::Onnx, "all-MiniLM-L6-v2").embed_batch(&texts).unwrap();
    for arena in [embed_core::ArenaStrategy::SameAsRequested, embed_core::ArenaStrategy::Disabled] {
        let mut cfg = crate::support::config("all-MiniLM-L6-v2");
        cfg.backend = BackendChoice::Onnx;
        cfg.runtime.arena = arena;
        let got = embed_core::Service::new(cfg).unwrap().embed_batch(&texts).unwrap();
        for (a, b) in got.iter().zip(&expected) {
            assert!(cosine(a, b) >= 0.999999, "{arena:?}");
        }
    }
}

#[test]
fn parallel_sessions_give_the_same_vectors_in_order() {
    let golden = fixture("all-MiniLM-L6-v2");
    let mut cfg = crate::support::config("all-MiniLM-L6-v2");
    cfg.backend = BackendChoice::Onnx;
    cfg.runtime.sessions = Some(2);
    // Calls of 4: the 35 texts make several calls, which the two sessions share.
    cfg.batching.max_texts = 4;
    let parallel = embed_core::Service::new(cfg).unwrap();
    let embeddings = parallel.embed_with(&golden.texts, parallel.default_options()).unwrap();
    assert_eq!(embeddings.len(), golden.texts.len());
    for (i, (got, want)) in embeddings.iter().zip(&golden.embeddings).enumerate() {
        let cos = cosine(&got.vector, want);
        assert!(cos >= 0.99999, "text {i} {:?}: cosine {cos}", golden.texts[i]);
        assert_eq!(got.tokens, golden.token_counts[i], "token count of text {i}");
    }
    let zero = embed_core::Config {
        runtime: embed_core::RuntimeConfig { sessions: Some(0), ..Default::default() },
        ..crate::support::config("all-MiniLM-L6-v2")
    };
    let error = embed_core::Service::new(zero).unwrap_err();
    assert!(
        matches!(&error, embed_core::EmbedError::InvalidSetting { setting: "sessions", found, .. } if found == "0"),
        "{error:?}"
    );
}

#[test]
fn native_batches_side_by_side_give_the_same_vectors_in_order() {
    let golden = fixture("all-MiniLM-L6-v2");
    let mut cfg = crate::support::config("all-MiniLM-L6-v2");
    cfg.backend = BackendChoice::Native;
    // Calls of 4: the 35 texts make several calls, which run side by side, one per thread.
    cfg.batching.max_texts = 4;
    let native = embed_core::Service::new(cfg).unwrap();
    assert!(native.model().engine().starts_with("native"), "{}", native.model().engine());
    let embeddings = native.embed_with(&golden.texts, native.default_options()).unwrap();
    for (i, (got, want)) in embeddings.iter().zip(&golden.embeddings).enumerate() {
        let cos = cosine(&got.vector, want);
        assert!(cos >= 0.99999, "text {i} {:?}: cosine {cos}", golden.texts[i]);
        assert_eq!(got.tokens, golden.token_counts[i], "token count of text {i}");
    }
}
