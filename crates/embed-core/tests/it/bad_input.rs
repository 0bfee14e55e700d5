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
    assert_eq!(err, "EMBEDDING_DIMENSION is 768, but model `all-MiniLM-L6-v2:fp32` gives 384-dimensional embeddings");
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

#[test]
fn truncation_off_makes_a_long_text_an_error_naming_it() {
    let service = service("all-MiniLM-L6-v2");
    let long = "word ".repeat(300);
    let options = EmbedOptions { truncate: false, ..service.default_options().clone() };
    let err = service.embed_with(&["fine", long.as_str()], &options).unwrap_err().to_string();
    assert_eq!(err, "input 1 has 302 tokens, more than the model's maximum of 256, and truncation is off");
    assert_eq!(service.embed_with(&["fine"], &options).unwrap().len(), 1);
}

#[test]
fn token_ids_embed_like_the_text_they_came_from() {
    let service = service("all-MiniLM-L6-v2");
    let text = "Token ids in, the same vector out.";
    // [CLS] and [SEP] are 101 and 102 in this vocabulary; the caller gives the ids between.
    let with_specials = service.model().tokenizer().tokenize(&[text]).unwrap().remove(0).ids;
    assert_eq!((with_specials[0], *with_specials.last().unwrap()), (101, 102));
    let ids = with_specials[1..with_specials.len() - 1].to_vec();
    let from_ids = service.embed_tokens_with_model("all-MiniLM-L6-v2", &[ids], service.default_options()).unwrap();
    assert!(cosine(&from_ids[0].vector, &service.embed(text).unwrap()) >= 0.999999);
    let err = service
        .embed_tokens_with_model("all-MiniLM-L6-v2", &[vec![5, 999_999]], service.default_options())
        .unwrap_err()
        .to_string();
    assert_eq!(err, "invalid input: token id 999999 of input 0 is outside the vocabulary (0..30522)");
}

#[test]
fn truncation_side_can_change_per_call() {
    let service = service("all-MiniLM-L6-v2");
    let text = format!("{} the ending differs", "filler ".repeat(400));
    let left = EmbedOptions { truncation: Some(embed_core::TruncationSide::Left), ..service.default_options().clone() };
    let per_call = service.embed_with(&[text.as_str()], &left).unwrap().remove(0);
    let mut cfg = config("all-MiniLM-L6-v2");
    cfg.options.truncation = embed_core::TruncationSide::Left;
    let configured = Service::new(cfg).unwrap().embed(&text).unwrap();
    assert!(cosine(&per_call.vector, &configured) >= 0.999999);
    assert!(cosine(&per_call.vector, &service.embed(&text).unwrap()) < 0.999);
}
