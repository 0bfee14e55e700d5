//! Bad input gets a clear error or the documented result, never a panic or a wrong vector.

use embed_core::{Config, EmbedOptions, MetalConfig, Service};

use crate::support::{config, cosine, models_dir, service};

/// The error with its causes, as the CLI prints it (`{:#}` of anyhow).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[test]
fn an_empty_batch_gives_an_empty_result() {
    let service = service("all-MiniLM-L6-v2");
    let none: [&str; 0] = [];
    assert!(service.embed_batch(&none).unwrap().is_empty());
}

#[test]
fn a_text_beyond_the_maximum_is_truncated_and_says_so() {
    let service = service("all-MiniLM-L6-v2");
    let long = "word ".repeat(2000);
    let out = service.embed_with(&[long.as_str(), "short"], service.default_options()).unwrap();
    assert_eq!(out[0].tokens, 256, "truncated to sentence-transformers' max_seq_length");
    assert!(out[0].truncated);
    assert!(!out[1].truncated);
    let norm: f32 = out[0].vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
}

#[test]
fn left_truncation_keeps_the_end() {
    let mut cfg = config("all-MiniLM-L6-v2");
    cfg.options.truncation = embed_core::TruncationSide::Left;
    let left = Service::new(cfg).unwrap();
    let right = service("all-MiniLM-L6-v2");
    let text = format!("{} the ending differs", "filler ".repeat(400));
    let end_only = "filler ".repeat(250) + "the ending differs";
    let l = left.embed(&text).unwrap();
    let r = right.embed(&text).unwrap();
    assert!(cosine(&l, &r) < 0.999, "left and right truncation should keep different tokens");
    assert!(cosine(&l, &left.embed(&end_only).unwrap()) > 0.999);
}

#[test]
fn an_unknown_model_lists_the_known_ones() {
    let err = Service::new(config("no-such-model")).unwrap_err().to_string();
    assert!(
        err.starts_with("unknown model `no-such-model`; known models: all-MiniLM-L6-v2, all-mpnet-base-v2"),
        "{err}"
    );
    let err = Service::new(config("../../etc")).unwrap_err().to_string();
    assert!(err.starts_with("unknown model `../../etc`"), "{err}");
}

#[test]
fn an_unfetched_variant_names_the_fetch_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("all-MiniLM-L6-v2");
    cfg.model_cache_dir = dir.path().to_path_buf();
    let err = Service::new(cfg).unwrap_err().to_string();
    assert!(err.contains("fetch it with `cargo xtask fetch-models --model all-MiniLM-L6-v2`"), "{err}");
}

#[test]
fn a_corrupt_model_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = models_dir().join("all-MiniLM-L6-v2");
    for file in ["tokenizer.json", "config.json", "tokenizer_config.json", "sentence_bert_config.json"] {
        std::fs::copy(src.join(file), dir.path().join(file)).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("1_Pooling")).unwrap();
    std::fs::copy(src.join("1_Pooling/config.json"), dir.path().join("1_Pooling/config.json")).unwrap();
    std::fs::write(dir.path().join("model.onnx"), b"not an onnx file").unwrap();
    let err = chain(&Service::new(config(dir.path().to_str().unwrap())).unwrap_err());
    assert!(
        err.contains("cannot load model") && err.contains("model.onnx") && err.contains("Protobuf parsing failed"),
        "{err}"
    );
}

#[test]
fn a_broken_tokenizer_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = models_dir().join("all-MiniLM-L6-v2");
    std::fs::create_dir_all(dir.path().join("onnx")).unwrap();
    std::fs::copy(src.join("onnx/model.onnx"), dir.path().join("onnx/model.onnx")).unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), b"{ not json").unwrap();
    let err = chain(&Service::new(config(dir.path().to_str().unwrap())).unwrap_err());
    assert!(err.contains("failed: invalid tokenizer file") && err.contains("tokenizer.json"), "{err}");
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = chain(&Service::new(config(dir.path().to_str().unwrap())).unwrap_err());
    assert!(err.contains("failed: missing tokenizer file") && err.contains("tokenizer.json"), "{err}");
}

#[test]
fn an_unknown_prompt_and_a_zero_batch_size_are_errors() {
    let service = service("all-MiniLM-L6-v2");
    let options = EmbedOptions { prompt: Some("query".into()), ..EmbedOptions::default() };
    let err = service.embed_with(&["x"], &options).unwrap_err().to_string();
    assert_eq!(err, "model `all-MiniLM-L6-v2:fp32` has no prompt `query`; its prompts: none");
    let options = EmbedOptions { batch_size: 0, ..EmbedOptions::default() };
    assert!(service.embed_with(&["x"], &options).is_err());
}

#[test]
fn a_dimension_that_disagrees_with_the_model_is_an_error() {
    let mut cfg = config("all-MiniLM-L6-v2");
    cfg.embedding_dimension = Some(768);
    let err = Service::new(cfg).unwrap_err().to_string();
    assert_eq!(err, "model `all-MiniLM-L6-v2:fp32` gives 384-dimensional embeddings, but 768 were expected");
}

#[test]
fn coreml_where_it_is_missing_fails_or_falls_back_loudly() {
    let mut cfg: Config = config("all-MiniLM-L6-v2");
    cfg.metal = MetalConfig { enabled: true, ..MetalConfig::default() };
    match Service::new(cfg.clone()) {
        // On macOS with ONNX Runtime's CoreML build, CoreML runs it.
        Ok(service) => assert_eq!(service.model().device(), &embed_core::DeviceInUse::CoreMl),
        Err(err) => {
            let err = chain(&err);
            assert!(err.contains("failed: CoreML is not available: "), "{err}");
            cfg.metal.allow_cpu_fallback = true;
            let service = Service::new(cfg).unwrap();
            assert!(matches!(service.model().device(), embed_core::DeviceInUse::CpuFallback { .. }));
            assert_eq!(service.embed("still works").unwrap().len(), 384);
        }
    }
}
