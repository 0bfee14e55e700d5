//! embed-runtime on its own: the real ONNX Runtime library (found where embed-test-support
//! says: `ONNXRUNTIME_LIB_PATH`, else `libs/` as `cargo xtask fetch-ort` fills it) and the real
//! all-MiniLM-L6-v2 (its ONNX file and its checkpoint), driven with packed batches of token ids
//! taken from the model's own vocabulary (this crate knows no tokenizer).
//!
//! Both engines give the same token embeddings; a text inside a batch gives the rows it gives
//! alone (ONNX Runtime pads it; the native engine does not); bad batches, missing files and a
//! second library are errors of their own variants.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use embed_runtime::{
    Backend, NativeBackend, OnnxRuntime, OrtBackend, OutputKind, REQUIRED_ORT_MINOR, RuntimeError, SessionOptions,
    TokenBatch,
};
use embed_test_support::{cosine, model_dir};

const MODEL: &str = "all-MiniLM-L6-v2";
const HIDDEN: usize = 384;

fn runtime() -> &'static OnnxRuntime {
    OnnxRuntime::locate_and_load(
        embed_test_support::ort_library_path().as_deref(),
        &embed_test_support::ort_search_dirs(),
    )
    .unwrap_or_else(|e| panic!("{e} (run `cargo xtask fetch-ort`)"))
}

fn onnx_file() -> PathBuf {
    model_dir(MODEL).join("onnx/model.onnx")
}

fn ort_backend() -> &'static OrtBackend {
    static BACKEND: OnceLock<OrtBackend> = OnceLock::new();
    BACKEND.get_or_init(|| OrtBackend::load(runtime(), &onnx_file(), &SessionOptions::default()).unwrap())
}

/// The checkpoint on the native engine, on one thread (no helper threads to start or stop).
fn native_backend() -> &'static NativeBackend {
    static BACKEND: OnceLock<NativeBackend> = OnceLock::new();
    BACKEND.get_or_init(|| NativeBackend::load(&model_dir(MODEL), Some(1)).unwrap())
}

/// The ids of `words` in the model's vocabulary (`tokenizer.json`), between `[CLS]` and `[SEP]`.
fn ids(words: &[&str]) -> Vec<u32> {
    static VOCAB: OnceLock<serde_json::Value> = OnceLock::new();
    let vocab = VOCAB.get_or_init(|| {
        let text = std::fs::read_to_string(model_dir(MODEL).join("tokenizer.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["model"]["vocab"].clone()
    });
    let id = |token: &str| vocab[token].as_u64().unwrap_or_else(|| panic!("`{token}` is not in the vocabulary")) as u32;
    std::iter::once(id("[CLS]")).chain(words.iter().map(|w| id(w))).chain([id("[SEP]")]).collect()
}

/// Two texts of different lengths, packed.
fn two_texts() -> (Vec<u32>, Vec<usize>) {
    let short = ids(&["hello", "world"]);
    let long = ids(&["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]);
    let lengths = vec![short.len(), long.len()];
    (short.into_iter().chain(long).collect(), lengths)
}

fn batch<'a>(ids: &'a [u32], lengths: &'a [usize]) -> TokenBatch<'a> {
    TokenBatch { ids, type_ids: &[], lengths, pad_id: 0, pad_to: 0 }
}

/// The smallest cosine between the token rows of `a` and `b` (`hidden` wide).
fn smallest_row_cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.chunks(HIDDEN).zip(b.chunks(HIDDEN)).map(|(x, y)| cosine(x, y)).fold(f64::INFINITY, f64::min)
}

#[test]
fn onnx_runtime_loads_once_and_refuses_a_second_library() {
    let runtime = runtime();
    let minor: u32 = runtime.version().split('.').nth(1).unwrap().parse().unwrap();
    assert!(minor >= REQUIRED_ORT_MINOR, "version {}", runtime.version());
    assert!(std::ptr::eq(OnnxRuntime::load(runtime.path()).unwrap(), runtime), "loaded twice");
    let other = embed_test_support::workspace_root().join("Cargo.toml");
    assert!(matches!(OnnxRuntime::load(&other), Err(RuntimeError::LibraryConflict { .. })));
}

#[test]
fn each_backend_gives_every_text_its_own_rows() {
    let (ids, lengths) = two_texts();
    let backends: [(&dyn Backend, bool); 2] = [(ort_backend(), true), (native_backend(), false)];
    for (backend, pads) in backends {
        assert_eq!(backend.pads(), pads, "{}", backend.engine());
        assert_eq!(backend.hidden_size(), Some(HIDDEN), "{}", backend.engine());
        let output = backend.run(&batch(&ids, &lengths)).unwrap();
        assert_eq!(output.kind(), OutputKind::TokenEmbeddings, "{}", backend.engine());
        assert_eq!((output.texts(), output.hidden()), (2, HIDDEN), "{}", backend.engine());
        for (text, &len) in lengths.iter().enumerate() {
            assert_eq!(output.text(text).len(), len * HIDDEN, "{} text {text}", backend.engine());
            assert!(output.text(text).iter().all(|v| v.is_finite()), "{} text {text}", backend.engine());
        }
    }
}

#[test]
fn a_text_in_a_batch_gives_the_rows_it_gives_alone() {
    let (ids, lengths) = two_texts();
    let backends: [&dyn Backend; 2] = [ort_backend(), native_backend()];
    for backend in backends {
        let together = backend.run(&batch(&ids, &lengths)).unwrap();
        // The short text is padded to the long one's length by ONNX Runtime; its rows must
        // not change.
        let alone = backend.run(&batch(&ids[..lengths[0]], &lengths[..1])).unwrap();
        let c = smallest_row_cosine(together.text(0), alone.text(0));
        assert!(c >= 0.99999, "{}: cosine {c}", backend.engine());
        // Padded to a fixed length, the rows stay the same too.
        let padded = backend.run(&TokenBatch { pad_to: 32, ..batch(&ids[..lengths[0]], &lengths[..1]) }).unwrap();
        let c = smallest_row_cosine(padded.text(0), alone.text(0));
        assert!(c >= 0.99999, "{} padded: cosine {c}", backend.engine());
    }
}

#[test]
fn onnx_runtime_and_the_native_engine_agree() {
    let (ids, lengths) = two_texts();
    let ort = ort_backend().run(&batch(&ids, &lengths)).unwrap();
    let native = native_backend().run(&batch(&ids, &lengths)).unwrap();
    for text in 0..lengths.len() {
        let c = smallest_row_cosine(ort.text(text), native.text(text));
        assert!(c >= 0.9999, "text {text}: cosine {c}");
    }
}

#[test]
fn bad_batches_and_missing_files_are_errors() {
    let bad = TokenBatch { ids: &[101, 102, 103], type_ids: &[], lengths: &[2], pad_id: 0, pad_to: 0 };
    let backends: [&dyn Backend; 2] = [ort_backend(), native_backend()];
    for backend in backends {
        let result = backend.run(&bad);
        assert!(matches!(result, Err(RuntimeError::InvalidBatch(_))), "{}: {:?}", backend.engine(), result.err());
    }
    let missing = tempfile::tempdir().unwrap();
    let result = OrtBackend::load(runtime(), &missing.path().join("model.onnx"), &SessionOptions::default());
    assert!(matches!(result, Err(RuntimeError::ModelNotFound { .. })), "{:?}", result.err());
    let result = NativeBackend::load(missing.path(), Some(1));
    assert!(matches!(result, Err(RuntimeError::Native(_))), "{:?}", result.err());
}
