//! What the fuzz targets share: finding all-MiniLM-L6-v2's tokenizer files and building its
//! tokenizer once per option set. Knows nothing of the targets' invariants.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use embed_tokenize::{SentenceTransformersConfig, Tokenizer, TokenizerOptions};

/// The model every target tokenizes with.
pub const MODEL: &str = "all-MiniLM-L6-v2";

/// The model directory: `$MODEL_CACHE_DIR/all-MiniLM-L6-v2`, else the workspace's `models/`.
fn model_dir() -> PathBuf {
    let candidates = std::env::var_os("MODEL_CACHE_DIR")
        .map(|dir| PathBuf::from(dir).join(MODEL))
        .into_iter()
        .chain([PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models").join(MODEL)]);
    for dir in candidates {
        if dir.join("tokenizer.json").is_file() {
            return dir;
        }
    }
    panic!("no {MODEL}/tokenizer.json under $MODEL_CACHE_DIR or models/: run `cargo xtask fetch-models` first")
}

struct Files {
    tokenizer_json: Vec<u8>,
    config: SentenceTransformersConfig,
}

fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = model_dir();
        let tokenizer_json = std::fs::read(dir.join("tokenizer.json")).expect("read tokenizer.json");
        let config = SentenceTransformersConfig::from_dir(&dir).expect("read the model's configs");
        Files { tokenizer_json, config }
    })
}

type Built = Result<Arc<Tokenizer>, String>;

/// The MiniLM tokenizer with `options`, built on first use and kept (the targets draw their
/// options from a small set, so few are ever built). A refusal is kept as its message.
pub fn tokenizer(options: &TokenizerOptions) -> Built {
    static BUILT: OnceLock<Mutex<HashMap<String, Built>>> = OnceLock::new();
    let key = format!("{options:?}");
    let built = BUILT.get_or_init(Default::default);
    if let Some(found) = built.lock().expect("tokenizer cache").get(&key) {
        return found.clone();
    }
    let files = files();
    let made =
        Tokenizer::from_bytes(&files.tokenizer_json, &files.config, options).map(Arc::new).map_err(|e| e.to_string());
    built.lock().expect("tokenizer cache").insert(key, made.clone());
    made
}
