//! Bad input gets a clear error or the documented result, never a panic or a wrong vector.

use embed_core::{Config, EmbedError, EmbedOptions, MetalConfig, RuntimeError, Service, TokenizeError};

use crate::support::{chain, config, cosine, models_dir, service};

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
fn an_unfetched_model_is_an_error_naming_it_and_where_it_was_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("all-MiniLM-L6-v2");
    cfg.model_cache_dir = dir.path().to_path_buf();
    let err = Service::new(cfg).unwrap_err();
    let expected_dir = dir.path().join("all-MiniLM-L6-v2");
    assert!(
        matches!(&err, EmbedError::ModelNotFetched { model, variant, dir } if model == "all-MiniLM-L6-v2" && variant == "fp32" && *dir == expected_dir),
        "{err:?}"
    );
    // What fetches it is the application's to say: the library names no command.
    assert_eq!(err.to_string(), format!("model `all-MiniLM-L6-v2:fp32` is not in {}", expected_dir.display()));
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
    let err = service.embed_with(&["x"], &options).unwrap_err();
    assert!(
        matches!(&err, EmbedError::UnknownPrompt { model, prompt, known } if model == "all-MiniLM-L6-v2:fp32" && prompt == "query" && known.is_empty()),
        "{err:?}"
    );
    for (setting, batching) in [
        ("batch_size", embed_core::BatchPolicy { max_texts: 0, ..Default::default() }),
        ("max_batch_tokens", embed_core::BatchPolicy { max_tokens: 0, ..Default::default() }),
    ] {
        let err = Service::new(Config { batching, ..config("all-MiniLM-L6-v2") }).unwrap_err();
        assert!(
            matches!(&err, EmbedError::InvalidSetting { setting: s, found, .. } if *s == setting && found == "0"),
            "{err:?}"
        );
    }
}

#[test]
fn a_dimension_that_disagrees_with_the_model_is_an_error() {
    let mut cfg = config("all-MiniLM-L6-v2");
    cfg.embedding_dimension = Some(768);
    let err = Service::new(cfg).unwrap_err().to_string();
    assert_eq!(
        err,
        "the configured embedding dimension is 768, but model `all-MiniLM-L6-v2:fp32` gives 384-dimensional embeddings"
    );
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
    let err = service.embed_with(&["fine", long.as_str()], &options).unwrap_err();
    assert!(matches!(err, EmbedError::TooLong { index: 1, tokens: 302, max: 256 }), "{err:?}");
    assert_eq!(service.embed_with(&["fine"], &options).unwrap().len(), 1);
}

#[test]
fn token_ids_embed_like_the_text_they_came_from() {
    let service = service("all-MiniLM-L6-v2");
    let text = "Token ids in, the same vector out.";
    // The ids between [CLS] and [SEP], as the model's tokenizer makes them.
    let tokenizer =
        embed_tokenize::Tokenizer::from_dir(&models_dir().join("all-MiniLM-L6-v2"), &Default::default()).unwrap();
    let with_specials = tokenizer.tokenize(&[text]).unwrap().remove(0).ids;
    assert_eq!((with_specials[0], *with_specials.last().unwrap()), (101, 102));
    let ids = with_specials[1..with_specials.len() - 1].to_vec();
    let from_ids = service.embed_tokens_with_model("all-MiniLM-L6-v2", &[ids], service.default_options()).unwrap();
    assert!(cosine(&from_ids[0].vector, &service.embed(text).unwrap()) >= 0.999999);
    let err = service
        .embed_tokens_with_model("all-MiniLM-L6-v2", &[vec![5, 999_999]], service.default_options())
        .unwrap_err();
    assert!(
        matches!(
            err,
            EmbedError::Tokenize(TokenizeError::OutOfVocabulary { index: 0, id: 999_999, vocab_size: 30522 })
        ),
        "{err:?}"
    );
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

// ---------------------------------------------------------------------------------------------
// The rows of docs/bad-input.md for the library. Each checks the documented answer, then that
// a good request on the same service (or a new service) still succeeds.

const MODEL: &str = "all-MiniLM-L6-v2";

/// Set in a test's own child process (see [`in_child`]).
const CHILD: &str = "EMBED_BAD_INPUT_CHILD";

/// Runs this binary's test `name` alone in a new process working in `dir`, with [`CHILD`] set,
/// and fails unless it passed. ONNX Runtime loads once per process and the working directory
/// is the process's, so what happens before either is set must be seen in a fresh process.
fn in_child(name: &str, dir: &std::path::Path) {
    let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .current_dir(dir)
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stdout.contains("1 passed"), "child `{name}` failed:\n{stdout}\n{stderr}");
}

/// The good request that follows every bad one: a known text gives its 384-d unit vector.
fn still_works(service: &Service) {
    let vector = service.embed("the next good request").expect("the next good request");
    assert_eq!(vector.len(), 384);
    assert!((vector.iter().map(|x| x * x).sum::<f32>().sqrt() - 1.0).abs() < 1e-5);
}

/// A model directory holding the default model's tokenizer and configs, with `onnx` as its
/// `model.onnx`.
fn model_dir_with_onnx(onnx: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = models_dir().join(MODEL);
    for file in ["tokenizer.json", "config.json", "tokenizer_config.json", "sentence_bert_config.json"] {
        std::fs::copy(src.join(file), dir.path().join(file)).expect("copy a model file");
    }
    std::fs::create_dir_all(dir.path().join("1_Pooling")).expect("create 1_Pooling");
    std::fs::copy(src.join("1_Pooling/config.json"), dir.path().join("1_Pooling/config.json"))
        .expect("copy the pooling config");
    std::fs::write(dir.path().join("model.onnx"), onnx).expect("write model.onnx");
    dir
}

#[test]
fn a_10_mb_text_is_cut_to_the_maximum_without_reading_all_of_it() {
    let service = service(MODEL);
    let words = ["embedding", "vectors", "of", "ten", "megabytes", "café", "東京", "end."];
    let mut text = String::with_capacity(10 * 1024 * 1024 + 16);
    let mut i = 0;
    while text.len() < 10 * 1024 * 1024 {
        text.push_str(words[i % words.len()]);
        text.push(' ');
        i += 1;
    }
    for side in [embed_core::TruncationSide::Right, embed_core::TruncationSide::Left] {
        let options = EmbedOptions { truncation: Some(side), ..service.default_options().clone() };
        // Tokenizing all 10 MB took seconds and 1.1 GB; the kept end alone takes a millisecond
        // (timed alone: inference time swings with the machine's load).
        let started = std::time::Instant::now();
        let prepared = service.prepare(&service.default_model(), &[text.as_str()], &options).unwrap();
        let elapsed = started.elapsed();
        assert!(elapsed < std::time::Duration::from_millis(500), "{side:?}: {elapsed:?}");
        assert_eq!(prepared.shape().tokens, 256);
        let out = service.embed_with(&[text.as_str(), "short"], &options).unwrap();
        assert_eq!((out[0].tokens, out[0].truncated), (256, true));
        assert_eq!((out[1].tokens, out[1].truncated), (3, false));
        // The same vector as the kept end alone (3,000 bytes, still over the maximum).
        let end = match side {
            embed_core::TruncationSide::Right => &text[..text[..3000].rfind(' ').unwrap()],
            embed_core::TruncationSide::Left => {
                let from = text.len() - 3000;
                &text[from + text[from..].find(' ').unwrap()..]
            }
        };
        let alone = service.embed_with(&[end], &options).unwrap().remove(0);
        assert!(alone.truncated);
        assert!(cosine(&out[0].vector, &alone.vector) >= 0.999999, "{side:?}");
    }
    still_works(&service);
}

/// `count` short texts and a last one over the maximum, with truncation off: every text is
/// read and tokenized, and the error names the last one by its index.
fn many_short_texts_then_one_too_long(count: usize) {
    let service = service(MODEL);
    let mut texts: Vec<String> = (0..count - 1).map(|i| format!("text {i}")).collect();
    texts.push("long ".repeat(300));
    let options = EmbedOptions { truncate: false, ..service.default_options().clone() };
    let err = service.embed_with(&texts, &options).expect_err("the last text is too long");
    let last = count - 1;
    assert!(matches!(err, EmbedError::TooLong { index, tokens: 302, max: 256 } if index == last), "{err:?}");
    still_works(&service);
}

#[test]
fn a_hundred_thousand_short_texts_are_all_read_and_a_bad_one_is_named_by_its_index() {
    many_short_texts_then_one_too_long(100_000);
}

/// A million texts through the model take minutes on two cores (docs/bad-input.md has the
/// CLI's figure); this reads and tokenizes them to the point where the last is refused (about
/// 10 s of tokenizing on two idle cores). Run with `--ignored`.
#[test]
#[ignore = "tokenizes a million texts: about 10 s on two idle cores"]
fn a_million_short_texts_are_all_read_and_a_bad_one_is_named_by_its_index() {
    many_short_texts_then_one_too_long(1_000_000);
}

#[test]
fn nul_bytes_are_dropped_by_the_normalizer_as_sentence_transformers_does() {
    let service = service(MODEL);
    let out = service.embed_with(&["a\0b\0 c", "ab c", "\0"], service.default_options()).unwrap();
    // BERT's normalizer removes control characters (NUL among them) before tokenizing.
    assert_eq!(out[0].tokens, out[1].tokens);
    assert!(cosine(&out[0].vector, &out[1].vector) >= 0.999999);
    assert_eq!(out[2].tokens, 2, "NUL alone is an empty text: [CLS] [SEP]");
    assert!(cosine(&out[2].vector, &service.embed("").unwrap()) >= 0.999999);
    still_works(&service);
}

#[test]
fn zero_or_huge_dimensions_are_errors_naming_the_model_width() {
    for dimension in [0, usize::MAX] {
        let mut cfg = config(MODEL);
        cfg.embedding_dimension = Some(dimension);
        let err = Service::new(cfg).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "the configured embedding dimension is {dimension}, but model `{MODEL}:fp32` gives 384-dimensional embeddings"
            )
        );
    }
    still_works(&service(MODEL));
}

#[test]
fn unknown_models_variants_and_paths_are_errors_and_the_service_goes_on() {
    let service = service(MODEL);
    let options = service.default_options();
    let err = |model: &str| service.embed_with_model(model, &["x"], options).unwrap_err().to_string();
    assert!(err("no-such-model").starts_with("unknown model `no-such-model`; known models: all-MiniLM-L6-v2, "));
    assert_eq!(
        err("all-MiniLM-L6-v2:fp8"),
        "unknown variant `fp8` of model `all-MiniLM-L6-v2`; known variants: fp32, int8, optimized"
    );
    // A variant named like a path is only ever looked up in the manifest.
    assert!(err("all-MiniLM-L6-v2:../../etc/passwd").starts_with("unknown variant `../../etc/passwd`"));
    assert!(err("../../../../../../etc/passwd").starts_with("unknown model `../../../../../../etc/passwd`"));
    // An existing directory is a model path by design, read only for its model files.
    assert_eq!(
        err("/etc"),
        "no model at /etc: expected a directory holding model.safetensors, onnx/model.onnx or model.onnx with tokenizer.json, or a known model name"
    );
    still_works(&service);
}

#[test]
fn a_manifest_name_is_read_from_the_model_cache_only() {
    if std::env::var_os(CHILD).is_none() {
        // A decoy beside the working directory: a directory named like a manifest model, and
        // `../../etc` two levels up.
        let dir = tempfile::tempdir().unwrap();
        let decoy = dir.path().join("a/b").join(MODEL);
        std::fs::create_dir_all(&decoy).unwrap();
        std::fs::write(decoy.join("model.onnx"), b"decoy").unwrap();
        std::fs::write(decoy.join("tokenizer.json"), b"decoy").unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        in_child("bad_input::a_manifest_name_is_read_from_the_model_cache_only", &dir.path().join("a/b"));
        return;
    }
    let service = Service::new(config(MODEL)).unwrap();
    assert_eq!(service.model().files().dir, models_dir().join(MODEL));
    let err = service.embed_with_model("../../etc", &["x"], service.default_options()).unwrap_err().to_string();
    assert!(err.starts_with("no model at ../../etc: "), "{err}");
    let err = service.embed_with_model("../../nowhere", &["x"], service.default_options()).unwrap_err().to_string();
    assert!(err.starts_with("unknown model `../../nowhere`"), "{err}");
    still_works(&service);
}

#[test]
fn a_truncated_model_file_is_an_error_naming_it() {
    let model = std::fs::read(models_dir().join(MODEL).join("onnx/model.onnx")).unwrap();
    for keep in [0, 100, model.len() / 2, model.len() - 1] {
        let dir = model_dir_with_onnx(&model[..keep]);
        let err = chain(&Service::new(config(dir.path().to_str().unwrap())).unwrap_err());
        assert!(err.contains("cannot load model") && err.contains("model.onnx"), "{keep} bytes: {err}");
    }
    still_works(&service(MODEL));
}

#[test]
fn a_missing_or_wrong_onnx_runtime_is_an_error_then_the_right_one_loads() {
    if std::env::var_os(CHILD).is_none() {
        let dir = tempfile::tempdir().unwrap();
        fake_onnxruntime(&dir.path().join("old"), "1.16.3");
        let garbage = dir.path().join("garbage").join(embed_core::library_file_name());
        std::fs::create_dir_all(garbage.parent().unwrap()).unwrap();
        std::fs::write(&garbage, b"not a shared library").unwrap();
        std::fs::create_dir_all(dir.path().join("empty")).unwrap();
        in_child("bad_input::a_missing_or_wrong_onnx_runtime_is_an_error_then_the_right_one_loads", dir.path());
        return;
    }
    let dir = std::env::current_dir().unwrap();
    let lib = embed_core::library_file_name();
    // The library loads with the first model ONNX Runtime runs: its error is that load's cause.
    let load = |path: Option<std::path::PathBuf>, search_dirs: Vec<std::path::PathBuf>| {
        let mut cfg = config(MODEL);
        cfg.backend = embed_core::BackendChoice::Onnx;
        cfg.onnxruntime = embed_core::OrtLibrary { path, search_dirs };
        Service::new(cfg)
    };
    // The native engine never loads the library, whatever it is.
    let mut native = config(MODEL);
    native.backend = embed_core::BackendChoice::Native;
    native.onnxruntime = embed_core::OrtLibrary { path: Some(dir.join("garbage").join(&lib)), search_dirs: vec![] };
    let native = Service::new(native).unwrap();
    assert!(native.onnxruntime().is_none());
    still_works(&native);
    let err = load(Some(dir.join("nowhere").join(&lib)), vec![]).unwrap_err();
    let err = err.cause();
    assert!(matches!(err, EmbedError::Runtime(RuntimeError::LibraryNotFound { .. })), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("ONNX Runtime library not found (looked in: {})", dir.join("nowhere").join(&lib).display())
    );
    let err = load(None, vec![dir.join("empty")]).unwrap_err().cause().to_string();
    assert!(err.contains(&format!("empty/onnxruntime-*/{lib}")), "{err}");
    let err = load(Some(dir.join("garbage").join(&lib)), vec![]).unwrap_err();
    let err = err.cause();
    assert!(matches!(err, EmbedError::Runtime(RuntimeError::LibraryUnusable { .. })), "{err:?}");
    let err = err.to_string();
    assert!(
        err.starts_with(&format!("cannot use ONNX Runtime library {}: ", dir.join("garbage").join(&lib).display()))
    );
    let err = load(Some(dir.join("old").join(&lib)), vec![]).unwrap_err().cause().to_string();
    assert!(err.contains("it is version 1.16.3, but this build needs 1."), "{err}");
    let library = crate::support::ort_library();
    still_works(&load(library.path, library.search_dirs).unwrap());
}

/// Builds, with the C compiler (`CC`, else `cc`), `tests/fixtures/fake_onnxruntime.c`: a
/// stand-in ONNX Runtime library in `dir` that reports `version` and offers nothing else. No
/// ONNX Runtime older than this build's minimum is at hand to test with, and the version check
/// is all that runs before such a library is refused.
fn fake_onnxruntime(dir: &std::path::Path, version: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("create the library folder");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake_onnxruntime.c");
    let library = dir.join(embed_core::library_file_name());
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = std::process::Command::new(&compiler)
        .args(["-shared", "-fPIC"])
        .arg(format!("-DFAKE_ORT_VERSION=\"{version}\""))
        .arg("-o")
        .arg(&library)
        .arg(&source)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{compiler}` (set CC): {e}"));
    assert!(status.success(), "{compiler} failed to build the stand-in library");
    library
}

#[test]
fn an_onnx_file_made_by_another_recipe_is_refused_and_says_so() {
    // The int8 MiniLM as an older build would have left it: its record names another recipe.
    let source = models_dir().join("all-MiniLM-L6-v2");
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("all-MiniLM-L6-v2");
    for file in ["tokenizer.json", "config.json", "modules.json", "1_Pooling/config.json", "onnx/model_int8.onnx"] {
        std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
        std::fs::copy(source.join(file), dir.join(file)).unwrap();
    }
    let record_path = dir.join(embed_manifest::CONVERSION_RECORD);
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(source.join(embed_manifest::CONVERSION_RECORD)).unwrap())
            .unwrap();
    record["files"]["int8"]["recipe"] = "an older recipé".into();
    std::fs::write(&record_path, record.to_string()).unwrap();
    let stale = Config { model_cache_dir: cache.path().to_path_buf(), ..config("all-MiniLM-L6-v2:int8") };
    let error = Service::new(stale.clone()).unwrap_err();
    assert!(
        matches!(error.cause(), EmbedError::MadeByAnotherRecipe { recorded: Some(r), .. } if r == "an older recipé"),
        "{error:?}"
    );
    let message = error.cause().to_string();
    assert!(message.contains("made by another conversion recipe (an older rec)"), "{message}");
    // Recorded by this build's recipe, the same file is used.
    record["files"]["int8"]["recipe"] = embed_manifest::conversion_recipe().into();
    std::fs::write(&record_path, record.to_string()).unwrap();
    assert_eq!(Service::new(stale).unwrap().embed("a text").unwrap().len(), 384);
}
